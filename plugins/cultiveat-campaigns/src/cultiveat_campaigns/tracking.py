"""Signed tracking links: open pixel, click redirects, unsubscribe.

A token names what was sent (``c<recipient id>`` for a campaign, ``q<enrolment id>`` for a
sequence) plus an HMAC of it with the core's secret key, so it cannot be guessed or changed.
A click URL carries the destination and an HMAC over (token, destination): the redirect goes
only to URLs that were in the message, never to one an attacker puts in the link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html as html_lib
import re
from functools import lru_cache
from urllib.parse import quote, urlsplit

from cultiveat_campaigns.state import state
from cultiveat_core import CRM
from cultiveat_core.errors import ConfigurationError

HREF = re.compile(r"""href=(["'])(https?://[^"']+)\1""", re.I)
TOKEN = re.compile(r"^([cq])(\d{1,12})\.([A-Za-z0-9_-]{22})$")


def _secret(crm: CRM) -> bytes:
    key = crm.settings.secret_key
    if not key:
        raise ConfigurationError("tracking links need CULTIVEAT_SECRET_KEY to be set")
    return _derive(key)


@lru_cache(maxsize=8)
def _derive(key: str) -> bytes:
    return hashlib.sha256(b"campaigns-tracking:" + key.encode()).digest()


def _mac(crm: CRM, message: str) -> str:
    digest = hmac.new(_secret(crm), message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token(crm: CRM, kind: str, ref: int) -> str:
    return f"{kind}{ref}.{_mac(crm, f'{kind}{ref}')}"


def parse_token(crm: CRM, value: str) -> tuple[str, int] | None:
    """``(kind, id)`` of an authentic token; None for anything else (and nothing revealed)."""
    found = TOKEN.match(value or "")
    if found is None:
        return None
    kind, ref, mac = found.group(1), int(found.group(2)), found.group(3)
    if not hmac.compare_digest(mac, _mac(crm, f"{kind}{ref}")):
        return None
    return kind, ref


def click_signature(crm: CRM, tok: str, url: str) -> str:
    return _mac(crm, f"click:{tok}:{url}")


def verify_click(crm: CRM, tok: str, url: str, signature: str) -> bool:
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    return hmac.compare_digest(signature or "", click_signature(crm, tok, url))


def base_url(crm: CRM) -> str:
    # the settings read once per CRM (reading them per message cost more than rendering it)
    return state(crm).settings.public_url.rstrip("/")


def unsubscribe_url(crm: CRM, tok: str) -> str:
    return f"{base_url(crm)}/t/{tok}/u"


def click_url(crm: CRM, tok: str, url: str) -> str:
    return f"{base_url(crm)}/t/{tok}/c?u={quote(url, safe='')}&s={click_signature(crm, tok, url)}"


def pixel_url(crm: CRM, tok: str) -> str:
    return f"{base_url(crm)}/t/{tok}/o.gif"


def instrument_html(crm: CRM, tok: str, body: str, unsubscribe: str) -> str:
    """Rewrite http(s) links to signed redirects, add the open pixel and an unsubscribe link."""
    base = base_url(crm)

    def rewrite(match: re.Match[str]) -> str:
        original = html_lib.unescape(match.group(2))
        if original.startswith(base + "/t/"):
            return match.group(0)  # already a tracking/unsubscribe link
        return f'href="{html_lib.escape(click_url(crm, tok, original))}"'

    body = HREF.sub(rewrite, body)
    if unsubscribe not in html_lib.unescape(body):
        body += (
            f'<p style="font-size:12px;color:#6b7280">Don\'t want these emails? '
            f'<a href="{html_lib.escape(unsubscribe)}">Unsubscribe</a></p>'
        )
    pixel = f'<img src="{html_lib.escape(pixel_url(crm, tok))}" width="1" height="1" alt="">'
    if "</body>" in body:
        return body.replace("</body>", pixel + "</body>", 1)
    return body + pixel


def instrument_text(text: str, unsubscribe: str) -> str:
    if unsubscribe in text:
        return text
    return f"{text.rstrip()}\n\n--\nUnsubscribe: {unsubscribe}\n"


PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
