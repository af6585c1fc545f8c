"""Request bodies of ``/api/campaigns/...``: declared structures (unknown fields get 400), so
``/schema`` states what each operation takes. The services (``library``, ``service``,
``sequences``, ``audience``) still check every value and answer 422 naming the field.

An audience is one of three shapes (``{"contact_ids": [...]}``, ``{"segment_id": n}``,
``{"filter": {...}}``): a JSON object described by hand (``AUDIENCE``), checked by
``audience.validate``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, cast

from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from msgspec import UNSET, Meta, UnsetType

from cultiveat_campaigns.audience import FILTER_KEYS, MAX_CONTACT_IDS
from cultiveat_campaigns.library import CATEGORIES, LIMITS
from cultiveat_campaigns.rendering import MERGE_FIELDS
from cultiveat_campaigns.sequences import EVENT_CONDITIONS, EXIT_EVENTS
from cultiveat_campaigns.service import TYPES
from cultiveat_core.web.routes.bodies import MAX_ID, Body, ObjectId, documented, id_list, number

STRING, OBJECT = OpenAPIType.STRING, OpenAPIType.OBJECT
_FIELD = r"\{\{ ?(" + "|".join(MERGE_FIELDS) + r") ?\}\}"
# text with {{merge_field}} placeholders and no other template syntax (the service accepts
# the whole sandboxed template language and checks it: 422 with the line of a syntax error)
TEMPLATE_TEXT = rf"^([^{{}}]|{_FIELD})*$"
ONE_LINE = rf"^([^\r\n{{}}]|{_FIELD})*[^\s\x1c-\x1f\x85{{}}]([^\r\n{{}}]|{_FIELD})*$"
CHANNEL = cast(OpenAPIFormat, "campaign-channel")


def one_line(limit: int, what: str) -> Meta:
    return documented(f"{what}: one line, {{{{merge_field}}}} placeholders", pattern=ONE_LINE, maxLength=limit)


def template_text(limit: int, what: str) -> Meta:
    return documented(
        f"{what}; merge fields as {{{{first_name}}}} ({', '.join(MERGE_FIELDS)})",
        pattern=TEMPLATE_TEXT,
        maxLength=limit,
    )


Subject = Annotated[str, one_line(LIMITS["subject"], "the subject")]
Html = Annotated[str, template_text(LIMITS["body_html"], "the HTML body")]
Text = Annotated[str, template_text(LIMITS["body_text"], "the plain-text body")]


AUDIENCE_FILTER = Schema(
    type=OBJECT,
    description="contacts matching all of these",
    properties={
        "stage": Schema(type=STRING, max_length=50),
        "owner_id": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_ID),
        "company": Schema(type=STRING, max_length=200),
        "tag": Schema(type=STRING, max_length=30),
    },
    min_properties=1,
    additional_properties=False,
)
assert set(AUDIENCE_FILTER.properties or {}) == set(FILTER_KEYS)


class Audience(Body):
    """Who receives it, exactly one of: ``contact_ids`` (existing contacts), ``segment_id``
    (needs the segments plugin) or ``filter``."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {
        "contact_ids": id_list(MAX_CONTACT_IDS, "existing contacts' ids"),
        "filter": AUDIENCE_FILTER,
    }
    __openapi__: ClassVar[dict[str, Any]] = {
        "one_of": [Schema(required=[kind]) for kind in ("contact_ids", "segment_id", "filter")]
    }

    contact_ids: list[ObjectId] | UnsetType = UNSET
    segment_id: ObjectId | UnsetType = UNSET
    filter: dict[str, Any] | UnsetType = UNSET  # its keys are checked by audience.validate


class Fallbacks(Body):
    """Text used when a merge field is empty for a contact."""

    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    full_name: str | UnsetType = UNSET
    company_name: str | UnsetType = UNSET
    position: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    sender_email: str | UnsetType = UNSET
    unsubscribe_url: str | UnsetType = UNSET


assert set(Fallbacks.__struct_fields__) == set(MERGE_FIELDS)


class TemplateChange(Body):
    """Template fields to change; fields left out keep their value."""

    name: Annotated[str, one_line(LIMITS["name"], "the name")] | UnsetType = UNSET
    subject: Subject | UnsetType = UNSET
    body_html: Html | UnsetType = UNSET
    body_text: Text | UnsetType = UNSET
    category: Annotated[str, documented("the library's group", enum=list(CATEGORIES))] | UnsetType = UNSET
    fallbacks: Fallbacks | UnsetType = UNSET


class NewTemplate(TemplateChange):
    """A template: ``name``, ``subject`` and ``body_html`` or ``body_text``."""

    __openapi__: ClassVar[dict[str, Any]] = {
        "any_of": [
            Schema(required=[part], properties={part: Schema(min_length=1)}) for part in ("body_html", "body_text")
        ],
        # required, checked by the service: one 422 lists every missing field
        "required": ["name", "subject"],
    }


class Preview(Body):
    """The contact to render for, and optionally edited parts of the template."""

    contact_id: ObjectId
    subject: Subject | UnsetType = UNSET
    body_html: Html | UnsetType = UNSET
    body_text: Text | UnsetType = UNSET


class AudienceBody(Body):
    """An audience to check."""

    audience: Audience


CampaignName = Annotated[str, documented("1 to 200 characters", pattern=r"[^\s\x00\x1c-\x1f\x85]", maxLength=200)]
Date = Annotated[str, documented("a date, e.g. 2024-01-15", format="date")]
Time = Annotated[str, documented("an ISO 8601 time, e.g. 2024-01-15T09:00:00Z", format="date-time")]


class CampaignChange(Body):
    """Campaign fields to change; the audience, template and channel only while it is a draft
    or scheduled (409 otherwise)."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {
        "capacity": number(1, MAX_ID, "at most this many recipients", integer=True, nullable=True),
        "cost": number(0, 1e12, "the budget", nullable=True),
    }

    name: CampaignName | UnsetType = UNSET
    template_id: ObjectId | UnsetType = UNSET
    audience: Audience | UnsetType = UNSET
    type: Annotated[str, documented("the kind of campaign", enum=list(TYPES))] | UnsetType = UNSET
    channel: Annotated[str, documented("a channel (GET /api/campaigns/channels)", format=CHANNEL)] | UnsetType = UNSET
    capacity: Annotated[int, Meta(ge=1, le=MAX_ID)] | UnsetType | None = UNSET
    cost: Annotated[float, Meta(ge=0, le=1000000000000.0)] | UnsetType | None = UNSET
    schedule_at: Time | UnsetType | None = UNSET
    start_date: Date | UnsetType | None = UNSET
    end_date: Date | UnsetType | None = UNSET


class NewCampaign(CampaignChange):
    """A campaign: ``name``, ``template_id`` and ``audience``."""

    name: CampaignName
    template_id: ObjectId
    audience: Audience


class ContactIds(Body):
    """Contacts by id."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {"contact_ids": id_list(MAX_CONTACT_IDS)}

    contact_ids: Annotated[list[ObjectId], Meta(min_length=1, max_length=MAX_CONTACT_IDS)]


CONDITION = Schema(
    description='send the step only if: {"opened": true}, {"clicked": true}, {"replied": true} '
    'or {"score_above": 50} (needs the scoring plugin)',
    one_of=[
        *(
            Schema(
                type=OBJECT,
                properties={event: Schema(enum=[True])},
                required=[event],
                additional_properties=False,
            )
            for event in EVENT_CONDITIONS
        ),
        Schema(
            type=OBJECT,
            properties={"score_above": Schema(type=OpenAPIType.NUMBER, minimum=0, maximum=1000)},
            required=["score_above"],
            additional_properties=False,
        ),
        Schema(type=OpenAPIType.NULL),
    ],
)


class Step(Body):
    """A step: a template sent after a delay, optionally only on a condition."""

    __openapi_properties__: ClassVar[dict[str, Schema]] = {
        "condition": CONDITION,
        "delay_hours": number(0, 87_600, "hours after the previous step", nullable=True),
        "delay_seconds": number(0, 315_360_000, "instead of delay_hours", integer=True),
    }

    template_id: ObjectId
    delay_hours: Annotated[float, Meta(ge=0, le=87600)] | UnsetType | None = UNSET
    delay_seconds: Annotated[int, Meta(ge=0, le=315_360_000)] | UnsetType = UNSET
    condition: dict[str, bool | float] | UnsetType | None = UNSET


class NewSequence(Body):
    """A sequence of steps; contacts leave it on the ``exit_on`` events."""

    name: Annotated[str, documented("a name", pattern=r"[^\s\x00\x1c-\x1f\x85]", maxLength=200)] | UnsetType = UNSET
    steps: Annotated[list[Step], documented("1 to 50 steps", minItems=1, maxItems=50)] | UnsetType = UNSET
    exit_on: Annotated[list[str], documented("events: " + ", ".join(EXIT_EVENTS))] | UnsetType = UNSET
    channel: Annotated[str, documented("a channel (GET /api/campaigns/channels)", format=CHANNEL)] | UnsetType = UNSET

    __openapi__: ClassVar[dict[str, Any]] = {"required": ["name", "steps"]}
    __openapi_properties__: ClassVar[dict[str, Schema]] = {
        "exit_on": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(type=STRING, enum=list(EXIT_EVENTS)),
            description="events that end a contact's enrolment",
        )
    }
