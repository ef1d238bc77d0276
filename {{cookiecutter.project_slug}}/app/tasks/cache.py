"""Cache maintenance."""

from __future__ import annotations

from rq import Retry

from app.core.cache import get_cache

#: Purging is safe to repeat, so a failure (Redis briefly away) is retried after
#: 10, 30 and 60 seconds.
PURGE_RETRY = Retry(max=3, interval=[10, 30, 60])


def purge_stale_cache() -> dict[str, int]:
    """Delete the cache entries no lookup can reach any more (those of an older
    ``CACHE_VERSION``, or of a namespace invalidated since), freeing their memory
    before they expire.

    :returns: How many keys were looked at and how many were deleted.
    """
    return get_cache().purge_stale()
