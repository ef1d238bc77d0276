"""The combinations of answers the tests bake, and what each disabled feature must not leave.

Add a module: give its answer's values to ``OPTIONS``, its leftovers to
``LEFTOVERS``, and say in ``features`` when it is on.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.conftest import TEMPLATE

QUESTIONS: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text())

#: Answers that change the generated code; every combination is baked and tested.
OPTIONS: dict[str, list[Any]] = {
    "database": QUESTIONS["database"],
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
    return on


def combinations() -> list[dict[str, Any]]:
    """Every combination of ``OPTIONS``."""
    names = list(OPTIONS)
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*OPTIONS.values())
    ]


def combination_id(answers: dict[str, Any]) -> str:
    return "-".join(str(value) for value in answers.values())
