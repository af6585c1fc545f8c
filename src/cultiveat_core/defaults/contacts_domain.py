"""The contacts domain's own registrations: the import job and the import/export commands."""

from __future__ import annotations

from typing import Any

from cultiveat_core.domain import Task
from cultiveat_core.markers import hookimpl


@hookimpl(trylast=True)
def register_tasks() -> list[Task]:
    from cultiveat_core.importing.service import TASK, import_job

    return [
        Task(TASK, import_job, max_retries=3, description="Import contacts from an uploaded file")
    ]


@hookimpl(trylast=True)
def register_commands() -> list[Any]:
    from cultiveat_core.cli.transfer import export_group, import_group

    return [import_group, export_group]
