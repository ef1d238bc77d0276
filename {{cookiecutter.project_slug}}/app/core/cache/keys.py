"""How the cache names its entries inside the backend.

::

    {version}:key:{key}                           a plain entry
    {version}:ns:{namespace}:{generation}:{key}   an entry of a namespace
    {version}:gen:{namespace}                     the namespace's generation
    {version}:lock:{entry key}                    a missing entry being computed

Every key starts with ``CACHE_VERSION``, so changing it on deploy leaves the
old entries unreachable. Invalidating a namespace gives it a new random
generation: one write, however many entries it had. A generation is never
reused, so even a generation key that was evicted cannot bring old entries back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def check_namespace(namespace: str) -> None:
    """Refuse a namespace that would make keys ambiguous (a ':', say)."""
    if not NAMESPACE.match(namespace):
        raise ValueError(
            f"Cache namespace {namespace!r} must be 1-100 letters, digits, '_', '.' or '-'."
        )


def entry_key(version: str, key: str, namespace: str | None, generation: str | None) -> str:
    if namespace is None:
        return f"{version}:key:{key}"
    return f"{version}:ns:{namespace}:{generation}:{key}"


def generation_key(version: str, namespace: str) -> str:
    return f"{version}:gen:{namespace}"


def lock_key(version: str, entry: str) -> str:
    return f"{version}:lock:{entry}"


def new_generation() -> bytes:
    return uuid.uuid4().hex[:16].encode()


def is_stale(key: str, version: str, generation_of: Callable[[str], bytes | None]) -> bool:
    """True if no lookup of ``version`` can reach ``key`` any more.

    :param generation_of: The current generation of a namespace (None: none yet).
    """
    key_version, _, rest = key.partition(":")
    if key_version != version:
        return True
    kind, _, rest = rest.partition(":")
    if kind != "ns":
        return False
    namespace, generation, _ = rest.split(":", 2)
    current = generation_of(namespace)
    return current is None or current.decode() != generation
