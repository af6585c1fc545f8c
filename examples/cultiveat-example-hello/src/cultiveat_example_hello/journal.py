"""The listener's output: one JSON line per created contact, appended to ``log_path``."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cultiveat_core import Contact

# Event handlers of different transactions may run at the same time (one thread each):
# one lock keeps their lines whole.
_write_lock = threading.Lock()


def contact_line(contact: Contact) -> dict[str, Any]:
    return {
        "event": "contact_created",
        "contact_id": contact.id,
        "email": contact.email,
        "name": contact.full_name,
        "created_at": contact.created_at.isoformat() if contact.created_at else None,
    }


def append(path: str, record: dict[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with _write_lock, target.open("a", encoding="utf-8") as handle:
        handle.write(line)


def read(path: str) -> list[dict[str, Any]]:
    target = Path(path)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line]
