"""The template README's quick start works as printed: its requests, read from
README.md, run in order against the default project served as ``tasks.py demo``
serves it, and every one answers 2xx."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import TEMPLATE, assert_ok, bake, project_env, python_in
from tests.test_generated import free_port, serving

DEMO_URL = "http://127.0.0.1:5000"
#: Every curl of the script fails on an answer that is not 2xx, and prints it.
PREAMBLE = """set -euo pipefail
curl() { command curl --fail-with-body --show-error --max-time 30 "$@"; echo; }
"""


def quick_start_requests() -> str:
    readme = (TEMPLATE / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    (requests,) = [block for block in blocks if "curl" in block]
    return requests


@pytest.mark.slow
def test_quick_start_requests_work_in_order(cookies: Any) -> None:
    requests = quick_start_requests()
    assert "/auth/register" in requests
    assert "/auth/login" in requests
    assert "Bearer $TOKEN" in requests
    project = bake(cookies)
    env = project_env()
    assert_ok(python_in(project, "-m", "flask", "--app", "app", "db", "upgrade", env=env))
    port = free_port()
    flask_run = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    with serving(flask_run, project, env, port, graceful=False) as base:
        script = PREAMBLE + requests.replace(DEMO_URL, base)
        result = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False
        )
    assert_ok(result)
    answers = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == requests.count("curl ") - 1  # the login's answer feeds $TOKEN
    assert all('"success":true' in answer.replace(" ", "") for answer in answers)
