"""Password hashing with argon2id (argon2-cffi).

The cost parameters come from settings: the defaults are argon2-cffi's (RFC 9106
low-memory profile: 64 MiB, 3 passes, 4 lanes), above the OWASP minimum of
19 MiB / 2 passes. The testing profile uses the cheapest parameters so the suite
stays fast; hashes made with other parameters are upgraded at the next login.
"""

from __future__ import annotations

import secrets
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hash and check passwords."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        """Whether ``password`` matches ``hashed``; never raises for a wrong or broken hash."""
        try:
            return self._hasher.verify(hashed, password)
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
