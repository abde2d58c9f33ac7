"""Starting on an existing store: tokens issued for new users join the ones issued before."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from plinth.core.config import Settings
from plinth.experience.api.server import _announce


def test_new_tokens_of_an_upgraded_store_join_the_known_ones(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, port=8123)
    _announce(settings, {"ada": "tok-ada", "pat": "tok-pat"})
    _announce(settings, {"janitor": "tok-janitor"})  # a later version seeds a new agent
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    assert tokens == {"ada": "tok-ada", "pat": "tok-pat", "janitor": "tok-janitor"}
    config = yaml.safe_load((tmp_path / "cli.yaml").read_text())
    assert config["current_user"] == "ada"
    assert set(config["users"]) == {"ada", "pat", "janitor"}
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600


def test_a_restart_on_another_port_points_the_cli_config_at_it(tmp_path: Path) -> None:
    _announce(Settings(data_dir=tmp_path, port=8123), {"ada": "tok-ada"})
    _announce(Settings(data_dir=tmp_path, port=9124), {})  # same store, no new tokens
    config = yaml.safe_load((tmp_path / "cli.yaml").read_text())
    assert config["url"] == "http://127.0.0.1:9124"
    assert config["users"] == {"ada": {"token": "tok-ada"}}
