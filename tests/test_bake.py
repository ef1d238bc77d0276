"""Every combination bakes completely, leaves nothing of disabled features, and lints clean."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UNRENDERED, assert_ok, bake, python_in
from tests.matrix import (
    LEFTOVERS,
    LEFTOVERS_IN,
    QUESTIONS,
    combination_id,
    combinations,
    features,
    one_change_at_a_time,
)
from tests.test_locks import assert_lock_matches

COMBINATIONS = combinations()


def text_files(project: Path) -> list[Path]:
    files = []
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".ruff_cache" not in path.parts:
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_bake_is_complete_and_clean(cookies: Any, answers: dict[str, Any]) -> None:
    project = bake(cookies, **answers)
    files = text_files(project)
    assert files

    unrendered = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UNRENDERED.search(line)
    ]
    assert unrendered == []

    disabled = set(LEFTOVERS) - features(answers)
    # uv.lock lists the whole dependency closure (a dev tool may need jsonschema with no
    # AI module; the lock check below proves it holds what pyproject.toml asks for), and
    # .cruft.json records every answer, "use_redis": false included.
    scanned = [path for path in files if path.name not in ("uv.lock", ".cruft.json")]
    leftovers = [
        f"{path.relative_to(project)}:{number}: {pattern} in {line.strip()!r}"
        for feature in sorted(disabled)
        for pattern in LEFTOVERS[feature]
        for path in scanned
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(pattern, line)
    ]
    leftovers += [
        f"{name}: {pattern}"
        for feature in sorted(disabled)
        for name, patterns in LEFTOVERS_IN.get(feature, {}).items()
        for pattern in patterns
        if re.search(pattern, (project / name).read_text())
    ]
    assert leftovers == []

    assert_ok(python_in(project, "-m", "ruff", "check", "--no-cache", "."))
    assert_ok(python_in(project, "-m", "ruff", "format", "--check", "--no-cache", "."))
    assert_lock_matches(project)


@pytest.mark.parametrize("answers", one_change_at_a_time(), ids=combination_id)
def test_generated_code_type_checks(cookies: Any, answers: dict[str, str]) -> None:
    project = bake(cookies, **answers)
    assert_ok(python_in(project, "-m", "mypy", "--no-incremental", "app"))


@pytest.mark.parametrize("python_version", QUESTIONS["python_version"])
def test_python_version_is_rendered_everywhere(cookies: Any, python_version: str) -> None:
    project = bake(cookies, python_version=python_version)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{python_version.replace('.', '')}"
    assert pyproject["tool"]["mypy"]["python_version"] == python_version
    assert f"FROM python:{python_version}-slim" in (project / "Dockerfile").read_text()
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert f'python-version: "{python_version}"' in workflow
    assert_ok(python_in(project, "-m", "ruff", "check", "--no-cache", "."))


@pytest.mark.parametrize("license_id", QUESTIONS["license"])
def test_license_is_rendered(cookies: Any, license_id: str) -> None:
    project = bake(cookies, license=license_id, author_name="Ada Lovelace")
    text = (project / "LICENSE").read_text()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    if license_id == "Proprietary":
        assert pyproject["project"]["license"] == "LicenseRef-Proprietary"
        assert "All rights reserved" in text
    else:
        assert pyproject["project"]["license"] == license_id
        first_words = {"MIT": "MIT License", "BSD-3-Clause": "BSD 3-Clause", "Apache-2.0": "Apache"}
        assert first_words[license_id] in text
    if license_id != "Apache-2.0":
        assert "Ada Lovelace" in text


def test_answers_reach_the_project(cookies: Any) -> None:
    project = bake(
        cookies,
        project_name="Inventory Service",
        description="Tracks stock.",
        author_name="Grace Hopper",
        author_email="grace@example.org",
        version="2.1.0rc1",
    )
    assert project.name == "inventory_service"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["name"] == "inventory_service"
    assert pyproject["version"] == "2.1.0rc1"
    assert pyproject["description"] == "Tracks stock."
    assert pyproject["authors"] == [{"name": "Grace Hopper", "email": "grace@example.org"}]
    assert '__version__ = "2.1.0rc1"' in (project / "app" / "__init__.py").read_text()
    assert (project / "README.md").read_text().startswith("# Inventory Service\n")


def test_env_gets_fresh_secrets(cookies: Any) -> None:
    first, second = bake(cookies), bake(cookies, project_name="Other API")
    secrets = []
    for project in (first, second):
        env = dict(
            line.split("=", 1)
            for line in (project / ".env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        assert len(env["SECRET_KEY"]) >= 43  # 32+ random bytes, URL-safe base64
        assert env["SECRET_KEY"] != "change-me-to-a-long-random-string"
        assert (project / ".env").stat().st_mode & 0o077 == 0
        secrets.append(env["SECRET_KEY"])
    assert secrets[0] != secrets[1]
    assert "change-me-to-a-long-random-string" in (first / ".env.example").read_text()
    assert ".env" in (first / ".gitignore").read_text().splitlines()


def test_post_gen_hook_prints_next_steps(cookies: Any, capfd: pytest.CaptureFixture[str]) -> None:
    project = bake(cookies)
    out = capfd.readouterr().out
    assert "Next steps:" in out
    assert f"cd {project}" in out
    assert "uv run flask db upgrade" in out


def test_ruff_skips_the_template_directory() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--show-files", "."],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "{{cookiecutter.project_slug}}" not in result.stdout
    assert "tasks.py" in result.stdout
