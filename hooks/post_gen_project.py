"""Finish the generated project: drop disabled features, write ``.env``, say what next.

Which files belong to which feature is declared once, in ``MANIFEST``; a new
optional module adds one entry there. Only the standard library is used, and
nothing here needs the network.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any, NamedTuple

#: The value that marks a secret in ``.env.example``; ``.env`` gets a fresh one each.
SECRET_PLACEHOLDER = "change-me-to-a-long-random-string"
SECRET_BYTES = 48


class Feature(NamedTuple):
    """An optional part of the project, declared once for the hook and the template's tests."""

    #: When it is on: every answer named here has one of the values listed for it.
    when: dict[str, tuple[Any, ...]]
    #: What it owns: removed from the project when it is off.
    paths: tuple[str, ...] = ()
    #: Patterns that no file of a project without it may contain (the template's
    #: tests check every bake for them).
    leftovers: tuple[str, ...] = ()
    #: The same, for the named files only.
    leftovers_in: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def enabled(self, answers: dict[str, Any]) -> bool:
        return all(answers[name] in values for name, values in self.when.items())


DATABASES = ("postgresql", "sqlite")
AI_PROVIDERS = ("openai", "anthropic", "both")
POSTGRESQL_DEPLOYMENT_FILES = (
    "pyproject.toml",
    "compose.yaml",
    ".env.example",
    ".github/workflows/ci.yml",
)

#: Each optional feature: when it is on, the paths it owns, and what it must not leave behind.
MANIFEST: dict[str, Feature] = {
    "database": Feature(
        when={"database": DATABASES},
        paths=(
            "app/api/v1/items.py",
            "app/core/db.py",
            "app/core/scoping.py",
            "app/models",
            "app/schemas/item.py",
            "app/services/items.py",
            "migrations",
            "tests/fixtures/database.py",
            "tests/test_database.py",
            "tests/test_items.py",
            "tests/test_items_cache.py",
            "tests/test_migrations.py",
        ),
        leftovers=(
            r"(?i)sqlmodel",
            r"(?i)sqlalchemy",
            r"(?i)alembic",
            r"(?i)psycopg",
            r"DATABASE_",
            r"\bItems?(Create|Update|Public|ListQuery)?\b",
            r"/items",
            r"(?i)migration",
            r"flask db",
        ),
    ),
    # The engine code stays generic (a PostgreSQL URL gets pool and timeout
    # options); what must go is the driver and every PostgreSQL deployment line.
    "postgresql": Feature(
        when={"database": ("postgresql",)},
        leftovers=(r"(?i)psycopg",),
        leftovers_in=tuple((name, (r"(?i)postgres",)) for name in POSTGRESQL_DEPLOYMENT_FILES),
    ),
    "auth": Feature(
        when={"use_auth": (True,)},
        paths=(
            "app/api/v1/auth.py",
            "app/api/v1/users.py",
            "app/core/auth",
            "app/models/user.py",
            "app/schemas/auth.py",
            "app/schemas/user.py",
            "app/services/auth.py",
            "app/services/sessions.py",
            "app/services/users.py",
            "migrations/2026_01_02_0002_create_users_and_sessions.py",
            "migrations/2026_01_03_0003_item_names_unique_per_owner.py",
            "tests/fixtures/auth.py",
            "tests/test_access.py",
            "tests/test_auth.py",
            "tests/test_auth_cli.py",
            "tests/test_auth_limits.py",
            "tests/test_auth_race.py",
            "tests/test_auth_tokens.py",
            "tests/test_users_admin.py",
        ),
        leftovers=(
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
        ),
    ),
    "redis": Feature(
        when={"use_redis": (True,)},
        paths=(
            "app/api/v1/jobs.py",
            "app/core/cache/redis_backend.py",
            "app/core/jobs.py",
            "app/core/redis.py",
            "app/schemas/job.py",
            "app/services/jobs.py",
            "app/tasks",
            "tests/fixtures/redis.py",
            "tests/instance_app.py",
            "tests/processes.py",
            "tests/sample_jobs.py",
            "tests/test_jobs.py",
            "tests/test_redis.py",
            "tests/test_two_instances.py",
        ),
        leftovers=(
            r"(?i)redis(?!tribut)",  # not "Redistribution" in license texts
            r"(?i)\brq\b",
            r"JOB_",
            r"/jobs",
            r"(?i)flask( --app app)? worker",
            r"app\.tasks",
            r"(?i)cache-purge",
        ),
    ),
    "ai": Feature(
        when={"ai_provider": AI_PROVIDERS},
        paths=(
            "app/api/v1/ai.py",
            "app/core/ai",
            "app/schemas/ai.py",
            "app/services/ai.py",
            "tests/ai_upstream.py",
            "tests/fixtures/ai.py",
            "tests/test_ai_api.py",
            "tests/test_ai_client.py",
            "tests/test_ai_limits.py",
            "tests/test_ai_provider_errors.py",
            "tests/test_ai_providers.py",
            "tests/wire",
        ),
        leftovers=(
            r"\bAI_",
            r"(?i)\bai\b",
            r"(?i)openai",
            r"(?i)anthropic",
            r"(?i)httpx",
            r"(?i)jsonschema",
            r"/api/v1/ai",
            r"(?i)event-stream",
        ),
    ),
    "ai_openai": Feature(
        when={"ai_provider": ("openai", "both")},
        paths=("app/core/ai/providers/openai.py", "tests/wire/openai_api.py"),
        leftovers=(r"(?i)openai",),
    ),
    "ai_anthropic": Feature(
        when={"ai_provider": ("anthropic", "both")},
        paths=("app/core/ai/providers/anthropic.py", "tests/wire/anthropic_api.py"),
        leftovers=(r"(?i)anthropic",),
    ),
    "auth_redis": Feature(
        when={"use_auth": (True,), "use_redis": (True,)},
        paths=("tests/test_auth_redis.py",),
    ),
    "ai_auth": Feature(
        when={"ai_provider": AI_PROVIDERS, "use_auth": (True,)},
        paths=("tests/test_ai_quota_users.py",),
    ),
    "ai_anonymous": Feature(
        when={"ai_provider": AI_PROVIDERS, "use_auth": (False,)},
        paths=("tests/test_ai_quota_addresses.py",),
    ),
    "ai_redis": Feature(
        when={"ai_provider": AI_PROVIDERS, "use_redis": (True,)},
        paths=("app/api/v1/ai_jobs.py", "app/tasks/ai.py", "tests/test_ai_jobs.py"),
    ),
}


def load_answers() -> dict[str, Any]:
    """The answers, as Cookiecutter renders them into this file."""
    answers: dict[str, Any] = json.loads(r"""{{ cookiecutter | jsonify }}""")
    return answers


def disabled_paths(answers: dict[str, Any]) -> list[str]:
    """The paths of every feature that ``answers`` turn off."""
    return [
        path
        for feature in MANIFEST.values()
        if not feature.enabled(answers)
        for path in feature.paths
    ]


def remove_paths(project: Path, paths: list[str]) -> None:
    for relative in paths:
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def write_env(project: Path) -> None:
    """Copy ``.env.example`` to ``.env``, giving every placeholder secret a fresh value."""
    example = project / ".env.example"
    lines = []
    for line in example.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and value == SECRET_PLACEHOLDER:
            line = f"{name}={secrets.token_urlsafe(SECRET_BYTES)}"
        lines.append(line)
    env = project / ".env"
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env.chmod(0o600)


def next_steps(answers: dict[str, Any], project: Path) -> str:
    steps = [f"cd {project}", "uv sync"]
    if MANIFEST["database"].enabled(answers):
        steps.append("uv run flask db upgrade")
    steps.append("uv run flask run")
    lines = [f"Created {answers['project_name']} in {project}", "", "Next steps:"]
    lines += [f"  {step}" for step in steps]
    lines += ["", "Then open http://127.0.0.1:5000/api/v1/docs. README.md tells the rest."]
    return "\n".join(lines)


def main() -> int:
    answers = load_answers()
    project = Path.cwd()
    remove_paths(project, disabled_paths(answers))
    write_env(project)
    print(next_steps(answers, project))
    return 0


if __name__ == "__main__":
    sys.exit(main())
