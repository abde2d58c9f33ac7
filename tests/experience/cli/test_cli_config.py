"""Where the CLI connects and as whom: flags, environment, config file, login."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import plinth.experience.cli.client as client_module
from plinth.core.errors import InvalidInput, NotFound, SpecError
from plinth.experience.cli.client import (
    DEFAULT_URL,
    config_file_path,
    exit_code_for,
    problem_to_error,
    resolve_config,
    write_cli_config,
)
from plinth.experience.cli.context import CliState
from plinth.experience.cli.main import app

from .conftest import Invoke
from .fake_api import FakeApi


def _config(path: Path) -> None:
    users = {"ada": "tok-ada", "pat": "tok-pat"}
    write_cli_config(path, url="http://from-file:1", users=users, current_user="ada")


def test_write_cli_config_is_private_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "cli.yaml"
    _config(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert data == {
        "url": "http://from-file:1",
        "current_user": "ada",
        "users": {"ada": {"token": "tok-ada"}, "pat": {"token": "tok-pat"}},
    }
    with pytest.raises(InvalidInput):
        write_cli_config(path, url="u", users={"ada": "t"}, current_user="bob")


def test_config_file_location_precedence(tmp_path: Path) -> None:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    user_file = home / ".config" / "plinth" / "cli.yaml"
    assert config_file_path({}, cwd=cwd, home=home) == user_file
    _config(cwd / ".plinth" / "cli.yaml")
    assert config_file_path({}, cwd=cwd, home=home) == cwd / ".plinth" / "cli.yaml"
    chosen = config_file_path({"PLINTH_CLI_CONFIG": "/x.yaml"}, cwd=cwd, home=home)
    assert chosen == Path("/x.yaml")


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    _config(tmp_path / ".plinth" / "cli.yaml")
    env = {"PLINTH_URL": "http://from-env:2/", "PLINTH_TOKEN": "tok-env"}
    from_file = resolve_config(environ={}, cwd=tmp_path, home=tmp_path)
    assert (from_file.url, from_file.token, from_file.user) == (
        "http://from-file:1",
        "tok-ada",
        "ada",
    )
    from_env = resolve_config(environ=env, cwd=tmp_path, home=tmp_path)
    assert (from_env.url, from_env.token) == ("http://from-env:2", "tok-env")
    from_flags = resolve_config(
        url="http://flag:3", token="tok-flag", environ=env, cwd=tmp_path, home=tmp_path
    )
    assert (from_flags.url, from_flags.token) == ("http://flag:3", "tok-flag")
    as_pat = resolve_config(as_user="pat", environ=env, cwd=tmp_path, home=tmp_path)
    assert (as_pat.token, as_pat.user) == ("tok-pat", "pat")
    with pytest.raises(InvalidInput, match="known users: ada, pat"):
        resolve_config(as_user="bob", environ={}, cwd=tmp_path, home=tmp_path)
    nothing = resolve_config(environ={}, cwd=tmp_path / "none", home=tmp_path / "none")
    assert (nothing.url, nothing.token) == (DEFAULT_URL, None)


def test_cli_token_choice(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "ada" in invoke("whoami", "-o", "json").stdout
    assert '"name": "pat"' in invoke("--as", "pat", "whoami", "-o", "json").stdout
    monkeypatch.setenv("PLINTH_TOKEN", "tok-viewer")
    assert '"name": "viewer"' in invoke("whoami", "-o", "json").stdout
    assert '"name": "pat"' in invoke("--token", "tok-pat", "whoami", "-o", "json").stdout


def test_login_switches_current_user(invoke: Invoke, workdir: Path) -> None:
    result = invoke("login", "pat")
    assert result.exit_code == 0, result.output
    assert '"name": "pat"' in invoke("whoami", "-o", "json").stdout
    assert yaml.safe_load((workdir / ".plinth" / "cli.yaml").read_text())["current_user"] == "pat"
    assert invoke("use", "ada").exit_code == 0
    unknown = invoke("login", "bob")
    assert unknown.exit_code == 2
    assert "no user 'bob'" in unknown.stderr


def test_unauthenticated_exits_1(invoke: Invoke) -> None:
    result = invoke("--token", "wrong", "whoami")
    assert result.exit_code == 1
    assert "missing or unknown token" in result.stderr


def test_connection_refused_is_a_clear_error(workdir: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = CliRunner().invoke(app, ["--url", url, "get", "wl"], obj=CliState())
    assert result.exit_code == 1
    assert f"cannot reach Plinth at {url}: is `make up` running?" in result.stderr


def test_problem_mapping_and_exit_codes() -> None:
    spec = problem_to_error(
        422,
        {
            "type": "https://plinth.dev/problems/invalid-spec",
            "issues": [{"file": "a.yaml", "document": 0, "path": "$.x", "message": "bad"}],
        },
    )
    assert isinstance(spec, SpecError) and exit_code_for(spec) == 2
    assert isinstance(problem_to_error(404, {}), NotFound)
    assert exit_code_for(problem_to_error(403, {"type": "x/gate-denied"})) == 3
    assert exit_code_for(problem_to_error(409, {"type": "x/conflict"})) == 1
    assert exit_code_for(problem_to_error(500, None)) == 1


def test_public_surface() -> None:
    assert "write_cli_config" in client_module.__all__
    assert "make_client" in client_module.__all__


def test_help_documents_exit_codes(invoke: Invoke, fake: FakeApi) -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "4 waiting for approval" in result.stdout
    assert fake.requests == []
