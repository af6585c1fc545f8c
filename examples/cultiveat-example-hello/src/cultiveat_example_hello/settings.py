"""The plugin's settings: ``CULTIVEAT_HELLO_*`` variables or a ``[hello]`` TOML table."""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class HelloSettings:
    plugin: ClassVar[str] = "hello"

    # Where the contact_created listener appends one JSON line per new contact.
    log_path: str = "cultiveat-hello.jsonl"
    greeting: str = "Hello"
