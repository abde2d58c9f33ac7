"""The model-signature gate: deploying an unsigned, untrusted or changed model is denied.

A plan deploys a model version through a ``model-deployment`` resource
(``spec.model: name@version``) and promotes one through a ``Model`` document whose
``spec.stages`` gives a stage a new version. For each such version the gate reads
the verification that ``model_registry.model_facts`` put in ``PlanView.extra["models"]``
(computed at plan time and again at apply time): the artifact in the content-addressed
store still has its registered digest, and its signature verifies against a trusted
key or CA certificate. Any failure denies the plan, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.models.stages import model_refs
from plinth.orchestration.gates.base import GateContext, PlanView, Verdict, VerdictKind

__all__ = ["ModelSignatureGate"]


class ModelSignatureGate:
    """Denies deploying or promoting a model version that does not verify now."""

    name: ClassVar[str] = "model-signature"

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Allow when every deployed or promoted version verifies; deny with the reasons."""
        refs = model_refs(plan.changes)
        if not refs:
            return Verdict(self.name, VerdictKind.ALLOW, ("this plan deploys no model version",))
        facts: Mapping[str, Mapping[str, Any]] = plan.extra.get("models") or {}
        denied: list[str] = []
        passed: list[str] = []
        for ref in refs:
            fact = facts.get(ref)
            if fact is None:
                denied.append(f"{ref}: not verified (no registry facts for it in this plan)")
            elif not fact.get("ok"):
                denied.append(f"{ref}: {fact.get('reason') or 'verification failed'}")
            else:
                passed.append(
                    f"{ref}: signed by {fact.get('signer')}, artifact {fact.get('digest_now')} "
                    "unchanged since registration"
                )
        if denied:
            suggestions = (
                "register a signed version: plinth models register NAME VERSION --artifact PATH "
                "--sign-key KEY.pem, and trust its key: plinth models trust add NAME KEY.pub",
                "check a version with: plinth models verify NAME VERSION",
            )
            return Verdict(self.name, VerdictKind.DENY, tuple(denied + passed), suggestions)
        return Verdict(self.name, VerdictKind.ALLOW, tuple(passed))
