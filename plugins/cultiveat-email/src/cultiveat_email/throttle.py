"""Token buckets: messages per second overall and per recipient domain.

With Redis configured the buckets live in Redis (one Lua script per take, atomic), so the
limits hold across every worker process and machine together; without it (or when Redis is
unreachable) each process keeps its own buckets.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("cultiveat.email")
REDIS_RETRY_SECONDS = 5.0  # after a Redis error, per-process buckets for this long

# KEYS[1]: the bucket. ARGV: rate (tokens/s), capacity. Answers the wait in seconds (a string,
# Lua numbers become integers otherwise). Takes the token even when the caller must wait
# (a reservation), like the in-process bucket, so waiting callers queue up fairly.
TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then tokens = math.min(capacity, tokens + (now - ts) * rate) end
if now > ts then ts = now end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate + (tokens < 0 and -tokens / rate or 0)) + 60)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""


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


class RedisBucket:
    """The same bucket kept in Redis under ``key``: shared by every process using that key."""

    def __init__(self, client: Any, script: Any, key: str, rate: float) -> None:
        self.client = client
        self.script = script
        self.key = key
        self.rate = rate
        self.capacity = max(1.0, rate)

    def wait_time(self) -> float:
        answer = self.script(keys=[self.key], args=[repr(self.rate), repr(self.capacity)])
        return float(answer)


class Throttle:
    """``acquire(domain)`` blocks until both the overall and the domain's budget allow a send.

    ``redis_url`` (optional) makes the budgets global: every process with the same URL and
    ``namespace`` shares them.
    """

    def __init__(
        self, rate: float, domain_rate: float, redis_url: str = "", namespace: str = "cultiveat"
    ) -> None:
        self.rate = rate
        self.domain_rate = domain_rate
        self.prefix = f"{namespace}:email:throttle"
        self.client: Any = None
        self.script: Any = None
        if redis_url and (rate > 0 or domain_rate > 0):
            import redis

            self.client = redis.Redis.from_url(redis_url, socket_timeout=5)
            self.script = self.client.register_script(TAKE)
        self.overall = self._bucket("overall", rate) if rate > 0 else None
        self.local_overall = TokenBucket(rate) if rate > 0 else None
        self.domains: dict[str, Any] = {}
        self.local_domains: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()
        self.redis_down_until = 0.0

    @property
    def shared(self) -> bool:
        return self.client is not None

    def _bucket(self, name: str, rate: float) -> Any:
        if self.client is not None:
            return RedisBucket(self.client, self.script, f"{self.prefix}:{name}", rate)
        return TokenBucket(rate)

    def _domain(self, domain: str) -> tuple[Any, TokenBucket] | None:
        if self.domain_rate <= 0:
            return None
        with self.lock:
            bucket = self.domains.get(domain)
            if bucket is None:
                bucket = self.domains[domain] = self._bucket(f"domain:{domain}", self.domain_rate)
                self.local_domains[domain] = TokenBucket(self.domain_rate)
            return bucket, self.local_domains[domain]

    def _wait(self, bucket: Any, fallback: TokenBucket) -> float:
        if not isinstance(bucket, RedisBucket):
            return float(bucket.wait_time())
        if time.monotonic() < self.redis_down_until:
            return fallback.wait_time()
        try:
            return bucket.wait_time()
        except Exception as exc:  # Redis down: keep limiting, per process, rather than stop
            log.warning(
                "email throttle: Redis unreachable (%s); limiting per process for %s s",
                exc,
                REDIS_RETRY_SECONDS,
            )
            self.redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return fallback.wait_time()

    def acquire(self, domain: str) -> float:
        waited = 0.0
        pairs: list[tuple[Any, TokenBucket]] = []
        if self.overall is not None and self.local_overall is not None:
            pairs.append((self.overall, self.local_overall))
        found = self._domain(domain)
        if found is not None:
            pairs.append(found)
        for bucket, fallback in pairs:
            delay = self._wait(bucket, fallback)
            if delay > 0:
                time.sleep(delay)
                waited += delay
        return waited
