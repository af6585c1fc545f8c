"""Token buckets: messages per second overall and per recipient domain (per worker process)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def wait_time(self) -> float:
        """Take a token, answering how long the caller must sleep first (0 when one was free)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1.0
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Throttle:
    """``acquire(domain)`` blocks until both the overall and the domain's budget allow a send."""

    def __init__(self, rate: float, domain_rate: float) -> None:
        self.overall = TokenBucket(rate) if rate > 0 else None
        self.domain_rate = domain_rate
        self.domains: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()

    def _domain(self, domain: str) -> TokenBucket | None:
        if self.domain_rate <= 0:
            return None
        with self.lock:
            bucket = self.domains.get(domain)
            if bucket is None:
                bucket = self.domains[domain] = TokenBucket(self.domain_rate)
            return bucket

    def acquire(self, domain: str) -> float:
        waited = 0.0
        for bucket in (self.overall, self._domain(domain)):
            if bucket is not None:
                delay = bucket.wait_time()
                if delay > 0:
                    time.sleep(delay)
                    waited += delay
        return waited
