"""Two app processes (gunicorn servers) sharing one Redis behave as one service:
one rate limit for both, and a write through one is read through the other."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.cached_resource import LIMITED_URL, URL

#: Every test here uses the two servers of the ``instances`` fixture: one xdist worker starts them.
pytestmark = pytest.mark.xdist_group("instances")


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body (None if empty) of one HTTP request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
            return exc.code, dict(exc.headers), json.loads(raw) if raw else None


def test_alternating_between_instances_meets_one_limit(instances: tuple[str, str]) -> None:
    codes = [call("GET", f"{instances[n % 2]}{LIMITED_URL}")[0] for n in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_a_write_through_one_instance_is_read_through_the_other(
    instances: tuple[str, str],
) -> None:
    first, second = instances
    call("POST", f"{first}{URL}", {"version": 1})
    for base in instances:
        call("GET", f"{base}{URL}")
    status, headers, body = call("GET", f"{second}{URL}")
    assert (status, headers["X-Cache"], body["data"]) == (200, "HIT", {"version": 1})

    assert call("POST", f"{first}{URL}", {"version": 2})[0] == 200
    status, headers, body = call("GET", f"{second}{URL}")
    assert (headers["X-Cache"], body["data"]) == ("MISS", {"version": 2})
