"""What the gateway serves, from ``LlmProvider`` and ``LlmAccess`` documents, cached.

An ``LlmProvider`` names an OpenAI-compatible upstream (``baseUrl``), the environment
variable holding its API key (``apiKeyEnv``; the key never appears in a document) and
the models it serves with their prices per 1M input and output tokens. An ``LlmAccess``
gives one team its allowed models (globs), an optional budget per day or month, and
whether content is logged. Both are read from the store at most once per ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from plinth.capabilities.inventory import service as inventory
from plinth.infrastructure.store.db import Database

__all__ = [
    "ACCESS_KIND",
    "PROVIDER_KIND",
    "Access",
    "Catalog",
    "ModelRoute",
    "Provider",
    "Served",
    "parse_access",
    "parse_provider",
]

PROVIDER_KIND = "LlmProvider"
ACCESS_KIND = "LlmAccess"
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Provider:
    """An OpenAI-compatible upstream."""

    name: str
    base_url: str
    api_key_env: str = ""
    enabled: bool = True
    currency: str = "USD"
    timeout_s: float = 120.0


@dataclass(frozen=True)
class ModelRoute:
    """One model as clients name it, where it is served and what a token costs."""

    name: str
    upstream_name: str
    kind: str  # chat | embedding
    input_price: Decimal  # per token
    output_price: Decimal  # per token
    max_output_tokens: int
    provider: Provider

    def cost(self, tokens_in: int, tokens_out: int) -> Decimal:
        """Return the cost of a number of input and output tokens."""
        return tokens_in * self.input_price + tokens_out * self.output_price


@dataclass(frozen=True)
class Access:
    """One team's access: allowed model globs, budget, content logging, prompt redaction."""

    team: str
    models: tuple[str, ...]
    budget: Decimal | None = None
    period: str = "month"
    log_content: bool = False
    redact_prompts: bool = False
    max_request_bytes: int = 1_048_576

    def allows(self, model: str) -> bool:
        """True when ``model`` matches one of the allowed globs."""
        return any(fnmatchcase(model, pattern) for pattern in self.models)


@dataclass(frozen=True)
class Served:
    """Everything configured: models by name, access by team."""

    models: Mapping[str, ModelRoute] = field(default_factory=dict)
    access: Mapping[str, Access] = field(default_factory=dict)


def _price(value: Any) -> Decimal:
    return Decimal(str(value or 0)) / MILLION


def parse_provider(name: str, spec: Mapping[str, Any]) -> list[ModelRoute]:
    """Return the model routes of one (schema-valid) ``LlmProvider`` spec."""
    provider = Provider(
        name=name,
        base_url=str(spec["baseUrl"]).rstrip("/"),
        api_key_env=str(spec.get("apiKeyEnv") or ""),
        enabled=bool(spec.get("enabled", True)),
        currency=str(spec.get("currency") or "USD"),
        timeout_s=float(spec.get("timeoutSeconds") or 120.0),
    )
    return [
        ModelRoute(
            name=str(m["name"]),
            upstream_name=str(m.get("upstreamName") or m["name"]),
            kind=str(m.get("kind") or "chat"),
            input_price=_price(m.get("inputPerMillion")),
            output_price=_price(m.get("outputPerMillion")),
            max_output_tokens=int(m.get("maxOutputTokens") or 4096),
            provider=provider,
        )
        for m in spec.get("models") or []
    ]


def parse_access(spec: Mapping[str, Any]) -> Access:
    """Return the access of one (schema-valid) ``LlmAccess`` spec."""
    budget = spec.get("budget") or {}
    amount = budget.get("amount")
    return Access(
        team=str(spec["team"]),
        models=tuple(str(m) for m in spec.get("models") or ()),
        budget=None if amount is None else Decimal(str(amount)),
        period=str(budget.get("period") or "month"),
        log_content=bool(spec.get("logContent", False)),
        redact_prompts=bool(spec.get("redactPrompts", False)),
        max_request_bytes=int(spec.get("maxRequestBytes") or 1_048_576),
    )


def load_served(db: Database) -> Served:
    """Read every LlmProvider and LlmAccess document (enabled providers only)."""
    models: dict[str, ModelRoute] = {}
    access: dict[str, Access] = {}
    with db.read() as session:
        for kind in (PROVIDER_KIND, ACCESS_KIND):
            token: str | None = None
            while True:
                page = inventory.list_documents(session, kind=kind, limit=500, page_token=token)
                for record in page.items:
                    spec = (record.body or {}).get("spec") or {}
                    if kind == PROVIDER_KIND:
                        for route in parse_provider(record.name, spec):
                            if route.provider.enabled:
                                models.setdefault(route.name, route)
                    else:
                        parsed = parse_access(spec)
                        access[parsed.team] = parsed
                token = page.next_page_token
                if not token:
                    break
    return Served(models=models, access=access)


class Catalog:
    """The served models and team access, read from the store at most every ``ttl_s``."""

    def __init__(
        self, db: Database, *, ttl_s: float = 2.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.db, self.ttl_s, self._monotonic = db, ttl_s, monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, Served] | None = None

    def cached(self) -> Served | None:
        """Return the cached configuration, or None when it must be read again."""
        found = self._cached
        if found is None or found[0] <= self._monotonic():
            return None
        return found[1]

    def served(self) -> Served:
        """Return the configuration (reads the store when the cache is stale)."""
        found = self.cached()
        if found is not None:
            return found
        loaded = load_served(self.db)
        with self._lock:
            self._cached = (self._monotonic() + self.ttl_s, loaded)
        return loaded

    def invalidate(self) -> None:
        """Forget the cached configuration."""
        with self._lock:
            self._cached = None
