"""The combinations of answers the tests bake, and what each disabled feature must not leave.

Add a module: give its answer's values to ``MODULES``, its leftovers to ``LEFTOVERS``,
and say in ``features`` when it is on.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.conftest import TEMPLATE

QUESTIONS: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text())

#: The module toggles: every valid combination of their values is baked and tested.
MODULES: dict[str, list[Any]] = {
    "database": QUESTIONS["database"],
    "use_redis": [True, False],
}
#: Answers that change a few lines of text, not code paths: each value is crossed with
#: every database, the other modules at their defaults.
TEXT_OPTIONS: dict[str, list[Any]] = {
    "license": QUESTIONS["license"],
}

#: Patterns that must not appear in any file of a bake whose feature is off.
LEFTOVERS: dict[str, list[str]] = {
    "database": [
        r"(?i)sqlmodel",
        r"(?i)sqlalchemy",
        r"(?i)alembic",
        r"(?i)psycopg",
        r"DATABASE_",
        r"\bItems?(Create|Update|Public|ListQuery)?\b",
        r"/items",
        r"(?i)migration",
        r"flask db",
    ],
    # The engine code stays generic (a PostgreSQL URL gets pool and timeout
    # options); what must go is the driver and every PostgreSQL deployment line.
    "postgresql": [r"(?i)psycopg"],
    "redis": [
        r"(?i)redis",
        r"(?i)\brq\b",
        r"JOB_",
        r"/jobs",
        r"(?i)flask( --app app)? worker",
        r"app\.tasks",
        r"(?i)cache-purge",
    ],
}
#: Patterns that must not appear in the named files of a bake whose feature is off.
LEFTOVERS_IN: dict[str, dict[str, list[str]]] = {
    "postgresql": {
        name: [r"(?i)postgres"]
        for name in ("pyproject.toml", "compose.yaml", ".env.example", ".github/workflows/ci.yml")
    },
}


def features(answers: dict[str, Any]) -> set[str]:
    """The features ``answers`` turn on."""
    on = set()
    if answers["database"] != "none":
        on.add("database")
    if answers["database"] == "postgresql":
        on.add("postgresql")
    if answers.get("use_redis", True):
        on.add("redis")
    return on


def combinations() -> list[dict[str, Any]]:
    """Every combination of ``MODULES``, then each ``TEXT_OPTIONS`` value with every database."""
    names = list(MODULES)
    found = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*MODULES.values())
    ]
    for name, values in TEXT_OPTIONS.items():
        found += [
            {"database": database, name: value}
            for database in MODULES["database"]
            for value in values[1:]
        ]
    return found


def combination_id(answers: dict[str, Any]) -> str:
    """``postgresql-redis``, ``sqlite-no_redis``, ``none-BSD-3-Clause``, ..."""
    return "-".join(
        (name.removeprefix("use_") if value else f"no_{name.removeprefix('use_')}")
        if isinstance(value, bool)
        else f"{value}"
        for name, value in answers.items()
    )
