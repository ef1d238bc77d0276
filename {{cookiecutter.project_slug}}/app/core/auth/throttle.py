"""Sign-in throttling that slows a password guesser without locking the owner out.

Failed sign-ins are counted twice, in the store the processes share (or in
this process, without one):

- per account and address: after ``FREE_FAILURES`` failures from one address,
  that address waits 1, 2, 4 ... seconds (at most ``MAX_WAIT``) before each
  next try at that account, until a sign-in from it succeeds;
- per account, from every address: after ``FREE_ACCOUNT_FAILURES`` failures,
  addresses that never signed in to the account successfully wait the same
  way. Addresses that did (within ``KNOWN_FOR``) are not held back by what
  other addresses did, so guessing from many addresses slows the guessers, not
  the owner signing in from home.

A throttled attempt answers 429 ``RATE_LIMITED`` with ``Retry-After`` before the
password is checked, so it costs the guesser a try and the server no hash.
"""

from __future__ import annotations

import contextlib
import math
import time

from app.core.cache import BackendError, CacheBackend
from app.core.exceptions import APIError

FREE_FAILURES = 3
FREE_ACCOUNT_FAILURES = 10
MAX_WAIT = 15 * 60
#: Failures are forgotten this long after the last one.
FAILURES_KEPT = 24 * 3600
#: An address that signed in successfully stays known this long.
KNOWN_FOR = 30 * 24 * 3600


class SignInThrottled(APIError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(
            f"Too many failed sign-ins: retry in {seconds} s (see Retry-After).",
            headers={"Retry-After": str(seconds)},
        )


def backoff(failures: int, free: int) -> float:
    """Seconds to wait after ``failures`` failures when ``free`` cost nothing."""
    if failures < free:
        return 0
    return float(min(MAX_WAIT, 2 ** (failures - free)))


class SignInThrottle:
    def __init__(self, store: CacheBackend, *, prefix: str = "sign-in:") -> None:
        self.store = store
        self.prefix = prefix

    def _keys(self, account: str, address: str) -> dict[str, str]:
        pair = f"{account}|{address}"
        return {
            "pair_failures": f"{self.prefix}failures:{pair}",
            "pair_wait": f"{self.prefix}wait:{pair}",
            "account_failures": f"{self.prefix}failures:{account}",
            "account_wait": f"{self.prefix}wait:{account}",
            "known": f"{self.prefix}known:{pair}",
        }

    def check(self, account: str, address: str) -> None:
        """Raise ``SignInThrottled`` if this address must wait before trying this account."""
        keys = self._keys(account, address)
        try:
            pair_wait, account_wait, known = self.store.get_many(
                keys["pair_wait"], keys["account_wait"], keys["known"]
            )
        except BackendError:
            return  # the per-address rate limits still apply
        now = time.time()
        waits = [float(pair_wait or 0)]
        if known is None:
            waits.append(float(account_wait or 0))
        if max(waits) > now:
            raise SignInThrottled(max(waits) - now)

    def failed(self, account: str, address: str) -> None:
        keys = self._keys(account, address)
        with contextlib.suppress(BackendError):
            now = time.time()
            for counter, wait, free in (
                ("pair_failures", "pair_wait", FREE_FAILURES),
                ("account_failures", "account_wait", FREE_ACCOUNT_FAILURES),
            ):
                delay = backoff(self.store.incr(keys[counter], FAILURES_KEPT), free)
                if delay:
                    self.store.set(keys[wait], str(now + delay).encode(), delay)

    def succeeded(self, account: str, address: str) -> None:
        keys = self._keys(account, address)
        with contextlib.suppress(BackendError):
            self.store.delete(keys["pair_failures"], keys["pair_wait"])
            self.store.set(keys["known"], b"1", KNOWN_FOR)
