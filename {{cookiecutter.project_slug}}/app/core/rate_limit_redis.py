"""The sliding window counter of ``limits``, in one Redis round trip per limit.

Flask-Limiter counts a request with the strategy's ``hit`` and, for the
``X-RateLimit-*`` headers, asks the storage again for the window. Here ``hit``
runs one script that counts and returns the window as it left it; the window
is kept for the rest of the request, so the headers cost no second call. The
keys and the arithmetic are those of ``limits`` (pinned below 6), so both
strategies can share counters. Other storages (the in-memory fallback) are
counted by ``limits`` itself.
"""

from __future__ import annotations

import time
from math import floor, inf
from typing import Any

from flask import g, has_request_context
from limits import RateLimitItem, WindowStats
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, SlidingWindowCounterRateLimiter

NAME = "sliding-window-counter-one-trip"

# KEYS: the previous and the current window; ARGV: limit, window seconds, cost.
# Returns: allowed (1/0), previous count, its ms to live, current count, its ms to live.
_HIT = """
local limit, expiry, cost = tonumber(ARGV[1]), tonumber(ARGV[2]) * 1000, tonumber(ARGV[3])
local current_ttl = redis.call('pttl', KEYS[2])
if current_ttl > 0 and current_ttl < expiry then
  -- the current window is over: it becomes the previous one
  redis.call('rename', KEYS[2], KEYS[1])
  redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(redis.call('pttl', KEYS[1]), 0)
local current = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(redis.call('pttl', KEYS[2]), 0)
local weighted = math.floor(previous * previous_ttl / expiry) + current
if cost > limit or weighted + cost > limit then
  return {0, previous, previous_ttl, current, current_ttl}
end
if redis.call('exists', KEYS[2]) == 1 then
  current = redis.call('incrby', KEYS[2], cost)
else
  redis.call('set', KEYS[2], cost, 'PX', expiry * 2)
  current, current_ttl = cost, expiry * 2
end
return {1, previous, previous_ttl, current, current_ttl}
"""


class OneTripSlidingWindow(SlidingWindowCounterRateLimiter):
    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self._script = (
            storage.get_connection().register_script(_HIT.encode())
            if isinstance(storage, RedisStorage)
            else None
        )

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        if self._script is None or not has_request_context():
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        storage: Any = self.storage
        window_keys = [
            storage.prefixed_key(storage._previous_window_key(key)),
            storage.prefixed_key(storage._current_window_key(key)),
        ]
        allowed, *window = self._script(window_keys, [item.amount, item.get_expiry(), cost])
        g.setdefault("rate_windows", {})[key] = [int(value) for value in window]
        return bool(allowed)

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        key = item.key_for(*identifiers)
        known = g.get("rate_windows", {}).get(key) if has_request_context() else None
        if known is None:
            return super().get_window_stats(item, *identifiers)
        previous, previous_ms, current, current_ms = known
        expiry = item.get_expiry()
        weighted = previous * (previous_ms / 1000) / expiry + current
        remaining = max(0, item.amount - floor(weighted))
        now = time.time()
        previous_reset = (previous_ms / 1000) % (expiry / previous) if previous else inf
        current_reset = (current_ms / 1000) % expiry if current else inf
        if not (previous or current):
            return WindowStats(now, remaining)
        return WindowStats(now + min(previous_reset, current_reset), remaining)


def register_strategy() -> str:
    """Make the strategy known to Flask-Limiter (which looks strategies up by name)."""
    STRATEGIES.setdefault(NAME, OneTripSlidingWindow)
    return NAME
