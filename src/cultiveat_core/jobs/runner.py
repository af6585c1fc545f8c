"""The embedded runner: a background thread that runs due jobs when there is no broker."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from cultiveat_core.jobs.schedule import enqueue_due

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM

log = logging.getLogger("cultiveat.jobs")


class EmbeddedRunner:
    """Polls ``core_jobs`` (and is woken at once by commits in this process)."""

    def __init__(self, crm: CRM, *, schedule: bool = True) -> None:
        self.crm = crm
        self.schedule = schedule
        self.wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.crm.jobs.wakeup = self.wakeup
        self._thread = threading.Thread(target=self._loop, name="cultiveat-jobs", daemon=True)
        self._thread.start()
        log.info("embedded job runner started (no broker configured)")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def tick(self) -> int:
        if self.schedule:
            enqueue_due(self.crm)
        return self.crm.jobs.run_pending()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("embedded job runner error; retrying")
            self.wakeup.wait(self.crm.settings.job_poll_seconds)
            self.wakeup.clear()
