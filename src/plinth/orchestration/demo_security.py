"""The story's security part: a new policy pack flags what already runs, with one exception.

sam (security) publishes a ``reliability`` pack whose rule warns about services that run
a single replica in prod. The compliance scanner evaluates it on live state, so
services deployed weeks before the pack existed get findings owned by their teams;
one service is covered by an explicit, owned and expiring ``PolicyException``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml

from plinth.capabilities.compliance.findings import FindingFilter
from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["RELIABILITY_RULE", "security_documents", "security_story"]

RELIABILITY_RULE = """package reliability.replicas

import future.keywords.contains
import future.keywords.if
import future.keywords.in

warn contains v if {
  input.environment.tier == "prod"
  some r in input.resources
  r.type == "service"
  object.get(r.spec, "replicas", 1) < 2
  v := {
    "msg": concat("", ["service ", r.name, " runs a single replica in prod"]),
    "resource": r.name,
    "severity": "medium",
    "fix": "set replicas to 2 or more so that one failure does not stop the service",
  }
}
"""


def security_documents(*, exempt: str, expires: str) -> str:
    """Return the ``reliability`` Policy and an exception for the service ``exempt``."""
    policy = {
        "apiVersion": "plinth.dev/v1",
        "kind": "Policy",
        "metadata": {"name": "reliability"},
        "spec": {
            "version": "1.0.0",
            "description": "Services in prod keep running when one replica fails.",
            "enforcement": "warn",
            "modules": {"replicas": RELIABILITY_RULE},
        },
    }
    exception = {
        "apiVersion": "plinth.dev/v1",
        "kind": "PolicyException",
        "metadata": {"name": f"{exempt}-single-replica"},
        "spec": {
            "rule": "reliability/replicas",
            "resources": [exempt],
            "environments": ["prod"],
            "owner": "sam",
            "justification": "a stateless bot endpoint; a restart within seconds is acceptable",
            "expires": expires,
        },
    }
    return yaml.safe_dump_all([policy, exception], sort_keys=False)


def _prod_services(platform: Platform) -> list[str]:
    listing = platform.list_resources(environment="prod", project=None, limit=500, page_token=None)
    return sorted(r["name"] for r in listing.items if r.get("type") == "service")


def security_story(platform: Platform, sam: Actor) -> list[str]:
    """Publish the pack and the exception as sam, scan live state; return what was found."""
    services = _prod_services(platform)
    if not services:
        return ["no service runs in prod yet: the reliability pack has nothing to check"]
    expires = (platform.clock.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = security_documents(exempt=services[0], expires=expires)
    plan = platform.plan(sam, PlanRequest(environment="prod", documents=text))
    result = platform.apply(sam, str(plan["digest"]))
    lines = [f"published policy reliability@1.0.0 and one exception: {result['status']}"]
    lines.append(f"scan of live state: {_summary(platform.compliance.scan())}")
    found, _ = platform.compliance.findings(sam, FindingFilter(), limit=200)
    by_state: dict[str, int] = {}
    for item in found:
        by_state[item["state"]] = by_state.get(item["state"], 0) + 1
    lines.append(
        "findings: " + ", ".join(f"{n} {state}" for state, n in sorted(by_state.items()))
        if by_state
        else "findings: none"
    )
    return lines


def _summary(scan: dict[str, Any]) -> str:
    changes: dict[str, int] = scan.get("changes") or {}
    moved = ", ".join(f"{n} now {state}" for state, n in sorted(changes.items()))
    return f"{scan.get('resources', 0)} resources evaluated" + (f"; {moved}" if moved else "")
