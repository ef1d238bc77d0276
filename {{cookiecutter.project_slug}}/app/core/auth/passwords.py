"""Password hashing with argon2id (argon2-cffi), and the password policy.

The cost parameters come from settings: the defaults are argon2-cffi's (RFC 9106
low-memory profile: 64 MiB, 3 passes, 4 lanes), above the OWASP minimum of
19 MiB / 2 passes. The testing profile uses the cheapest parameters so the suite
stays fast; hashes made with other parameters are upgraded at the next login.

A password is used exactly as typed (no spaces stripped, no length cut), after
one normalisation, applied alike wherever a password is hashed or checked: the
Unicode NFKC form, so that the same characters typed on two keyboards (a
composed or a decomposed "é", say) are the same password (NIST SP 800-63B).
"""

from __future__ import annotations

import importlib
import secrets
import sys
import unicodedata
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
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


#: The list of common passwords this project refuses (one per line; ``#`` comments).
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


def normalize(password: str) -> str:
    """The form of ``password`` that is hashed and checked."""
    return unicodedata.normalize("NFKC", password)


def _load_common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        normalize(line.strip()).casefold()
        for line in lines
        if line.strip() and not line.startswith("#")
    )


#: Passwords attackers try first, normalised and case-folded.
COMMON_PASSWORDS = _load_common_passwords()


def is_common(password: str) -> bool:
    """Whether ``password`` is on the list of common passwords (ignoring case)."""
    return normalize(password).casefold() in COMMON_PASSWORDS


class Passwords:
    """Hash and check passwords."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )

    def hash(self, password: str) -> str:
        return off_the_event_loop(self._hasher.hash, normalize(password))

    def verify(self, hashed: str, password: str) -> bool:
        """Whether ``password`` matches ``hashed``; never raises for a wrong or broken hash."""
        try:
            return off_the_event_loop(self._hasher.verify, hashed, normalize(password))
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
