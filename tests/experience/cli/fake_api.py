"""A small, honest in-memory fake of the Plinth REST API v1, for CLI tests.

It speaks the contract (paths, bodies, problem+json errors, pagination) over an
``httpx.MockTransport``. Behaviour comes from its inputs and from a few gate
settings (``outcomes`` per environment), not from per-test scripting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml

__all__ = ["TOKENS", "FakeApi"]

TOKENS = {"tok-ada": "ada", "tok-pat": "pat", "tok-viewer": "viewer"}
_PROBLEM = "https://plinth.dev/problems/"


class _Problem(Exception):
    def __init__(self, status: int, slug: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.extra = status, slug, detail, extra


def _page(items: list[Any], params: httpx.QueryParams) -> dict[str, Any]:
    limit = int(params.get("limit", "50"))
    start = int(params.get("page_token") or "0")
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {"items": chunk, "next_page_token": str(start + limit) if more else None}


@dataclass
class FakeApi:
    """In-memory server state plus the request handler."""

    outcomes: dict[str, str] = field(default_factory=lambda: {"prod": "needs_approval"})
    ready_after: int = 1
    fail_with: str | None = None  # the provider's reason, when the workload should fail
    workloads: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    tampered_seq: int | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    polls: int = 0

    @property
    def transport(self) -> httpx.MockTransport:
        """Return a transport that routes requests to this fake."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the real API would."""
        self.requests.append(request)
        try:
            if request.url.path == "/healthz":
                return httpx.Response(200, json={"status": "ok", "version": "0.1.0"})
            actor = self._actor(request)
            body = json.loads(request.content) if request.content else {}
            return httpx.Response(200, json=self._route(request, actor, body))
        except _Problem as p:
            problem = {"type": _PROBLEM + p.slug, "title": p.slug, "status": p.status}
            problem.update(detail=p.detail, **p.extra)
            headers = {"content-type": "application/problem+json"}
            return httpx.Response(p.status, content=json.dumps(problem), headers=headers)

    def _actor(self, request: httpx.Request) -> str:
        auth = request.headers.get("authorization", "")
        user = TOKENS.get(auth.removeprefix("Bearer "))
        if user is None:
            raise _Problem(401, "unauthenticated", "missing or unknown token")
        return user

    def _route(self, request: httpx.Request, actor: str, body: Any) -> Any:
        parts = request.url.path.removeprefix("/api/v1/").split("/")
        q = request.url.params
        if request.method == "POST" and actor == "viewer":
            raise _Problem(403, "forbidden", "viewer may not change anything")
        match request.method, parts:
            case "GET", ["whoami"]:
                return {
                    "name": actor,
                    "kind": "human",
                    "persona": "app-developer",
                    "roles": [{"role": "developer", "team": "payments"}],
                    "teams": ["payments"],
                    "display_name": actor.title(),
                }
            case "GET", ["kinds"]:
                return {
                    "items": [
                        {"apiVersion": "score.dev/v1b1", "kind": "Workload", "plural": "workloads"}
                    ]
                }
            case "GET", ["schemas", "Workload"]:
                return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}
            case "GET", ["environments"]:
                return _page([{"name": f"env{i}", "tier": "dev"} for i in range(7)], q)
            case "GET", ["templates"]:
                return _page(
                    [
                        {
                            "name": "web-service",
                            "latest_version": "1.1.0",
                            "versions": ["1.0.0", "1.1.0"],
                            "description": "A web service",
                        }
                    ],
                    q,
                )
            case "GET", ["templates", "web-service"]:
                return self._template(q.get("version") or "1.1.0")
            case "GET", ["workloads"]:
                env = q.get("environment")
                rows = [
                    self._summary(w) for (e, _), w in self.workloads.items() if env in (None, e)
                ]
                return _page(rows, q)
            case "GET", ["workloads", name, *rest]:
                return self._workload(name, q.get("environment", ""), rest)
            case "GET", ["plans", digest]:
                return self._plan(digest)
            case "GET", ["approvals"]:
                wanted = {"pending": "needs_approval"}.get(q.get("status", "pending"))
                rows = [p for p in self.plans.values() if p["status"] in (wanted, "needs_approval")]
                return _page(rows, q)
            case "GET", ["approvals", digest]:
                plan = self._plan(digest)
                status = {"needs_approval": "pending"}.get(plan["status"], plan["status"])
                return {"digest": digest, "status": status, "reasons": []}
            case "POST", ["plans"]:
                return self._make_plan(actor, body)
            case "POST", ["plans", digest, "apply"]:
                return self._apply(actor, digest)
            case "POST", ["approvals", digest, decision]:
                plan = self._plan(digest)
                plan["status"] = "approved" if decision == "approve" else "rejected"
                plan["approvals"].append(
                    {
                        "approver": actor,
                        "decision": decision,
                        "reason": body.get("reason"),
                        "at": "now",
                    }
                )
                return {"status": plan["status"], "plan": plan}
            case "GET", ["audit"]:
                return _page(self.audit, q)
            case "GET", ["audit", "verify"]:
                bad = (
                    None
                    if self.tampered_seq is None
                    else {"seq": self.tampered_seq, "reason": "hash does not match the record"}
                )
                return {"ok": bad is None, "checked": len(self.audit), "first_bad": bad}
        raise _Problem(404, "not-found", f"no route {request.method} {request.url.path}")

    def _template(self, version: str) -> dict[str, Any]:
        if version not in ("1.0.0", "1.1.0"):
            raise _Problem(404, "not-found", f"template web-service has no version {version}")
        schema = {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "description": "Container image"},
                "replicas": {"type": "integer", "default": 1, "minimum": 1, "maximum": 5},
            },
        }
        return {
            "name": "web-service",
            "version": version,
            "description": "A web service",
            "parameters_schema": schema,
            "bounds": [{"path": "replicas", "segments": ["replicas"], "max": 5}],
            "workloads": [{"metadata": {"name": "web"}}],
            "raw": {},
        }

    def _summary(self, w: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "name",
            "environment",
            "project",
            "type",
            "phase",
            "healthy",
            "template",
            "template_version",
            "generation",
            "updated_at",
        )
        return {k: w.get(k) for k in keys}

    def _workload(self, name: str, env: str, rest: list[str]) -> Any:
        w = self.workloads.get((env, name))
        if w is None:
            raise _Problem(404, "not-found", f"no workload {name!r} in {env!r}")
        if rest == ["logs"]:
            return {"lines": [f"{name} line {i}" for i in range(3)]}
        self.polls += 1
        phase = "running" if self.polls > self.ready_after else "pending"
        w["phase"] = phase
        w["resources"][0]["phase"] = phase
        w["healthy"] = phase == "running"
        if self.fail_with:
            w["phase"] = w["resources"][0]["phase"] = "failed"
            w["resources"][0]["message"] = self.fail_with
        data = dict(w)
        if rest == ["describe"]:
            data["events"] = [{"at": "t1", "reason": "Started", "message": "ok", "resource": name}]
            data["history"] = [
                {"revision": 1, "at": "t0", "actor": "ada", "digest": "d" * 64, "action": "create"}
            ]
        return data

    def _plan(self, digest: str) -> dict[str, Any]:
        if digest not in self.plans:
            raise _Problem(404, "not-found", f"no plan {digest}")
        return self.plans[digest]

    def _changes(self, body: dict[str, Any], env: str) -> list[dict[str, Any]]:
        if "delete" in body:
            target = body["delete"]
            if (env, target["name"]) not in self.workloads:
                raise _Problem(404, "not-found", f"no {target['kind']} {target['name']!r}")
            before = self.workloads[(env, target["name"])]["document"]
            return [
                {
                    "kind": target["kind"],
                    "type": None,
                    "name": target["name"],
                    "action": "delete",
                    "before": before,
                    "after": None,
                    "reasons": [],
                }
            ]
        docs = list(yaml.safe_load_all(body["documents"]))
        issues = [
            {
                "file": body.get("file"),
                "document": i,
                "path": "$.metadata.name",
                "message": "missing required field 'name'",
            }
            for i, doc in enumerate(docs)
            if doc is not None and not (doc.get("metadata") or {}).get("name")
        ]
        if issues:
            raise _Problem(422, "invalid-spec", f"{len(issues)} issues", issues=issues)
        changes = []
        for doc in (d for d in docs if d is not None):
            name = doc["metadata"]["name"]
            old = self.workloads.get((env, name))
            before = old["document"] if old else None
            action = "create" if old is None else ("no-op" if before == doc else "update")
            changes.append(
                {
                    "kind": "Workload",
                    "type": None,
                    "name": name,
                    "action": action,
                    "before": before,
                    "after": doc,
                    "reasons": [],
                }
            )
        return changes

    def _make_plan(self, actor: str, body: dict[str, Any]) -> dict[str, Any]:
        env = body["environment"]
        changes = self._changes(body, env)
        outcome = self.outcomes.get(env, "allow")
        digest = hashlib.sha256(json.dumps([body, len(self.plans)]).encode()).hexdigest()
        verdict = {
            "gate": "authorization",
            "verdict": outcome,
            "reasons": [f"{actor} asked for {env}"],
            "suggestions": ["use dev"] if outcome == "deny" else [],
        }
        status = {"needs_approval": "needs_approval", "deny": "denied"}.get(outcome, "planned")
        plan = {
            "digest": digest,
            "environment": env,
            "project": body.get("project"),
            "actor": actor,
            "created_at": "2025-01-01T00:00:00Z",
            "status": status,
            "outcome": outcome,
            "changes": changes,
            "verdicts": [verdict],
            "conflicts": [],
            "approvals": [],
        }
        self.plans[digest] = plan
        return plan

    def _apply(self, actor: str, digest: str) -> dict[str, Any]:
        plan = self._plan(digest)
        if plan["status"] == "applied":
            raise _Problem(409, "conflict", "the plan is already applied")
        if plan["outcome"] == "deny" or plan["status"] == "rejected":
            raise _Problem(
                403, "gate-denied", "denied by authorization", verdicts=plan["verdicts"], plan=plan
            )
        if plan["status"] == "needs_approval":
            return {"status": "waiting_approval", "plan": plan, "decision": None}
        for change in plan["changes"]:
            key = (plan["environment"], change["name"])
            if change["action"] == "delete":
                self.workloads.pop(key, None)
            elif change["action"] != "no-op":
                self.workloads[key] = {
                    "name": change["name"],
                    "environment": key[0],
                    "project": None,
                    "type": "service",
                    "phase": "pending",
                    "healthy": None,
                    "template": None,
                    "template_version": None,
                    "generation": 1,
                    "updated_at": "t",
                    "document": change["after"],
                    "resources": [
                        {
                            "name": "db",
                            "type": "postgres",
                            "phase": "pending",
                            "healthy": None,
                            "outputs": {"password": "<secret>"},
                            "message": None,
                            "generation": 1,
                            "observed_generation": 1,
                        }
                    ],
                }
        plan["status"] = "applied"
        seq = len(self.audit) + 1
        self.audit.append(
            {
                "seq": seq,
                "at": "t",
                "actor": actor,
                "action": "apply",
                "subject": digest,
                "data": {},
                "prev_hash": "0",
                "hash": f"h{seq}",
            }
        )
        return {"status": "applied", "plan": plan, "decision": {"seq": seq, "hash": f"h{seq}"}}
