"""The sample projects (``python3 tasks.py samples``): the same bytes on every run,
and each passes its own checks. The full suites of these combinations run in
test_generated; here each sample is linted, its lock checked, and its app served."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import tasks
from tests.conftest import assert_ok, assert_ruff_clean, python_in
from tests.test_locks import assert_lock_matches

HEALTH = """
from app import create_app

client = create_app().test_client()
for url in ("/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs"):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.data[:300])
"""


def fingerprint(tree: Path) -> dict[str, str]:
    """Each file's path and digest, but .env's: its secrets are fresh on every bake."""
    return {
        str(path.relative_to(tree)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tree.rglob("*"))
        if path.is_file() and path.name != ".env"
    }


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return tasks.bake_samples(tmp_path_factory.mktemp("samples") / "first")


def test_samples_are_the_same_on_every_run(samples: list[Path], tmp_path: Path) -> None:
    again = tasks.bake_samples(tmp_path / "second")
    assert [path.name for path in again] == [path.name for path in samples]
    assert {"defaults", "minimal", "sqlite-auth", "everything"} <= {path.name for path in samples}
    assert fingerprint(again[0].parent) == fingerprint(samples[0].parent)


@pytest.mark.parametrize("name", sorted(path.stem for path in tasks.SAMPLES.glob("*.json")))
def test_sample_passes_its_checks(samples: list[Path], name: str) -> None:
    (sample,) = [path for path in samples if path.name == name]
    assert_ruff_clean(sample)
    assert_lock_matches(sample)
    assert_ok(python_in(sample, "-c", HEALTH))
