"""Plain data of a request in the gateway, and the OpenAI wire helpers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plinth.orchestration.llm_gateway.accountant import Hold
from plinth.orchestration.llm_gateway.config import Access, ModelRoute
from plinth.orchestration.llm_gateway.keys import KeyInfo

__all__ = ["Caller", "Prepared", "dumps", "usage_of"]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the record's actor name, team, agent (if any) and key (if any)."""

    actor: str
    team: str
    agent: str = ""
    key: KeyInfo | None = None


@dataclass
class Prepared:
    """A request that passed every check, with its budget hold."""

    caller: Caller
    endpoint: str
    route: ModelRoute
    access: Access
    body: dict[str, Any]
    hold: Hold
    started: float
    request_id: str
    input_bound: int
    screens: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] | None = None
    finished: bool = False


def usage_of(document: Mapping[str, Any]) -> tuple[int, int] | None:
    """Return (prompt, completion) tokens of an OpenAI response's usage, if present."""
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int | None):
        return None
    return prompt, completion or 0


def dumps(document: Any) -> bytes:
    """Return compact JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
