"""Which combinations of answers the tests bake, computed, never listed by hand.

Everything here is derived from ``cookiecutter.json`` and the two hooks:

- the *module answers* are the answers that turn a feature of the post-generation
  hook's ``MANIFEST`` on or off; every other choice is a *text option* (the
  license, the Python version), which changes text but no code path;
- a combination is *valid* when the pre-generation hook accepts it.

Two tiers follow. Every valid combination gets the cheap checks (``all_combinations``);
the full generated suites run on a covering set (``covering_set``) in which every
pair of values of any two module answers occurs together at least once, plus the
defaults and the minimal project. A new module (an answer in ``cookiecutter.json``
and a ``MANIFEST`` entry) extends both without anyone choosing combinations.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1]
QUESTIONS: dict[str, Any] = {
    name: value
    for name, value in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
    if not name.startswith("_")  # settings such as _copy_without_render, and __prompts__
}


def load_hook(name: str) -> ModuleType:
    """Import a hook script as a module (its Jinja is only a string literal)."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")
MANIFEST: dict[str, Any] = post_gen.MANIFEST

#: Every answer as ``--no-input`` gives it (the slug as its default name renders).
DEFAULTS: dict[str, Any] = {
    **{name: value for name, value in QUESTIONS.items() if isinstance(value, str | bool)},
    **{name: values[0] for name, values in QUESTIONS.items() if isinstance(values, list)},
    "project_slug": "my_flask_api",
}


def values_of(name: str) -> list[Any]:
    """The values an answer can take, the default first."""
    question = QUESTIONS[name]
    if isinstance(question, bool):
        return [question, not question]
    return list(question)


#: The answers some feature depends on, in the order of ``cookiecutter.json``.
MODULES: dict[str, list[Any]] = {
    name: values_of(name)
    for name in QUESTIONS
    if any(name in feature.when for feature in MANIFEST.values())
}
#: Choices that no feature depends on: each value is baked once, for its text.
TEXT_OPTIONS: dict[str, list[Any]] = {
    name: values
    for name, values in QUESTIONS.items()
    if isinstance(values, list) and name not in MODULES
}


def is_valid(answers: dict[str, Any]) -> bool:
    """Whether the pre-generation hook accepts ``answers`` (on top of the defaults)."""
    problems: list[str] = pre_gen.problems({**DEFAULTS, **answers})
    return not problems


def features(answers: dict[str, Any]) -> set[str]:
    """The features that ``answers`` (on top of the defaults) turn on."""
    full = {**DEFAULTS, **answers}
    return {name for name, feature in MANIFEST.items() if feature.enabled(full)}


def all_combinations() -> list[dict[str, Any]]:
    """Every valid combination of the module answers, the defaults first."""
    names = list(MODULES)
    found = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*MODULES.values())
    ]
    return [answers for answers in found if is_valid(answers)]


def minimal() -> dict[str, Any]:
    """The valid combination with the fewest features on (the first such, in order)."""
    return min(all_combinations(), key=lambda answers: len(features(answers)))


Pair = tuple[tuple[str, Any], tuple[str, Any]]


def pairs(answers: dict[str, Any]) -> set[Pair]:
    """The pairs of (answer, value) that ``answers`` puts together."""
    items = [(name, answers[name]) for name in MODULES]
    return set(itertools.combinations(items, 2))


def covering_set() -> list[dict[str, Any]]:
    """Combinations that put every possible pair of module values together at least
    once, starting from the defaults and the minimal project (greedy all-pairs:
    each step adds the valid combination that covers the most pairs not yet covered,
    the first one on ties, so the set is the same on every run)."""
    candidates = all_combinations()
    chosen = [candidates[0], minimal()]
    missing = set().union(*map(pairs, candidates)) - set().union(*map(pairs, chosen))
    while missing:
        best = max(candidates, key=lambda answers: len(pairs(answers) & missing))
        chosen.append(best)
        missing -= pairs(best)
    # A feature that needs three or more answers at once could escape all-pairs.
    for name in MANIFEST:
        if not any(name in features(answers) for answers in chosen):
            chosen.append(next(a for a in candidates if name in features(a)))
    return chosen


def text_variants() -> list[dict[str, Any]]:
    """The defaults with each other value of each text option."""
    return [{name: value} for name, values in TEXT_OPTIONS.items() for value in values[1:]]


def combination_id(answers: dict[str, Any]) -> str:
    words = [
        (name.removeprefix("use_") if value else f"no_{name.removeprefix('use_')}")
        if isinstance(value, bool)
        else str(value)
        for name, value in answers.items()
    ]
    return "-".join(words) or "defaults"


def leftovers(answers: dict[str, Any]) -> Iterable[tuple[str, str | None, str]]:
    """(feature, file or None for every file, pattern) that a bake of ``answers`` must not hold."""
    on = features(answers)
    for name, feature in MANIFEST.items():
        if name in on:
            continue
        for pattern in feature.leftovers:
            yield name, None, pattern
        for path, patterns in feature.leftovers_in:
            for pattern in patterns:
                yield name, path, pattern
