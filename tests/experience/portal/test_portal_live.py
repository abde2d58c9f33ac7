"""Live updates: the event stream names what changed, and approvers act from the portal."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from tests.experience.portal.conftest import csrf_of, login

from plinth.capabilities.identity import service as identity
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

DOCUMENT = (
    "apiVersion: plinth.dev/v1\nkind: Application\nmetadata: {name: bot-shop}\n"
    "spec: {template: web-service}\n"
)


def _agent_request(platform: Platform) -> str:
    """Have deploy-bot plan in production: a request that waits for a human."""
    with platform.db.read() as session:
        pat = identity.actor_by_name(session, "pat")
    issued = platform.agents.issue(pat, "deploy-bot", audience="plinth-api", ttl_seconds=600)
    bot = platform.authenticate(issued["token"])
    plan = platform.plan(
        bot, PlanRequest(environment="prod", project="checkout", documents=DOCUMENT)
    )
    assert plan["status"] == "needs_approval", plan["verdicts"]
    return str(plan["digest"])


def test_the_event_stream_names_the_topics_that_changed(
    client: TestClient, platform: Platform
) -> None:
    login(client, "pat")
    portal = client.app.state.portal  # type: ignore[attr-defined]
    portal.events_interval_s, portal.events_max_s = 0.2, 3.0
    later = threading.Timer(0.8, _agent_request, args=(platform,))
    later.start()
    try:
        response = client.get("/portal/events?topics=approvals,queue,nonsense")
    finally:
        later.join()
    assert response.headers["content-type"].startswith("text/event-stream")
    body = response.text
    assert body.startswith("retry: 2000")
    assert 'event: change\ndata: {"topics": ["approvals"]}' in body
    assert "nonsense" not in body


def test_a_platform_engineer_approves_from_the_portal(
    client: TestClient, platform: Platform
) -> None:
    digest = _agent_request(platform)
    login(client, "pat")
    home = client.get("/portal/platform")
    assert f'data-digest="{digest}"' in home.text
    assert 'data-events="/portal/events?topics=approvals,status"' in home.text
    decided = client.post(
        f"/portal/approvals/{digest}/review",
        data={"csrf": csrf_of(home.text), "decision": "approve", "reason": "<b>ok</b>"},
    )
    assert decided.status_code == 200
    assert platform.approval(digest)["status"] in ("approved", "applied")
    security = client.get("/portal/security").text
    assert digest[:12] in security  # the agent's request, on the security view


def test_the_platform_home_shows_the_replica_and_the_event_backlog(
    client: TestClient, platform: Platform
) -> None:
    login(client, "pat")
    home = client.get("/portal/platform").text
    replica = platform.leadership.state()
    assert "Control plane" in home and replica.replica_id in home
    expected = "runs here (leader since" if replica.is_leader else "runs on another replica"
    assert expected in home  # this test's platform is not started: it does not lead
    waiting, failed = platform.events.backlog()
    assert f"<dt>Events waiting</dt><dd>{waiting}</dd>" in home
    assert f"<dt>Failed deliveries</dt><dd>{failed}" in home
    platform.leadership.start()  # on SQLite the one replica leads at once
    try:
        assert "runs here (leader since" in client.get("/portal/platform").text
    finally:
        platform.leadership.stop()


def test_a_viewer_may_not_approve(client: TestClient, platform: Platform) -> None:
    digest = _agent_request(platform)
    login(client, "lee")
    page = client.get("/portal/leader")
    response = client.post(
        f"/portal/approvals/{digest}/review",
        data={"csrf": csrf_of(page.text), "decision": "approve"},
    )
    assert response.status_code == 403
    assert platform.approval(digest)["status"] == "pending"


def test_a_reconnecting_browser_hears_what_it_missed(
    client: TestClient, platform: Platform
) -> None:
    login(client, "pat")
    portal = client.app.state.portal  # type: ignore[attr-defined]
    portal.events_interval_s, portal.events_max_s = 0.1, 0.3
    first = client.get("/portal/events?topics=approvals,status").text
    seen_id = next(line for line in first.splitlines() if line.startswith("id: "))[4:]
    _agent_request(platform)  # while the browser was away
    again = client.get(
        "/portal/events?topics=approvals,status", headers={"Last-Event-ID": seen_id}
    ).text
    assert 'event: change\ndata: {"topics": ["approvals"]}' in again
    forged = client.get(
        "/portal/events?topics=approvals", headers={"Last-Event-ID": "<script>:1"}
    ).text
    assert "event: change" not in forged
