"""Password hashing with argon2id (argon2-cffi).

The cost parameters come from settings: the defaults are argon2-cffi's (RFC 9106
low-memory profile: 64 MiB, 3 passes, 4 lanes), above the OWASP minimum of
19 MiB / 2 passes. The testing profile uses the cheapest parameters so the suite
stays fast; hashes made with other parameters are upgraded at the next login.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")


def off_the_event_loop(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)``, where it does not hold up the process's other requests.

    Under gevent (the server's workers) all requests of a process share one
    thread, and an argon2 hash holds it for about 0.1 s; so it runs in gevent's
    pool of real threads (argon2-cffi releases the GIL) while the others go on.
    """
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return func(*args)
    hub = importlib.import_module("gevent").get_hub()
    result: T = hub.threadpool.apply(func, args)
    return result


class Passwords:
    """Hash and check passwords."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )

    def hash(self, password: str) -> str:
        return off_the_event_loop(self._hasher.hash, password)

    def verify(self, hashed: str, password: str) -> bool:
        """Whether ``password`` matches ``hashed``; never raises for a wrong or broken hash."""
        try:
            return off_the_event_loop(self._hasher.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(hashed)

    def waste_time(self, password: str) -> None:
        """Spend what a real check costs: an unknown email is as slow as a wrong password."""
        self.verify(self._decoy, password)

    @cached_property
    def _decoy(self) -> str:
        return self.hash(secrets.token_urlsafe(16))
