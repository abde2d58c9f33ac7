"""``plinth providers list|show`` against the real API, in process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
import yaml
from tests.experience.api.janitor_support import forwarding
from tests.experience.api.test_routes_providers import install_plugins, wire
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import World, world
from typer.testing import CliRunner, Result

from plinth.experience.cli.context import CliState
from plinth.experience.cli.providers import providers_app

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["world"]  # fixtures used by this module

Invoke = Callable[..., Result]


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Run ``plinth providers ...`` as ada, through the in-process API."""
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    root = typer.Typer()
    root.add_typer(providers_app, name="providers")
    with wire(world) as client:
        transport = forwarding(client)

        def run(*args: str) -> Result:
            token = world.tokens["ada"]
            state = CliState(url="http://testserver", token=token, transport=transport)
            return CliRunner().invoke(root, list(args), obj=state)

        yield run


def test_list_shows_packages_types_and_errors(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugins(tmp_path / "site", monkeypatch)
    shown = cli("providers", "list")
    assert shown.exit_code == 0, shown.output
    rows = {
        cells[1].strip(): line
        for line in shown.stdout.splitlines()
        if len(cells := line.split("│")) > 2
    }
    local = rows["local"]
    assert "false" in local and "plinth" in local and "service" in local and "route" in local
    fake = rows["fake"]
    assert "true" in fake and "postgres" in fake
    broken = rows["broken"]
    assert "plinth-test-plugins" in broken and "ModuleNotFoundError" in broken


def test_json_and_yaml_carry_the_schemas(cli: Invoke) -> None:
    raw = json.loads(cli("providers", "list", "--output", "json").stdout)
    local = next(item for item in raw["items"] if item["name"] == "local")
    schemas = {t["name"]: t["schema"] for t in local["types"]}
    assert schemas["volume"]["type"] == "object"
    assert yaml.safe_load(cli("providers", "list", "-o", "yaml").stdout) == raw


def test_show_one_and_a_missing_one(cli: Invoke) -> None:
    shown = cli("providers", "show", "local")
    assert shown.exit_code == 0, shown.output
    assert "type service" in shown.stdout and "containers" in shown.stdout
    raw = json.loads(cli("providers", "show", "local", "-o", "json").stdout)
    assert raw["name"] == "local" and raw["package"] == "plinth"
    missing = cli("providers", "show", "nope")
    assert missing.exit_code == 2
    assert "no provider named 'nope'" in missing.stderr
