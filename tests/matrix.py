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
    "use_auth": [True, False],
    "use_redis": [True, False],
    "ai_provider": QUESTIONS["ai_provider"],
}
#: Answers that change a few lines of text, not code paths: each value is crossed with
#: every database.
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
    "ai": [
        r"\bAI_",
        r"(?i)\bai\b",
        r"(?i)openai",
        r"(?i)anthropic",
        r"(?i)httpx",
        r"(?i)jsonschema",
        r"/api/v1/ai",
        r"(?i)event-stream",
    ],
    "ai_openai": [r"(?i)openai"],
    "ai_anthropic": [r"(?i)anthropic"],
    # The engine code stays generic (a PostgreSQL URL gets pool and timeout
    # options); what must go is the driver and every PostgreSQL deployment line.
    "postgresql": [r"(?i)psycopg"],
    "auth": [
        r"(?i)\bjwt",
        r"(?i)argon2",
        r"(?i)/auth/",
        r"\bauth\.",
        r"(?i)\bbearer\b",
        r"hashed_password",
        r"PASSWORD_HASH",
        r"current_user",
        r"require_(auth|roles)",
        r"owner_id",
        r"AuthSession",
        r"(?i)email[-_]validator",
        r"/users",
        r"(?i)\badmins?\b",
    ],
    "kubernetes": [r"(?i)kubectl", r"(?i)kubernetes", r"deploy/k8s"],
    "redis": [
        r"(?i)redis(?!tribut)",  # not "Redistribution" in license texts
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
    if answers.get("use_auth", QUESTIONS["use_auth"]):
        on.add("auth")
    provider = answers.get("ai_provider", QUESTIONS["ai_provider"][0])
    if provider != "none":
        on.add("ai")
    if provider in ("openai", "both"):
        on.add("ai_openai")
    if provider in ("anthropic", "both"):
        on.add("ai_anthropic")
    if answers.get("use_redis", QUESTIONS["use_redis"]):
        on.add("redis")
    if answers["database"] != "sqlite":
        on.add("kubernetes")
    return on


def is_valid(answers: dict[str, Any]) -> bool:
    """Whether the pre-generation hook accepts the combination."""
    return not (answers.get("use_auth", QUESTIONS["use_auth"]) and answers["database"] == "none")


def fit(answers: dict[str, Any]) -> dict[str, Any]:
    """``answers`` with the module toggles that the database forbids turned off."""
    if answers["database"] == "none":
        return {**answers, "use_auth": False}
    return answers


def combinations() -> list[dict[str, Any]]:
    """Every combination of ``MODULES``, then each ``TEXT_OPTIONS`` value with every database."""
    names = list(MODULES)
    found = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*MODULES.values())
    ]
    found = [answers for answers in found if is_valid(answers)]
    # The text options change no code path, so their bakes skip Redis, whose suite
    # (several worker processes and servers) is the slowest.
    for name, values in TEXT_OPTIONS.items():
        found += [
            fit({"database": database, name: value, "use_redis": False})
            for database in MODULES["database"]
            for value in values[1:]
        ]
    return found


def one_change_at_a_time() -> list[dict[str, Any]]:
    """The defaults, then each other value of each module toggle on its own (with
    whatever that value forbids turned off)."""
    changes = [{name: value} for name, values in MODULES.items() for value in values[1:]]
    return [{}] + [fit({**answers}) if "database" in answers else answers for answers in changes]


def combination_id(answers: dict[str, Any]) -> str:
    words = [
        (name.removeprefix("use_") if value else f"no_{name.removeprefix('use_')}")
        if isinstance(value, bool)
        else str(value)
        for name, value in answers.items()
    ]
    return "-".join(words) or "defaults"
