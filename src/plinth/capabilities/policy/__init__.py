"""Policy as code: Rego packs evaluated in bounded worker processes, and their exceptions."""

from __future__ import annotations

from plinth.capabilities.policy.engine import (
    DEFAULT_TIMEOUT_S,
    PolicyEngine,
    WorkerPool,
    shared_pool,
)
from plinth.capabilities.policy.exceptions import (
    PolicyExceptionRule,
    apply_exceptions,
    exception_issues,
    require_valid_exception,
)
from plinth.capabilities.policy.inputs import (
    CLASSIFICATION_LABEL,
    actor_input,
    policy_input_for_live,
    policy_input_for_plan,
)
from plinth.capabilities.policy.model import Evaluation, Pack, PolicyResult, TestOutcome
from plinth.capabilities.policy.packs import (
    builtin_packs,
    in_force,
    newest_packs,
    pack_from_document,
    policy_document_issues,
    require_valid,
)

__all__ = [
    "CLASSIFICATION_LABEL",
    "DEFAULT_TIMEOUT_S",
    "Evaluation",
    "Pack",
    "PolicyEngine",
    "PolicyExceptionRule",
    "PolicyResult",
    "TestOutcome",
    "WorkerPool",
    "actor_input",
    "apply_exceptions",
    "builtin_packs",
    "exception_issues",
    "in_force",
    "newest_packs",
    "pack_from_document",
    "policy_document_issues",
    "policy_input_for_live",
    "policy_input_for_plan",
    "require_valid",
    "require_valid_exception",
    "shared_pool",
]
