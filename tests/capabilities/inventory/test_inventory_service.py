"""Inventory: documents with history, desired resources with generations, no lost updates."""

from __future__ import annotations

from typing import Any

import pytest

from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import DocumentRecord, ResourceRecord
from plinth.core.clock import FrozenClock
from plinth.core.errors import Conflict, NotFound
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

BODY = {"apiVersion": "score.dev/v1b1", "metadata": {"name": "web"}, "containers": {}}


def put(database: Database, clock: FrozenClock, ids: SequentialIds, body: dict[str, Any]) -> str:
    """Put workload web in dev/checkout; return its id."""
    with database.transaction() as session:
        return inventory.put_document(
            session,
            kind="Workload",
            name="web",
            body=body,
            actor="ada",
            plan_digest="p1",
            ids=ids,
            clock=clock,
            environment="dev",
            project="checkout",
        ).id


def desire(
    database: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    spec: dict[str, Any],
    *,
    name: str = "db",
    refs: list[str] | None = None,
) -> str:
    """Record the desired spec of a resource; return its id."""
    with database.transaction() as session:
        return inventory.put_desired(
            session,
            environment="dev",
            project="checkout",
            name=name,
            type="postgres",
            provider="fake",
            workload="",
            spec=spec,
            depends_on=[],
            refs=refs if refs is not None else ["web"],
            ids=ids,
            clock=clock,
        ).id


KEY = "Workload/dev/checkout/web"


def test_documents_keep_their_history(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    doc_id = put(database, clock, ids, BODY)
    assert put(database, clock, ids, BODY) == doc_id  # same body: no new revision
    clock.advance(60)
    changed = {**BODY, "containers": {"main": {"image": "x"}}}
    put(database, clock, ids, changed)
    with database.transaction() as session:
        record = inventory.require_document(
            session, kind="Workload", name="web", environment="dev", project="checkout"
        )
        assert (record.revision, record.body) == (2, changed)
        assert record.updated_at > record.created_at
        history = inventory.history(session, KEY)
        assert [(h.revision, h.action) for h in history] == [(2, "update"), (1, "create")]
        inventory.delete_document(
            session, record, actor="pat", plan_digest="p2", ids=ids, clock=clock
        )
    with database.transaction() as session:
        assert (
            inventory.get_document(
                session, kind="Workload", name="web", environment="dev", project="checkout"
            )
            is None
        )
        history = inventory.history(session, KEY)
        newest = history[0]
        assert (newest.revision, newest.action, newest.actor) == (3, "delete", "pat")
        with pytest.raises(NotFound, match="no Workload named 'web' in dev/checkout"):
            inventory.require_document(
                session, kind="Workload", name="web", environment="dev", project="checkout"
            )


def test_document_keys_and_labels() -> None:
    assert inventory.document_key("Workload", "dev", "checkout", "web") == KEY
    assert inventory.document_key("Template", "", "", "web-service", "1.0.0") == (
        "Template/web-service@1.0.0"
    )


def test_changed_spec_bumps_the_generation(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    res_id = desire(database, clock, ids, {"database": None})
    assert desire(database, clock, ids, {"database": None}, refs=["api"]) == res_id
    with database.transaction() as session:
        record = session.get(ResourceRecord, res_id)
        assert record is not None
        assert (record.generation, record.observed_generation, record.phase) == (1, 0, "pending")
        assert record.refs == ["api", "web"]
    desire(database, clock, ids, {"database": "orders"})
    with database.transaction() as session:
        record = session.get(ResourceRecord, res_id)
        assert record is not None and record.generation == 2


def test_release_deletes_only_when_nobody_claims(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    res_id = desire(database, clock, ids, {}, refs=["web", "api"])
    with database.transaction() as session:
        record = session.get(ResourceRecord, res_id)
        assert record is not None
        assert inventory.release(session, record, ref="web", clock=clock) is False
        assert inventory.release(session, record, ref="api", clock=clock) is True
        assert (record.deleting, record.generation, record.refs) == (True, 2, [])
    desire(database, clock, ids, {}, refs=["web"])  # claimed again before it was destroyed
    with database.transaction() as session:
        record = session.get(ResourceRecord, res_id)
        assert record is not None and (record.deleting, record.generation) == (False, 3)


def test_events_newest_first(database: Database, clock: FrozenClock, ids: SequentialIds) -> None:
    res_id = desire(database, clock, ids, {})
    with database.transaction() as session:
        record = session.get(ResourceRecord, res_id)
        assert record is not None
        for reason in ("Created", "Repaired", "Deleted"):
            clock.advance(1)
            inventory.add_event(session, record, reason=reason, message="", at=clock.now())
    with database.transaction() as session:
        found = inventory.events_for(
            session, environment="dev", project="checkout", resource_names=["db"], limit=2
        )
    assert [e.reason for e in found] == ["Deleted", "Repaired"]


def test_two_writers_of_one_resource_never_lose_an_update(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    """Both load version 1 and change it; the second to commit gets a Conflict."""
    res_id = desire(database, clock, ids, {})
    with database.transaction() as session:
        first = session.get(ResourceRecord, res_id)  # loaded, then the transaction ends
    assert first is not None
    with database.transaction() as session:
        second = session.get(ResourceRecord, res_id)
        assert second is not None
        second.message = "second writer"
    first.message = "first writer"
    with pytest.raises(Conflict, match="changed by someone else"), database.transaction() as s:
        s.add(first)
    with database.transaction() as session:
        stored = session.get(ResourceRecord, res_id)
        assert stored is not None and stored.message == "second writer"


def test_two_writers_of_one_document_never_lose_an_update(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    doc_id = put(database, clock, ids, BODY)
    with database.transaction() as session:
        first = session.get(DocumentRecord, doc_id)
    assert first is not None
    put(database, clock, ids, {**BODY, "containers": {"main": {"image": "b"}}})
    first.owner = "stale-writer"
    with pytest.raises(Conflict), database.transaction() as session:
        session.merge(first)
    with database.transaction() as session:
        stored = session.get(DocumentRecord, doc_id)
        assert stored is not None
        assert (stored.owner, stored.revision) == ("", 2)
