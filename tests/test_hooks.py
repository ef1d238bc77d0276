"""The generation hooks: every bad answer is refused with its own message, and the
manifest drops exactly the files of disabled features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from tests.conftest import TEMPLATE
from tests.matrix import DEFAULTS, post_gen, pre_gen

#: (answer, bad value, a phrase its message must contain)
BAD_ANSWERS = [
    ("project_slug", "My-App", "'My-App' is not a lowercase Python identifier"),
    ("project_slug", "9lives", "'9lives' is not a lowercase Python identifier"),
    ("project_slug", "has space", "'has space' is not a lowercase Python identifier"),
    ("project_slug", "class", "'class' is a Python keyword"),
    ("project_slug", "match", "'match' is a Python keyword"),
    ("project_slug", "flask", "would shadow the 'flask' module"),
    ("project_slug", "app", "would shadow the 'app' module"),
    ("project_slug", "test", "would shadow the 'test' module"),
    ("project_slug", "json", "would shadow the 'json' module"),
    ("author_email", "not-an-email", "author_email 'not-an-email' is not a valid email"),
    ("author_email", "a@b", "author_email 'a@b' is not a valid email"),
    ("author_email", "two@@example.com", "is not a valid email"),
    ("version", "1.0-final-final", "version '1.0-final-final' is not a PEP 440 version"),
    ("version", "one", "version 'one' is not a PEP 440 version"),
    ("version", "", "version '' is not a PEP 440 version"),
    ("project_name", 'Say "hi"', "project_name 'Say \"hi\"' must not contain double quotes"),
    ("project_name", "   ", "project_name must not be empty"),
    ("description", "back\\slash", "must not contain double quotes, backslashes"),
    ("author_name", "line\nbreak", "must not contain double quotes, backslashes or line breaks"),
]
BAD_COMBINATIONS = [
    (
        {"database": "none"},
        "use_auth needs database=postgresql or sqlite, but database is 'none': answer "
        "database=postgresql or sqlite, or use_auth=no.",
    ),
]
BAD_CHOICES = [
    ("license", "GPL-3.0", "license 'GPL-3.0' is not one of the allowed values: MIT, "),
    ("python_version", "3.9", "python_version '3.9' is not one of the allowed values"),
    ("database", "mysql", "database 'mysql' is not one of the allowed values"),
    ("use_auth", "maybe", "use_auth 'maybe' must be a yes/no answer (true or false)"),
    ("ai_provider", "gemini", "ai_provider 'gemini' is not one of the allowed values"),
]


BAD_BOOLEANS = [
    ("use_redis", "maybe", "use_redis 'maybe' must be a yes/no answer"),
    ("use_redis", None, "use_redis None must be a yes/no answer"),
]


def test_defaults_pass() -> None:
    assert pre_gen.problems(DEFAULTS) == []


@pytest.mark.parametrize(("name", "value", "phrase"), BAD_ANSWERS + BAD_CHOICES + BAD_BOOLEANS)
def test_each_bad_answer_has_its_own_message(name: str, value: str, phrase: str) -> None:
    problems = pre_gen.problems({**DEFAULTS, name: value})
    assert len(problems) == 1
    assert phrase in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize(("answers", "message"), BAD_COMBINATIONS)
def test_impossible_combinations_are_refused(answers: dict[str, Any], message: str) -> None:
    assert pre_gen.problems({**DEFAULTS, **answers}) == [message]


@pytest.mark.parametrize(("answers", "message"), BAD_COMBINATIONS)
def test_impossible_combinations_stop_generation(
    cookies: Any, capfd: pytest.CaptureFixture[str], answers: dict[str, Any], message: str
) -> None:
    result = cookies.bake(extra_context=answers, template=str(TEMPLATE))
    exception = result.exception
    assert isinstance(exception, FailedHookException)
    err = capfd.readouterr().err
    assert f"ERROR: {message}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "version", ["0.1.0", "1", "1.0a1", "2.0.0rc2", "1.0.post3", "3.1.dev4", "1!2.0"]
)
def test_pep440_versions_pass(version: str) -> None:
    assert pre_gen.check_version(version) is None


def test_a_new_question_is_checked_from_cookiecutter_json_alone(tmp_path: Path) -> None:
    """The hook restates no allowed value: a module's answer and what it needs are
    declared once, in ``cookiecutter.json``."""
    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    questions.update(flavour=["plain", "spicy"], use_extra=False)
    questions["_needs"]["use_extra"] = {"use_redis": [True]}
    (tmp_path / "cookiecutter.json").write_text(json.dumps(questions))
    answers = {**DEFAULTS, "_repo_dir": str(tmp_path), "flavour": "sweet", "use_extra": "maybe"}
    assert pre_gen.problems(answers) == [
        "flavour 'sweet' is not one of the allowed values: plain, spicy.",
        "use_extra 'maybe' must be a yes/no answer (true or false).",
    ]
    answers.update(flavour="plain", use_extra=True, use_redis=False)
    assert pre_gen.problems(answers) == [
        "use_extra needs use_redis=yes, but use_redis is 'no': answer use_redis=yes, "
        "or use_extra=no."
    ]


@pytest.mark.parametrize(("name", "value", "phrase"), BAD_ANSWERS)
def test_bad_answers_stop_generation(
    cookies: Any, capfd: pytest.CaptureFixture[str], name: str, value: str, phrase: str
) -> None:
    # An explicit slug, so a bad project_name is judged by the hook, not by the folder name.
    answers = {"project_slug": "valid_slug", name: value}
    result = cookies.bake(extra_context=answers, template=str(TEMPLATE))
    exception = result.exception
    assert isinstance(exception, FailedHookException)
    err = capfd.readouterr().err
    assert f"ERROR: {phrase}" in err or phrase in err
    assert "Traceback" not in err
    assert result.project_path is None or not Path(result.project_path).exists()


def replay_file(tmp_path: Path, **answers: Any) -> Path:
    context = {**DEFAULTS, **answers, "_template": str(TEMPLATE)}
    path = tmp_path / "replay.json"
    path.write_text(json.dumps({"cookiecutter": context}))
    return path


@pytest.mark.parametrize(("name", "value", "phrase"), BAD_CHOICES + BAD_BOOLEANS)
def test_unknown_choices_in_a_replay_stop_generation(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str, value: str, phrase: str
) -> None:
    replay = replay_file(tmp_path, **{name: value})
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), replay=str(replay), output_dir=str(tmp_path / "out"))
    err = capfd.readouterr().err
    assert phrase in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / DEFAULTS["project_slug"]).exists()


def test_unknown_choices_on_the_command_line_are_refused_by_name(cookies: Any) -> None:
    # Cookiecutter itself checks choices given as extra context, before any hook.
    result = cookies.bake(extra_context={"database": "mysql"}, template=str(TEMPLATE))
    exception = result.exception
    assert isinstance(exception, ValueError)
    assert "mysql provided for choice variable database" in str(exception)


def test_a_valid_replay_bakes(tmp_path: Path) -> None:
    replay = replay_file(tmp_path, database="sqlite")
    project = Path(cookiecutter(str(TEMPLATE), replay=str(replay), output_dir=str(tmp_path)))
    assert (project / "app" / "core" / "db.py").exists()


def test_manifest_names_only_existing_template_paths() -> None:
    template_dir = TEMPLATE / "{{cookiecutter.project_slug}}"
    for feature, entry in post_gen.MANIFEST.items():
        for path in entry.paths:
            assert (template_dir / path).exists(), f"{feature}: {path} is not in the template"


def test_write_env_replaces_every_placeholder(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(
        "A=1\nSECRET_KEY=change-me-to-a-long-random-string\n"
        "# OTHER=change-me-to-a-long-random-string\nJWT=change-me-to-a-long-random-string\n"
    )
    post_gen.write_env(tmp_path)
    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[0] == "A=1"
    # Commented-out ones too: uncommenting one must not enable a known value.
    secrets = [line.split("=", 1)[1] for line in lines[1:]]
    assert len(set(secrets)) == 3
    assert all(len(secret) >= 43 for secret in secrets)
    assert "change-me" not in (tmp_path / ".env").read_text()
