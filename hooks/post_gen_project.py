"""Finish the generated project: drop disabled features, lock its dependencies,
write ``.env``, say what next.

Which files belong to which feature is declared once, in ``MANIFEST``; a new
optional module adds one entry there. Only the standard library is used, and
nothing here needs the network. A fresh interpreter runs this at every bake, so
it imports only what it uses (``os.path`` rather than ``pathlib``, for one).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
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
            "app/features/database.py",
            "app/models",
            "app/schemas/item.py",
            "app/schemas/page.py",
            "app/services/items.py",
            "app/services/page.py",
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
            "app/api/auth.py",
            "app/api/v1/auth.py",
            "app/api/v1/users.py",
            "app/cli",
            "app/core/auth",
            "app/features/auth.py",
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
            # Not "bearer" alone: the metrics module takes a bearer token too.
            r"(?i)\bbearer(Auth|Format| \$TOKEN| <access)",
            r"(?i)access[ _-]?tokens?\b",
            r"token_type",
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
            "app/core/rate_limit_redis.py",
            "app/core/redis.py",
            "app/features/redis.py",
            "app/schemas/job.py",
            "app/services/jobs.py",
            "app/tasks",
            "tests/fixtures/redis.py",
            "tests/instance_app.py",
            "tests/processes.py",
            "tests/sample_jobs.py",
            "tests/test_jobs.py",
            "tests/test_redis.py",
            "tests/test_redis_batching.py",
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
            "app/features/ai.py",
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
    "api_keys": Feature(
        when={"use_api_keys": (True,)},
        paths=(
            "app/api/api_keys.py",
            "app/api/v1/api_keys.py",
            "app/cli/api_keys.py",
            "app/features/api_keys.py",
            "app/models/api_key.py",
            "app/schemas/api_key.py",
            "app/services/api_keys.py",
            "migrations/2026_01_04_0004_create_api_keys.py",
            "tests/test_api_keys.py",
        ),
        leftovers=(
            r"(?i)api[-_ ]keys",
            r"ApiKey",
            r"API_KEY_(PREFIX|PEPPER|MAX|CACHE)",
            r"X-API-Key",
            r"KeyPrincipal",
        ),
    ),
    "api_keys_redis": Feature(
        when={"use_api_keys": (True,), "use_redis": (True,)},
        paths=("tests/test_api_keys_redis.py",),
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
        paths=(
            "app/api/v1/ai_jobs.py",
            "app/features/ai_jobs.py",
            "app/tasks/ai.py",
            "tests/test_ai_jobs.py",
        ),
    ),
    "metrics": Feature(
        when={"use_metrics": (True,)},
        paths=(
            "app/core/metrics.py",
            "app/features/metrics.py",
            "app/features/metrics_server.py",
            "tests/fixtures/metrics.py",
            "tests/test_metrics.py",
            "tests/test_metrics_serving.py",
        ),
        leftovers=(r"(?i)prometheus", r"METRICS_", r"(?i)metrics_server"),
    ),
    "metrics_ai": Feature(
        when={"use_metrics": (True,), "ai_provider": AI_PROVIDERS},
        paths=("app/features/metrics_ai.py", "tests/test_metrics_ai.py"),
        leftovers=(r"ai_calls_total", r"metrics_ai"),
    ),
    "metrics_redis": Feature(
        when={"use_metrics": (True,), "use_redis": (True,)},
        paths=("tests/test_metrics_jobs.py",),
    ),
    # Pods on a cluster share their state through PostgreSQL (and Redis): SQLite is
    # one machine's file, and a project without a database keeps to compose.
    "kubernetes": Feature(
        when={"database": ("postgresql",)},
        paths=("deploy",),
        leftovers=(r"(?i)kubectl", r"(?i)kubernetes", r"deploy/k8s"),
    ),
    "kubernetes_worker": Feature(
        when={"database": ("postgresql",), "use_redis": (True,)},
        paths=("deploy/k8s/worker.yaml",),
    ),
}

#: Locks of every dependency a project can have, one per Python version it may
#: start from (``python3 tasks.py lock`` makes them). The hook keeps, as the
#: project's ``uv.lock``, the packages its own ``pyproject.toml`` needs.
LOCKS = ".locks"
#: A dependency in a lock: ``{ name = "x", version = "1", source = {...}, extra = ["y"], ... }``
LOCK_EDGE = re.compile(
    r'\{ name = "(?P<name>[^"]+)"(?:, version = "(?P<version>[^"]+)")?'
    r"(?:, source = \{[^}]*\})?(?:, extra = \[(?P<extras>[^\]]*)\])?"
)
#: A PEP 508 requirement without an environment marker: ``name[extra,...]specifiers``
REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<spec>[^;]*)$"
)
PEP440 = re.compile(
    r"""^\s*v?(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:-(?P<post_implicit>[0-9]+)|[-_.]?(?P<post>post|rev|r)[-_.]?(?P<post_n>[0-9]+)?)?
    (?P<dev>[-_.]?dev[-_.]?(?P<dev_n>[0-9]+)?)?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
PRE_RELEASE = {"a": "a", "alpha": "a", "b": "b", "beta": "b"}


class LockMismatch(Exception):
    """The locks shipped with the template do not cover this project."""


class Requirement(NamedTuple):
    name: str
    extras: tuple[str, ...]
    specifier: str


class Edge(NamedTuple):
    name: str
    version: str | None
    extras: tuple[str, ...]


class LockedPackage(NamedTuple):
    name: str
    version: str
    #: The package's table, from its name to the end, without the ``[[package]]`` line.
    text: str
    dependencies: list[Edge]
    extras: dict[str, list[Edge]]


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


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def remove_paths(project: str, paths: list[str]) -> None:
    for relative in paths:
        path = os.path.join(project, relative)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def normalize_name(name: str) -> str:
    """A distribution name as lock files spell it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_version(version: str) -> str:
    """A PEP 440 version in its normal form, as lock files spell it."""
    match = PEP440.match(version)
    if match is None:
        raise LockMismatch(f"version {version!r} is not a PEP 440 version")
    normal = f"{int(match['epoch'])}!" if match["epoch"] and int(match["epoch"]) else ""
    normal += ".".join(str(int(part)) for part in match["release"].split("."))
    if match["pre"]:
        normal += PRE_RELEASE.get(match["pre"].lower(), "rc") + str(int(match["pre_n"] or 0))
    if match["post_implicit"] or match["post"]:
        normal += f".post{int(match['post_implicit'] or match['post_n'] or 0)}"
    if match["dev"]:
        normal += f".dev{int(match['dev_n'] or 0)}"
    return normal


def split_extras(text: str | None) -> tuple[str, ...]:
    """``'a, "b"'`` -> ``("a", "b")``"""
    return tuple(sorted(extra.strip(' "') for extra in (text or "").split(",") if extra.strip()))


def parse_requirement(text: str) -> Requirement:
    match = REQUIREMENT.match(text)
    if match is None:
        raise LockMismatch(f"cannot lock the requirement {text!r} (environment markers?)")
    specifier = re.sub(r"\s", "", match["spec"])
    return Requirement(normalize_name(match["name"]), split_extras(match["extras"]), specifier)


def parse_edge(line: str) -> Edge:
    match = LOCK_EDGE.search(line)
    if match is None:
        raise LockMismatch(f"unexpected dependency line in the lock: {line!r}")
    return Edge(match["name"], match["version"], split_extras(match["extras"]))


def parse_locked_package(text: str) -> LockedPackage:
    """One ``[[package]]`` table of a lock: its name, version and dependencies."""
    lines = text.split("\n")
    name, version = (line.split('"')[1] for line in lines[:2])
    dependencies: list[Edge] = []
    extras: dict[str, list[Edge]] = {}
    table, target = "", None
    for line in lines[2:]:
        if line.startswith("[package."):
            table, target = line, None
        elif target is None:
            if not table and line == "dependencies = [":
                target = dependencies
            elif table == "[package.optional-dependencies]" and line.endswith(" = ["):
                target = extras.setdefault(line.removesuffix(" = ["), [])
        elif line == "]":
            target = None
        else:
            target.append(parse_edge(line))
    return LockedPackage(name, version, text, dependencies, extras)


def inline_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def dependency_line(requirement: Requirement, *, specifier: bool) -> str:
    """A dependency of the project as uv writes it in its lock."""
    fields = [f'name = "{requirement.name}"']
    if requirement.extras:
        key = "extras" if specifier else "extra"
        fields.append(f"{key} = {inline_list(requirement.extras)}")
    if specifier and requirement.specifier:
        fields.append(f'specifier = "{requirement.specifier}"')
    return "    { " + ", ".join(fields) + " },"


def project_table(pyproject: dict[str, Any]) -> tuple[str, str, list[Requirement]]:
    """The project's own table in its lock: its name, the table, and every requirement."""
    project = pyproject["project"]
    name = normalize_name(project["name"])
    main = sorted(parse_requirement(text) for text in project.get("dependencies", []))
    groups = {
        group: sorted(parse_requirement(text) for text in requirements)
        for group, requirements in sorted(pyproject.get("dependency-groups", {}).items())
    }
    lines = [
        f'name = "{name}"',
        f'version = "{normalize_version(project["version"])}"',
        'source = { virtual = "." }',
        "dependencies = [",
        *(dependency_line(requirement, specifier=False) for requirement in main),
        "]",
    ]

    def tables(title: str, *, specifier: bool) -> list[str]:
        found = ["", title]
        for group, requirements in groups.items():
            found += [f"{group} = ["]
            found += [dependency_line(each, specifier=specifier) for each in requirements]
            found += ["]"]
        return found if groups else []

    lines += tables("[package.dev-dependencies]", specifier=False)
    lines += ["", "[package.metadata]", "requires-dist = ["]
    lines += [dependency_line(requirement, specifier=True) for requirement in main]
    lines += ["]"]
    lines += tables("[package.metadata.requires-dev]", specifier=True)
    every = main + [requirement for requirements in groups.values() for requirement in requirements]
    return name, "\n".join(lines) + "\n", every


def used_packages(
    packages: list[LockedPackage], requirements: list[Requirement]
) -> dict[tuple[str, str], set[str]]:
    """Each package ``requirements`` need, directly or not, with the extras used."""
    by_name: dict[str, list[LockedPackage]] = {}
    for package in packages:
        by_name.setdefault(package.name, []).append(package)
    used: dict[tuple[str, str], set[str]] = {}
    queue = [Edge(requirement.name, None, requirement.extras) for requirement in requirements]
    while queue:
        edge = queue.pop()
        if edge.name not in by_name:
            raise LockMismatch(f"the lock has no {edge.name!r}")
        for package in by_name[edge.name]:
            if edge.version not in (None, package.version):
                continue
            key = (package.name, package.version)
            if key not in used:
                used[key] = set()
                queue += package.dependencies
            for extra in set(edge.extras) - used[key]:
                used[key].add(extra)
                queue += package.extras.get(extra, [])
    return used


def without_unused_extras(package: LockedPackage, extras: set[str]) -> str:
    """The package's table, keeping the optional dependencies of ``extras`` only."""
    text, marker, optional = package.text.partition("\n[package.optional-dependencies]\n")
    if not marker:
        return text
    kept = [
        match.group(0)
        for match in re.finditer(r"^(\S+) = \[\n.*?^\]\n", optional, re.MULTILINE | re.DOTALL)
        if match.group(1) in extras
    ]
    return text + marker + "".join(kept) if kept else text


def make_lock(full_lock: str, pyproject: dict[str, Any]) -> str:
    """The part of ``full_lock`` that the project of ``pyproject`` needs, as its ``uv.lock``."""
    header, *tables = full_lock.split("\n[[package]]\n")
    packages = [parse_locked_package(text) for text in tables]
    name, own_table, requirements = project_table(pyproject)
    used = used_packages([package for package in packages if package.name != name], requirements)
    kept = [
        (package.name, without_unused_extras(package, used[(package.name, package.version)]))
        for package in packages
        if (package.name, package.version) in used
    ]
    # uv orders packages by name; sorted() keeps the versions of one name in order.
    kept = sorted([*kept, (name, own_table)], key=lambda entry: entry[0])
    return header + "".join(f"\n[[package]]\n{text}" for _name, text in kept)


def write_lock(project: str, answers: dict[str, Any]) -> str | None:
    """Write ``uv.lock`` from the template's locks; say why not if they do not fit."""
    locks = os.path.join(project, LOCKS)
    try:
        import tomllib

        full_lock = read_text(os.path.join(locks, f"python{answers['python_version']}.lock"))
        pyproject = tomllib.loads(read_text(os.path.join(project, "pyproject.toml")))
        write_text(os.path.join(project, "uv.lock"), make_lock(full_lock, pyproject))
    except (ImportError, OSError, LockMismatch) as exc:
        return f"No uv.lock was made ({exc}): run `uv lock` in the project to make one."
    finally:
        shutil.rmtree(locks, ignore_errors=True)
    return None


def git(repository: str, *args: str) -> str | None:
    """What a git command prints in ``repository``, or None if it fails."""
    try:
        result = subprocess.run(
            ["git", "-C", str(repository), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def template_origin(answers: dict[str, Any]) -> tuple[str, str | None]:
    """Where the template came from and at which commit.

    cruft renders with both set (``_template``, ``_commit``). Cookiecutter gives the
    template's folder (a clone, for ``gh:`` templates), maybe relative to where it
    was started: the template is then its clone's origin, or else that folder.
    """
    if answers.get("_commit"):
        return answers["_template"], answers["_commit"]
    if not answers.get("_repo_dir"):
        return answers["_template"], None
    folder = os.path.join(os.environ.get("PWD", "."), answers["_repo_dir"])
    commit = git(folder, "rev-parse", "HEAD")
    if commit is None:
        return answers["_template"], None
    return git(folder, "remote", "get-url", "origin") or os.path.realpath(folder), commit


def write_cruft_state(project: str, answers: dict[str, Any]) -> None:
    """Record the answers and the template's commit in ``.cruft.json``, as ``cruft
    create`` would: ``cruft update`` then brings the template's later changes."""
    template, commit = template_origin(answers)
    context = {name: value for name, value in answers.items() if not name.startswith("_")}
    context.update(_template=template, _commit=commit)
    state = {
        "template": template,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
    }
    text = json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": "))
    write_text(os.path.join(project, ".cruft.json"), text + "\n")


def write_env(project: str) -> bool:
    """Copy ``.env.example`` to ``.env``, giving every placeholder secret a fresh value.

    An existing ``.env`` (generating again over a project) is left as it is: it holds
    this copy's secrets and settings. Returns whether ``.env`` was written.
    """
    env = os.path.join(project, ".env")
    if os.path.exists(env):
        return False
    lines = []
    for line in read_text(os.path.join(project, ".env.example")).splitlines():
        name, sep, value = line.partition("=")
        if sep and value == SECRET_PLACEHOLDER:
            line = f"{name}={new_secret()}"
        lines.append(line)
    write_text(env, "\n".join(lines) + "\n")
    os.chmod(env, 0o600)
    return True


def new_secret() -> str:
    """``secrets.token_urlsafe(SECRET_BYTES)``, without the imports of ``secrets``
    (``random``, ``hmac``, ``hashlib``) that nothing else here needs."""
    return base64.urlsafe_b64encode(os.urandom(SECRET_BYTES)).rstrip(b"=").decode("ascii")


def next_steps(
    answers: dict[str, Any], project: str, lock_problem: str | None = None, env_kept: bool = False
) -> str:
    steps = [f"cd {project}", "uv lock" if lock_problem else "uv sync --locked"]
    if MANIFEST["database"].enabled(answers):
        steps.append("uv run flask db upgrade")
    steps.append("uv run flask run")
    lines = [f"Created {answers['project_name']} in {project}", ""]
    if lock_problem:
        lines += [lock_problem, ""]
    if env_kept:
        lines += ["Kept the existing .env (settings added to .env.example are not in it).", ""]
    lines += ["Next steps:"]
    lines += [f"  {step}" for step in steps]
    lines += ["", "Then open http://127.0.0.1:5000/api/v1/docs. README.md tells the rest."]
    return "\n".join(lines)


def main() -> int:
    answers = load_answers()
    project = os.getcwd()
    remove_paths(project, disabled_paths(answers))
    lock_problem = write_lock(project, answers)
    env_written = write_env(project)
    write_cruft_state(project, answers)
    print(next_steps(answers, project, lock_problem, env_kept=not env_written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
