"""The tiers cover what they promise, whatever modules ``cookiecutter.json`` grows.

These tests recompute by brute force what ``tests.matrix`` derives, so a bug in
the derivation (or a module it fails to notice) fails here.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.matrix import (
    DEFAULTS,
    MANIFEST,
    MODULES,
    QUESTIONS,
    TEXT_OPTIONS,
    all_combinations,
    covering_set,
    features,
    minimal,
    pre_gen,
    text_variants,
)


def frozen(answers: dict[str, Any]) -> frozenset[tuple[str, Any]]:
    return frozenset(answers.items())


def every_valid_combination() -> set[frozenset[tuple[str, Any]]]:
    """Every combination of every answer a feature reads, that the pre-generation hook accepts."""
    read = {name for feature in MANIFEST.values() for name in feature.when}
    domains = {
        name: [QUESTIONS[name], not QUESTIONS[name]]
        if isinstance(QUESTIONS[name], bool)
        else QUESTIONS[name]
        for name in read
    }
    found = set()
    for values in itertools.product(*domains.values()):
        answers = dict(zip(domains, values, strict=True))
        if not pre_gen.problems({**DEFAULTS, **answers}):
            found.add(frozen(answers))
    return found


def test_every_answer_a_feature_reads_is_a_module_answer() -> None:
    read = {name for feature in MANIFEST.values() for name in feature.when}
    assert set(MODULES) == read
    assert not set(TEXT_OPTIONS) & read


def test_the_cheap_tier_has_every_valid_combination() -> None:
    cheap = [frozen(answers) for answers in all_combinations()]
    assert len(cheap) == len(set(cheap))
    assert set(cheap) == every_valid_combination()
    assert all_combinations()[0] == {name: DEFAULTS[name] for name in MODULES}


def test_the_full_tier_puts_every_pair_of_module_values_together() -> None:
    full = covering_set()
    valid = every_valid_combination()
    for first, second in itertools.combinations(MODULES, 2):
        possible = {(dict(answers)[first], dict(answers)[second]) for answers in map(dict, valid)}
        covered = {(answers[first], answers[second]) for answers in full}
        assert possible <= covered, f"{first} x {second}: missing {possible - covered}"
    assert {frozen(answers) for answers in full} <= valid


def test_the_full_tier_has_the_defaults_the_minimal_project_and_every_feature() -> None:
    full = covering_set()
    assert full[0] == {name: DEFAULTS[name] for name in MODULES}
    assert minimal() in full
    assert features(minimal()) == set()
    for name in MANIFEST:
        assert any(name in features(answers) for answers in full), name


def test_the_full_tier_is_small() -> None:
    """Greedy all-pairs stays near the lower bound: the product of the two largest domains."""
    largest = sorted(map(len, MODULES.values()))[-2:]
    assert len(covering_set()) <= largest[0] * largest[1] + len(MANIFEST)


def test_every_text_option_value_is_baked() -> None:
    variants = text_variants()
    for name, values in TEXT_OPTIONS.items():
        baked = [DEFAULTS[name]] + [answers[name] for answers in variants if name in answers]
        assert sorted(baked) == sorted(values)
