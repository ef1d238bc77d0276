"""Reject answers that would generate a broken project, before any file is written.

Each problem is reported on one line that names the answer and what is allowed;
the hook then exits with status 1 and Cookiecutter writes nothing. Only the
standard library is used: the hook runs on the Python that runs Cookiecutter,
in a fresh process at every generation, so it imports only what it uses.
"""

from __future__ import annotations

import functools
import json
import keyword
import os
import re
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

# Modules the generated project imports, or that tools put on its import path:
# a project slug with one of these names would shadow it.
PROJECT_MODULES = frozenset(
    {
        "alembic",
        "anthropic",
        "app",
        "argon2",
        "click",
        "conftest",
        "flask",
        "flask_alembic",
        "flask_cors",
        "flask_sqlalchemy_lite",
        "flask_swagger_ui",
        "gunicorn",
        "httpx2",
        "jsonschema",
        "jinja2",
        "jwt",
        "limits",
        "migrations",
        "openai",
        "psycopg",
        "pydantic",
        "pydantic_settings",
        "pytest",
        "redis",
        "rq",
        "spectree",
        "sqlalchemy",
        "sqlmodel",
        "test",
        "tests",
        "werkzeug",
    }
)
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s\"\\<>()\[\],;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# A public version identifier as PEP 440 defines it (canonical and normalizable forms).
PEP440 = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?
    (?:[-_.]?dev[-_.]?[0-9]*)?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
# Characters that would break the Python, TOML and YAML strings these answers land in.
UNSAFE_TEXT = re.compile(r"[\"\\\x00-\x1f\x7f]")
TEXT_ANSWERS = ("project_name", "description", "author_name")


def load_answers() -> dict[str, Any]:
    """The answers, as Cookiecutter renders them into this file."""
    answers: dict[str, Any] = json.loads(r"""{{ cookiecutter | jsonify }}""")
    return answers


@functools.cache
def template_questions(repo_dir: str | None) -> dict[str, Any]:
    """The template's ``cookiecutter.json``: what each answer may be, declared once.

    It is in ``repo_dir`` (the answer ``_repo_dir``, maybe relative to where
    Cookiecutter started) when Cookiecutter runs this hook, and next to the
    ``hooks`` folder when the template's tests import it. Without it (cruft
    renders from its own context), only what Cookiecutter itself checked applies:
    it refuses a choice outside the list when it reads the file.
    """
    folders = [os.path.dirname(os.path.dirname(os.path.realpath(__file__)))]
    if repo_dir:
        folders.insert(0, os.path.join(os.environ.get("PWD", "."), repo_dir))
    for folder in folders:
        path = os.path.join(folder, "cookiecutter.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as file:
                questions: dict[str, Any] = json.load(file)
            return questions
    return {}


def check_slug(slug: Any) -> str | None:
    if not isinstance(slug, str) or not SLUG.match(slug):
        return (
            f"project_slug {slug!r} is not a lowercase Python identifier: use lowercase "
            "letters, digits and underscores, starting with a letter (e.g. 'my_api')."
        )
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return f"project_slug {slug!r} is a Python keyword: choose another name."
    if slug in PROJECT_MODULES or slug in sys.stdlib_module_names:
        return (
            f"project_slug {slug!r} would shadow the {slug!r} module that the project "
            "imports: choose another name (e.g. 'my_api')."
        )
    return None


def check_email(email: Any) -> str | None:
    if not isinstance(email, str) or not EMAIL.match(email):
        return f"author_email {email!r} is not a valid email address (e.g. 'jane@example.com')."
    return None


def check_version(version: Any) -> str | None:
    if not isinstance(version, str) or not PEP440.match(version):
        return (
            f"version {version!r} is not a PEP 440 version: use a form like "
            "'0.1.0', '1.0.0rc1' or '2.3.post1'."
        )
    return None


def check_text(name: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"{name} must not be empty."
    if UNSAFE_TEXT.search(value):
        return f"{name} {value!r} must not contain double quotes, backslashes or line breaks."
    return None


def check_choices(answers: dict[str, Any], questions: dict[str, Any]) -> list[str]:
    """Choice questions (lists in ``cookiecutter.json``): one of the listed values.
    Cookiecutter checks answers given on the command line itself; this also
    covers replay files and edited contexts."""
    return [
        f"{name} {answers.get(name)!r} is not one of the allowed values: {', '.join(allowed)}."
        for name, allowed in questions.items()
        if isinstance(allowed, list)
        and not name.startswith("_")  # private: not a question
        and answers.get(name) not in allowed
    ]


def check_booleans(answers: dict[str, Any], questions: dict[str, Any]) -> list[str]:
    """Yes/no questions (real booleans in ``cookiecutter.json``)."""
    return [
        f"{name} {answers.get(name)!r} must be a yes/no answer (true or false)."
        for name, default in questions.items()
        if isinstance(default, bool) and not isinstance(answers.get(name), bool)
    ]


def spoken(value: Any) -> str:
    """An answer as one types it: yes or no for a boolean."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def valid_alone(name: str, answers: dict[str, Any], questions: dict[str, Any]) -> bool:
    """Whether the answer passes its own question's check (a bad one is reported there)."""
    question, answer = questions.get(name), answers.get(name)
    if isinstance(question, list):
        return answer in question
    return not isinstance(question, bool) or isinstance(answer, bool)


def check_needs(answers: dict[str, Any], questions: dict[str, Any]) -> list[str]:
    """Answers that are valid alone but not together: ``_needs`` in
    ``cookiecutter.json`` maps a yes/no question to the values other answers
    must have when it is yes."""
    found = []
    for name, needs in questions.get("_needs", {}).items():
        if answers.get(name) is not True:
            continue
        for other, allowed in needs.items():
            if answers.get(other) not in allowed and valid_alone(other, answers, questions):
                values = " or ".join(map(spoken, allowed))
                found.append(
                    f"{name} needs {other}={values}, but {other} is "
                    f"{spoken(answers.get(other))!r}: answer {other}={values}, or {name}=no."
                )
    return found


def problems(answers: dict[str, Any]) -> list[str]:
    """Every problem with ``answers``, one sentence each."""
    questions = template_questions(answers.get("_repo_dir"))
    found = [check_text(name, answers.get(name)) for name in TEXT_ANSWERS]
    found += [
        check_slug(answers.get("project_slug")),
        check_email(answers.get("author_email")),
        check_version(answers.get("version")),
    ]
    found += check_choices(answers, questions)
    found += check_booleans(answers, questions)
    found += check_needs(answers, questions)
    return [problem for problem in found if problem]


def main() -> int:
    answers = load_answers()
    found = problems(answers)
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
