"""The demo organisation's AI gateway: one OpenAI-compatible provider, access for two teams.

The provider points at ``PLINTH_LLM_UPSTREAM_URL`` (e.g. the local upstream,
``python -m plinth.integration.llm_upstream``, at ``http://127.0.0.1:8790/v1``) and is
stored disabled when none is set. Prices per 1M tokens are OpenAI's list prices from the
dated snapshot in /work/shared/data/prices/llm-model-prices.json (LiteLLM's price file).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy.orm import Session

from plinth.core.clock import Clock
from plinth.core.config import Settings
from plinth.core.ids import IdFactory
from plinth.orchestration.seed import put_missing

__all__ = ["DEMO_LLM_MODELS", "demo_llm_documents", "llm_upstream_url", "seed_llm"]

DEFAULT_URL = "http://127.0.0.1:8790/v1"
DEMO_LLM_MODELS: list[dict[str, Any]] = [
    {"name": "gpt-4o-mini", "inputPerMillion": 0.15, "outputPerMillion": 0.60},
    {"name": "gpt-4.1-mini", "inputPerMillion": 0.40, "outputPerMillion": 1.60},
    {"name": "gpt-4o", "inputPerMillion": 2.50, "outputPerMillion": 10.00},
    {
        "name": "text-embedding-3-small",
        "kind": "embedding",
        "inputPerMillion": 0.02,
        "outputPerMillion": 0,
    },
]


def llm_upstream_url(settings: Settings | None = None) -> str:
    """Return ``settings.llm_upstream_url``, else ``PLINTH_LLM_UPSTREAM_URL`` ('' if neither).

    The environment is read here too for settings built directly (not by ``load_settings``).
    """
    if settings is not None and settings.llm_upstream_url:
        return settings.llm_upstream_url
    return os.environ.get("PLINTH_LLM_UPSTREAM_URL", "")


def demo_llm_documents(upstream_url: str) -> list[dict[str, Any]]:
    """Return the demo LlmProvider and the LlmAccess of teams payments and ml-research."""
    provider = {
        "apiVersion": "plinth.dev/v1",
        "kind": "LlmProvider",
        "metadata": {"name": "openai-compatible"},
        "spec": {
            "description": "OpenAI-compatible upstream (list prices per 1M tokens, late 2026)",
            "baseUrl": upstream_url or DEFAULT_URL,
            "apiKeyEnv": "PLINTH_LLM_API_KEY",
            "enabled": bool(upstream_url),
            "currency": "USD",
            "models": DEMO_LLM_MODELS,
        },
    }

    def access(team: str, models: list[str], amount: int, **extra: Any) -> dict[str, Any]:
        spec = {"team": team, "models": models, "budget": {"amount": amount, "period": "month"}}
        return {
            "apiVersion": "plinth.dev/v1",
            "kind": "LlmAccess",
            "metadata": {"name": team},
            "spec": {**spec, **extra},
        }

    return [
        provider,
        access("payments", ["gpt-4o-mini", "text-embedding-3-small"], 200),
        access(
            "ml-research", ["gpt-4o*", "gpt-4.1-*", "text-embedding-*"], 1000, redactPrompts=True
        ),
    ]


def seed_llm(
    session: Session, *, ids: IdFactory, clock: Clock, settings: Settings | None = None
) -> list[str]:
    """Store the demo LLM documents that are absent; return what was added."""
    documents = demo_llm_documents(llm_upstream_url(settings))
    return put_missing(session, documents, ids=ids, clock=clock)
