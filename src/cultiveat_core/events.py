"""After-commit events: batch forms derived once per transaction, every implementation isolated.

Services record per-item events (``contact_created``...) on the unit of work. After the
commit, the dispatcher fires the batch form (``contacts_created`` with the whole list) once,
then the per-item form for each item, skipping that loop when no plugin implements it. A
raising implementation is logged with its plugin's name and the others still run. The caller
waits at most ``event_wait_seconds`` for the handlers, so a hanging plugin slows a request
by that much at worst and never fails it; long work belongs in a job.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

import attrs

from cultiveat_core.hookcalls import implementations

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.domain import Contact

log = logging.getLogger("cultiveat.events")


@attrs.frozen
class ContactChange:
    """One updated contact in ``contacts_updated``: its new state and ``{field: (old, new)}``."""

    contact: Contact
    changes: Mapping[str, tuple[Any, Any]]


@attrs.frozen
class Event:
    name: str
    kwargs: Mapping[str, Any]


# per-item event -> (batch event, batch argument, how one item enters the batch)
BATCH_FORMS: dict[str, tuple[str, str]] = {
    "contact_created": ("contacts_created", "contacts"),
    "contact_updated": ("contacts_updated", "changes"),
    "contact_deleted": ("contacts_deleted", "contacts"),
    "activity_logged": ("activities_logged", "activities"),
}


def _batch_item(event: Event) -> Any:
    if event.name == "contact_created" or event.name == "contact_deleted":
        return event.kwargs["contact"]
    if event.name == "contact_updated":
        return ContactChange(event.kwargs["contact"], event.kwargs["changes"])
    return event.kwargs["activity"]


class _DaemonPool:
    """Daemon threads that run event dispatches; a new thread starts when all are busy.

    A hanging handler therefore never holds up later events, and never keeps the process
    from exiting (``ThreadPoolExecutor`` threads are joined at exit; these are not).
    """

    def __init__(self, max_threads: int = 32) -> None:
        self.max_threads = max_threads
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        with self._lock:
            if self._idle == 0 and self._threads < self.max_threads:
                self._threads += 1
                threading.Thread(target=self._work, name="cultiveat-events", daemon=True).start()
            else:
                self._idle -= 1  # reserve an idle thread for this job
        self._jobs.put((fn, future))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            if future.set_running_or_notify_cancel():
                try:
                    fn()
                    future.set_result(None)
                except BaseException as exc:  # reported to whoever waits
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        with self._lock:
            threads, self._threads, self._idle = self._threads, 0, 0
        for _ in range(threads):
            self._jobs.put(None)


class EventDispatcher:
    def __init__(self, crm: CRM) -> None:
        self.crm = crm
        self._pool: _DaemonPool | None = None
        self._pending: set[Future[None]] = set()
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def pool(self) -> _DaemonPool:
        with self._lock:
            if self._pool is None:
                self._pool = _DaemonPool()
            return self._pool

    def fire(self, events: Sequence[Event]) -> None:
        """Fire ``events`` (one transaction's) and wait at most ``event_wait_seconds`` for them."""
        if not events or not self._listened(events):
            return  # nobody listens: no hand-off to the event thread at all
        if getattr(self._local, "dispatching", False):
            self._dispatch(events)  # an event handler's own service call: no new thread
            return
        future = self.pool.submit(lambda: self._dispatch_in_thread(events))
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        try:
            future.result(timeout=self.crm.settings.event_wait_seconds)
        except FutureTimeout:
            log.warning(
                "event handlers still running after %.1fs (%s); the request goes on without "
                "them. Move long work in event handlers to a job.",
                self.crm.settings.event_wait_seconds,
                ", ".join(sorted({e.name for e in events})),
            )

    def _listened(self, events: Sequence[Event]) -> bool:
        pm = self.crm.pm
        for name in {e.name for e in events}:
            batch = BATCH_FORMS.get(name)
            if implementations(pm, name) or (batch and implementations(pm, batch[0])):
                return True
        return False

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _dispatch_in_thread(self, events: Sequence[Event]) -> None:
        self._local.dispatching = True
        try:
            self._dispatch(events)
        finally:
            self._local.dispatching = False

    def _dispatch(self, events: Sequence[Event]) -> None:
        batches: dict[str, list[Any]] = {}
        for event in events:
            if event.name in BATCH_FORMS:
                batches.setdefault(event.name, []).append(_batch_item(event))
        for item_name, items in batches.items():
            batch_name, arg = BATCH_FORMS[item_name]
            self.call(batch_name, **{arg: items})
        listeners = {name: implementations(self.crm.pm, name) for name in {e.name for e in events}}
        if not any(listeners.values()):
            return  # nobody listens per item: skip the loop over every item
        for event in events:
            impls = listeners[event.name]
            if impls:
                self._call_each(event.name, impls, event.kwargs)

    def call(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook_name`` on its own; one failure never stops
        the rest."""
        impls = implementations(self.crm.pm, hook_name)
        if impls:
            self._call_each(hook_name, impls, kwargs)

    def _call_each(self, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        kwargs = {"crm": self.crm, **kwargs}
        for impl in impls:
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames if name in kwargs})
            except Exception:
                log.exception("plugin %s raised in event %s; other plugins still ran",
                              impl.plugin_name, hook_name)

    def close(self, timeout: float | None = None) -> None:
        """Let running handlers finish (at most ``event_wait_seconds``), then stop the threads."""
        with self._lock:
            pending = list(self._pending)
            pool, self._pool = self._pool, None
        if pending:
            limit = self.crm.settings.event_wait_seconds if timeout is None else timeout
            wait(pending, timeout=limit)
        if pool is not None:
            pool.close()
