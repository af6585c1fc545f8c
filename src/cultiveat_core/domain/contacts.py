"""The contact: who a person is, where they work, how to reach them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

ADDRESS_PARTS = ("street", "city", "state", "zip", "country")
SOCIAL_NETWORKS = ("facebook", "instagram", "linkedin", "twitter", "skype")


@attrs.frozen
class Address:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2

    def as_dict(self) -> dict[str, str | None]:
        return attrs.asdict(self)


@attrs.frozen
class SocialLinks:
    facebook: str | None = None
    instagram: str | None = None
    linkedin: str | None = None
    twitter: str | None = None
    skype: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return attrs.asdict(self)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class Contact:
    """A contact as services hand it out; ``version`` backs the ETag."""

    id: int
    email: str
    first_name: str
    last_name: str
    phone: str | None = None
    position: str | None = None
    company: str | None = None
    company_id: int | None = None
    industry: str | None = None
    company_size: int | None = None
    stage: str | None = None
    type: str | None = None
    channel: str | None = None
    owner_id: int | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    address: Address = attrs.field(factory=Address)
    social: SocialLinks = attrs.field(factory=SocialLinks)
    custom: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    notes: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_activity_at: datetime | None = None
    version: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def etag(self) -> str:
        return f'"{self.id}-{self.version}"'

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by the API, exports and templates (on every list row, so it
        reads the attributes directly instead of through ``attrs.asdict``'s generic walk)."""
        data = {name: getattr(self, name) for name in _CONTACT_FIELDS}
        address, social = self.address, self.social
        data["address"] = {part: getattr(address, part) for part in ADDRESS_PARTS}
        data["social"] = {network: getattr(social, network) for network in SOCIAL_NETWORKS}
        data["tags"] = list(self.tags)
        data["custom"] = dict(self.custom)
        for key in ("created_at", "updated_at", "last_activity_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


_CONTACT_FIELDS = tuple(f.name for f in attrs.fields(Contact))
