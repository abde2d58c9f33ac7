"""``plinth export --git`` and ``plinth sync --git`` with real git and real control planes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import PlinthServer, start_server
from typer.testing import CliRunner, Result

from plinth.experience.cli.main import app

pytestmark = pytest.mark.slow

TEAM = "apiVersion: plinth.dev/v1\nkind: Team\nmetadata: {name: orders}\nspec: {}\n"
WORKLOAD = """\
apiVersion: score.dev/v1b1
metadata: {name: web}
containers:
  main: {image: "py:http.server"}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlinthServer]:
    """One control plane for the module."""
    with start_server(tmp_path_factory.mktemp("gitops-server")) as running:
        yield running


def plinth(server: PlinthServer, *args: str, user: str = "pat") -> Result:
    """Run the CLI in-process against the server, as ``user``."""
    env = {"PLINTH_URL": server.url, "PLINTH_TOKEN": server.tokens[user], "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; return its output."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def state(server: PlinthServer) -> list[dict[str, object]]:
    """Return the server's desired state documents."""
    with server.client() as client:
        return list(client.get("/api/v1/gitops/state", params={"limit": 500}).json()["items"])


def test_export_then_sync_into_a_fresh_plinth_rebuilds_it(
    server: PlinthServer, tmp_path: Path
) -> None:
    (tmp_path / "web.yaml").write_text(WORKLOAD)
    applied = plinth(
        server, "apply", "-f", str(tmp_path / "web.yaml"), "--env", "dev", "-p", "checkout", "--yes"
    )
    assert applied.exit_code == 0, applied.stderr
    repo = tmp_path / "repo"
    first = plinth(server, "export", "--git", str(repo), "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["changed"] is True
    assert "environments/dev/checkout/workloads/web.yaml" in git(repo, "ls-files")
    exported = "".join(p.read_text() for p in repo.rglob("*.yaml") if ".git" not in p.parts)
    assert not any(token in exported for token in server.tokens.values())
    again = plinth(server, "export", "--git", str(repo))
    assert again.exit_code == 0 and "No changes" in again.stdout
    with start_server(tmp_path / "fresh") as fresh:
        dry = plinth(fresh, "sync", "--git", str(repo), "--dry-run", "-o", "json")
        assert dry.exit_code == 0, dry.stderr
        assert json.loads(dry.stdout)["applied"] == []
        synced = plinth(fresh, "sync", "--git", str(repo))
        assert synced.exit_code == 0, synced.stderr
        assert "Applied" in synced.stdout
        assert state(fresh) == state(server)


def test_sync_reports_bad_repositories_and_files(server: PlinthServer, tmp_path: Path) -> None:
    assert plinth(server, "sync", "--git", str(tmp_path)).exit_code == 2
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "teams").mkdir()
    (repo / "teams" / "orders.yaml").write_text(TEAM.replace("name: orders", "name: Orders!"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bad")
    unknown = plinth(server, "sync", "--git", str(repo), "--ref", "v9")
    assert unknown.exit_code == 2 and "no commit 'v9'" in unknown.stderr
    invalid = plinth(server, "sync", "--git", str(repo))
    assert invalid.exit_code == 2
    assert "teams/orders.yaml: document 0: $.metadata.name" in invalid.stderr
    before = state(server)
    (repo / "teams" / "orders.yaml").write_text(TEAM)  # fixed, but not committed
    dirty = plinth(server, "sync", "--git", str(repo))
    assert dirty.exit_code == 2 and "uncommitted changes; they are not synced" in dirty.stderr
    assert state(server) == before
    git(repo, "commit", "-q", "-am", "fixed")
    fixed = plinth(server, "sync", "--git", str(repo), "-o", "json")
    assert fixed.exit_code == 0, fixed.stderr
    report = json.loads(fixed.stdout)
    assert report["commit"]["sha"] == git(repo, "rev-parse", "HEAD")
    assert any(d["name"] == "orders" and d["kind"] == "Team" for d in state(server))
