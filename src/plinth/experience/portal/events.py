"""Live updates: server-sent events naming the topics whose data changed.

The server polls the platform every ``events_interval_s`` (approvals, workload and
resource status, the accelerator queue, cost) and sends ``change`` with the topics that
differ from the last poll; the page's script then refetches itself and swaps the parts
marked ``data-live``. A stream ends after ``events_max_s`` (the browser reconnects).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response
from starlette.responses import StreamingResponse

from plinth.capabilities.identity.schemas import Actor
from plinth.experience.portal.web import PortalRoute, portal_of, viewer
from plinth.orchestration.platform import Platform

__all__ = ["TOPICS", "event_id", "router", "seen", "snapshot"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def _approvals(platform: Platform, actor: Actor) -> Any:
    items = platform.approvals(status="pending", limit=200, page_token=None).items
    return sorted(a["digest"] for a in items)  # a decision takes a request off this list


def _status(platform: Platform, actor: Actor) -> Any:
    items = platform.list_resources(environment=None, project=None, limit=500, page_token=None)
    return sorted((r["id"], r["phase"], r["healthy"], r["generation"]) for r in items.items)


def _queue(platform: Platform, actor: Actor) -> Any:
    return [(q["resource_id"], q["state"], q.get("position")) for q in platform.gpus.queue()]


def _cost(platform: Platform, actor: Actor) -> Any:
    return platform.costing.report(actor, by="team", window="30d")["total"]


TOPICS: dict[str, Callable[[Platform, Actor], Any]] = {
    "approvals": _approvals,
    "status": _status,
    "queue": _queue,
    "cost": _cost,
}


def snapshot(platform: Platform, actor: Actor, topics: list[str]) -> dict[str, str]:
    """Return a fingerprint of each topic's current data."""
    return {
        t: hashlib.sha256(json.dumps(TOPICS[t](platform, actor), default=str).encode()).hexdigest()
        for t in topics
        if t in TOPICS
    }


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(t for t, v in after.items() if before.get(t) != v)


def event_id(fingerprints: dict[str, str]) -> str:
    """Return the SSE id naming what the browser has seen (sent back as Last-Event-ID)."""
    return ",".join(f"{t}:{v[:16]}" for t, v in sorted(fingerprints.items()))


def seen(last_event_id: str | None) -> dict[str, str] | None:
    """Return the fingerprints of a Last-Event-ID (None when absent or not ours)."""
    if not last_event_id:
        return None
    pairs = [p.partition(":") for p in last_event_id.split(",")]
    if not all(sep and t in TOPICS for t, sep, _ in pairs):
        return None
    return {t: v for t, _, v in pairs}


def _short(fingerprints: dict[str, str]) -> dict[str, str]:
    return {t: v[:16] for t, v in fingerprints.items()}


@router.get("/events")
async def events(request: Request) -> Response:
    """Stream ``change`` events for the topics asked (``?topics=approvals,status``)."""
    who = viewer(request)
    portal = portal_of(request)
    wanted = [t for t in request.query_params.get("topics", "").split(",") if t in TOPICS]

    before = seen(request.headers.get("last-event-id"))

    async def stream() -> AsyncIterator[str]:
        last = _short(await anyio.to_thread.run_sync(snapshot, portal.platform, who.actor, wanted))
        # A reconnecting browser says what it saw: what changed in between is sent at once.
        missed = _changed(before, last) if before is not None else []
        yield f"retry: 2000\nid: {event_id(last)}\n\n"
        if missed:
            yield f"event: change\ndata: {json.dumps({'topics': missed})}\n\n"
        deadline = time.monotonic() + portal.events_max_s
        while time.monotonic() < deadline:
            await anyio.sleep(portal.events_interval_s)
            if await request.is_disconnected():
                return
            now = _short(
                await anyio.to_thread.run_sync(snapshot, portal.platform, who.actor, wanted)
            )
            changed = _changed(last, now)
            last = now
            if changed:
                payload = json.dumps({"topics": changed})
                yield f"id: {event_id(now)}\nevent: change\ndata: {payload}\n\n"
            else:
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
