"""``plinth apply --commit-sha/--commit-time`` and ``plinth dora`` against a real platform."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.experience.cli.test_cli_demo import through
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import World, world
from tests.orchestration.specs import converge, workload
from typer.testing import CliRunner, Result

from plinth.experience.api.app import create_app
from plinth.experience.cli.client import write_cli_config
from plinth.experience.cli.context import CliState
from plinth.experience.cli.dora import duration, sparkline
from plinth.experience.cli.main import app

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["world"]  # fixtures used by this module

Run = Callable[..., Result]


@pytest.fixture
def cli(world: World, tmp_path: Path) -> Iterator[tuple[World, Run]]:
    """Run the CLI as ada against the world's platform, in process."""
    config = tmp_path / "cli.yaml"
    write_cli_config(config, url="http://testserver", users=world.tokens, current_user="ada")
    (tmp_path / "web.yaml").write_text(workload("web", db=None))
    with TestClient(create_app(world.platform)) as client:

        def run(*args: str) -> Result:
            env = {"PLINTH_CLI_CONFIG": str(config), "COLUMNS": "160"}
            return CliRunner(env=env).invoke(
                app, list(args), obj=CliState(transport=through(client), poll_interval_s=0)
            )

        yield world, run


def test_apply_with_a_commit_gives_a_lead_time(cli: tuple[World, Run], tmp_path: Path) -> None:
    world, run = cli
    committed = (world.clock.now() - timedelta(hours=2)).isoformat()
    web = str(tmp_path / "web.yaml")
    done = run("apply", "-f", web, "--env", "dev", "--yes", "--commit-sha", "feedbee1",
               "--commit-time", committed)  # fmt: skip
    assert done.exit_code == 0, done.output
    converge(world.platform)
    shown = run("dora", "--team", "payments", "-o", "json")
    assert shown.exit_code == 0, shown.output
    metrics = json.loads(shown.output)["metrics"]
    assert metrics["lead_time"]["count"] == 1
    assert metrics["lead_time"]["median_s"] == pytest.approx(7200.0)
    table = run("dora", "--team", "payments")
    assert table.exit_code == 0, table.output
    assert "lead time for changes" in table.output and "2.0h" in table.output


def test_a_commit_that_cannot_be_recorded_never_blocks_the_apply(
    cli: tuple[World, Run], tmp_path: Path
) -> None:
    world, run = cli
    web = str(tmp_path / "web.yaml")
    done = run("apply", "-f", web, "--env", "dev", "--yes", "--commit-sha", "not-a-sha",
               "--commit-time", world.clock.now().isoformat())  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "not recorded" in done.output


def test_duration_and_sparkline() -> None:
    assert [duration(v) for v in (None, 30, 600, 7200, 3 * 86400)] == [
        "-",
        "30s",
        "10m",
        "2.0h",
        "3.0d",
    ]
    assert sparkline([0.0, 4.0, None, 8.0]) == "▁▄ █"
    assert sparkline([0.0, 0.0]) == "▁▁"
