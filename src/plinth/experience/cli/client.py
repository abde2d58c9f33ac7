"""The CLI's HTTP client: where to connect, as whom, and what errors mean.

The CLI is a pure client of the REST API. This module resolves the
connection settings (flags, then ``PLINTH_*`` environment variables, then
the CLI config file written by ``plinth up``), talks HTTP through ``httpx``,
and turns ``application/problem+json`` answers back into the exceptions of
``plinth.core.errors`` so that every command maps them to the same exit codes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from plinth.core.errors import (
    Conflict,
    Forbidden,
    GateDenied,
    InvalidInput,
    Issue,
    NotFound,
    PlinthError,
    ProviderError,
    SpecError,
    Unauthenticated,
)

__all__ = [
    "DEFAULT_URL",
    "CliConfig",
    "PlinthClient",
    "Unreachable",
    "config_file_path",
    "exit_code_for",
    "load_cli_config_file",
    "make_client",
    "problem_to_error",
    "resolve_config",
    "set_current_user",
    "set_server_url",
    "write_cli_config",
]

DEFAULT_URL = "http://127.0.0.1:8080"
API_PREFIX = "/api/v1"


class Unreachable(PlinthError):
    """The server could not be reached at all (refused, DNS, timeout)."""

    type = "unreachable"
    title = "Cannot reach Plinth"
    status = 503


@dataclass(frozen=True)
class CliConfig:
    """Where to connect and with which token; ``source`` says where each came from."""

    url: str
    token: str | None
    user: str | None
    config_path: Path | None
    url_source: str
    token_source: str


def config_file_path(environ: Mapping[str, str], *, cwd: Path, home: Path) -> Path:
    """Return the CLI config file to use: ``PLINTH_CLI_CONFIG``, ``./.plinth``, then ``~``."""
    if environ.get("PLINTH_CLI_CONFIG"):
        return Path(environ["PLINTH_CLI_CONFIG"])
    local = cwd / ".plinth" / "cli.yaml"
    if local.is_file():
        return local
    return home / ".config" / "plinth" / "cli.yaml"


def load_cli_config_file(path: Path) -> dict[str, Any]:
    """Return the parsed CLI config file, ``{}`` when absent; InvalidInput when malformed."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping with url, current_user and users")
    return data


def _token_of(data: Mapping[str, Any], user: str) -> str | None:
    users = data.get("users")
    if not isinstance(users, Mapping) or not isinstance(users.get(user), Mapping):
        return None
    token = users[user].get("token")
    return str(token) if token else None


def resolve_config(
    *,
    url: str | None = None,
    token: str | None = None,
    as_user: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> CliConfig:
    """Resolve URL and token: flags, then environment, then the config file (first wins)."""
    env = os.environ if environ is None else environ
    path = config_file_path(env, cwd=cwd or Path.cwd(), home=home or Path.home())
    data = load_cli_config_file(path)
    file_label = f"config file {path}"
    if url:
        final_url, url_source = url, "--url"
    elif env.get("PLINTH_URL"):
        final_url, url_source = env["PLINTH_URL"], "PLINTH_URL"
    elif data.get("url"):
        final_url, url_source = str(data["url"]), file_label
    else:
        final_url, url_source = DEFAULT_URL, "default"
    final_token: str | None
    user = as_user or (str(data["current_user"]) if data.get("current_user") else None)
    if token:
        final_token, token_source = token, "--token"
    elif as_user:
        final_token = _token_of(data, as_user)
        if final_token is None:
            known = ", ".join(sorted(data.get("users") or {})) or "none"
            raise InvalidInput(f"no user {as_user!r} in {path} (known users: {known})")
        token_source = f"{file_label} (--as {as_user})"
    elif env.get("PLINTH_TOKEN"):
        final_token, token_source, user = env["PLINTH_TOKEN"], "PLINTH_TOKEN", None
    elif user:
        final_token, token_source = _token_of(data, user), file_label
    else:
        final_token, token_source = None, "none"
    return CliConfig(
        url=final_url.rstrip("/"),
        token=final_token,
        user=user,
        config_path=path if data else None,
        url_source=url_source,
        token_source=token_source,
    )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def write_cli_config(path: Path, *, url: str, users: dict[str, str], current_user: str) -> None:
    """Write the CLI config file (mode 0600): server URL, one token per user, current user."""
    if current_user not in users:
        raise InvalidInput(f"current user {current_user!r} is not one of the users given")
    data = {
        "url": url,
        "current_user": current_user,
        "users": {name: {"token": token} for name, token in users.items()},
    }
    _write_private(path, yaml.safe_dump(data, sort_keys=False))


def set_server_url(path: Path, url: str) -> None:
    """Point an existing CLI config file at ``url`` (a restart on another port); keep its users."""
    data = load_cli_config_file(path)
    if data and data.get("url") != url:
        data["url"] = url
        _write_private(path, yaml.safe_dump(data, sort_keys=False))


def set_current_user(path: Path, user: str) -> None:
    """Make ``user`` the current user of the config file; InvalidInput if unknown there."""
    data = load_cli_config_file(path)
    if not data:
        raise InvalidInput(f"no CLI config file at {path}: start the server with `plinth up`")
    if _token_of(data, user) is None:
        known = ", ".join(sorted(data.get("users") or {})) or "none"
        raise InvalidInput(f"no user {user!r} in {path} (known users: {known})")
    data["current_user"] = user
    _write_private(path, yaml.safe_dump(data, sort_keys=False))


_PROBLEMS: dict[str, type[PlinthError]] = {
    "invalid-input": InvalidInput,
    "not-found": NotFound,
    "conflict": Conflict,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "gate-denied": GateDenied,
    "provider-error": ProviderError,
}
_BY_STATUS: dict[int, type[PlinthError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


def _issue(raw: Any) -> Issue:
    item = raw if isinstance(raw, Mapping) else {"message": str(raw)}
    document = item.get("document")
    return Issue(
        message=str(item.get("message", "")),
        path=str(item.get("path") or "$"),
        document=int(document) if isinstance(document, int) else None,
        file=str(item["file"]) if item.get("file") else None,
    )


def problem_to_error(status: int, body: Any) -> PlinthError:
    """Return the ``plinth.core.errors`` exception for an HTTP error answer."""
    problem = body if isinstance(body, dict) else {}
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    extra = {k: v for k, v in problem.items() if k not in {"type", "title", "status", "detail"}}
    if slug == "invalid-spec" and isinstance(problem.get("issues"), list) and problem["issues"]:
        return SpecError([_issue(raw) for raw in problem["issues"]])
    cls = _PROBLEMS.get(slug) or _BY_STATUS.get(status)
    if cls is None:
        cls = ProviderError if status >= 500 else PlinthError
    return cls(detail, extra=extra)


def exit_code_for(error: BaseException) -> int:
    """Return the CLI exit code for an error: 2 invalid/not found, 3 denied, else 1."""
    if isinstance(error, InvalidInput | NotFound):
        return 2
    if isinstance(error, Forbidden | GateDenied):
        return 3
    return 1


class PlinthClient:
    """A thin, typed wrapper over ``httpx.Client`` for the Plinth REST API v1."""

    def __init__(self, config: CliConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": "application/json", "User-Agent": "plinth-cli"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.config = config
        self._http = httpx.Client(
            base_url=config.url, headers=headers, transport=transport, timeout=30.0
        )

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        """Send one API request and return the decoded JSON; raise a PlinthError on failure."""
        url = path if path.startswith("/healthz") else API_PREFIX + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, url, params=query, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(
                f"cannot reach Plinth at {self.config.url}: is `make up` running? ({exc})"
            ) from exc
        except httpx.HTTPError as exc:
            raise PlinthError(f"request to {self.config.url} failed: {exc}") from exc
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = {"detail": response.text.strip()[:500]}
        if response.is_error:
            raise problem_to_error(response.status_code, data)
        return data

    def get(self, path: str, **params: Any) -> Any:
        """GET ``/api/v1{path}`` with query parameters (``None`` values are left out)."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        """POST a JSON body to ``/api/v1{path}``."""
        return self.request("POST", path, body=body if body is not None else {})

    def pages(self, path: str, *, limit: int | None, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield every page of a list, following ``next_page_token`` to the end."""
        token: str | None = None
        while True:
            page = self.get(path, limit=limit, page_token=token, **params)
            yield page
            token = page.get("next_page_token") if isinstance(page, dict) else None
            if not token:
                return


def make_client(config: CliConfig, *, transport: httpx.BaseTransport | None = None) -> PlinthClient:
    """Return a client for ``config``; ``transport`` lets tests speak to an in-process fake."""
    return PlinthClient(config, transport=transport)
