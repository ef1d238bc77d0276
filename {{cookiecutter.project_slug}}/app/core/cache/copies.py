"""Copies of database rows in a store every process shares, kept true by marks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from app.core.cache.backends import BackendError, CacheBackend, FailFast


class HeldCopies:
    """Copies of rows (JSON objects) in a shared store, in front of the database.

    The database stays the source of truth, and three rules keep every copy
    true to it:

    - a copy is stored only where no entry is (``add``), right after it was
      read from the database;
    - before a change commits, the entries it touches are replaced by a
      ``CHANGING`` mark for ``hold`` seconds: readers then ask the database and
      store nothing, so no copy read before the commit can land after it. If
      the marks cannot be written, :meth:`hold` raises and the change must not
      commit;
    - a copy lives no longer than the ``ttl`` it was stored with.

    A lost, flushed or restarted backend only sends readers to the database.
    """

    CHANGING = b"-"

    def __init__(self, backend: CacheBackend, *, name: str, hold: float = 60) -> None:
        self.backend = backend
        self.hold_seconds = hold
        # Reads fall back to the database; after a failure they leave the backend
        # alone for a few seconds, so an outage slows down one request, not each.
        self._guard = FailFast(retry_interval=5, name=name)

    def read(self, *keys: str) -> list[dict[str, Any] | None]:
        """The copies under ``keys``, in one round trip; None where the database must answer."""
        try:
            found = self._guard.call(self.backend.get_many, *keys)
        except BackendError:
            return [None] * len(keys)
        return [self._parse(raw) for raw in found]

    def remember(self, key: str, state: dict[str, Any], ttl: float) -> None:
        data = json.dumps(state, separators=(",", ":")).encode()
        with contextlib.suppress(BackendError):  # the database answers next time
            self._guard.call(self.backend.add, key, data, max(ttl, 0.001))

    def hold(self, keys: Iterable[str]) -> None:
        """Mark ``keys`` as changing, before the change commits.

        :raises BackendError: The backend did not confirm: do not commit.
        """
        marks = dict.fromkeys(keys, self.CHANGING)
        if marks:  # not skipped after a failure, as reads are: a change must try
            self.backend.set_many(marks, self.hold_seconds)

    def _parse(self, raw: bytes | None) -> dict[str, Any] | None:
        if raw is None or raw == self.CHANGING:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
