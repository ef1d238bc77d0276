"""Deployment files of a generated project start it as generated.

There is no Docker engine here, so the image and the compose stack are checked
without one: the compose file against the Compose Specification's schema, the
Dockerfile's build commands run in a copy of the build context, and each compose
service's command run with the environment compose would give it (the image's,
.env's, the service's), against local PostgreSQL and Redis instead of the
stack's. The Kubernetes manifests are validated against the Kubernetes schemas.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import assert_ok, bake, project_env, run_in
from tests.test_generated import free_port, http

BIN = Path(sys.executable).parent
#: Kubernetes versions the manifests must be valid for: a long-supported one and the newest.
KUBERNETES = ("1.30.0", kubernetes_validate.latest_version())
#: One bake per (database, use_redis): what changes the compose file and the manifests;
#: the other answers vary across them.
DEPLOYMENTS = [
    pytest.param({}, id="postgresql-redis"),
    pytest.param({"use_redis": False, "ai_provider": "none"}, id="postgresql"),
    pytest.param({"database": "sqlite", "ai_provider": "anthropic"}, id="sqlite-redis"),
    pytest.param({"database": "sqlite", "use_redis": False, "use_auth": False}, id="sqlite"),
    pytest.param(
        {"database": "none", "use_auth": False, "ai_provider": "both"}, id="no_database-redis"
    ),
    pytest.param(
        {"database": "none", "use_auth": False, "use_redis": False, "ai_provider": "none"},
        id="no_database",
    ),
]


def answers_of(answers: dict[str, Any]) -> tuple[str, bool]:
    return answers.get("database", "postgresql"), answers.get("use_redis", True)


# --- Kubernetes ------------------------------------------------------------------


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def kubernetes_resources(folder: Path) -> list[dict[str, Any]]:
    """The resources ``kubectl apply -k`` would apply: rendered by kubectl when it is
    installed, else read from the files the kustomization lists."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(
        path.name for path in folder.glob("*.yaml") if path.name != "kustomization.yaml"
    )
    for generator in kustomization["configMapGenerator"]:
        assert all((folder / name).is_file() for name in generator["envs"])
    if shutil.which("kubectl"):
        rendered = run_in(folder, "kubectl", "kustomize", ".")
        assert_ok(rendered)
        resources = [document for document in yaml.safe_load_all(rendered.stdout) if document]
        for resource in resources:
            assert resource["metadata"].get("namespace", "my-flask-api") == "my-flask-api"
            assert resource["metadata"]["labels"]["app.kubernetes.io/name"] == "my-flask-api"
        return resources
    return [document for name in listed for document in documents(folder / name)]


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    found: list[dict[str, Any]] = spec.get("containers", [])
    return found


def check_kubernetes(project: Path, redis: bool) -> None:
    folder = project / "deploy" / "k8s"
    resources = kubernetes_resources(folder)
    for resource in resources:
        for version in KUBERNETES:
            kubernetes_validate.validate(resource, version, strict=True)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_kind.setdefault(resource["kind"], []).append(resource)
    names = {resource["metadata"]["name"] for resource in by_kind["Deployment"]}
    assert names == {"api"} | ({"worker"} if redis else set())
    assert len(by_kind["Job"]) == 1
    assert len(by_kind["HorizontalPodAutoscaler"]) == 1
    assert len(by_kind["Service"]) == 1
    assert len(by_kind["PodDisruptionBudget"]) == len(by_kind["Deployment"])

    for resource in by_kind["Deployment"] + by_kind["Job"]:
        pod = resource["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in containers(resource):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert set(container["resources"]) == {"requests", "limits"}
            references = {
                key: source[key]["name"]
                for source in container["envFrom"]
                for key in ("configMapRef", "secretRef")
                if key in source
            }
            assert references["secretRef"] == "secrets"
            assert references["configMapRef"].startswith("config")
    (api,) = containers(by_kind["Deployment"][0])
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"


# --- compose and the Dockerfile ---------------------------------------------------


class Dockerfile:
    """The parts of a two-stage Dockerfile that can be run without Docker."""

    def __init__(self, text: str) -> None:
        # One instruction per logical line (backslash continues it).
        lines = re.sub(r"\\\n\s*", " ", text).splitlines()
        instructions = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
        stages: list[list[tuple[str, str]]] = []
        for keyword, argument in instructions:
            if keyword == "FROM":
                stages.append([])
            stages[-1].append((keyword, argument))
        self.build, self.runtime = stages

    @staticmethod
    def env(stage: list[tuple[str, str]]) -> dict[str, str]:
        found: dict[str, str] = {}
        for keyword, argument in stage:
            if keyword == "ENV":
                found.update(pair.split("=", 1) for pair in shlex.split(argument))
        return found

    @staticmethod
    def arguments(stage: list[tuple[str, str]], keyword: str) -> list[str]:
        return [argument for name, argument in stage if name == keyword]

    def build_commands(self) -> list[str]:
        """The build stage's RUN commands, without BuildKit's cache mounts."""
        return [
            re.sub(r"^--mount=\S+\s+", "", command) for command in self.arguments(self.build, "RUN")
        ]

    def command(self) -> list[str]:
        (cmd,) = self.arguments(self.runtime, "CMD")
        found: list[str] = json.loads(cmd)
        return found

    def healthcheck(self) -> list[str]:
        (check,) = self.arguments(self.runtime, "HEALTHCHECK")
        found: list[str] = json.loads(check.split(" CMD ", 1)[1])
        return found


def build_context(project: Path, into: Path) -> None:
    """Copy what ``docker build`` would send: everything .dockerignore does not name."""
    ignored = [
        line.strip()
        for line in (project / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignore(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(project)
        return {
            name
            for name in names
            if any(
                fnmatch.fnmatch(str(relative / name), pattern.removeprefix("**/"))
                or fnmatch.fnmatch(name, pattern.removeprefix("**/"))
                for pattern in ignored
            )
        }

    shutil.copytree(project, into, ignore=ignore)


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2 and not pair[0].startswith("#")}


@contextmanager
def started(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def eventually(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    """Run a health check until it passes (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{command} never passed: {result.stderr[-2000:]}\n{log.read_text()[-4000:]}"
            )
        time.sleep(0.5)


@pytest.mark.parametrize("answers", DEPLOYMENTS)
def test_deployment_files_validate(cookies: Any, answers: dict[str, Any]) -> None:
    project = bake(cookies, **answers)
    database, redis = answers_of(answers)
    checker = BIN / "check-jsonschema"
    compose = project / "compose.yaml"
    assert_ok(run_in(project, checker, "--builtin-schema", "vendor.compose-spec", compose))
    services = yaml.safe_load(compose.read_text())["services"]
    expected = {"api"} | ({"migrate"} if database != "none" else set())
    expected |= {"worker", "redis"} if redis else set()
    expected |= {"db"} if database == "postgresql" else set()
    assert expected <= set(services)

    dockerfile = (project / "Dockerfile").read_text()
    assert "uv sync --locked" in dockerfile
    assert re.search(r"^USER [1-9][0-9]*:[1-9][0-9]*$", dockerfile, re.MULTILINE)
    # The code is copied without --chown: owned by root, read-only to the app's user.
    assert re.search(r"^COPY --from=build /srv /srv$", dockerfile, re.MULTILINE)

    if database == "postgresql":
        check_kubernetes(project, redis)
    else:
        assert not (project / "deploy").exists()


@pytest.mark.slow
@pytest.mark.parametrize("answers", [DEPLOYMENTS[0], DEPLOYMENTS[3], DEPLOYMENTS[4]])
def test_compose_services_start_as_generated(
    cookies: Any, request: pytest.FixtureRequest, tmp_path: Path, answers: dict[str, Any]
) -> None:
    project = bake(cookies, **answers)
    database, redis = answers_of(answers)
    dockerfile = Dockerfile((project / "Dockerfile").read_text())

    # The image: the build context, and the build stage's commands run in it.
    srv = tmp_path / "srv"
    build_context(project, srv)
    build_env = project_env(**Dockerfile.env(dockerfile.build))
    build_env["PATH"] = f"{BIN}{os.pathsep}{build_env['PATH']}"  # uv, as the image has it
    for command in dockerfile.build_commands():
        assert_ok(run_in(srv, "bash", "-c", command, env=build_env))
    assert not (srv / ".env").exists()

    # Each service's environment as compose makes it, with the local services in
    # place of the stack's.
    image_env = {
        name: value.replace("/srv", str(srv)).replace("$PATH", os.environ["PATH"])
        for name, value in Dockerfile.env(dockerfile.runtime).items()
    }
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    local = {}
    if database == "postgresql":
        local["DATABASE_URL"] = request.getfixturevalue("postgres_database")
    if redis:
        local["REDIS_URL"] = request.getfixturevalue("redis_server")
        local["REDIS_KEY_PREFIX"] = request.getfixturevalue("redis_prefix")

    def service_env(name: str) -> dict[str, str]:
        service = compose["services"][name]
        env = project_env(**image_env)
        env.update(env_file(project / service["env_file"]))
        for key, value in service.get("environment", {}).items():
            env[key] = local.get(key, str(value).replace("/srv", str(srv)))
        return env

    if database != "none":
        (srv / "instance").mkdir(exist_ok=True)  # the image's volume
        migrate = compose["services"]["migrate"]
        assert_ok(run_in(srv, *migrate["command"], env=service_env("migrate")))

    port = free_port()
    api_env = {**service_env("api"), "PORT": str(port)}
    healthcheck = [part.replace(":8000/", f":{port}/") for part in dockerfile.healthcheck()]
    with started(dockerfile.command(), srv, api_env, tmp_path / "api.log"):
        eventually(healthcheck, srv, api_env, tmp_path / "api.log")
        status, _, body = http("GET", f"http://127.0.0.1:{port}/api/v1/health/ready")
        assert status == 200, body
        if redis:
            worker = compose["services"]["worker"]
            worker_env = service_env("worker")
            with started(worker["command"], srv, worker_env, tmp_path / "worker.log"):
                check = worker["healthcheck"]["test"][1:]  # after "CMD"
                eventually(check, srv, worker_env, tmp_path / "worker.log")
