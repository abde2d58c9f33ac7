"""End to end: the real ``plinth`` console script against a real control plane process.

The CLI runs as a subprocess with PLINTH_URL and PLINTH_TOKEN pointing at a
server on loopback (SQLite store, local provider), from an empty directory
with an empty home, so that no config file is involved.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import PlinthServer, start_server

pytestmark = pytest.mark.slow

EXIT_INVALID, EXIT_DENIED, EXIT_WAITING_APPROVAL = 2, 3, 4


def plinth_executable() -> str:
    """The installed ``plinth`` console script of this environment."""
    beside = Path(sys.executable).parent / "plinth"
    if beside.exists():
        return str(beside)
    found = shutil.which("plinth")
    assert found, "the plinth console script is not installed (pip install -e .)"
    return found


def application(name: str, *, memory: str = "512Mi") -> str:
    """Return a web-service Application document."""
    return (
        "apiVersion: plinth.dev/v1\n"
        "kind: Application\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  template: web-service\n"
        '  version: "1.0.0"\n'
        "  overrides:\n"
        f"    - {{path: containers.main.resources.limits.memory, value: {memory}}}\n"
    )


@dataclass
class Cli:
    """Runs the console script as a user of the server, in a scratch directory."""

    server: PlinthServer
    workdir: Path
    home: Path

    def write(self, name: str, text: str) -> str:
        """Write a spec file into the working directory and return its name."""
        (self.workdir / name).write_text(text)
        return name

    def __call__(
        self, *args: str, user: str = "ada", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``plinth ARGS`` and return the finished process."""
        env = {**self.server.cli_env(user), "HOME": str(self.home), "COLUMNS": "200"}
        env.pop("PLINTH_CLI_CONFIG", None)
        env["NO_COLOR"] = "1"
        return subprocess.run(
            [plinth_executable(), *args],
            env=env,
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def json(self, *args: str, user: str = "ada") -> Any:
        """Run a command with ``-o json``, check it succeeded, and parse its output."""
        done = self(*args, "-o", "json", user=user)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """The CLI against a control plane started once for this module."""
    base = tmp_path_factory.mktemp("plinth-cli")
    for sub in ("data", "work", "home"):
        (base / sub).mkdir()
    with start_server(base / "data") as server:
        yield Cli(server, base / "work", base / "home")


def workload_running(cli: Cli, name: str, env: str = "dev") -> bool:
    """Return whether ``plinth get workload NAME`` says it runs and is healthy."""
    done = cli("get", "workload", name, "--env", env, "-o", "json")
    if done.returncode != 0:
        return False
    data = json.loads(done.stdout)
    return bool(data["phase"] == "running" and data["healthy"])


@pytest.fixture(scope="module")
def deployed(cli: Cli) -> subprocess.CompletedProcess[str]:
    """``plinth apply --yes --wait`` of the application ``web`` in dev."""
    spec = cli.write("web.yaml", application("web"))
    return cli("apply", "-f", spec, "--env", "dev", "--yes", "--wait", "--timeout", "90")


def test_whoami_shows_the_user_and_server(cli: Cli) -> None:
    me = cli.json("whoami")
    assert me["name"] == "ada"
    assert me["teams"] == ["payments"]
    table = cli("whoami")
    assert table.returncode == 0
    assert "ada" in table.stdout
    assert cli.server.url in table.stdout


def test_templates_list_shows_the_golden_paths(cli: Cli) -> None:
    done = cli("templates", "list")
    assert done.returncode == 0, done.stderr
    for name in ("web-service", "scheduled-job", "static-site"):
        assert name in done.stdout
    listed = {t["name"]: t for t in cli.json("templates", "list")["items"]}
    assert listed["web-service"]["versions"] == ["1.0.0", "1.1.0"]


def test_plan_shows_the_changes_and_changes_nothing(cli: Cli) -> None:
    spec = cli.write("preview.yaml", application("preview"))
    table = cli("plan", "-f", spec, "--env", "dev")
    assert table.returncode == 0, table.stdout + table.stderr
    assert "preview" in table.stdout
    assert "create" in table.stdout
    from_stdin = cli("plan", "-f", "-", "--env", "dev", "-o", "json", stdin=application("preview"))
    assert from_stdin.returncode == 0, from_stdin.stderr
    plan = json.loads(from_stdin.stdout)
    assert (plan["outcome"], plan["status"], plan["environment"]) == ("allow", "planned", "dev")
    assert plan["digest"] in table.stdout
    listed = cli.json("get", "workloads", "--env", "dev")["items"]
    assert "preview" not in {w["name"] for w in listed}


def test_apply_waits_until_the_application_runs(
    cli: Cli, deployed: subprocess.CompletedProcess[str]
) -> None:
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "Applied plan" in deployed.stdout
    listed = {w["name"]: w for w in cli.json("get", "workloads", "--env", "dev")["items"]}
    assert (listed["web"]["phase"], listed["web"]["healthy"]) == ("running", True)
    one = cli.json("get", "workload", "web", "--env", "dev")
    assert {r["name"] for r in one["resources"]} == {"web", "web-db", "web-route"}


def test_apply_wait_returns_once_a_workload_runs(cli: Cli) -> None:
    spec = cli.write(
        "worker.yaml",
        "apiVersion: score.dev/v1b1\n"
        "metadata: {name: worker}\n"
        "containers: {main: {image: py:plinth_demo.webapp}}\n"
        "service: {ports: {web: {port: 8080}}}\n",
    )
    done = cli("apply", "-f", spec, "--env", "dev", "--yes", "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Applied plan" in done.stdout
    assert workload_running(cli, "worker")


def test_reapplying_the_same_file_changes_nothing(
    cli: Cli, deployed: subprocess.CompletedProcess[str]
) -> None:
    assert deployed.returncode == 0
    done = cli("apply", "-f", "web.yaml", "--env", "dev", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes" in done.stdout


def test_describe_and_logs(cli: Cli, deployed: subprocess.CompletedProcess[str]) -> None:
    assert deployed.returncode == 0
    described = cli("describe", "workload", "web", "--env", "dev")
    assert described.returncode == 0, described.stderr
    for text in ("web-db", "web-route", "Created", "ada"):
        assert text in described.stdout
    assert "<secret>" in described.stdout
    for text in ("Security", "runAsNonRoot", "enforced", "not enforced by the local provider"):
        assert text in described.stdout
    logs = cli("logs", "web", "--env", "dev", "--tail", "10000")
    assert logs.returncode == 0, logs.stderr
    assert "plinth demo web service listening" in logs.stdout
    short = cli("logs", "web", "--env", "dev", "--tail", "2")
    assert short.returncode == 0
    assert len(short.stdout.splitlines()) == 2
    assert all(line.startswith("[main] ") for line in short.stdout.splitlines())


def test_audit_verify_reports_an_intact_chain(
    cli: Cli, deployed: subprocess.CompletedProcess[str]
) -> None:
    done = cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intact" in done.stdout
    result = cli.json("audit", "verify")
    assert result["ok"] is True
    assert result["checked"] > 3


def test_invalid_file_exits_2_with_the_issue(cli: Cli) -> None:
    spec = cli.write("bad.yaml", application("bad").replace("web-service", "[broken"))
    done = cli("plan", "-f", spec, "--env", "dev")
    assert done.returncode == EXIT_INVALID, done.stdout + done.stderr
    assert "bad.yaml" in done.stderr
    assert "line" in done.stderr
    missing = cli("plan", "-f", "nowhere.yaml", "--env", "dev")
    assert missing.returncode == EXIT_INVALID
    assert "nowhere.yaml" in missing.stderr
    unknown_env = cli("plan", "-f", "web.yaml", "--env", "mars")
    assert unknown_env.returncode == EXIT_INVALID


def test_production_as_a_developer_exits_3(cli: Cli) -> None:
    spec = cli.write("prod.yaml", application("web-prod"))
    planned = cli("plan", "-f", spec, "--env", "prod")
    assert planned.returncode == EXIT_DENIED, planned.stdout + planned.stderr
    assert "release-manager" in planned.stdout + planned.stderr
    applied = cli("apply", "-f", spec, "--env", "prod", "--yes")
    assert applied.returncode == EXIT_DENIED
    prod = cli.json("get", "workloads", "--env", "prod")["items"]
    assert "web-prod" not in [w["name"] for w in prod]


def test_a_release_manager_applies_the_plan_a_developer_was_denied(cli: Cli) -> None:
    spec = cli.write("prod-rm.yaml", application("web-rm"))
    planned = cli("plan", "-f", spec, "--env", "prod", "-o", "json")
    assert planned.returncode == EXIT_DENIED
    denied = json.loads(planned.stdout)
    assert denied["outcome"] == "deny"
    as_ada = cli("apply", "--plan", denied["digest"], "--yes")
    assert as_ada.returncode == EXIT_DENIED, as_ada.stdout + as_ada.stderr
    as_rita = cli("apply", "--plan", denied["digest"], "--yes", user="rita")
    assert as_rita.returncode == 0, as_rita.stdout + as_rita.stderr
    names = [w["name"] for w in cli.json("get", "workloads", "--env", "prod")["items"]]
    assert names == ["web-rm"]


def test_out_of_bounds_override_exits_4_until_approved(cli: Cli) -> None:
    spec = cli.write("big.yaml", application("big", memory="4Gi"))
    waiting = cli("apply", "-f", spec, "--env", "dev", "--yes", "-o", "json")
    assert waiting.returncode == EXIT_WAITING_APPROVAL, waiting.stdout + waiting.stderr
    result = json.loads(waiting.stdout)
    assert result["status"] == "waiting_approval"
    digest = result["plan"]["digest"]
    pending = cli.json("approvals", "list")["items"]
    assert digest in {p["digest"] for p in pending}
    refused = cli("approvals", "approve", digest, "--reason", "mine")
    assert refused.returncode == EXIT_DENIED
    approved = cli("approvals", "approve", digest, "--reason", "load test", "--apply", user="pat")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "Applied plan" in approved.stdout
    assert cli.json("get", "plan", digest)["status"] == "applied"


def test_approvals_list_by_status(cli: Cli) -> None:
    done = cli("approvals", "list", "--status", "approved")
    assert done.returncode == 0, done.stdout + done.stderr


def test_wrong_token_exits_1(cli: Cli) -> None:
    done = subprocess.run(
        [plinth_executable(), "--token", "not-a-token", "whoami"],
        env={**cli.server.cli_env("ada"), "HOME": str(cli.home)},
        cwd=cli.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "token" in done.stderr
