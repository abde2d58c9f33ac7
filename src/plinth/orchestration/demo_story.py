"""The demo's story: the five pillars compounding, told as steps through the one path.

Dana asks for a GPU model deployment; the cost gate prices it and shows cheaper
alternatives; policy refuses the unsigned model and lets the signed one through;
deploy-bot deploys inside its envelope and escalates outside it (a human approves);
security reads the audit chain; the leader reads cost and DORA.
"""

from __future__ import annotations

import importlib
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.models.signing import sign_artifact
from plinth.core.errors import PlinthError
from plinth.orchestration import model_registry
from plinth.orchestration.demo_history import BOT, SERVICES, service_document
from plinth.orchestration.demo_inference import inference_step
from plinth.orchestration.demo_security import security_story
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform
from plinth.orchestration.seed_llm import llm_upstream_url

if TYPE_CHECKING:
    from plinth.orchestration.demo_history import History

__all__ = ["Step", "deployment_document", "run_story"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One step of the story: who, what happened, and how it ended."""

    persona: str
    title: str
    lines: tuple[str, ...]
    outcome: str = "ok"

    def as_dict(self) -> dict[str, Any]:
        """Return the step as JSON data."""
        return {
            "persona": self.persona,
            "title": self.title,
            "lines": list(self.lines),
            "outcome": self.outcome,
        }


def deployment_document(model_ref: str, accelerator: str) -> str:
    """Return dana's GPU batch-inference workload serving ``model_ref``."""
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {
            "name": "churn-scoring",
            "annotations": {
                "plinth.dev/type": "batch-inference",
                "plinth.dev/accelerator": accelerator,
                "plinth.dev/accelerator-count": "1",
            },
        },
        "containers": {
            "main": {
                "image": "py:plinth_demo.cron_task",
                "variables": {"MODEL_URL": "${resources.model.url}"},
            }
        },
        "resources": {
            "model": {"type": "model-deployment", "params": {"model": model_ref, "replicas": 1}}
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _artifact(path: Path) -> Path:
    """A tiny churn classifier (scikit-learn when installed: the serving extra)."""
    try:
        linear = importlib.import_module("sklearn.linear_model")
    except ImportError:
        model: Any = {"kind": "threshold", "feature": 0, "above": 5.0}
    else:
        rows = [[float(x), float(x * 7 % 10)] for x in range(10)]
        model = linear.LogisticRegression().fit(rows, [int(r[0] > 5) for r in rows])
    path.write_bytes(pickle.dumps(model))
    return path


def _keys() -> tuple[bytes, bytes]:
    private = ec.generate_private_key(ec.SECP256R1())
    return (
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _verdict_lines(plan: dict[str, Any]) -> list[str]:
    lines = []
    for verdict in plan.get("verdicts") or []:
        reasons = "; ".join(verdict.get("reasons") or []) or "no remarks"
        lines.append(f"gate {verdict.get('gate')}: {verdict.get('verdict')} ({reasons})")
    return lines


def _cost_lines(plan: dict[str, Any]) -> list[str]:
    cost = plan.get("cost") or {}
    lines = [f"cost: {cost.get('monthly_delta', '?')} {cost.get('currency', 'USD')} a month"]
    for alt in (cost.get("alternatives") or [])[:3]:
        lines.append(f"cheaper: {alt.get('summary')} (saves {alt.get('monthly_savings')} a month)")
    return lines


@dataclass
class _Story:
    platform: Platform
    history: History
    say: Callable[[Step], None]
    workdir: Path

    def step(self, persona: str, title: str, lines: list[str], outcome: str = "ok") -> Step:
        made = Step(persona, title, tuple(lines), outcome)
        self.say(made)
        self.history.clock.advance(120)
        return made

    def register(self, dana: Actor, version: str, *, key: bytes | None) -> dict[str, Any]:
        artifact = _artifact(self.workdir / f"churn-{version}.pkl")
        return model_registry.register(
            self.platform.db,
            clock=self.platform.clock,
            ids=self.platform.ids,
            data_dir=self.platform.settings.data_dir,
            actor=dana,
            name="churn",
            version=version,
            artifact=artifact,
            team="ml-research",
            signature=sign_artifact(artifact, key) if key else None,
            lineage={"training_job": "train-churn", "dataset": "s3://datasets/churn-2026-11"},
        )

    def plan_model(self, dana: Actor, ref: str, accelerator: str) -> dict[str, Any]:
        request = PlanRequest(
            environment="staging",
            project="recommender",
            documents=deployment_document(ref, accelerator),
            file="churn-scoring.yaml",
        )
        return self.platform.plan(dana, request)

    def finish(self, actor: Actor, plan: dict[str, Any], approver: str) -> tuple[str, list[str]]:
        """Apply a plan; when it waits, ``approver`` approves and it is applied."""
        if plan["status"] == "denied":
            return "denied", ["denied: nothing was applied"]
        result = self.platform.apply(actor, plan["digest"])
        if result["status"] == "applied":
            return "applied", [f"applied (decision #{result['decision'].get('seq')})"]
        lines = [f"waits for approval: {', '.join(_waiting_reasons(plan))}"]
        self.history.clock.advance(600)
        reviewer = self.history.actor(approver)
        self.platform.review(reviewer, plan["digest"], approve=True, reason="within the plan")
        if actor.kind == "human":
            self.platform.apply(actor, plan["digest"])
        lines.append(f"{approver} approved; applied")
        return "approved", lines


def _waiting_reasons(plan: dict[str, Any]) -> list[str]:
    found = [
        reason
        for v in plan.get("verdicts") or []
        if v.get("verdict") == "needs_approval"
        for reason in v.get("reasons") or []
    ]
    return found or ["a gate asks for a human"]


def run_story(platform: Platform, history: History, say: Callable[[Step], None]) -> list[Step]:
    """Tell the story through the one path; return its steps."""
    workdir = platform.settings.data_dir / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    story = _Story(platform, history, say, workdir)
    steps: list[Step] = []
    parts = (
        ("dana (data scientist)", _model_story),
        ("deploy-bot (agent)", _agent_story),
        ("sam and lee (readers)", _readers),
    )
    for persona, part in parts:
        try:
            steps += part(story)
        except PlinthError as exc:  # shown, not hidden: the rest of the story still runs
            log.warning("demo story step failed: %s", exc)
            steps.append(story.step(persona, "This part of the story failed", [str(exc)], "error"))
    return steps


def _model_story(story: _Story) -> list[Step]:
    pat, dana = story.history.actor("pat"), story.history.actor("dana")
    private, public = _keys()
    model_registry.add_trust(
        story.platform.db, clock=story.platform.clock, actor=pat, name="ml-research-key", pem=public
    )
    story.register(dana, "1.0.0", key=None)
    first = story.plan_model(dana, "churn@1.0.0", "A100")
    steps = [
        story.step(
            "dana (data scientist)",
            "Asks for a GPU deployment of churn@1.0.0 (unsigned) on an A100 in staging",
            [*_cost_lines(first), *_verdict_lines(first)],
            first["status"],
        )
    ]
    story.register(dana, "1.1.0", key=private)
    second = story.plan_model(dana, "churn@1.1.0", "L4")
    outcome, lines = story.finish(dana, second, "pat")
    steps.append(
        story.step(
            "dana (data scientist)",
            "Signs churn@1.1.0 with the team key (pat trusts it), takes the L4, plans again",
            [*_cost_lines(second), *_verdict_lines(second), *lines],
            outcome,
        )
    )
    return steps


def _agent_story(story: _Story) -> list[Step]:
    service = SERVICES[0]
    number = story.history.versions.get(service.name, 0) + 1
    story.history.versions[service.name] = number
    version = f"1.{number // 10}.{number % 10}"
    steps = []
    for environment, title in (
        (
            "staging",
            f"deploy-bot deploys {service.name} {version} to staging (inside its envelope)",
        ),
        ("prod", f"deploy-bot asks to deploy {service.name} {version} to prod (outside it)"),
    ):
        bot = story.history.actor(BOT)
        plan = story.platform.plan(
            bot,
            PlanRequest(
                environment=environment,
                project=service.project,
                documents=service_document(service, version),
                file=f"{service.name}.yaml",
            ),
        )
        outcome, lines = story.finish(bot, plan, "rita")
        steps.append(
            story.step("deploy-bot (agent)", title, [*_verdict_lines(plan), *lines], outcome)
        )
    return steps


def _readers(story: _Story) -> list[Step]:
    platform = story.platform
    chain = platform.audit_verify()
    approved = platform.approvals(status="applied", limit=500, page_token=None).items
    agent_asked = [a for a in approved if a.get("requested_by") == BOT]
    security = [
        f"audit chain: {'verified' if chain.get('ok') else 'BROKEN'}, "
        f"{chain.get('checked', '?')} records",
        f"requests approved by a human and applied: {len(approved)} "
        f"({len(agent_asked)} asked by {BOT})",
        *inference_step(
            platform, story.history.actor("dana") if llm_upstream_url(platform.settings) else None
        ),
    ]
    steps = [
        story.step("sam (security)", "Reads the audit: decisions, approvals, inference", security),
        story.step(
            "sam (security)",
            "Publishes a policy pack: what already runs is checked too",
            security_story(platform, story.history.actor("sam")),
        ),
    ]
    lee = story.history.actor("lee")
    report = platform.costing.report(lee, by="team", window="30d")
    lines = [
        f"{item.get('team')}: {float(item.get('cost') or 0):.2f} {report.get('currency', 'USD')}"
        " in 30 days"
        for item in report.get("items") or []
    ]
    for team in ("payments", "ml-research", "platform"):
        dora = platform.dora.metrics(team=team, window_days=30)
        lines.append(
            f"DORA {team}: {dora['deployment_frequency']['per_week']:.1f} deploys/week, "
            f"change failure rate {_pct(dora['change_failure_rate']['rate'])}, "
            f"overall {dora['overall_band'] or '-'}"
        )
    steps.append(story.step("lee (leader)", "Sees cost by team and delivery performance", lines))
    return steps


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"
