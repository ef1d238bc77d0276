"""The cheap checks of a baked project, run by the template's tests inside it (cwd).

Every module compiles and imports, the app factory builds on the project's own
``.env``, answers ``GET /api/v1/health`` and ``GET /api/v1/openapi.json`` through
Flask's test client, and, where the project has a database, its migrations
upgrade an empty SQLite database and match the models. Prints ``smoke: ok``.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path


def compile_all(project: Path) -> None:
    """Compile every file the imports did not (migrations, tests, ...)."""
    imported = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    for path in sorted(project.rglob("*.py")):
        if ".venv" not in path.parts and str(path) not in imported:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")


def import_all(project: Path, package: str) -> None:
    """Import every module of ``package``, those of folders without an
    ``__init__.py`` (namespace packages, which ``pkgutil`` does not walk) too."""
    for path in sorted((project / package).rglob("*.py")):
        parts = path.relative_to(project).with_suffix("").parts
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))


def check_app(has_database: bool) -> None:
    from app import create_app

    app = create_app()
    client = app.test_client()
    health = client.get("/api/v1/health")
    assert health.status_code == 200, health.get_data(as_text=True)
    assert health.json is not None
    assert health.json["success"] is True, health.json
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200, document.get_data(as_text=True)
    assert document.json is not None
    assert document.json["openapi"].startswith("3."), document.json
    assert "/api/v1/health" in document.json["paths"]
    if has_database:
        runner = app.test_cli_runner()
        with app.app_context():  # as the ``flask`` command provides it
            for command in (["db", "upgrade"], ["db", "check"]):
                result = runner.invoke(args=command)
                assert result.exit_code == 0, (command, result.output, result.exception)


def main() -> int:
    project = Path.cwd()
    sys.path.insert(0, str(project))
    has_database = (project / "migrations").is_dir()
    with tempfile.TemporaryDirectory() as scratch:
        if has_database:
            os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/smoke.db"
        import_all(project, "app")
        compile_all(project)
        check_app(has_database)
    print("smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
