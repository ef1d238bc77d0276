"""How the cache names its entries inside the backend, and what it stores there.

::

    {version}:key:{key}                 a plain entry: its JSON
    {version}:ns:{namespace}:{key}      an entry of a namespace: "{generation}\n" + its JSON
    {version}:gen:{namespace}           the namespace's current generation
    {version}:lock:{entry key}          a missing entry being computed

Every key starts with ``CACHE_VERSION``, so changing it on deploy leaves the
old entries unreachable. An entry of a namespace is valid only while it carries
the namespace's current generation, and both are read in one round trip.
Invalidating a namespace gives it a new random generation: one write, however
many entries it had. A generation is never reused, so even a generation key
that was evicted cannot bring old entries back.

While a write that changes a namespace is being committed, its generation is
``CHANGING``: nothing of the namespace is served or stored until the write is
done and a new generation starts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
#: The kinds of key the cache writes (the second part of each key).
KINDS = frozenset({"key", "ns", "gen", "lock"})
#: The generation of a namespace while a write that changes it is being committed.
CHANGING = b"-"


def check_namespace(namespace: str) -> None:
    """Refuse a namespace that would make keys ambiguous (a ':', say)."""
    if not NAMESPACE.match(namespace):
        raise ValueError(
            f"Cache namespace {namespace!r} must be 1-100 letters, digits, '_', '.' or '-'."
        )


def entry_key(version: str, key: str, namespace: str | None) -> str:
    if namespace is None:
        return f"{version}:key:{key}"
    return f"{version}:ns:{namespace}:{key}"


def generation_key(version: str, namespace: str) -> str:
    return f"{version}:gen:{namespace}"


def lock_key(version: str, entry: str) -> str:
    return f"{version}:lock:{entry}"


def new_generation() -> bytes:
    return uuid.uuid4().hex[:16].encode()


def seal(generation: bytes | None, data: bytes) -> bytes:
    """What is stored for ``data``: as is, or after the generation it belongs to."""
    return data if generation is None else generation + b"\n" + data


def unseal(generation: bytes | None, stored: bytes | None) -> bytes | None:
    """The data of a stored value, or None if it belongs to another generation."""
    if stored is None or generation is None:
        return stored
    found, _, data = stored.partition(b"\n")
    return data if found == generation else None


def is_stale(
    key: str, stored: bytes | None, version: str, generation_of: Callable[[str], bytes | None]
) -> bool:
    """True if no lookup of ``version`` can reach ``key`` (holding ``stored``) any more.

    :param generation_of: The current generation of a namespace (None: none yet).
    """
    key_version, _, rest = key.partition(":")
    kind, _, rest = rest.partition(":")
    if kind not in KINDS:
        return False  # not an entry of the cache's (the auth states share its store)
    if key_version != version:
        return True
    if kind != "ns" or stored is None:
        return False
    namespace, _, _ = rest.partition(":")
    current = generation_of(namespace)
    return current is None or unseal(current, stored) is None
