"""HMAC signatures of webhook requests: ``X-Cultiveat-Signature: sha256=<hex>`` over
``<X-Cultiveat-Timestamp>.<body>``, with a freshness window against replays."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "x-cultiveat-signature"
TIMESTAMP_HEADER = "x-cultiveat-timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance_seconds: int
) -> str | None:
    """None when the request is authentic and fresh; otherwise what is wrong, in words."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not given:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return f"{TIMESTAMP_HEADER} must be Unix seconds"
    if age > tolerance_seconds:
        return f"{TIMESTAMP_HEADER} is older than {tolerance_seconds} s (replayed or clock skew)"
    if not hmac.compare_digest(sign(secret, timestamp, body), given):
        return "signature does not match the body"
    return None
