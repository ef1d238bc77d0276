"""Each bake's uv.lock: cut by the post-generation hook from the template's locks
(one per Python version, made by ``python3 tasks.py lock``), in step with the
project's pyproject.toml, equal to what uv itself writes, and current."""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import tasks
from tests.conftest import TEMPLATE, assert_ok, bake, project_env, run_in
from tests.matrix import QUESTIONS, post_gen
from tests.test_generated import find_python

UV = Path(sys.executable).parent / "uv"
LOCKS = TEMPLATE / "{{cookiecutter.project_slug}}" / ".locks"
#: The answers of the project that needs every dependency: the locks are made for it.
EVERY_DEPENDENCY: dict[str, Any] = json.loads(tasks.EVERYTHING.read_text())
#: The Python version of this environment, as ``.python-version`` names one.
OUR_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
STALE = "the template's locks are stale: run `python3 tasks.py lock` and commit .locks"


def assert_lock_matches(project: Path, python: str | None = None) -> None:
    """``uv lock --check``: the lock is in step with pyproject.toml (no network needed)."""
    if python is None and (project / ".python-version").read_text().strip() == OUR_VERSION:
        # The project's interpreter is this one. Left to look for it, uv would run what
        # it finds on PATH, each time (here pyenv's shim: 0.2 s of CPU, 10 x the check).
        python = sys.executable
    choice = ["--python", python] if python else []
    env = project_env(UV_PYTHON_DOWNLOADS="never")
    assert_ok(run_in(project, UV, "lock", "--check", "--offline", *choice, env=env))


def requirements(project: Path) -> list[Requirement]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    texts = pyproject["project"]["dependencies"]
    texts += [text for group in pyproject["dependency-groups"].values() for text in group]
    return [Requirement(text) for text in texts]


def comparable(lock_text: str) -> dict[str, Any]:
    """A lock with its fork markers sorted (uv keeps them in the order it found them)."""
    lock = tomllib.loads(lock_text)
    for table in (lock, *lock["package"]):
        if "resolution-markers" in table:
            table["resolution-markers"] = sorted(table["resolution-markers"])
    return lock


@pytest.mark.parametrize("python_version", QUESTIONS["python_version"])
def test_template_locks_are_current(cookies: Any, python_version: str) -> None:
    """uv's check compares the requirements recorded in the lock with pyproject.toml,
    not the locked versions with the requirements: this test does the second part."""
    interpreter = find_python(python_version)
    project = bake(cookies, python_version=python_version, **EVERY_DEPENDENCY)
    assert (project / "uv.lock").exists(), STALE
    assert_lock_matches(project, interpreter)
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert lock["requires-python"] == f">={python_version}"
    locked: dict[str, list[Version]] = {}
    for package in lock["package"]:
        locked.setdefault(package["name"], []).append(Version(package["version"]))
    for requirement in requirements(project):
        versions = locked.get(canonicalize_name(requirement.name), [])
        assert any(requirement.specifier.contains(v, prereleases=True) for v in versions), (
            f"{requirement} is locked at {versions}: {STALE}"
        )


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(
            {"database": "none", "use_auth": False, "use_redis": False, "ai_provider": "none"},
            id="minimal",
        ),
        pytest.param({"database": "sqlite", "ai_provider": "anthropic"}, id="sqlite-anthropic"),
    ],
)
def test_cut_lock_is_what_uv_writes(cookies: Any, tmp_path: Path, answers: dict[str, Any]) -> None:
    """uv, given the template's lock as its starting point, writes the same lock for
    the project as the hook: same packages, versions, files and hashes, but for
    wheels that uv leaves out because the package is never installed on their
    platform (the hook keeps those; the project installs the same)."""
    project = bake(cookies, **answers)
    relocked = tmp_path / "relocked"
    shutil.copytree(project, relocked)
    shutil.copyfile(LOCKS / f"python{QUESTIONS['python_version'][0]}.lock", relocked / "uv.lock")
    # Online: the metadata of platforms never installed here may not be in uv's cache.
    assert_ok(run_in(relocked, UV, "lock", env=project_env()))
    ours, uvs = (
        comparable(path.read_text()) for path in (project / "uv.lock", relocked / "uv.lock")
    )
    # uv drops the wheels of a package for platforms its markers exclude (gevent needs
    # cffi on Windows only, say); the cut keeps them all, which installs the same.
    for mine, its in zip(ours["package"], uvs["package"], strict=True):
        wheels = {wheel["url"] for wheel in its.get("wheels", [])}
        assert wheels <= {wheel["url"] for wheel in mine.pop("wheels", [])}, mine["name"]
        its.pop("wheels", None)
    assert ours == uvs


@pytest.mark.parametrize(
    "version",
    ["0.1.0", "v1.0-RC.2", "2.1.0rc1", "1.0-1", "1.0.post", "1!2.0alpha", "01.02", "1.0-r2.dev"],
)
def test_lock_spells_the_version_as_uv(version: str) -> None:
    assert post_gen.normalize_version(version) == str(Version(version))


def test_no_lock_but_a_clear_line_when_the_locks_do_not_fit(tmp_path: Path) -> None:
    full_lock = (LOCKS / "python3.11.lock").read_text()
    pyproject = {"project": {"name": "x", "version": "1", "dependencies": ["not-locked>=1"]}}
    with pytest.raises(post_gen.LockMismatch, match="the lock has no 'not-locked'"):
        post_gen.make_lock(full_lock, pyproject)

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    problem = post_gen.write_lock(tmp_path, {"python_version": "3.11"})
    assert problem is not None
    assert "run `uv lock`" in problem
    assert not (tmp_path / "uv.lock").exists()
