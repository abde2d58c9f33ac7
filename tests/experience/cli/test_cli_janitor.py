"""``plinth janitor scan|run|undo`` and ``plinth rightsize`` against the real API, in process."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import typer
from tests.experience.api.janitor_support import JanitorApi, forwarding, janitor_api
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import world
from typer.testing import CliRunner, Result

from plinth.experience.cli.context import CliState
from plinth.experience.cli.janitor import janitor_app, rightsize

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["janitor_api", "world"]  # fixtures used by this module

Invoke = Callable[..., Result]


@pytest.fixture
def cli(janitor_api: JanitorApi, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run the janitor commands as a user, through the in-process API."""
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    root = typer.Typer()
    root.add_typer(janitor_app, name="janitor")
    root.command("rightsize")(rightsize)
    transport = forwarding(janitor_api.client)

    def run(user: str, *args: str) -> Result:
        state = CliState(
            url="http://testserver", token=janitor_api.tokens[user], transport=transport
        )
        return CliRunner().invoke(root, list(args), obj=state)

    return run


def test_scan_run_and_undo(cli: Invoke) -> None:
    scan = cli("lee", "janitor", "scan", "--env", "dev")
    assert scan.exit_code == 0, scan.output
    assert "idle: CPU used" in scan.stdout and "new" in scan.stdout and "estimate" in scan.stdout
    raw = json.loads(cli("lee", "janitor", "scan", "-o", "json").stdout)
    assert {i["workload"] for i in raw["items"]} == {"web", "api"}

    dry = cli("pat", "janitor", "run", "--dry-run")
    assert dry.exit_code == 0 and "would_mark" in dry.stdout and "dry run" in dry.stdout
    refused = cli("ada", "janitor", "run")
    assert refused.exit_code == 3 and "platform-engineer role" in refused.stderr
    ran = json.loads(cli("janitor", "janitor", "run", "-o", "json").stdout)
    assert sorted(s["action"] for s in ran["steps"]) == ["marked", "marked", "notified", "notified"]
    assert "notified" in cli("lee", "janitor", "scan").stdout

    undone = cli("ada", "janitor", "undo", "web", "--env", "dev")
    assert undone.exit_code == 0, undone.output
    assert "Restored web in dev: removed plinth.dev/janitor-mark." in undone.stdout
    again = cli("ada", "janitor", "undo", "web", "--env", "dev")
    assert again.exit_code == 1 and "nothing to undo" in again.stderr
    assert cli("ada", "janitor", "undo", "nope", "-e", "dev").exit_code == 2


def test_rightsize(cli: Invoke) -> None:
    shown = cli("ada", "rightsize", "--env", "dev")
    assert shown.exit_code == 0, shown.output
    assert "50m" in shown.stdout and "USD/month" in shown.stdout
    raw = json.loads(cli("ada", "rightsize", "-o", "json").stdout)
    assert {i["workload"] for i in raw["items"]} == {"web", "api"}
    empty = cli("ada", "rightsize", "--env", "prod")
    assert "No recommendations" in empty.stdout
