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


def about(path: str, contact_id: int) -> list[dict[str, Any]]:
    """The lines about one contact (its subject-access export)."""
    return [entry for entry in read(path) if entry.get("contact_id") == contact_id]


def forget(path: str, contact_id: int) -> int:
    """Rewrite the log without the contact's lines (erasure); returns how many went."""
    target = Path(path)
    with _write_lock:
        if not target.exists():
            return 0
        lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines
                if line.strip() and json.loads(line).get("contact_id") != contact_id]
        if len(kept) == len(lines):
            return 0
        # write beside it, then swap: a crash never leaves a half-written log
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text("".join(kept), encoding="utf-8")
        temporary.replace(target)
        return len(lines) - len(kept)


def read(path: str) -> list[dict[str, Any]]:
    target = Path(path)
    if not target.exists():
        return []
    return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line]
