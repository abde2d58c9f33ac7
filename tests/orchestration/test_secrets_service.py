"""Platform-generated secrets end to end on the real local provider.

The value is injected into the workload at run time, never appears in the plan,
the logs (redacted) or the audit log, and rotating it (on schedule, with the frozen
clock, or on request) restarts the workload with the new value.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.identity import service as identity
from plinth.core.clock import FrozenClock
from plinth.core.errors import Forbidden, NotFound
from plinth.infrastructure.providers.local import processes
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from plinth.orchestration.secrets_service import REDACTED
from tests.infrastructure.providers.local.local_provider_helpers import wait_for
from tests.orchestration.specs import converge, resource

SCRIPT = 'echo "token=$API_TOKEN"; exec sleep 60'


def _workload() -> str:
    doc: dict[str, Any] = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": "web"},
        "containers": {
            "main": {
                "image": "exec:sh",
                "command": ["/bin/sh", "-c", SCRIPT],
                "variables": {"API_TOKEN": "${resources.token.value}"},
            }
        },
        "resources": {"token": {"type": "secret", "params": {"length": 32, "rotation": "1d"}}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _value(p: Platform) -> str:
    record = resource(p, "web-token")
    return str(json.loads(p.box.open(record.sealed_outputs))["value"])


def _pid(p: Platform) -> int:
    found = processes.leaders(
        processes.scan(str(p.settings.data_dir.resolve()), resource(p, "web").id)
    )
    return found["main"].process.pid


def _audit_text(p: Platform) -> str:
    with p.db.read() as session:
        rows = session.scalars(select(AuditRecord)).all()
        return json.dumps([[r.actor, r.action, r.subject, r.data] for r in rows], default=str)


def _logs(p: Platform) -> list[str]:
    return p.logs("web", environment="dev", project="checkout", tail=50)


def test_secret_injected_redacted_and_rotated(local: Platform, clock: FrozenClock) -> None:
    p = local
    with p.db.read() as session:
        ada = identity.actor_by_name(session, "ada")
        lee = identity.actor_by_name(session, "lee")
    plan = p.plan(ada, PlanRequest(environment="dev", documents=_workload()))
    p.apply(ada, plan["digest"])
    converge(p)
    assert resource(p, "web").phase == "running"
    first = _value(p)
    assert len(first) == 32
    assert first not in json.dumps(plan, default=str)
    assert first not in json.dumps(p.get_plan(plan["digest"]), default=str)
    wait_for(lambda: any("token=" in line for line in _logs(p)))
    assert f"[main] token={REDACTED}" in _logs(p)
    assert first not in "\n".join(_logs(p))

    listed = p.secrets.list(ada, environment="dev")
    assert [(s["name"], s["version"], s["rotation"]) for s in listed] == [("web-token", 1, "1d")]
    assert listed[0]["last_rotated_at"] is None
    assert "value" not in listed[0] and first not in json.dumps(listed)
    assert p.secrets.list(lee) == []  # a viewer outside the team sees no secrets
    assert p.secrets.rotate_due() == []  # not due yet

    pid = _pid(p)
    clock.advance(86400)
    rotated = p.secrets.rotate_due()
    assert [(s["name"], s["version"]) for s in rotated] == [("web-token", 2)]
    converge(p)
    second = _value(p)
    assert second != first
    assert _pid(p) != pid  # the workload restarted with the new value
    wait_for(lambda: sum("token=" in line for line in _logs(p)) >= 2)
    text = "\n".join(_logs(p))
    assert first not in text and second not in text

    with pytest.raises(Forbidden):
        p.secrets.rotate("dev", "checkout", "web-token", lee)
    with pytest.raises(NotFound):
        p.secrets.rotate("dev", "checkout", "web", ada)  # a service is not a secret
    third = p.secrets.rotate("dev", "checkout", "web-token", ada)
    assert third["version"] == 3 and third["last_rotated_at"] == clock.now().isoformat()
    converge(p)
    assert _value(p) not in (first, second)

    audit = _audit_text(p)
    assert audit.count('"secret.rotated"') == 2
    for value in (first, second, _value(p)):
        assert value not in audit
    assert p.audit_verify()["ok"] is True
