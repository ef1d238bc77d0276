"""Answers typed at the prompts, as a person runs the template."""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path

import pexpect

from tests.conftest import TEMPLATE

PROMPT_END = r"\): "


#: The questions, in the order cookiecutter asks them.
QUESTIONS = [
    name
    for name in json.loads((TEMPLATE / "cookiecutter.json").read_text())
    if not name.startswith("_")
]


def typed(answers: dict[str, str]) -> list[str]:
    """What to type at each prompt: ``answers`` by question, Enter (the default) at the others."""
    assert set(answers) <= set(QUESTIONS), set(answers) - set(QUESTIONS)
    return [answers.get(question, "") for question in QUESTIONS]


def answer_prompts(output_dir: Path, answers: list[str]) -> tuple[int, str]:
    """Run ``cookiecutter`` on a terminal, type ``answers`` in order; return status and output."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cookiecutter", str(TEMPLATE), "-o", str(output_dir)],
        env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    for answer in answers:
        child.expect(PROMPT_END)
        child.sendline(answer)
    child.expect(pexpect.EOF)
    output = child.before or ""
    child.close()
    return child.exitstatus or 0, output


def test_typed_answers_produce_the_project(tmp_path: Path) -> None:
    # The slug derived from the name; choices by number: BSD-3-Clause, Python 3.12,
    # sqlite, anthropic; the other questions at their defaults.
    answers = {
        "project_name": "Shop API",
        "description": "Sells things.",
        "author_name": "Ada",
        "author_email": "ada@example.com",
        "version": "1.2.3",
        "license": "2",
        "python_version": "2",
        "database": "2",
        "use_auth": "n",
        "use_redis": "n",
        "ai_provider": "2",
        "use_metrics": "n",
    }
    status, output = answer_prompts(tmp_path, typed(answers))
    assert status == 0, output
    project = tmp_path / "shop_api"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "shop_api"
    assert pyproject["project"]["license"] == "BSD-3-Clause"
    assert pyproject["project"]["requires-python"] == ">=3.12"
    assert pyproject["project"]["authors"] == [{"name": "Ada", "email": "ada@example.com"}]
    dependencies = " ".join(pyproject["project"]["dependencies"])
    assert "psycopg" not in dependencies
    assert "redis" not in dependencies
    assert "anthropic" in dependencies
    assert "openai" not in dependencies
    assert "prometheus" not in dependencies
    assert (project / "app" / "core" / "db.py").exists()
    assert not (project / "app" / "core" / "auth").exists()
    assert not (project / "app" / "core" / "redis.py").exists()
    assert "Next steps:" in output


def test_a_bad_typed_answer_is_refused_with_its_message(tmp_path: Path) -> None:
    status, output = answer_prompts(
        tmp_path, typed({"project_name": "Shop API", "project_slug": "class"})
    )
    assert status != 0
    assert "project_slug 'class' is a Python keyword" in output
    assert not (tmp_path / "class").exists()
