"""Tracking routes outside ``/api``: no login, and they reveal nothing.

``GET /t/{token}/o.gif`` answers the same pixel for any token; ``GET /t/{token}/c?u=&s=``
redirects only to a URL signed for that token (else 404); ``GET|POST /t/{token}/u``
unsubscribes at once (POST is RFC 8058 one-click from the mail client).
"""

from __future__ import annotations

import html
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.response import Redirect

from cultiveat_campaigns import public
from cultiveat_campaigns.tracking import PIXEL_GIF
from cultiveat_core import CRM

NO_STORE = {
    "Cache-Control": "no-store, private",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
NOT_FOUND = Response("Not found", status_code=404, media_type="text/plain", headers=NO_STORE)


def _page(title: str, text: str) -> Response[str]:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;max-width:32rem;margin:4rem auto'>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>"
    )
    return Response(body, media_type="text/html", headers=NO_STORE)


@get("/t/{token:str}/o.gif", include_in_schema=False)
async def open_pixel(crm: CRM, token: str) -> Response[bytes]:
    await anyio.to_thread.run_sync(public.opened, crm, token)
    return Response(PIXEL_GIF, media_type="image/gif", headers=NO_STORE)


@get("/t/{token:str}/c", include_in_schema=False)
async def click(crm: CRM, token: str, u: str = "", s: str = "") -> Any:
    target = await anyio.to_thread.run_sync(public.clicked, crm, token, u, s)
    if target is None:
        return NOT_FOUND
    return Redirect(target, status_code=302, headers=NO_STORE)


@get("/t/{token:str}/u", include_in_schema=False)
async def unsubscribe_page(crm: CRM, token: str) -> Response[str]:
    if not await anyio.to_thread.run_sync(public.unsubscribe, crm, token, "link"):
        return NOT_FOUND
    return _page(
        "You are unsubscribed",
        "You will not receive marketing emails from us any more. It took effect immediately.",
    )


@post("/t/{token:str}/u", include_in_schema=False, status_code=200)
async def unsubscribe_one_click(
    crm: CRM, request: Request[Any, Any, Any], token: str
) -> Response[str]:
    if not await anyio.to_thread.run_sync(public.unsubscribe, crm, token, "one-click"):
        return NOT_FOUND
    return _page("You are unsubscribed", "It took effect immediately.")


ROUTES = [open_pixel, click, unsubscribe_page, unsubscribe_one_click]
