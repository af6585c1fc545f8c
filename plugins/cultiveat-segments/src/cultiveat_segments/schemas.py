"""Request bodies of ``/api/segments``: declared structures (unknown fields get 400), so
``/schema`` states what each operation takes; the service still checks every value (422
naming the field, a definition's problems with their JSON path).

A segment definition is a tree of groups and conditions (``definitions.py``). Its schema
(``DEFINITION``) states the group shapes and the condition shapes with their operators
and value types, two groups deep; deeper definitions (up to 12 groups) are accepted too. Which
fields, custom fields and activity types exist depends on the installed plugins
(``GET /api/segments/operators`` lists them).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, cast

from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from msgspec import UNSET, Meta, UnsetType

from cultiveat_core.web.routes.bodies import MAX_ID, Body, documented, id_list
from cultiveat_segments.definitions import COLUMN_TYPES, MAX_DAYS, TAG_MATCH
from cultiveat_segments.preferences import CHANNELS, FREQUENCIES, ITEM_MAX, LIST_MAX
from cultiveat_segments.service import KINDS

STRING, OBJECT, ARRAY = OpenAPIType.STRING, OpenAPIType.OBJECT, OpenAPIType.ARRAY
INTEGER, NUMBER = OpenAPIType.INTEGER, OpenAPIType.NUMBER
ACTIVITY_TYPE = cast(OpenAPIFormat, "activity-type")
WORD = Schema(type=STRING, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 ._@-]*[A-Za-z0-9]")


def _object(required: list[str], **properties: Schema) -> Schema:
    return Schema(type=OBJECT, properties=properties, required=required, additional_properties=False)


def _fields(kind: str) -> list[str]:
    return sorted(n for n, t in COLUMN_TYPES.items() if t == kind)


CONDITIONS = [
    _object(
        ["field", "op", "value"],
        field=Schema(enum=_fields("text")),
        op=Schema(enum=["=", "!=", "contains", "not_contains", "starts_with", "ends_with"]),
        value=WORD,
    ),
    _object(
        ["field", "op", "value"],
        field=Schema(enum=_fields("text")),
        op=Schema(enum=["in", "not_in"]),
        value=Schema(type=ARRAY, items=WORD, min_items=1, max_items=20),
    ),
    _object(
        ["field", "op", "value"],
        field=Schema(enum=_fields("number")),
        op=Schema(enum=["=", "!=", ">", ">=", "<", "<="]),
        value=Schema(type=INTEGER, minimum=0, maximum=MAX_ID),
    ),
    _object(
        ["field", "op"],
        field=Schema(enum=_fields("number") + _fields("date")),
        op=Schema(enum=["is_empty", "is_not_empty"]),
    ),
    _object(
        ["field", "op", "value"],
        field=Schema(enum=_fields("date")),
        op=Schema(enum=["within_last_days"]),
        value=Schema(type=INTEGER, minimum=1, maximum=MAX_DAYS),
    ),
    _object(
        ["tags"],
        tags=Schema(
            type=ARRAY,
            items=Schema(type=STRING, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,29}$"),
            min_items=1,
            max_items=20,
        ),
        match=Schema(enum=list(TAG_MATCH)),
    ),
    _object(["tag"], tag=Schema(type=STRING, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,29}$")),
    _object(
        ["activity", "within_days"],
        activity=Schema(type=STRING, format=ACTIVITY_TYPE),
        within_days=Schema(type=INTEGER, minimum=1, maximum=MAX_DAYS),
        min_count=Schema(type=INTEGER, minimum=1, maximum=1000),
    ),
    _object(["segment"], segment=Schema(type=INTEGER, minimum=1, maximum=MAX_ID)),
    _object(
        ["preference", "op", "value"],
        preference=Schema(enum=["preferred_channel"]),
        op=Schema(enum=["="]),
        value=Schema(enum=list(CHANNELS)),
    ),
]
CONDITION = Schema(one_of=list(CONDITIONS))
NOT = _object(["not"], **{"not": CONDITION})
INNER_GROUP = Schema(
    one_of=[
        _object([key], **{key: Schema(type=ARRAY, items=Schema(one_of=[*CONDITIONS, NOT]), min_items=1, max_items=5)})
        for key in ("all", "any")
    ]
)
DEFINITION = Schema(
    description='a group ({"all"|"any": [...]}, {"not": ...}) or a condition; e.g. '
    '{"all": [{"field": "company_size", "op": ">", "value": 100}, {"tag": "Enterprise"}]} '
    "(GET /api/segments/operators lists the fields, operators and activity types)",
    one_of=[
        *(
            _object(
                [key],
                **{
                    key: Schema(
                        type=ARRAY,
                        items=Schema(one_of=[*CONDITIONS, NOT, INNER_GROUP]),
                        min_items=1,
                        max_items=5,
                    )
                },
            )
            for key in ("all", "any")
        ),
        NOT,
        *CONDITIONS,
    ],
)
NULLABLE_DEFINITION = Schema(one_of=[DEFINITION, Schema(type=OpenAPIType.NULL)])

Definition = Annotated[dict[str, Any], Meta(description="a segment definition")]
# no control characters (a name is a spreadsheet cell of the monitoring export): enforced
Name = Annotated[
    str,
    Meta(
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="1 to 120 characters, unique, no control characters",
        extra_json_schema={
            "extra": {"pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85][^\x00-\x1f\x7f]*$", "maxLength": 120}
        },
    ),
]
Description = Annotated[str, documented("at most 500 characters", maxLength=500)]


class SegmentChange(Body):
    """Segment fields to change (members are rebuilt); an ML segment changes only its name and
    description."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"definition": NULLABLE_DEFINITION}

    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    kind: (
        Annotated[str, documented("dynamic (a definition) or static (contacts added by hand)", enum=list(KINDS))]
        | UnsetType
    ) = UNSET
    definition: Definition | UnsetType | None = UNSET


class NewSegment(SegmentChange):
    """A segment: ``name``, and a ``definition`` unless it is a ``static`` list."""

    __openapi__: ClassVar[dict[str, Any]] = {
        "one_of": [
            Schema(
                properties={"kind": Schema(enum=["static"]), "definition": Schema(type=OpenAPIType.NULL)},
                required=["kind"],
            ),
            Schema(
                properties={"kind": Schema(enum=["dynamic"]), "definition": DEFINITION},
                required=["definition"],
            ),
        ]
    }

    name: Name


class DefinitionBody(Body):
    """A definition to check or preview (a definition that is not an object is the service's
    422, with the shapes it takes)."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"definition": DEFINITION}
    __openapi__: ClassVar[dict[str, Any]] = {"required": ["definition"]}

    definition: Any = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] | UnsetType | None = UNSET


class Overrides(Body):
    """Contacts added to (``include``) or kept out of (``exclude``) a segment by hand."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"contact_ids": id_list(10_000, "existing contacts' ids")}

    contact_ids: Annotated[list[int], Meta(min_length=1, max_length=10_000)]
    mode: Literal["include", "exclude"] = "include"


ITEMS = Schema(
    one_of=[
        Schema(
            type=ARRAY,
            items=Schema(type=STRING, min_length=1, max_length=ITEM_MAX, pattern=r"[^\s\x00\x1c-\x1f\x85]"),
            max_items=LIST_MAX,
        ),
        Schema(type=OpenAPIType.NULL),
    ]
)
# PUT /api/segments/preferences/{id} takes a JSON object that preferences.clean checks field by
# field (unknown fields too, every problem in one 422); these are its fields
PREFERENCES: dict[str, Any] = {
    "properties": {
        "interests": ITEMS,
        "topics": ITEMS,
        "preferred_channel": Schema(one_of=[Schema(enum=list(CHANNELS)), Schema(type=OpenAPIType.NULL)]),
        "frequency": Schema(one_of=[Schema(enum=list(FREQUENCIES)), Schema(type=OpenAPIType.NULL)]),
    },
    "additional_properties": False,
}


class ModelKind(Body):
    """Which model: ``behaviour`` (default) or ``preference`` (another kind is the service's
    422)."""

    kind: Annotated[str, documented("the model", enum=["behaviour", "preference"])] = "behaviour"
