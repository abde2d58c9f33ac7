"""Fixtures for CLI tests: an isolated home and working directory, the fake API, a runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from plinth.experience.cli.client import write_cli_config
from plinth.experience.cli.context import CliState
from plinth.experience.cli.main import app

from .fake_api import FakeApi

Invoke = Callable[..., Result]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory with an empty home and no PLINTH_* variables."""
    for name in ("PLINTH_URL", "PLINTH_TOKEN", "PLINTH_CLI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def fake() -> FakeApi:
    """A fresh in-memory API."""
    return FakeApi()


@pytest.fixture
def invoke(workdir: Path, fake: FakeApi) -> Invoke:
    """Run the CLI against the fake API, with a config file for ada and pat."""
    write_cli_config(
        workdir / ".plinth" / "cli.yaml",
        url="http://plinth.test",
        users={"ada": "tok-ada", "pat": "tok-pat", "viewer": "tok-viewer"},
        current_user="ada",
    )

    def run(*args: str, input: str | None = None) -> Result:
        state = CliState(transport=fake.transport, poll_interval_s=0)
        return CliRunner().invoke(app, list(args), obj=state, input=input)

    return run
