"""Celery built from the same plugin set: one task per registered ``Task``, JSON only, acks late."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import Celery

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM


def create_celery(crm: CRM) -> Celery:
    app = Celery("cultiveat", broker=crm.settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=crm.settings.broker_queue,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
    )
    for name in crm.registry.tasks:
        app.task(name=name, acks_late=True, ignore_result=True)(_runner(crm, name))
    return app


def _runner(crm: CRM, name: str) -> Any:
    def run(job_id: str) -> bool:
        # The payload lives in core_jobs; the message only names the job.
        return crm.jobs.run_job(job_id)

    run.__name__ = name.replace(".", "_")
    run.__qualname__ = run.__name__
    return run
