"""Recognising whose export a file is and which column holds which contact field.

Built-in mappers: HubSpot, Salesforce (reports quote every value and end with a footer that is
not data), Pipedrive (``Person - …`` columns), Google Contacts (``:::``-joined values) and a
generic one matching headers by synonyms. Plugins add ``ImportMapper`` values through the
``register_import_mappers`` hook. A mapping file overrides any header's target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

SCALAR_TARGETS = (
    "first_name",
    "last_name",
    "name",
    "email",
    "phone",
    "position",
    "company",
    "industry",
    "company_size",
    "stage",
    "type",
    "channel",
    "owner",
    "tags",
    "notes",
)
ADDRESS_TARGETS = tuple(f"address.{p}" for p in ("street", "city", "state", "zip", "country"))
SOCIAL_TARGETS = tuple(
    f"social.{n}" for n in ("facebook", "instagram", "linkedin", "twitter", "skype")
)
IGNORE = "ignore"


def normalise_header(header: str) -> str:
    text = header.replace("\ufeff", "").replace("\x00", "").strip().lower()
    text = re.sub(r"[_\s]+", " ", text)
    return text.strip(" :*")


def valid_target(target: str) -> bool:
    return (
        target in SCALAR_TARGETS
        or target in ADDRESS_TARGETS
        or target in SOCIAL_TARGETS
        or target == IGNORE
        or bool(re.fullmatch(r"custom\.[a-z][a-z0-9_]{0,63}", target))
    )


SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": (
        "first name",
        "firstname",
        "first",
        "given name",
        "forename",
        "vorname",
        "prénom",
        "prenom",
    ),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "nachname", "nom"),
    "name": ("name", "full name", "contact name", "contact", "display name"),
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "mail",
        "primary email",
        "email 1",
        "e-mail 1 - value",
        "work email",
        "business email",
    ),
    "phone": (
        "phone",
        "phone number",
        "telephone",
        "tel",
        "mobile",
        "mobile phone",
        "mobile number",
        "business phone",
        "work phone",
        "phone 1 - value",
        "primary phone",
    ),
    "company": (
        "company",
        "company name",
        "organization",
        "organisation",
        "organization name",
        "organization 1 - name",
        "account name",
        "account",
        "employer",
        "firm",
    ),
    "position": (
        "position",
        "title",
        "job title",
        "jobtitle",
        "role",
        "organization title",
        "organization 1 - title",
        "designation",
    ),
    "industry": ("industry", "sector", "vertical"),
    "company_size": (
        "company size",
        "employees",
        "number of employees",
        "no. of employees",
        "employee count",
        "headcount",
        "size",
    ),
    "stage": ("stage", "status", "lifecycle stage", "contact stage"),
    "type": ("type", "contact type", "category"),
    "channel": ("channel", "source", "lead source", "original source", "acquisition channel"),
    "owner": ("owner email", "contact owner email", "owner"),
    "tags": ("tags", "tag", "labels", "group membership"),
    "notes": ("notes", "note", "description", "comments"),
    "address.street": (
        "street",
        "street address",
        "address",
        "address line 1",
        "mailing street",
        "address 1 - street",
    ),
    "address.city": ("city", "town", "mailing city", "address 1 - city"),
    "address.state": (
        "state",
        "state/region",
        "region",
        "province",
        "state/province",
        "mailing state/province",
        "address 1 - region",
    ),
    "address.zip": (
        "zip",
        "zip code",
        "zipcode",
        "postal code",
        "postcode",
        "post code",
        "mailing zip/postal code",
        "address 1 - postal code",
    ),
    "address.country": ("country", "country/region", "mailing country", "address 1 - country"),
    "social.linkedin": ("linkedin", "linkedin url", "linkedin profile"),
    "social.twitter": ("twitter", "twitter url", "twitter username", "x"),
    "social.facebook": ("facebook", "facebook url"),
    "social.instagram": ("instagram", "instagram url"),
    "social.skype": ("skype", "skype name", "skype id"),
}
GENERIC = {synonym: target for target, names in SYNONYMS.items() for synonym in names}


@attrs.frozen(kw_only=True)
class ImportMapper:
    """A vendor's export format. ``detect(headers)`` returns a confidence (0: not this vendor);
    ``columns`` maps normalised headers to targets (generic synonyms fill the rest);
    ``clean_value(target, text)`` adapts a vendor's value (Google's ``:::`` lists);
    ``footer`` says the file may end with non-data lines after a blank row (Salesforce)."""

    name: str
    label: str
    detect: Callable[[Sequence[str]], int] = attrs.field(eq=False)
    columns: Mapping[str, str] = attrs.field(factory=dict)
    clean_value: Callable[[str, str], str] | None = attrs.field(default=None, eq=False)
    footer: bool = False

    def map(self, headers: Sequence[str]) -> dict[int, str]:
        """Column index -> target for the columns this mapper recognises."""
        found: dict[int, str] = {}
        for index, header in enumerate(headers):
            key = normalise_header(header)
            target = self.columns.get(key) or GENERIC.get(key)
            if target is not None:
                found[index] = target
        return found


def _has(headers: Sequence[str], *names: str) -> int:
    keys = {normalise_header(h) for h in headers}
    return sum(1 for n in names if n in keys)


def _google_value(target: str, text: str) -> str:
    if " ::: " not in text:
        return text
    parts = [p.strip() for p in text.split(" ::: ")]
    if target == "tags":
        return ",".join(p for p in parts if p and not p.startswith("*"))
    return next((p for p in parts if p), "")


def _google_tags(target: str, text: str) -> str:
    if target == "tags":
        return ",".join(
            p.strip() for p in text.split(":::") if p.strip() and not p.strip().startswith("*")
        )
    return _google_value(target, text)


HUBSPOT = ImportMapper(
    name="hubspot",
    label="HubSpot",
    detect=lambda h: (
        3 * _has(h, "record id", "contact id")
        + _has(h, "lifecycle stage", "lead status", "contact owner", "hubspot score")
    ),
    columns={
        "phone number": "phone",
        "job title": "position",
        "number of employees": "company_size",
        "state/region": "address.state",
        "country/region": "address.country",
        "contact owner": IGNORE,
        "lead status": IGNORE,
        "record id": IGNORE,
        "contact id": IGNORE,
        "original source": "channel",
        "lifecycle stage": "stage",
        "linkedin bio": IGNORE,
    },
)
SALESFORCE = ImportMapper(
    name="salesforce",
    label="Salesforce",
    detect=lambda h: (
        2
        * _has(
            h,
            "mailing street",
            "mailing city",
            "account name",
            "contact owner",
            "mailing zip/postal code",
        )
        + _has(h, "lead source", "salutation")
    ),
    columns={
        "title": "position",
        "account name": "company",
        "lead source": "channel",
        "contact owner": IGNORE,
        "salutation": IGNORE,
        "lead status": IGNORE,
        "contact id": IGNORE,
    },
    footer=True,
)
PIPEDRIVE = ImportMapper(
    name="pipedrive",
    label="Pipedrive",
    detect=lambda h: 3 * sum(1 for x in h if normalise_header(x).startswith("person - ")),
    columns={
        "person - name": "name",
        "person - first name": "first_name",
        "person - last name": "last_name",
        "person - email": "email",
        "person - email - work": "email",
        "person - email - home": "email",
        "person - email - other": "email",
        "person - phone": "phone",
        "person - phone - work": "phone",
        "person - phone - mobile": "phone",
        "person - phone - home": "phone",
        "person - phone - other": "phone",
        "person - organization": "company",
        "organization - name": "company",
        "person - job title": "position",
        "person - labels": "tags",
        "person - label": "tags",
        "person - owner": IGNORE,
        "organization - industry": "industry",
        "organization - number of employees": "company_size",
        "person - postal address": "address.street",
        "person - notes": "notes",
    },
)
GOOGLE = ImportMapper(
    name="google",
    label="Google Contacts",
    detect=lambda h: (
        3 * _has(h, "e-mail 1 - value", "phone 1 - value", "given name", "family name")
        + _has(h, "labels", "group membership", "organization 1 - name")
    ),
    columns={
        "given name": "first_name",
        "family name": "last_name",
        "e-mail 1 - value": "email",
        "e-mail 2 - value": "email",
        "phone 1 - value": "phone",
        "phone 2 - value": "phone",
        "organization name": "company",
        "organization 1 - name": "company",
        "organization title": "position",
        "organization 1 - title": "position",
        "labels": "tags",
        "group membership": "tags",
        "name": "name",
        "notes": "notes",
        "e-mail 1 - type": IGNORE,
        "phone 1 - type": IGNORE,
        "middle name": IGNORE,
    },
    clean_value=_google_tags,
)
GENERIC_MAPPER = ImportMapper(name="generic", label="Generic spreadsheet", detect=lambda h: 1)
BUILTIN_MAPPERS = (HUBSPOT, SALESFORCE, PIPEDRIVE, GOOGLE, GENERIC_MAPPER)
SOURCES = ("auto", *(m.name for m in BUILTIN_MAPPERS))


def all_mappers(crm: CRM) -> dict[str, ImportMapper]:
    """Built-in mappers, then every plugin's (``register_import_mappers``)."""
    found = {m.name: m for m in BUILTIN_MAPPERS}
    for item in crm.registry.extra(crm, "register_import_mappers"):  # noqa: S610
        found[item.name] = item
    return found


def choose_mapper(crm: CRM, source: str, headers: Sequence[str]) -> ImportMapper:
    mappers = all_mappers(crm)
    if source != "auto":
        return mappers[source]
    scored = sorted(
        ((m.detect(headers), m.name != "generic", m.name) for m in mappers.values()), reverse=True
    )
    return mappers[scored[0][2]]


def apply_mapping_file(
    mapping: Mapping[str, Any], headers: Sequence[str], found: dict[int, str]
) -> dict[int, str]:
    """Overlay a mapping file (``{"Header": "target"}``) on the detected mapping."""
    from cultiveat_core.importing.reader import FileProblem

    columns = mapping.get("columns", mapping) if isinstance(mapping, Mapping) else None
    if not isinstance(columns, Mapping):
        raise FileProblem('the mapping file must be a JSON object {"Column header": "field"}')
    by_key = {normalise_header(h): i for i, h in enumerate(headers)}
    result = dict(found)
    for header, target in columns.items():
        if not isinstance(target, str) or not valid_target(target):
            raise FileProblem(
                f"mapping: {target!r} (for {header!r}) is not a contact field; use one of "
                + ", ".join(
                    [*SCALAR_TARGETS, *ADDRESS_TARGETS, *SOCIAL_TARGETS, "custom.<name>", IGNORE]
                )
            )
        index = by_key.get(normalise_header(str(header)))
        if index is None:
            raise FileProblem(
                f"mapping names column {header!r}, which the file does not have; its columns "
                f"are: {', '.join(headers)}"
            )
        result[index] = target
    return result
