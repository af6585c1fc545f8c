"""Jobs: a durable queue in the database, run by the embedded runner or by Celery workers.

Every job is a row in ``core_jobs`` written in the transaction that asked for it (an
outbox), so it is never lost and never runs for a rolled-back change. Without a broker the
embedded runner (a thread of ``cultiveat serve``) claims and runs due rows. With
``CULTIVEAT_BROKER_URL`` the row's id is relayed to Celery after the commit and a worker
runs it; the relay loop re-sends anything not yet sent, so a crash between commit and relay
loses nothing. Either way ``run_job`` claims the row atomically, skips finished jobs (so a
redelivered message does not run twice), records progress, retries with backoff and keeps
the result or the error.
"""

from cultiveat_core.jobs.context import JobContext
from cultiveat_core.jobs.queue import JobQueue, JobStatus

__all__ = ["JobContext", "JobQueue", "JobStatus"]
