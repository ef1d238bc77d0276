"""The cheap tier: every valid combination (and each text option value) bakes
completely, keeps exactly the files of its features, leaves nothing of disabled
ones, lints clean, and, where code changes, imports, serves health and the
OpenAPI document, and migrates."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

from tests.conftest import (
    TEMPLATE,
    UNRENDERED,
    assert_ok,
    assert_ruff_clean,
    bake,
    project_env,
)
from tests.matrix import (
    MANIFEST,
    QUESTIONS,
    all_combinations,
    combination_id,
    features,
    leftovers,
    minimal,
    text_variants,
)
from tests.test_locks import assert_lock_matches
from tests.zygote import Zygote

SMOKE = Path(__file__).with_name("smoke.py")
#: Files that record the project's dependencies or answers rather than configure it,
#: and .env: .env.example (scanned) with fresh random secrets, which may spell "-ai-".
RECORDS = ("uv.lock", ".cruft.json", ".env")


def text_files(project: Path) -> dict[Path, str]:
    files = {}
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".ruff_cache" not in path.parts:
            try:
                files[path] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return files


def lines_matching(pattern: str, files: dict[Path, str], project: Path) -> list[str]:
    """``file:line: text`` of every line in ``files`` that ``pattern`` matches."""
    regex = re.compile(pattern)
    return [
        f"{path.relative_to(project)}:{number}: {line.strip()!r}"
        for path, text in files.items()
        if regex.search(text)
        for number, line in enumerate(text.splitlines(), start=1)
        if regex.search(line)
    ]


def check_bake(project: Path, answers: dict[str, Any]) -> None:
    """What every bake must be: its features' files and no others, no Jinja, no
    leftovers of disabled features, ruff clean."""
    on = features(answers)
    for name, feature in MANIFEST.items():
        for path in feature.paths:
            assert (project / path).exists() == (name in on), f"{name}: {path}"

    files = text_files(project)
    assert files
    assert lines_matching(UNRENDERED.pattern, files, project) == []
    # uv.lock lists the whole dependency closure (a dev tool may need jsonschema with no
    # AI module; test_locks proves it holds what pyproject.toml asks for and no more),
    # and .cruft.json records every answer, "use_redis": false included.
    scanned = {path: text for path, text in files.items() if path.name not in RECORDS}
    found = []
    for feature, path, pattern in leftovers(answers):
        scope = scanned if path is None else {project / path: files[project / path]}
        found += [f"{feature}: {pattern}: {hit}" for hit in lines_matching(pattern, scope, project)]
    assert found == []

    assert_ruff_clean(project)


@pytest.mark.parametrize("answers", all_combinations(), ids=combination_id)
def test_every_combination_bakes_lints_and_serves(
    cookies: Any, zygote: Zygote, answers: dict[str, Any]
) -> None:
    project = bake(cookies, **answers)
    check_bake(project, answers)
    assert_lock_matches(project)
    smoke = zygote.run(project, SMOKE, project_env())
    assert_ok(smoke)
    assert "smoke: ok" in smoke.stdout


@pytest.mark.parametrize("answers", text_variants(), ids=combination_id)
def test_every_text_option_bakes_clean(cookies: Any, answers: dict[str, Any]) -> None:
    """Text options change no code path: bake, leftovers and lint only."""
    check_bake(bake(cookies, **answers), answers)


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
    assert '__version__ = "2.1.0rc1"' in (project / "app" / "version.py").read_text()
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


JINJA = re.compile(r"\{\{|\{%|\{#")
TEMPLATE_DIR = TEMPLATE / "{{cookiecutter.project_slug}}"
COPY_WITHOUT_RENDER = json.loads((TEMPLATE / "cookiecutter.json").read_text())[
    "_copy_without_render"
]


def is_copied_verbatim(relative: str) -> bool:
    """Whether Cookiecutter copies ``relative`` (or a folder above it) without rendering."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    patterns = COPY_WITHOUT_RENDER
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def test_only_files_with_jinja_are_rendered() -> None:
    """``_copy_without_render`` covers every template file without Jinja and none with it."""
    rendered, copied = [], []
    for path in sorted(TEMPLATE_DIR.rglob("*")):
        if path.is_file():
            relative = path.relative_to(TEMPLATE_DIR).as_posix()
            has_jinja = bool(JINJA.search(path.read_text(encoding="utf-8")))
            if has_jinja and is_copied_verbatim(relative):
                copied.append(relative)
            if not has_jinja and not is_copied_verbatim(relative):
                rendered.append(relative)
    assert copied == [], "these have Jinja: remove them from _copy_without_render"
    assert rendered == [], "these have no Jinja: add them (or their folder) to _copy_without_render"
    for pattern in COPY_WITHOUT_RENDER:
        assert list(TEMPLATE_DIR.glob(pattern)), f"{pattern} matches nothing"


def tree(project: Path) -> dict[str, bytes]:
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("answers", [all_combinations()[0], minimal()], ids=["defaults", "minimal"])
def test_copying_gives_what_rendering_everything_gives(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    """Byte for byte, apart from the fresh secrets in ``.env``."""
    full_render = tmp_path / "template"
    full_render.mkdir()
    for name in ("cookiecutter.json", "hooks", TEMPLATE_DIR.name):
        source = TEMPLATE / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, full_render / name)
    questions = json.loads((full_render / "cookiecutter.json").read_text())
    del questions["_copy_without_render"]
    (full_render / "cookiecutter.json").write_text(json.dumps(questions))

    trees = []
    for template in (TEMPLATE, full_render):
        output = tmp_path / "out" / template.name
        project = cookiecutter(
            str(template), no_input=True, extra_context=answers, output_dir=str(output)
        )
        trees.append(tree(Path(project)))
    copied, rendered = trees
    assert copied.keys() == rendered.keys()
    secret = re.compile(rb"^([A-Z_]+=).{40,}$", re.MULTILINE)
    copied[".env"], rendered[".env"] = (secret.sub(rb"\1<secret>", t[".env"]) for t in trees)
    # Each records the template it came from: this repository, or the copy.
    origin = re.compile(rb'^(\s*"_?(template|commit)": ).*$', re.MULTILINE)
    copied[".cruft.json"], rendered[".cruft.json"] = (
        origin.sub(rb"\1<origin>", t[".cruft.json"]) for t in trees
    )
    assert [name for name in copied if copied[name] != rendered[name]] == []
    assert b"<secret>" in copied[".env"]
