"""The local provider passes the provider contract kit: real processes, files and databases."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from plinth.infrastructure.providers.base import ProviderContext, Resource
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.postgres import database_name
from plinth.infrastructure.providers.local.postgres_cluster import Cluster, find_bin_dir
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.testing import (
    ProviderContract,
    RemoveHook,
    Sample,
    TemporaryFailureHook,
    WorldCheck,
)

from .local_provider_helpers import SECRET, make_resource
from .tcp_gate import TcpGate

TOKEN = "contract-token-9f3c1e7a55"  # a secret the service's spec carries


def _samples() -> list[Sample]:
    sleeper = {"image": "exec:sleep", "args": ["60"], "env": {"API_TOKEN": TOKEN}}
    samples = [
        Sample(
            make_resource("res_kit_svc", "service", {"containers": {"main": sleeper}}, "kit-svc"),
            invalid_spec={"containers": {}},
            secrets=(TOKEN,),
        ),
        Sample(
            make_resource(
                "res_kit_job",
                "job",
                {"containers": {"task": {"image": "exec:sleep", "args": ["60"]}}, "timeout_s": 120},
                "kit-job",
            ),
            invalid_spec={"containers": {"task": {"image": ""}}},
        ),
        Sample(
            make_resource("res_kit_vol", "volume", {"size": "1Gi"}, "kit-vol"),
            invalid_spec={"size": 5},
        ),
        Sample(
            make_resource("res_kit_secret", "secret", {"length": 24}, "kit-secret"),
            invalid_spec={"length": 3},
        ),
        Sample(
            make_resource(
                "res_kit_route",
                "route",
                {"host": "shop.test", "path": "/", "port": 80, "backend_url": "http://127.0.0.1:9"},
                "kit-route",
            ),
            invalid_spec={"host": "shop.test", "path": "/", "port": 80, "backend_url": "ftp://x"},
        ),
    ]
    if find_bin_dir(None) is not None:  # the provider's own cluster: a few seconds, once
        db = make_resource("res_kit_db", "postgres", {"database": "kit"}, "kit-db")
        samples.append(Sample(db, invalid_spec={"database": "x" * 41}))
    return samples


def _leaders(data_dir: Path, resource: Resource) -> list[processes.Found]:
    found = processes.scan(str(data_dir.resolve()), resource.id)
    return list(processes.leaders(found).values())


def _databases(layout: Layout, resource: Resource) -> int:
    """Count the resource's databases as the cluster's superuser sees them."""
    cluster = Cluster(layout, None)
    port = cluster.running_port()
    if port is None:
        return 0
    with psycopg.connect(
        host=cluster.socket_dir(), port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", [database_name(resource)]
        ).fetchone()
    return int(row[0]) if row else 0


class TestLocalProviderContract(ProviderContract):
    """Services and jobs (processes), volumes, secrets, routes and databases, for real."""

    samples = _samples()

    @pytest.fixture
    def world(self, data_dir: Path) -> WorldCheck:
        """Look at the process table, the files and the database server directly."""
        layout = Layout(data_dir.resolve())

        def count(resource: Resource) -> int | None:
            if resource.type in ("service", "job"):
                return len(_leaders(data_dir, resource))
            checks: dict[str, Any] = {
                "volume": lambda: layout.volume_dir(resource.id).is_dir(),
                "route": lambda: layout.route_file(resource.id).is_file(),
                "secret": lambda: (layout.run_dir(resource.id) / "secret.json").is_file(),
                "postgres": lambda: _databases(layout, resource),
            }
            check = checks.get(resource.type)
            return None if check is None else int(check())

        return count

    @pytest.fixture
    def remove_behind_back(self, data_dir: Path) -> RemoveHook:
        """Kill the processes, delete the directory or the registry file."""
        layout = Layout(data_dir.resolve())

        def remove(resource: Resource) -> bool:
            if resource.type in ("service", "job"):
                for found in _leaders(data_dir, resource):
                    procs = [found.process, *found.process.children(recursive=True)]
                    for proc in procs:
                        proc.kill()
                    psutil.wait_procs(procs, timeout=10)
                return True
            if resource.type == "volume":
                shutil.rmtree(layout.volume_dir(resource.id))
                return True
            if resource.type == "route":
                layout.route_file(resource.id).unlink()
                return True
            if resource.type == "secret":
                (layout.run_dir(resource.id) / "secret.json").unlink()
                return True
            return False

        return remove


def test_the_contract_covers_every_basic_type(provider: LocalProvider) -> None:
    covered = {s.resource.type for s in TestLocalProviderContract.samples}
    assert {"service", "job", "volume", "secret", "route"} <= covered
    assert covered <= set(provider.resource_types())


PG_URL = os.environ.get("PLINTH_TEST_PG_URL", "").replace("+psycopg", "")
SERVER_DB = make_resource("res_kit_server_db", "postgres", {"database": "kit"}, "kit-server-db")


@pytest.fixture
def gate() -> Iterator[TcpGate]:
    """A forwarder to the test PostgreSQL server that can be closed and opened again."""
    if not PG_URL:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    info = conninfo_to_dict(PG_URL)
    forwarder = TcpGate((str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)))
    yield forwarder
    forwarder.close()


def _server_databases(resource: Resource) -> int:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", [database_name(resource)]
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.postgres
class TestLocalProviderOnAPostgresServer(ProviderContract):
    """Databases on an existing server (setting ``postgres_url``), which can go away for a while."""

    samples = [Sample(SERVER_DB, invalid_spec={"database": "x" * 41})]

    @pytest.fixture
    def provider(self, gate: TcpGate, tmp_path: Path) -> LocalProvider:
        """The local provider, reaching the server through the gate."""
        admin = conninfo_to_dict(PG_URL) | {"host": "127.0.0.1", "port": str(gate.port)}
        url = make_conninfo(**{k: str(v) for k, v in admin.items()})
        context = ProviderContext(
            data_dir=tmp_path, secret_key=SECRET, settings={"postgres_url": url}
        )
        return LocalProvider(context)

    @pytest.fixture
    def world(self) -> WorldCheck:
        """Count the databases on the server directly (not through the gate)."""
        return _server_databases

    @pytest.fixture
    def remove_behind_back(self) -> RemoveHook:
        """Drop the database behind the provider's back."""

        def remove(resource: Resource) -> bool:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                name = sql.Identifier(database_name(resource))
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
            return True

        return remove

    @pytest.fixture
    def temporary_failure(self, gate: TcpGate) -> TemporaryFailureHook:
        """The server goes away while the gate is closed."""
        return lambda resource: gate.closed()
