"""The API keeps the contract its OpenAPI document states, checked by Schemathesis.

For every operation, Schemathesis generates requests the document calls valid
(the server must accept them) and requests it calls invalid (the server must
refuse them with a 4xx), sends them to the app in this process, and runs all
its default checks on each response: no 5xx, every status, header, content type
and body as documented, authentication enforced.

It runs once per kind of caller: anonymous and, where the API has users, a
user and an administrator (the plugins in ``tests/fixtures/`` that define
``CONTRACT_ROLES`` add those). Each operation gets at least ``EXAMPLES``
requests across the callers, half valid and half invalid, each caller its own
share; every run draws the same requests (a seed per caller), so a failure
repeats until it is fixed. An anonymous caller of an operation that needs
credentials is refused before anything it sent is read: ``REFUSED_EXAMPLES``
requests of each kind show that, and the rest of its share would only repeat it.

Four things are set apart, each tested on its own elsewhere: rate limits are
off (here they would only answer 429), so is the body size limit (a long text
the document allows can still make a body too large, which answers 413), no
generated text holds NUL, which the server refuses wherever it appears
(``test_errors.py``) and the document says in words: a pattern on every string
would make generation forty times slower; and what a fixture plugin's
``CONTRACT_BODY_MAPS`` change in generated bodies: where the document cannot
say all that a field must be (a JSON Schema sent as data, say), the plugin of
that module maps the generated value to one the rules allow, and its own tests
cover the rules.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.conftest import MakeApp

#: One test process runs every caller's run: Hypothesis works out which characters
#: UTF-8 can encode (seconds of CPU) once per process and project.
pytestmark = pytest.mark.xdist_group("contract")

DOCUMENT = "/api/v1/openapi.json"
#: Requests per operation, across all callers (valid and invalid ones).
EXAMPLES = 50
#: Requests of each kind (valid, invalid) an anonymous caller sends to an operation
#: that needs credentials: whatever they hold, the answer is 401.
REFUSED_EXAMPLES = 3
#: The body limit of the app under test: above anything generated. Text fields
#: may be long enough that a request the document calls valid (or invalid for
#: another reason) exceeds MAX_CONTENT_LENGTH; its 413 has a test of its own.
BODY_LIMIT = 64 * 1024 * 1024


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run per caller: anonymous, then each role the fixture plugins declare."""
    if "caller" not in metafunc.fixturenames:
        return
    roles = ["anonymous"]
    for plugin in metafunc.config.pluginmanager.get_plugins():
        roles += getattr(plugin, "CONTRACT_ROLES", ())
    share = math.ceil(EXAMPLES / len(roles))
    metafunc.parametrize(
        ("caller", "examples", "seed"),
        [(role, share, index) for index, role in enumerate(roles)],
        ids=roles,
    )


def credentials(request: pytest.FixtureRequest, caller: str) -> Callable[[Flask], dict[str, str]]:
    """A function giving fresh headers of ``caller`` for an app."""
    if caller == "anonymous":
        return lambda app: {}
    sign_in_as = request.getfixturevalue("sign_in_as")
    return lambda app: sign_in_as(app, caller)


def has_input(operation: Any) -> bool:
    """Whether the operation takes anything a request could get wrong."""
    parts = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(part) for part in parts)


def needs_credentials(operation: Any) -> bool:
    """Whether the document says the operation refuses callers without credentials:
    it names security requirements, and none of them is empty (no credentials)."""
    document = operation.schema.raw_schema
    requirements = operation.definition.raw.get("security", document.get("security", []))
    return bool(requirements) and all(requirements)


#: Each operation's request strategy by mode: it depends on the document alone,
#: which every caller's app serves alike, so the first caller builds it for all
#: (that spares each later caller 5-8% of its CPU).
STRATEGIES: dict[tuple[str, Any], Any] = {}


def strategy(operation: Any, mode: Any) -> Any:
    key = (operation.label, mode)
    if key not in STRATEGIES:
        STRATEGIES[key] = operation.as_strategy(generation_mode=mode)
    return STRATEGIES[key]


def exercise(
    operation: Any, mode: Any, *, app: Flask, headers: dict[str, str], seed: int, examples: int
) -> int:
    """Send ``examples`` requests of ``mode`` to ``operation`` and check each
    response; return how many were sent (fewer where fewer exist)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    sent = 0

    @seeded(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=strategy(operation, mode))
    def check(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(app=app, headers=headers)

    check()
    return sent


def test_the_api_keeps_its_contract(
    request: pytest.FixtureRequest, make_app: MakeApp, caller: str, examples: int, seed: int
) -> None:
    # Imported here: only this test pays for loading Schemathesis and Hypothesis.
    import schemathesis

    app = make_app(RATE_LIMIT_ENABLED=False, MAX_CONTENT_LENGTH=BODY_LIMIT)
    headers_of = credentials(request, caller)
    config = schemathesis.Config()
    config.projects.override.generation.update(allow_x00=False)
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, app, config=config)
    body_maps = [
        body_map
        for plugin in request.config.pluginmanager.get_plugins()
        for body_map in getattr(plugin, "CONTRACT_BODY_MAPS", ())
    ]

    @schema.hook
    def map_body(context: Any, body: Any) -> Any:
        for body_map in body_maps:
            body = body_map(body)
        return body

    failures: list[str] = []
    started, sent = time.process_time(), 0
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = list(schemathesis.GenerationMode) if has_input(operation) else []
        share = math.ceil(examples / max(len(modes), 1))
        if caller == "anonymous" and needs_credentials(operation):
            share = min(share, REFUSED_EXAMPLES)
        for mode in modes or [schemathesis.GenerationMode.POSITIVE]:
            try:
                exercised = exercise(
                    operation,
                    mode,
                    app=app,
                    # Fresh credentials each time: signing out ends only its own session.
                    headers=headers_of(app),
                    seed=seed,
                    examples=share,
                )
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                failures.append(f"{operation.label} ({mode.value}): {exc}")
                continue
            if not exercised:
                failures.append(f"{operation.label} ({mode.value}): no request was sent")
            sent += exercised
    print(f"{caller}: {sent} requests, {time.process_time() - started:.1f} s of CPU")
    assert not failures, "\n\n".join(failures)
