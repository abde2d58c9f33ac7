"""The local provider's volumes and routes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plinth.infrastructure.providers.base import ChangeAction
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import make_resource


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/shop" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def backend() -> Iterator[str]:
    """A tiny HTTP server on loopback, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_volume_lifecycle(provider: LocalProvider) -> None:
    res = make_resource("res_vol", "volume", {"size": "1Gi"})
    obs = provider.apply(res, {})
    path = Path(obs.outputs["path"])
    assert obs.exists and path.is_dir() and obs.outputs["source"] == str(path)
    (path / "data.bin").write_bytes(b"x" * 4096)
    assert provider.usage(res, obs.state).disk_bytes == 4096
    assert provider.plan(res, provider.apply(res, obs.state)).action is ChangeAction.NOOP
    assert (path / "data.bin").exists()
    bigger = make_resource("res_vol", "volume", {"size": "2Gi"})
    assert provider.plan(bigger, obs).action is ChangeAction.UPDATE
    provider.destroy(res, obs.state)
    assert not path.exists()
    gone = provider.observe(res, obs.state)
    assert not gone.exists
    assert provider.plan(res, gone).action is ChangeAction.CREATE


def test_route_lifecycle(provider: LocalProvider, backend: str) -> None:
    spec = {"host": "shop.localhost", "path": "/shop", "port": 80, "backend_url": backend}
    res = make_resource("res_route", "route", spec)
    assert not provider.observe(res, {}).exists
    obs = provider.apply(res, {})
    assert obs.exists and obs.healthy
    assert obs.outputs == {"host": "shop.localhost", "path": "/shop", "url": backend + "shop"}
    assert provider.plan(res, obs).action is ChangeAction.NOOP
    provider.destroy(res, obs.state)
    gone = provider.observe(res, obs.state)
    assert not gone.exists
    assert provider.plan(None, gone).action is ChangeAction.NOOP


def test_route_to_nothing_is_unhealthy(provider: LocalProvider) -> None:
    spec = {"host": "x", "path": "/", "port": 80, "backend_url": "http://127.0.0.1:9"}
    res = make_resource("res_route_dead", "route", spec)
    try:
        obs = provider.apply(res, {})
        assert obs.exists and obs.healthy is False
    finally:
        provider.destroy(res, {})
