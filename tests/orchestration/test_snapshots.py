"""Snapshots through the platform: real local volumes and databases, Cedar, the audit chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from plinth.infrastructure.providers.local.postgres_cluster import find_bin_dir
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from tests.orchestration.specs import PROD_READY, audit_actions, converge, resource

needs_binaries = pytest.mark.skipif(
    find_bin_dir(None) is None, reason="PostgreSQL server binaries are not installed"
)


def actor(platform: Platform, name: str) -> Actor:
    """Return a seeded user."""
    with platform.db.read() as session:
        return identity.actor_by_name(session, name)


def stateful(name: str, *, db: bool, image: str = "py:plinth_demo.webapp") -> str:
    """Return a workload with a volume and, when ``db``, a PostgreSQL database."""
    resources: dict[str, Any] = {"files": {"type": "volume", "params": {"size": "1Gi"}}}
    if db:
        resources["db"] = {"type": "postgres", "params": {"database": "orders"}}
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name},
        "service": {"ports": {"web": {"port": 8080}}},
        "containers": {"main": {"image": image, "resources": {"limits": PROD_READY["limits"]}}},
        "resources": resources,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def deploy(platform: Platform, who: str, env: str, text: str) -> None:
    """Plan and apply as ``who``, then reconcile until nothing changes."""
    plan = platform.plan(actor(platform, who), PlanRequest(environment=env, documents=text))
    platform.apply(actor(platform, who), plan["digest"])
    converge(platform)


def uri_of(platform: Platform, name: str) -> str:
    """Return a database resource's connection URI (a sealed output)."""
    sealed = json.loads(platform.box.open(resource(platform, name).sealed_outputs))
    return str(sealed["uri"])


@needs_binaries
def test_volume_and_database_restore_through_the_platform(local: Platform) -> None:
    p, ada = local, actor(local, "ada")
    deploy(p, "ada", "dev", stateful("shop", db=True))
    folder = Path(resource(p, "shop-files").outputs["path"])
    (folder / "orders.csv").write_text("1,apple\n")
    uri = uri_of(p, "shop-db")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        conn.execute("INSERT INTO orders VALUES (1, 'apple'), (2, 'pear')")

    vol = p.snapshots.create(ada, resource="shop-files", environment="dev", note="before")
    backup = p.snapshots.create(ada, resource="shop-db", environment="dev", project="checkout")
    assert vol["status"] == backup["status"] == "ready"
    assert vol["kind"] == "volume" and backup["kind"] == "postgres-backup"
    assert vol["note"] == "before" and backup["size_bytes"] > 0
    assert "consistent" in backup["consistency"]

    (folder / "orders.csv").write_text("corrupted\n")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("DELETE FROM orders")
    assert p.snapshots.restore(ada, vol["id"])["status"] == "ready"
    p.snapshots.restore(ada, backup["id"])
    assert (folder / "orders.csv").read_text() == "1,apple\n"
    with psycopg.connect(uri) as conn:
        rows = conn.execute("SELECT id, item FROM orders ORDER BY id").fetchall()
    assert rows == [(1, "apple"), (2, "pear")]

    actions = audit_actions(p)
    assert actions.count("snapshot.created") == 2 and actions.count("snapshot.restored") == 2
    first = p.snapshots.list(environment="dev", limit=1)
    assert [s["id"] for s in first.items] == [vol["id"]] and first.next_page_token
    rest = p.snapshots.list(environment="dev", limit=1, page_token=first.next_page_token)
    assert [s["id"] for s in rest.items] == [backup["id"]]
    assert p.snapshots.list(resource="shop-db").items[0]["resource"]["type"] == "postgres"


def test_who_may_snapshot_and_restore(local: Platform) -> None:
    p = local
    deploy(p, "ada", "dev", stateful("files", db=False))
    image = PROD_READY["image"]
    deploy(p, "rita", "prod", stateful("vault", db=False, image=image))
    lee, dana, ada, rita = (actor(p, n) for n in ("lee", "dana", "ada", "rita"))
    for outsider in (lee, dana):
        with pytest.raises(Forbidden, match="is not allowed"):
            p.snapshots.create(
                outsider, resource="files-files", environment="dev", project="checkout"
            )
    with pytest.raises(Forbidden, match="prod"):
        p.snapshots.create(ada, resource="vault-files", environment="prod", project="checkout")
    taken = p.snapshots.create(rita, resource="vault-files", environment="prod", project="checkout")
    with pytest.raises(Forbidden):
        p.snapshots.restore(ada, taken["id"])
    assert p.snapshots.restore(rita, taken["id"])["status"] == "ready"
    assert "snapshot.restored" in audit_actions(p)


def test_bad_requests_are_typed_errors(local: Platform) -> None:
    p, ada = local, actor(local, "ada")
    deploy(p, "ada", "dev", stateful("web", db=False))
    with pytest.raises(NotFound, match="web-files"):
        p.snapshots.create(ada, resource="nothing", environment="dev")
    with pytest.raises(InvalidInput, match="holds no data"):
        p.snapshots.create(ada, resource="web", environment="dev")
    with pytest.raises(NotFound, match="environment"):
        p.snapshots.create(ada, resource="web-files", environment="moon")
    with pytest.raises(NotFound, match="no snapshot"):
        p.snapshots.restore(ada, "snap_missing")
    with pytest.raises(InvalidInput, match="2000"):
        p.snapshots.create(ada, resource="web-files", environment="dev", note="x" * 2001)
    taken = p.snapshots.create(ada, resource="web-files", environment="dev")
    Path(taken["location"], "volume.tar.gz").unlink()
    with pytest.raises(Exception, match="no volume archive"):
        p.snapshots.restore(ada, taken["id"])
    assert "snapshot.restore-failed" in audit_actions(p)
    assert p.snapshots.get(taken["id"])["status"] == "ready"
    gone = PlanRequest(environment="dev", delete_kind="Workload", delete_name="web")
    p.apply(ada, p.plan(ada, gone)["digest"])
    converge(p)
    with pytest.raises(Conflict, match="no longer exists"):
        p.snapshots.restore(ada, taken["id"])
