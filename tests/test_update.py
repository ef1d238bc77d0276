"""A generated project follows its template: ``cruft update`` brings a template
change with no conflict, and the project's own ``.env`` survives it and any
generation over the project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEMPLATE, assert_ok, bake, project_env, run_in

BIN = Path(sys.executable).parent
SLUG_DIR = "{{cookiecutter.project_slug}}"


def git(repository: Path, *args: str) -> str:
    result = run_in(
        repository, "git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args
    )
    assert_ok(result)
    return result.stdout.strip()


def commit_all(repository: Path, message: str) -> str:
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", message)
    return git(repository, "rev-parse", "HEAD")


def scratch_template(tmp_path: Path) -> Path:
    """A git repository holding the template (what a bake reads of it)."""
    copy = tmp_path / "template"
    copy.mkdir()
    shutil.copy(TEMPLATE / "cookiecutter.json", copy)
    shutil.copytree(
        TEMPLATE / "hooks", copy / "hooks", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(TEMPLATE / SLUG_DIR, copy / SLUG_DIR)
    git(copy, "init", "-q")
    commit_all(copy, "template v1")
    return copy


def env_lines(project: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (project / ".env").read_text().splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2 and not pair[0].startswith("#")}


@pytest.mark.parametrize("creator", ["cookiecutter", "cruft"])
def test_cruft_update_brings_a_template_change_and_keeps_env(tmp_path: Path, creator: str) -> None:
    template = scratch_template(tmp_path)
    first = git(template, "rev-parse", "HEAD")
    out = tmp_path / "out"
    if creator == "cookiecutter":
        create = [BIN / "cookiecutter", "--no-input", "-o", out, template, "ai_provider=anthropic"]
    else:
        create = [BIN / "cruft", "create", "--no-input", "--output-dir", out, str(template)]
        create += ["--extra-context", '{"ai_provider": "anthropic"}']
    assert_ok(run_in(tmp_path, *create))
    project = out / "my_flask_api"
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (str(template), first)
    assert state["context"]["cookiecutter"]["ai_provider"] == "anthropic"

    # The owner commits the project and adds a setting of their own to .env.
    git(project, "init", "-q")
    commit_all(project, "generated")
    with (project / ".env").open("a") as env:
        env.write("MY_OWN_SETTING=kept\n")
    before = env_lines(project)

    # The template changes: a new make target and a new documented setting.
    makefile = template / SLUG_DIR / "Makefile"
    makefile.write_text(makefile.read_text() + "\nhello:  ## Say hello\n\t@echo hello\n")
    example = template / SLUG_DIR / ".env.example"
    example.write_text(
        example.read_text() + "\n# A setting added by the template.\nNEW_SETTING=1\n"
    )
    second = commit_all(template, "template v2")

    result = run_in(project, BIN / "cruft", "update", "--skip-apply-ask", env=project_env())
    assert_ok(result)
    output = result.stdout + result.stderr
    assert "Failed" not in output
    assert "Good work!" in output
    assert list(project.rglob("*.rej")) == []
    assert "@echo hello" in (project / "Makefile").read_text()
    assert "NEW_SETTING=1" in (project / ".env.example").read_text()
    assert env_lines(project) == before  # secrets not rotated, the owner's line kept
    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    changed = git(project, "status", "--porcelain").splitlines()
    assert sorted(line.split()[-1] for line in changed) == [
        ".cruft.json",
        ".env.example",
        "Makefile",
    ]


def test_generating_again_keeps_env(cookies: Any, tmp_path: Path) -> None:
    """``cookiecutter --overwrite-if-exists`` over a project leaves its .env alone."""
    project = bake(cookies)
    with (project / ".env").open("a") as env:
        env.write("MY_OWN_SETTING=kept\n")
    before = (project / ".env").read_text()
    again = subprocess.run(
        [BIN / "cookiecutter", "--no-input", "-f", "-o", project.parent, TEMPLATE],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Kept the existing .env" in again.stdout
    assert (project / ".env").read_text() == before
