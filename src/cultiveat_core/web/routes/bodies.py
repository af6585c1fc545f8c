"""Request bodies: declared structures, and what ``/schema`` says about them.

Every JSON body an ``/api`` operation takes is a :class:`Body` (a msgspec structure refusing
unknown fields: 400 naming the field), so a request cannot set what the operation does not
declare (no mass assignment) and the OpenAPI schema states the fields, their types and their
limits. :class:`DeclaredBodySchemaPlugin` adds what Litestar leaves out of a structure's
schema: ``additionalProperties: false`` when it refuses unknown fields, and its docstring.

Fields a client may leave out and that the service treats as "not given" default to
``UNSET``; :func:`present` turns a body into the dict of the fields that were sent, which is
what the services validate (their messages name the field: 422).

Some values are checked by the service with rules JSON Schema cannot state exactly (a
phone number possible for its country, a country name, a postcode for that country): such
fields carry a named ``format`` (:data:`PHONE`, :data:`COUNTRY`...) described in the
schema; the schema's ``pattern`` gives the canonical form, and the service also accepts the
forms it accepted before (``Germany`` as well as ``DE``).

Plugins use the same pieces: ``from cultiveat_core.web.routes.bodies import Body, present``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Parameter
from litestar.typing import FieldDefinition
from msgspec import UNSET, Meta, UnsetType

__all__ = [
    "UNSET",
    "Body",
    "DeclaredBodySchemaPlugin",
    "Email",
    "ObjectId",
    "ObjectIds",
    "PathId",
    "UnsetType",
    "documented",
    "id_list",
    "number",
    "present",
    "whole_numbers",
]

MAX_ID = 2_147_483_647  # database ids are 32-bit


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: only the declared fields (unknown ones get 400 naming them)."""


def present(body: msgspec.Struct) -> dict[str, Any]:
    """The fields that were sent (``UNSET`` ones left out), as JSON values."""
    value = msgspec.to_builtins(body)
    assert isinstance(value, dict)
    return value


def whole_numbers(value: Any) -> Any:
    """``value`` with integral floats as ints, all the way down: JSON does not tell ``3`` from
    ``3.0`` (both are integers to JSON Schema), so a free-form document whose service expects
    whole numbers (a segment definition) gets them either way."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def documented(description: str, **schema: Any) -> Meta:
    """A description plus OpenAPI keywords (``format``, ``pattern``...) the schema states
    and the service checks (msgspec does not enforce them)."""
    return Meta(description=description, extra_json_schema={"extra": schema} if schema else None)


# an id of a row: 1 to 2^31-1 (a larger number is a 400 from validation, never a driver error)
ObjectId = Annotated[int, Meta(ge=1, le=MAX_ID)]
# the same as a path or query parameter
PathId = Annotated[int, Parameter(ge=1, le=MAX_ID)]
ObjectIds = Annotated[list[ObjectId], Meta(min_length=1, max_length=10_000)]


def id_list(max_items: int = 10_000, description: str = "ids") -> Schema:
    """The schema of a list of ids (Litestar drops the items' limits of ``list[ObjectId]``):
    for ``__openapi_properties__``."""
    return Schema(
        type=OpenAPIType.ARRAY,
        items=Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_ID),
        min_items=1,
        max_items=max_items,
        description=description,
    )


def number(
    minimum: float,
    maximum: float,
    description: str,
    *,
    integer: bool = False,
    nullable: bool = False,
) -> Schema:
    """A number's schema for ``__openapi_properties__`` (Litestar leaves a ``ge=0`` out, and
    the limits of a number in a union)."""
    schema = Schema(
        type=OpenAPIType.INTEGER if integer else OpenAPIType.NUMBER,
        minimum=minimum,
        maximum=maximum,
    )
    if nullable:
        return Schema(one_of=[schema, Schema(type=OpenAPIType.NULL)], description=description)
    schema.description = description
    return schema


# the common all-ASCII address (what the services' PLAIN_EMAIL accepts without more checks);
# internationalised addresses are accepted too and checked by the service
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}){0,3}"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,20}$"
)
Email = Annotated[
    str,
    Meta(max_length=254),
    documented("an email address, e.g. ann@example.com", pattern=EMAIL_PATTERN),
]


class DeclaredBodySchemaPlugin(StructSchemaPlugin):
    """Litestar's msgspec schema plus ``additionalProperties: false`` for structures that
    forbid unknown fields, the structure's docstring as its description, and its
    ``__openapi__`` class attribute (``{"one_of": [Schema(required=[...]), ...]}``: rules
    between fields) and ``__openapi_properties__`` (a field's schema written by hand)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        for name, prop in getattr(field_definition.type_, "__openapi_properties__", {}).items():
            schema.properties[name] = prop  # type: ignore[index]  # a field described by hand
        for key, value in getattr(field_definition.type_, "__openapi__", {}).items():
            setattr(schema, key, value)  # rules between fields (oneOf, anyOf)
        doc = field_definition.type_.__doc__
        if doc and not schema.description and not doc.startswith(field_definition.type_.__name__ + "("):
            schema.description = " ".join(doc.split())
        return schema
