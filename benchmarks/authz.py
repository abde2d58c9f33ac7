"""Authorization decisions: p50/p99 of ``Authorizer.decide`` with 200 Cedar policies.

The policy set is Plinth's defaults plus generated, realistic team and environment rules
(per-team environment access, change freezes, cost ceilings that need an approval, tool
rules per MCP server) up to 200 policies. The requests are a mix of humans and agents
changing workloads and organisation documents, approving plans and calling tools.
Beside each figure: the raw ``cedarpy.is_authorized`` time of the same Cedar request with
the same pre-parsed policy and entity handles (Plinth's overhead is the difference:
building the context, the cached entities, the second ask for needs-approval and the
explanations of a default deny). Last line: one JSON object; goal p99 < 1 ms.

    python benchmarks/authz.py [--decisions 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from typing import Any

import cedarpy

from plinth.capabilities.authz import (
    Authorizer,
    AuthzRequest,
    approve_request,
    change_request,
    tool_request,
)
from plinth.capabilities.authz.entities import entities_for, entity_uid, principal_uid
from plinth.capabilities.identity.schemas import Actor, Grant

TOTAL_POLICIES = 200
GOAL_P99_MS = 1.0
TEAMS = [f"team{i:02d}" for i in range(12)]
ENVIRONMENTS = [("dev", "dev", False), ("staging", "staging", False), ("prod", "prod", True)]
SERVERS = [("time", "trusted"), ("search", "internal"), ("shell", "untrusted")]
ROLES = ["developer", "ml-engineer", "release-manager", "viewer"]


def generated_policies(count: int) -> str:
    """Return ``count`` realistic team/environment/tool rules as Cedar text."""
    templates = [
        (
            'forbid (principal, action == Plinth::Action::"change", resource) '
            'when {{ context.team == "{team}" && context.tier == "prod" && '
            "context.weekday >= 5 }};",
            "team {team} freezes production at weekends",
        ),
        (
            'permit (principal, action == Plinth::Action::"change_with_approval", resource) '
            'when {{ context.team == "{team}" && context.part == "project" && '
            'principal.hasTag("{team}") }};',
            "team {team}'s members may ask for any change with an approval",
        ),
        (
            'forbid (principal, action == Plinth::Action::"change", resource) '
            'when {{ context.team == "{team}" && context.cost_delta_cents > {cents} }};',
            "changes of team {team} above {cents} cents a month need an approval",
        ),
        (
            'permit (principal, action == Plinth::Action::"change", resource) '
            'when {{ context.team == "{team}" && context.environment == "sandbox-{n}" && '
            'principal.hasTag("{team}") }};',
            "team {team} owns sandbox-{n}",
        ),
        (
            'forbid (principal is Plinth::Agent, action == Plinth::Action::"call_tool", '
            'resource in Plinth::McpServer::"{server}") '
            'when {{ principal.owner_team == "{team}" && context.hour < 6 }};',
            "agents of team {team} call {server} in office hours only",
        ),
    ]
    policies = []
    for n in range(count):
        text, reason = templates[n % len(templates)]
        values = {
            "team": TEAMS[n % len(TEAMS)],
            "n": n,
            "cents": 10_000 + 100 * n,
            "server": SERVERS[n % len(SERVERS)][0],
        }
        policies.append(
            f'@id("rule-{n}")\n@reason("{reason.format(**values)}")\n{text.format(**values)}'
        )
    return "\n\n".join(policies)


def actors() -> list[Actor]:
    """Return humans of every role in several teams, agents and the janitor."""
    people = [
        Actor(f"u{i}", f"user{i}", "human", "app-developer", grants=(Grant(role, team),))
        for i, (role, team) in enumerate((r, t) for r in ROLES for t in TEAMS[:4])
    ]
    people.append(
        Actor("pe", "pat", "human", "platform-engineer", grants=(Grant("platform-engineer"),))
    )
    agents = [
        Actor(f"a{i}", f"agent{i}", "agent", "agent", grants=(Grant("agent", TEAMS[i]),))
        for i in range(4)
    ]
    janitor = Actor("j", "janitor", "agent", "agent", grants=(Grant("janitor"),))
    return [*people, *agents, janitor]


def requests(count: int, seed: int = 7) -> list[AuthzRequest]:
    """Return a reproducible mix of change, approve and call_tool requests."""
    rng = random.Random(seed)
    everyone = actors()
    made: list[AuthzRequest] = []
    for _ in range(count):
        actor = rng.choice(everyone)
        shape = rng.random()
        if shape < 0.6:
            env, tier, protected = rng.choice(ENVIRONMENTS)
            org = rng.random() < 0.1
            kind = (
                rng.choice(["Template", "Budget"]) if org else rng.choice(["Workload", "Resource"])
            )
            made.append(
                change_request(
                    actor,
                    environment=env,
                    tier=tier,
                    protected=protected,
                    project="" if org else "checkout",
                    team="" if org else rng.choice(TEAMS[:4]),
                    changes=[
                        {
                            "kind": kind,
                            "name": "web",
                            "action": rng.choice(["create", "update", "delete"]),
                        }
                    ],
                    part="organisation" if org else "project",
                    cost_delta=rng.choice(["0", "12.50", "250.00"]),
                )
            )
        elif shape < 0.75:
            made.append(
                approve_request(
                    actor,
                    plan=f"{rng.getrandbits(64):016x}",
                    author="user1",
                    team=rng.choice(TEAMS[:4]),
                )
            )
        else:
            server, trust = rng.choice(SERVERS)
            made.append(
                tool_request(
                    actor,
                    server=server,
                    tool=rng.choice(["read", "write", "delete"]),
                    trust=trust,
                    annotations={
                        "readOnlyHint": rng.random() < 0.5,
                        "destructiveHint": rng.random() < 0.3,
                    },
                    granted=rng.random() < 0.9,
                )
            )
    return made


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


CPU_MS: dict[str, list[float]] = {}


def _timed(call: Any, batch: list[Any], name: str = "") -> list[float]:
    """Return the wall-clock milliseconds of ``call(item)`` per item (CPU time kept by name)."""
    spent: list[float] = []
    cpu: list[float] = []
    for item in batch:
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        call(item)
        cpu.append((time.thread_time_ns() - started_cpu) / 1e6)
        spent.append((time.perf_counter_ns() - started) / 1e6)
    if name:
        CPU_MS[name] = cpu
    return spent


def _cedar_request(request: AuthzRequest) -> dict[str, Any]:
    """Return the Cedar request Plinth sends for ``request``'s action."""
    return {
        "principal": principal_uid(request.principal),
        "action": entity_uid("Action", request.action),
        "resource": entity_uid(str(request.resource["type"]), str(request.resource["id"])),
        "context": dict(request.context),
    }


def _summary(name: str, spent: list[float]) -> dict[str, float]:
    """Return p50, p99 and mean of ``spent`` under ``name``."""
    return {
        f"{name}_p50_ms": round(percentile(spent, 0.50), 4),
        f"{name}_p99_ms": round(percentile(spent, 0.99), 4),
        f"{name}_mean_ms": round(statistics.fmean(spent), 4),
    }


def measure(authorizer: Authorizer, batch: list[AuthzRequest]) -> dict[str, Any]:
    """Time ``decide`` (remembered and always asked) and the raw Cedar call per request."""
    for request in batch[:200]:  # warm the entity caches and the allocator
        authorizer.decide(request, cached=False)
    outcomes: dict[str, int] = {}
    for request in batch:
        outcome = authorizer.decide(request, cached=False).outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    fresh = Authorizer(authorizer.sets)
    cached = _timed(fresh.decide, batch, "decide")
    uncached = _timed(lambda r: authorizer.decide(r, cached=False), batch, "decide_uncached")
    prepared = [(_cedar_request(r), entities_for(r.principal, r.resource), r.action) for r in batch]
    whole = authorizer.compiled.handle
    raw = _timed(lambda p: cedarpy.is_authorized(p[0], whole, p[1]), prepared, "cedar_raw")
    split = _timed(
        lambda p: cedarpy.is_authorized(p[0], authorizer.compiled.for_action(p[2]), p[1]),
        prepared,
    )
    return {
        **_summary("decide", cached),
        **_summary("decide_uncached", uncached),
        **_summary("cedar_raw", raw),
        **_summary("cedar_raw_action_split", split),
        **{f"{k}_cpu_p99_ms": round(percentile(v, 0.99), 4) for k, v in CPU_MS.items()},
        "distinct_requests": len(fresh._memo),
        "outcomes": outcomes,
    }


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    args = parser.parse_args()
    defaults = len(Authorizer.default().policies)
    authorizer = Authorizer.default([("rules", generated_policies(TOTAL_POLICIES - defaults))])
    batch = requests(args.decisions)
    figures = measure(authorizer, batch)
    figures = {
        "benchmark": "authz",
        "policies": len(authorizer.policies),
        "decisions": len(batch),
        "goal_p99_ms": GOAL_P99_MS,
        **figures,
        "goal_met": figures["decide_p99_ms"] < GOAL_P99_MS,
        "goal_met_cpu_time": figures["decide_cpu_p99_ms"] < GOAL_P99_MS,
    }
    print(
        f"{figures['decisions']} decisions over {figures['policies']} policies: decide p50 "
        f"{figures['decide_p50_ms']} ms, p99 {figures['decide_p99_ms']} ms; raw Cedar p50 "
        f"{figures['cedar_raw_p50_ms']} ms, p99 {figures['cedar_raw_p99_ms']} ms; every decision "
        f"asked (no memo) p50 {figures['decide_uncached_p50_ms']} ms, "
        f"p99 {figures['decide_uncached_p99_ms']} ms"
    )
    print(json.dumps(figures))
    return 0 if figures["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
