"""The events outbox on the one path: same-transaction events, webhooks, retries, the broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from plinth.capabilities.audit import service as audit
from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core import tracing
from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.errors import Forbidden, InvalidInput
from plinth.core.ids import SequentialIds
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database
from plinth.integration.events.models import OutboxEvent
from plinth.orchestration.events import Dispatcher, Events, Subscription
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from tests.fakes.provider import registry_with_fake
from tests.integration.events.webhook_receiver import receiver, verify_signature
from tests.orchestration.specs import converge, workload

PAT = Actor(
    id="u-pat",
    name="pat",
    kind="user",
    persona="platform-engineer",
    grants=(Grant("platform-engineer"),),
)
ADA = Actor(
    id="u-ada",
    name="ada",
    kind="user",
    persona="app-developer",
    grants=(Grant("developer", "payments"),),
)
BOX = SecretBox(b"k" * 32)


@pytest.fixture
def events(database: Database, clock: FrozenClock, ids: SequentialIds) -> Events:
    """The webhook service on a migrated store."""
    return Events(database, box=BOX, clock=clock, ids=ids)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The dispatcher's HTTP client."""
    with httpx.Client(timeout=10.0) as client:
        yield client


def record(database: Database, clock: FrozenClock, action: str, subject: str) -> None:
    """Append one audit record in its own transaction."""
    with database.transaction() as session:
        audit.append(
            session, actor="ada", action=action, subject=subject, data={"n": 1}, clock=clock
        )


def outbox(database: Database) -> list[dict[str, Any]]:
    """Every outbox event as a mapping of its columns, oldest first."""
    with database.read() as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))
        return [{c.key: getattr(r, c.key) for c in OutboxEvent.__table__.columns} for r in rows]


def test_an_audit_record_and_its_event_commit_or_roll_back_together(
    database: Database, clock: FrozenClock
) -> None:
    record(database, clock, "plan.created", "plan/abc")
    with pytest.raises(RuntimeError), database.transaction() as session:
        audit.append(
            session, actor="ada", action="plan.decision", subject="plan/x", data={}, clock=clock
        )
        raise RuntimeError("the change fails after its record")
    events = outbox(database)
    assert [(e["type"], e["subject"]) for e in events] == [("dev.plinth.plan.created", "plan/abc")]
    assert events[0]["data"]["audit_seq"] == 1 and events[0]["data"]["actor"] == "ada"
    assert events[0]["source"].startswith("/plinth/") and events[0]["dispatched_at"] is None
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 1


def test_batched_records_announce_changes_but_not_usage(
    database: Database, clock: FrozenClock
) -> None:
    entries = [
        audit.Entry(at=clock.now(), actor="bot", action=a, subject="s", data={})
        for a in (
            "gateway.tool_call",  # the MCP gateway's usage records
            "gateway.rejected",
            "plan.decision",
            "llm.inference",  # the LLM gateway's (llm_gateway.writer)
            "llm.over_budget",
        )
    ]
    with database.transaction() as session:
        audit.append_many(session, entries)
    assert [e["type"] for e in outbox(database)] == ["dev.plinth.decision.recorded"]


def test_webhook_gets_signed_cloudevents_and_retries_until_delivered(
    database: Database, events: Events, clock: FrozenClock, http: httpx.Client
) -> None:
    with receiver(fail_first=2) as hook:
        added = events.add(PAT, Subscription(url=hook.url, types=["dev.plinth.plan.*"]))
        record(database, clock, "plan.created", "plan/abc")
        dispatcher = Dispatcher(database, box=BOX, clock=clock)
        assert dispatcher.run_once(http) == 1  # the first attempt fails (503)
        assert dispatcher.run_once(http) == 0  # not due yet: backing off
        clock.advance(3600)
        dispatcher.run_once(http)
        clock.advance(3600)
        dispatcher.run_once(http)
        got = hook.wait_for(3)
    assert [r.answered for r in got] == [503, 503, 204]
    ids = {r.headers["webhook-id"] for r in got}
    assert len(ids) == 1  # the same id on every attempt: receivers deduplicate on it
    for request in got:
        assert verify_signature(added["secret"], request.headers, request.body)
        assert request.headers["content-type"].startswith("application/cloudevents+json")
    event = json.loads(got[0].body)
    assert event["specversion"] == "1.0" and event["id"] in ids
    assert event["type"] == "dev.plinth.plan.created" and event["subject"] == "plan/abc"
    assert event["data"]["action"] == "plan.created"
    listed = events.deliveries(PAT, target=added["id"], status=None, limit=10, page_token=None)
    (delivery,) = listed["items"]  # webhook.added matched no filter: only the plan event
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    clock.advance(8 * 86400)  # past the retention: delivered events are pruned
    dispatcher.run_once(http)
    assert outbox(database) == []
    assert (
        events.deliveries(PAT, target=None, status=None, limit=10, page_token=None)["items"] == []
    )


def test_a_dead_letter_is_listed_and_redelivered(
    database: Database, events: Events, clock: FrozenClock, http: httpx.Client
) -> None:
    with receiver(fail_first=2) as hook:
        added = events.add(PAT, Subscription(url=hook.url, types=["*"], max_attempts=2))
        dispatcher = Dispatcher(database, box=BOX, clock=clock)
        dispatcher.run_once(http)
        clock.advance(3600)
        dispatcher.run_once(http)
        dead = events.deliveries(PAT, target=None, status="failed", limit=10, page_token=None)
        (letter,) = dead["items"]
        assert letter["event_type"] == "dev.plinth.webhook.added"
        assert letter["last_status"] == 503 and "503" in letter["last_error"]
        again = events.redeliver(PAT, letter["id"])
        assert again["status"] == "pending" and again["attempts"] == 0
        dispatcher.run_once(http)
        got = hook.wait_for(3)
    assert got[-1].answered == 204
    assert verify_signature(added["secret"], got[-1].headers, got[-1].body)
    done = events.deliveries(PAT, target=None, status="delivered", limit=10, page_token=None)
    assert [d["id"] for d in done["items"]] == [letter["id"]]


def test_dead_letters_are_pruned_after_their_retention(
    database: Database, events: Events, clock: FrozenClock, http: httpx.Client
) -> None:
    with receiver(fail_first=10) as hook:
        events.add(PAT, Subscription(url=hook.url, types=["*"], max_attempts=1))
        dispatcher = Dispatcher(database, box=BOX, clock=clock)
        dispatcher.run_once(http)
        hook.wait_for(1)
    dead = events.deliveries(PAT, target=None, status="failed", limit=10, page_token=None)
    assert len(dead["items"]) == 1
    clock.advance(8 * 86400)  # past the delivered retention: a dead letter is still kept
    dispatcher.run_once(http)
    dead = events.deliveries(PAT, target=None, status="failed", limit=10, page_token=None)
    assert len(dead["items"]) == 1 and len(outbox(database)) == 1
    clock.advance(23 * 86400)  # 31 days after the last attempt: gone, with its event
    dispatcher.run_once(http)
    assert (
        events.deliveries(PAT, target=None, status=None, limit=10, page_token=None)["items"] == []
    )
    assert outbox(database) == []


def test_the_broker_gets_binary_mode_cloudevents(
    database: Database, clock: FrozenClock, http: httpx.Client
) -> None:
    with receiver() as broker:
        record(database, clock, "resource.repaired", "resource/web")
        Dispatcher(database, box=BOX, clock=clock, broker_url=broker.url).run_once(http)
        (got,) = broker.wait_for(1)
    assert got.headers["ce-type"] == "dev.plinth.resource.repaired"
    assert got.headers["ce-specversion"] == "1.0" and got.headers["ce-subject"] == "resource/web"
    assert got.headers["content-type"] == "application/json"
    assert json.loads(got.body)["action"] == "resource.repaired"
    assert "webhook-signature" not in got.headers


def test_only_platform_engineers_manage_webhooks(events: Events) -> None:
    with pytest.raises(Forbidden, match="platform-engineer"):
        events.add(ADA, Subscription(url="https://example.test/hook", types=["*"]))
    with pytest.raises(Forbidden):
        events.subscriptions(ADA, limit=10, page_token=None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.test/hook", "scheme must be http or https, got 'ftp'"),
        ("example.test/hook", "scheme must be http or https"),
        ("https:///hook", "names no host"),
        ("https://user:pw@example.test/", "credentials in the URL are refused"),
        ("https://example.test:99999/", "not a valid URL"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_error(events: Events, url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        events.add(PAT, Subscription(url=url, types=["*"]))


def test_bad_type_filters_are_refused(events: Events) -> None:
    with pytest.raises(InvalidInput, match=r"types\[1\]"):
        events.add(PAT, Subscription(url="http://127.0.0.1:9/", types=["dev.plinth.*", "a b"]))


@pytest.fixture
def traced(settings: Settings, clock: FrozenClock, ids: SequentialIds) -> Iterator[Platform]:
    """A seeded platform (fake provider) whose spans go to the in-memory exporter."""
    registry, _ = registry_with_fake()
    platform = Platform(
        settings.model_copy(update={"tracing_exporter": "memory"}),
        clock=clock,
        ids=ids,
        registry=registry,
    )
    platform.prepare()
    try:
        yield platform
    finally:
        platform.stop()
        tracing.configure("none")


def test_plan_and_apply_make_one_connected_trace(traced: Platform) -> None:
    exporter = tracing.memory_exporter()
    assert exporter is not None
    with traced.db.read() as session:
        ada = identity.actor_by_name(session, "ada")
    with tracing.span("client") as root:
        assert root is not None
        plan = traced.plan(ada, PlanRequest(environment="dev", documents=workload("web")))
        traced.apply(ada, plan["digest"])
    converge(traced)  # later, on another thread in production: the trace continues
    spans = exporter.get_finished_spans()
    trace_id = root.get_span_context().trace_id
    names = [s.name for s in spans if s.context is not None and s.context.trace_id == trace_id]
    gates = len(traced.pipeline.gates)
    assert names.count("plinth.plan") == 1 and names.count("plinth.apply") == 1
    assert names.count("plinth.gate") >= gates  # at plan time, and again at apply
    assert {"plinth.record", "plinth.reconcile", "plinth.provider"} <= set(names)
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    reconcile = next(s for s in spans if s.name == "plinth.reconcile")
    assert reconcile.parent is not None
    assert by_id[reconcile.parent.span_id].name == "plinth.apply"
    verdicts = {
        s.attributes["plinth.gate"] for s in spans if s.name == "plinth.gate" and s.attributes
    }
    assert verdicts == {g.name for g in traced.pipeline.gates}
    created = next(e for e in outbox(traced.db) if e["type"] == "dev.plinth.plan.created")
    assert created["traceparent"].split("-")[1] == f"{trace_id:032x}"
