"""The local provider's databases, on a real PostgreSQL cluster of its own."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import psycopg
import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import ChangeAction, ProviderContext
from plinth.infrastructure.providers.local.postgres_cluster import Cluster, find_bin_dir
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import SECRET, make_resource

needs_binaries = pytest.mark.skipif(
    find_bin_dir(None) is None, reason="PostgreSQL server binaries are not installed"
)


@needs_binaries
def test_database_lifecycle(provider: LocalProvider) -> None:
    res = make_resource("res_db", "postgres", {"database": "orders"}, name="db")
    assert provider.plan(res, provider.observe(res, {})).action is ChangeAction.CREATE
    obs = provider.apply(res, {})
    assert obs.exists and obs.healthy and obs.phase == "ready"
    assert obs.secret_outputs == {"password", "uri"}
    password = obs.outputs["password"]
    assert password not in repr(obs.state) and password not in obs.message
    assert obs.outputs["name"] == obs.outputs["database"] == obs.outputs["username"]
    assert obs.outputs["name"].endswith("_orders")
    with psycopg.connect(obs.outputs["uri"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    again = provider.apply(res, {})
    assert again.outputs == obs.outputs
    assert provider.plan(res, again).action is ChangeAction.NOOP
    assert provider.usage(res, again.state).disk_bytes > 0
    renamed = make_resource("res_db", "postgres", {"database": "billing"}, name="db")
    assert provider.plan(renamed, again).action is ChangeAction.REPLACE

    held = psycopg.connect(obs.outputs["uri"], autocommit=True)
    try:
        provider.destroy(res, again.state)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    finally:
        held.close()
    gone = provider.observe(res, {})
    assert not gone.exists
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(obs.outputs["uri"], connect_timeout=5).close()
    provider.destroy(res, {})


@needs_binaries
def test_demo_web_app_uses_the_database(provider: LocalProvider) -> None:
    db = make_resource("res_demo_db", "postgres", {"database": None}, name="demo-db")
    uri = provider.apply(db, {}).outputs["uri"]
    web = make_resource(
        "res_demo_web",
        "service",
        {
            "containers": {"web": {"image": "py:plinth_demo.webapp", "env": {"DATABASE_URL": uri}}},
            "ports": [{"name": "http", "port": 8080}],
            "healthcheck": {"http": {"path": "/healthz", "port": "http"}},
        },
    )
    try:
        url = provider.apply(web, {}).outputs["url"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for visit in (1, 2):
            with opener.open(url, timeout=10) as response:
                body = json.loads(response.read())
            assert body == {"service": "demo", "database": "connected", "visits": visit}
    finally:
        provider.destroy(web, {})
        provider.destroy(db, {})


@needs_binaries
def test_existing_server_through_an_admin_url(provider: LocalProvider, tmp_path: Path) -> None:
    own = make_resource("res_db_own", "postgres", {"database": None})
    provider.apply(own, {})
    cluster = Cluster(provider.layout, None)
    admin = (
        f"postgresql://postgres@/postgres?host={cluster.socket_dir()}&port={cluster.running_port()}"
    )
    external = LocalProvider(
        ProviderContext(data_dir=tmp_path, secret_key=SECRET, settings={"postgres_url": admin})
    )
    res = make_resource("res_db_ext", "postgres", {"database": "reports"})
    try:
        obs = external.apply(res, {})
        assert obs.healthy and obs.outputs["host"] == cluster.socket_dir()
        assert external.apply(res, obs.state).applied_digest == obs.applied_digest
        assert external.usage(res, {}).disk_bytes > 0
    finally:
        external.destroy(res, {})
        provider.destroy(own, {})
    assert not external.observe(res, {}).exists
    assert not (tmp_path / "postgres").exists()


def test_missing_binaries_is_a_permanent_error(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    context = ProviderContext(
        data_dir=tmp_path / "data", secret_key=SECRET, settings={"postgres_bin_dir": str(empty)}
    )
    provider = LocalProvider(context)
    res = make_resource("res_db_nobin", "postgres", {"database": None})
    with pytest.raises(PermanentError, match="apt-get install postgresql"):
        provider.apply(res, {})
    assert not provider.observe(res, {}).exists
    provider.destroy(res, {})
