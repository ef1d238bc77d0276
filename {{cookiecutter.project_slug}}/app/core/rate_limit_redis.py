"""Rate-limit counters in Redis, shared by every process and instance: one round
trip per request, whatever the number of limits.

Each strategy is one Lua script that counts the request against each limit in
turn, stops at the first that refuses it, and returns every counted limit's
window. The arithmetic is that of the ``limits`` library's strategies (which
count in-process, :class:`~app.core.rate_limit.MemoryLimitStore`), done in
Redis so that nothing can come between reading a counter and changing it.

If Redis stops answering, this process counts in memory and leaves Redis alone
for a few seconds before it tries again: limits stay on, per process, and no
request fails because of the outage.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

from redis import Redis, RedisError

from app.core.cache.backends import BackendError, FailFast
from app.core.rate_limit import Check, MemoryLimitStore, Window

# KEYS: each limit's previous and current window. ARGV: for each limit, its
# amount and its window in milliseconds. Returns, for each limit counted:
# allowed (1/0), remaining, milliseconds until it has room again.
_SLIDING_WINDOW = """
local result = {}
for i = 1, #KEYS / 2 do
  local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, expiry = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local current_ttl = redis.call('pttl', current_key)
  if current_ttl > 0 and current_ttl < expiry then
    -- the current window is over: it becomes the previous one
    redis.call('rename', current_key, previous_key)
    redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
  end
  local previous = tonumber(redis.call('get', previous_key)) or 0
  local previous_ttl = math.max(redis.call('pttl', previous_key), 0)
  local current = tonumber(redis.call('get', current_key)) or 0
  current_ttl = math.max(redis.call('pttl', current_key), 0)
  local allowed = math.floor(previous * previous_ttl / expiry) + current + 1 <= limit
  if allowed then
    if redis.call('exists', current_key) == 1 then
      current = redis.call('incr', current_key)
    else
      redis.call('set', current_key, 1, 'PX', expiry * 2)
      current, current_ttl = 1, expiry * 2
    end
  end
  local remaining = math.max(0, limit - math.floor(previous * previous_ttl / expiry + current))
  local reset = math.huge
  if previous > 0 then reset = previous_ttl % (expiry / previous) end
  if current > 0 then reset = math.min(reset, current_ttl % expiry) end
  if reset == math.huge then reset = 0 end
  table.insert(result, allowed and 1 or 0)
  table.insert(result, remaining)
  table.insert(result, math.ceil(reset))
  if not allowed then break end
end
return result
"""

# KEYS: each limit's list of request times, newest first. ARGV: now (seconds),
# then for each limit its amount and its window in seconds. Returns as above.
_MOVING_WINDOW = """
local now = tonumber(ARGV[1])
local result = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local limit, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local oldest_kept = redis.call('lindex', key, limit - 1)
  local allowed = not (oldest_kept and tonumber(oldest_kept) >= now - expiry)
  if allowed then
    redis.call('lpush', key, ARGV[1])
    redis.call('ltrim', key, 0, limit - 1)
    redis.call('expire', key, expiry)
  end
  -- the requests inside the window: a binary search for the oldest of them
  local count, oldest = 0, now
  local low, high = 0, math.min(redis.call('llen', key), limit) - 1
  while low <= high do
    local middle = math.floor((low + high) / 2)
    local entry = tonumber(redis.call('lindex', key, middle))
    if entry and entry >= now - expiry then
      count, oldest, low = middle + 1, entry, middle + 1
    else
      high = middle - 1
    end
  end
  table.insert(result, allowed and 1 or 0)
  table.insert(result, limit - count)
  table.insert(result, math.ceil((oldest + expiry - now) * 1000))
  if not allowed then break end
end
return result
"""


class RedisLimitStore:
    """Counters under ``prefix`` in Redis; in this process while Redis is unavailable.

    :param client: A client with short timeouts (see ``app.core.redis``).
    :param prefix: Prepended to every key, e.g. ``"my_api:limits"``.
    """

    def __init__(self, client: Redis, prefix: str, *, retry_interval: float = 5) -> None:
        self._prefix = prefix
        self._sliding_window = client.register_script(_SLIDING_WINDOW)
        self._moving_window = client.register_script(_MOVING_WINDOW)
        self._fallback = MemoryLimitStore()
        self._guard = FailFast(retry_interval, name="Rate-limit store")
        # The keys and limits of the checks of each recent client, as the scripts take them.
        self._script_input = functools.lru_cache(maxsize=4096)(self._make_script_input)

    def hit(self, strategy: str, checks: Sequence[Check]) -> list[Window]:
        try:
            return self._guard.call(self._hit, strategy, checks)
        except BackendError:
            return self._fallback.hit(strategy, checks)

    def _make_script_input(
        self, strategy: str, checks: tuple[Check, ...]
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        keys = [f"{self._prefix}:{item.key_for(key)}" for item, key in checks]
        if strategy == "moving-window":
            limits = [(item.amount, item.get_expiry()) for item, _ in checks]
        else:
            # The sliding window's previous and current counters; milliseconds.
            keys = [key for full in keys for key in (f"{full}/-1", full)]
            limits = [(item.amount, item.get_expiry() * 1000) for item, _ in checks]
        return tuple(keys), tuple(value for pair in limits for value in pair)

    def _hit(self, strategy: str, checks: Sequence[Check]) -> list[Window]:
        keys, limits = self._script_input(strategy, tuple(checks))
        now = time.time()
        try:
            if strategy == "moving-window":
                found = self._moving_window(keys, [now, *limits])
            else:
                found = self._sliding_window(keys, limits)
        except RedisError as exc:
            raise BackendError(f"Redis is unavailable: {type(exc).__name__}: {exc}") from exc
        return [
            Window(bool(found[index]), int(found[index + 1]), now + int(found[index + 2]) / 1000)
            for index in range(0, len(found), 3)
        ]
