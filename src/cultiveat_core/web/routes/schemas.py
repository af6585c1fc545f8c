"""The core's contact request bodies: contacts, bulk actions, activities, notes, tags, custom
fields. Field limits are the services' (``services/contacts.py``, ``services/validation.py``);
the services still check every value and answer 422 naming the field.

Limits on text are stated in the schema (``documented``) rather than enforced by msgspec,
because the services measure text after trimming it: a body that was accepted before (a
name of 100 characters plus a trailing space) is still accepted.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, cast

from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from msgspec import UNSET, Meta, UnsetType

from cultiveat_core.defaults.activity_types import NOTE_MAX, NOTE_TYPES
from cultiveat_core.services.bulk import ACTIONS, MAX_IDS, SET_ACTIONS, UPDATABLE
from cultiveat_core.services.contacts import CHANNELS, CONTACT_TYPES, STAGES, TEXT_FIELDS
from cultiveat_core.services.custom_fields import FIELD_TYPES
from cultiveat_core.services.listing import MULTI
from cultiveat_core.services.validation import NAME_MAX
from cultiveat_core.web.routes.bodies import Body, Email, ObjectId, documented, id_list

NOT_BLANK = r"[^\s\x00\x1c-\x1f\x85]"
STRING = OpenAPIType.STRING
DIGITS = r"^[0-9]{1,9}$"
# letters, digits, spaces and common signs (the service accepts any printable characters)
TAG = r"^[\w.&+#/'@!?()-][\w .&+#/'@!?()-]{0,29}$"
SKYPE = r"^(live:)?[A-Za-z][A-Za-z0-9.,_-]{5,31}$"


def text(limit: int, description: str, **schema: Any) -> Meta:
    return documented(description, maxLength=limit, **schema)


Name = Annotated[str, text(NAME_MAX, "1 to 100 characters (trimmed)", pattern=NOT_BLANK)]
Stage = Annotated[str, text(50, "one of the stages (any case)", enum=list(STAGES))]
Tag = Annotated[
    str,
    text(
        30,
        "a tag: 1 to 30 printable characters (the schema states letters, digits, spaces and common signs)",
        pattern=TAG,
    ),
]
TAG_LIST = Schema(
    type=OpenAPIType.ARRAY,
    items=Schema(type=STRING, pattern=TAG, max_length=30),
    max_items=100,
    description="tag names (a tag: 1 to 30 printable characters)",
)
TAGS = Schema(one_of=[TAG_LIST, Schema(type=OpenAPIType.NULL)])
# an ISO 8601 time; a date alone or a space instead of T are accepted too
Time = Annotated[str, documented("an ISO 8601 time, e.g. 2024-01-15T14:45:00Z", format="date-time")]
ActivityType = Annotated[
    str,
    documented(
        "a registered activity type (the 422 lists them); e.g. note, call, meeting",
        format="activity-type",
    ),
]
# the user who owns the contact: a user's id or email
UserRef = Annotated[
    int | str,
    documented("an existing user's id or email (GET /api/users)", format=cast(OpenAPIFormat, "user")),
]


class Address(Body):
    """A postal address; ``country`` is an ISO code or an English name, ``zip`` and ``state``
    are checked against it (US, CA, GB, DE, FR... postcodes; US, CA, AU state codes)."""

    street: Annotated[str | None, text(200, "street and number")] | UnsetType = UNSET
    city: Annotated[str | None, text(100, "city")] | UnsetType = UNSET
    state: Annotated[str | None, text(100, "state or province (a code such as NY in US, CA, AU)")] | UnsetType = UNSET
    zip: Annotated[str | None, text(20, "postcode, in the country's format")] | UnsetType = UNSET
    country: (
        Annotated[str | None, text(60, "ISO 3166 code (DE) or English name (Germany)", format="country")] | UnsetType
    ) = UNSET


Link = Annotated[
    str,
    documented(
        "an http(s) URL with a host name (https:// is added when left out)",
        pattern=r"^https?://[A-Za-z0-9-]{1,30}(\.[A-Za-z0-9-]{1,30}){0,3}\.[A-Za-z]{2,10}(/[A-Za-z0-9._~%/-]{0,60})?$",
        maxLength=200,
    ),
]


class Social(Body):
    """Profile links: http(s) URLs (Skype also takes a Skype name)."""

    facebook: Link | UnsetType | None = UNSET
    instagram: Link | UnsetType | None = UNSET
    linkedin: Link | UnsetType | None = UNSET
    twitter: Link | UnsetType | None = UNSET
    skype: (
        Annotated[
            str,
            documented(
                "a Skype name, a skype: URI or an http(s) URL", pattern=r"^(live:)?[A-Za-z][A-Za-z0-9.,_-]{5,31}$"
            ),
        ]
        | UnsetType
        | None
    ) = UNSET


CustomValues = Annotated[
    dict[str, str | int | float | bool | None],
    Meta(
        description="values of the custom fields defined with POST /api/custom-fields, by name "
        "(unknown names and values of the wrong type get 422)"
    ),
]


COMPANY_SIZE = Schema(
    one_of=[
        Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=2_147_483_647),
        Schema(type=STRING, pattern=DIGITS, description="digits, commas allowed"),
        Schema(type=OpenAPIType.NULL),
    ],
    description="number of employees",
)


class ContactChange(Body):
    """Fields of a contact to change (``PATCH``); fields left out keep their value."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {
        "company_size": COMPANY_SIZE,
        "tags": TAGS,
    }

    email: Email | UnsetType = UNSET
    first_name: Name | UnsetType = UNSET
    last_name: Name | UnsetType = UNSET
    phone: (
        Annotated[
            str | None,
            documented(
                "a phone number with its country code (+1 202 555 0143), or without one when the "
                "address has a country; stored as E.164",
                format="phone",
                maxLength=40,
            ),
        ]
        | UnsetType
    ) = UNSET
    position: Annotated[str | None, text(TEXT_FIELDS["position"], "job title")] | UnsetType = UNSET
    company: Annotated[str | None, text(TEXT_FIELDS["company"], "company name")] | UnsetType = UNSET
    industry: Annotated[str | None, text(TEXT_FIELDS["industry"], "industry")] | UnsetType = UNSET
    stage: Stage | UnsetType | None = UNSET
    type: Annotated[str | None, text(50, "e.g. " + ", ".join(CONTACT_TYPES) + " (other values too)")] | UnsetType = (
        UNSET
    )
    channel: Annotated[str | None, text(50, "e.g. " + ", ".join(CHANNELS) + " (other values too)")] | UnsetType = UNSET
    notes: Annotated[str | None, text(TEXT_FIELDS["notes"], "personal notes")] | UnsetType = UNSET
    company_size: (
        Annotated[int, Meta(ge=0, le=2147483647)]
        | Annotated[str, documented("employees", pattern=DIGITS)]
        | UnsetType
        | None
    ) = UNSET
    owner: UserRef | UnsetType | None = UNSET
    owner_id: Annotated[int, documented("an existing user's id", format="user-id")] | UnsetType | None = UNSET
    tags: list[Tag] | UnsetType | None = UNSET
    address: Address | UnsetType | None = UNSET
    social: Social | UnsetType | None = UNSET
    custom: CustomValues | UnsetType = UNSET


class NewContact(ContactChange):
    """A new contact: ``email``, ``first_name`` and ``last_name`` are required."""

    email: Email
    first_name: Name
    last_name: Name


class Merge(Body):
    """The contact to fold into this one."""

    merge_id: ObjectId


class NewActivity(Body):
    """An activity on this contact; ``data`` is free-form, checked by the type's own rules."""

    type: ActivityType
    occurred_at: Time | UnsetType | None = UNSET
    data: dict[str, Any] | UnsetType | None = UNSET


class BulkActivity(Body):
    """One activity of a bulk request."""

    contact_id: ObjectId
    type: ActivityType
    occurred_at: Time | UnsetType | None = UNSET
    data: dict[str, Any] | UnsetType | None = UNSET


class BulkActivities(Body):
    """1 to 5,000 activities, logged in one transaction."""

    items: Annotated[list[BulkActivity], Meta(min_length=1, max_length=5000)]


class NoteChange(Body):
    """A note's new text, type or tags (the previous version is kept)."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"tags": TAGS}

    text: Annotated[str, documented("the note", pattern=NOT_BLANK, maxLength=NOTE_MAX)] | UnsetType = UNSET
    note_type: Annotated[str, documented("the kind of note", enum=list(NOTE_TYPES))] | UnsetType | None = UNSET
    tags: list[Tag] | UnsetType | None = UNSET


class BulkFields(Body):
    """Fields a bulk ``update`` sets."""

    stage: Stage | UnsetType | None = UNSET
    owner: UserRef | UnsetType | None = UNSET
    type: Annotated[str | None, text(50, "contact type")] | UnsetType = UNSET
    channel: Annotated[str | None, text(50, "channel")] | UnsetType = UNSET
    industry: Annotated[str | None, text(100, "industry")] | UnsetType = UNSET


assert set(BulkFields.__struct_fields__) == set(UPDATABLE)


LIST_FILTERS = Schema(
    type=OpenAPIType.OBJECT,
    description='the contact list\'s filters (GET /api/contacts), e.g. {"stage": "Lost"}; '
    "custom.<name> and plugins' filters too",
    properties={
        **{name: Schema(type=STRING, max_length=100) for name in MULTI if name != "owner"},
        "q": Schema(type=STRING, max_length=200),
        "size_min": Schema(type=STRING, pattern=r"^[0-9]{1,9}$"),
        "size_max": Schema(type=STRING, pattern=r"^[0-9]{1,9}$"),
        "created_from": Schema(type=STRING, format=OpenAPIFormat.DATE),
        "created_to": Schema(type=STRING, format=OpenAPIFormat.DATE),
        "stale": Schema(type=STRING, enum=["true", "false"]),
    },
    additional_properties=False,
)


def _action(names: list[str], **properties: Schema) -> Schema:
    return Schema(
        properties={"action": Schema(enum=names), **properties},  # type: ignore[arg-type]
        required=["action", *properties],
    )


class BulkAction(Body):
    """An action on contacts chosen by ``ids`` or by the list's ``filter`` (exactly one):
    ``add_tags``/``remove_tags`` take ``tags``; ``set_stage``, ``set_owner``, ``set_type``,
    ``set_channel`` take ``value``; ``update`` takes ``fields``; ``delete`` nothing."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {
        "filter": LIST_FILTERS,
        "ids": id_list(MAX_IDS, "the contacts' ids"),
        "tags": TAG_LIST,
    }
    __openapi__: ClassVar[dict[str, Any]] = {
        "all_of": [
            Schema(one_of=[Schema(required=["ids"]), Schema(required=["filter"])]),
            Schema(
                one_of=[
                    _action(["add_tags", "remove_tags"], tags=Schema(min_items=1)),
                    _action(["set_stage"], value=Schema(type=STRING, enum=list(STAGES))),
                    _action(["set_owner"], value=Schema(type=STRING, format=cast(OpenAPIFormat, "user"))),
                    _action(
                        ["set_type", "set_channel"],
                        value=Schema(type=STRING, max_length=50, pattern=NOT_BLANK),
                    ),
                    _action(["update"], fields=Schema(min_properties=1)),
                    _action(["delete"]),
                ]
            ),
        ]
    }

    action: Literal[ACTIONS]  # type: ignore[valid-type]
    ids: Annotated[list[ObjectId], Meta(min_length=1, max_length=MAX_IDS)] | UnsetType = UNSET
    filter: dict[str, str | list[str]] | UnsetType = UNSET
    tags: list[Tag] | UnsetType = UNSET
    value: (
        Annotated[str | int | None, Meta(description="the new stage, owner (id or email), type or channel")] | UnsetType
    ) = UNSET
    fields: BulkFields | UnsetType = UNSET


assert set(SET_ACTIONS) <= set(ACTIONS)


class TagRename(Body):
    """Rename a tag; renaming to an existing tag merges the two."""

    name: Tag
    new_name: Tag


class NewCustomField(Body):
    """A custom contact field (``choices`` for a ``choice`` field)."""

    __openapi__: ClassVar[dict[str, Any]] = {
        "any_of": [
            Schema(properties={"type": Schema(enum=[t for t in FIELD_TYPES if t != "choice"])}),
            Schema(
                properties={
                    "type": Schema(enum=["choice"]),
                    "choices": Schema(type=OpenAPIType.ARRAY, min_items=1),
                },
                required=["type", "choices"],
            ),
        ]
    }

    name: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="lower-case letters, digits and _")]
    label: Annotated[str, documented("1 to 200 characters", pattern=NOT_BLANK, maxLength=200)]
    type: Literal[FIELD_TYPES] = "text"  # type: ignore[valid-type]
    choices: list[Annotated[str, Meta(max_length=200)]] | None = None
    required: bool = False
