"""``plinth gpus pools`` and ``plinth gpus queue`` against the real API, in process."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import typer
import yaml
from tests.experience.api.gpus_support import GpusApi, gpus_api
from tests.experience.api.janitor_support import forwarding
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import world
from typer.testing import CliRunner, Result

from plinth.experience.cli.context import CliState
from plinth.experience.cli.gpus import gpus_app

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["gpus_api", "world"]  # fixtures used by this module

Invoke = Callable[..., Result]


@pytest.fixture
def cli(gpus_api: GpusApi, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``plinth gpus ...`` as a user, through the in-process API."""
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    root = typer.Typer()
    root.add_typer(gpus_app, name="gpus")
    transport = forwarding(gpus_api.client)

    def run(user: str, *args: str) -> Result:
        token = gpus_api.world.tokens[user]
        state = CliState(url="http://testserver", token=token, transport=transport)
        return CliRunner().invoke(root, list(args), obj=state)

    return run


def test_pools_table_and_raw_output(cli: Invoke) -> None:
    shown = cli("lee", "gpus", "pools")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert any("gpu-a" in line and "L4" in line and " 2 " in line for line in lines)
    assert "Team queues" in shown.stdout and "ml-research" in shown.stdout
    assert any("ml-research" in line and "L4=3" in line and "L4=1" in line for line in lines)
    raw = json.loads(cli("lee", "gpus", "pools", "-o", "json").stdout)
    assert raw["items"][0]["name"] == "lab"
    as_yaml = yaml.safe_load(cli("lee", "gpus", "pools", "--output", "yaml").stdout)
    assert as_yaml == raw


def test_queue_table_team_filter_and_json(cli: Invoke, gpus_api: GpusApi) -> None:
    shown = cli("dana", "gpus", "queue")
    assert shown.exit_code == 0, shown.output
    assert "EXPECTED START" in shown.stdout and "assumed run times" in shown.stdout
    assert "preempted: stops by" in shown.stdout and "running since" in shown.stdout
    small = next(line for line in shown.stdout.splitlines() if "small" in line)
    assert "payments" in small and "1" in small and "queued" in small
    mine = json.loads(cli("dana", "gpus", "queue", "--team", "ml-research", "-o", "json").stdout)
    assert {e["team"] for e in mine["items"]} == {"ml-research"}
    assert [e["workload"] for e in mine["items"] if e["state"] == "queued"] == ["big"]
    none = cli("dana", "gpus", "queue", "-t", "platform")
    assert none.exit_code == 0 and "Nothing waits" in none.stdout
    paged = json.loads(cli("dana", "gpus", "queue", "-l", "1", "--all", "-o", "json").stdout)
    assert len(paged["items"]) == 5 and paged["next_page_token"] is None


def test_help_has_examples(cli: Invoke) -> None:
    for command in ("pools", "queue"):
        shown = cli("lee", "gpus", command, "--help")
        assert shown.exit_code == 0 and "plinth gpus " + command in shown.stdout


def test_unauthenticated_is_refused(cli: Invoke, gpus_api: GpusApi) -> None:
    gpus_api.world.tokens["nobody"] = "plt_not-a-token"
    refused = cli("nobody", "gpus", "queue")
    assert refused.exit_code != 0 and refused.stderr
