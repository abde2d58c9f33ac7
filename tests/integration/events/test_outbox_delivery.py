"""At least once: a dispatcher killed between the POST and the mark sends the event again."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
from tests.integration.events.webhook_receiver import receiver, verify_signature

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core.clock import FrozenClock
from plinth.core.ids import SequentialIds
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database
from plinth.orchestration.events import Dispatcher, Events, Subscription

KEY = b"s" * 32
PAT = Actor(
    id="u-pat",
    name="pat",
    kind="user",
    persona="platform-engineer",
    grants=(Grant("platform-engineer"),),
)
DISPATCH_ONCE = """
import sys, httpx
from plinth.core.clock import SystemClock
from plinth.core.secrets import SecretBox
from plinth.infrastructure.store.db import Database
from plinth.orchestration.events import Dispatcher
db = Database(sys.argv[1])
with httpx.Client(timeout=60) as client:
    Dispatcher(db, box=SecretBox(bytes.fromhex(sys.argv[2])), clock=SystemClock()).run_once(client)
"""


def test_a_killed_dispatcher_means_a_redelivery_with_the_same_id(
    database: Database, clock: FrozenClock, ids: SequentialIds, database_url: str
) -> None:
    box = SecretBox(KEY)
    with receiver(hold=True) as hook:
        added = Events(database, box=box, clock=clock, ids=ids).add(
            PAT, Subscription(url=hook.url, types=["dev.plinth.plan.*"])
        )
        with database.transaction() as session:
            audit.append(
                session, actor="ada", action="plan.created", subject="plan/p1", data={}, clock=clock
            )
        child = subprocess.Popen(
            [sys.executable, "-c", DISPATCH_ONCE, database_url, KEY.hex()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            hook.wait_for(1)  # the POST arrived; the receiver holds its answer
            child.kill()  # ...and the dispatcher dies before it can mark the delivery
        finally:
            child.kill()
            child.wait(timeout=30)
            if child.stderr is not None:
                child.stderr.close()
        hook.hold = False
        hook.release.set()
        later = FrozenClock(datetime.now(UTC) + timedelta(minutes=5))  # past the claim's lease
        with httpx.Client(timeout=10) as client:
            assert Dispatcher(database, box=box, clock=later).run_once(client) == 1
        first, second = hook.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"]
    assert verify_signature(added["secret"], second.headers, second.body)
    listed = Events(database, box=box, clock=later, ids=ids).deliveries(
        PAT, target=added["id"], status="delivered", limit=10, page_token=None
    )
    assert [d["attempts"] for d in listed["items"]] == [2]
