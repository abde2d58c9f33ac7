"""Spans and metrics around the one path, added to a platform's parts in one place.

``instrument`` wraps, on the instances only (the classes stay untouched):
``Platform.plan`` (span ``plinth.plan``, metric ``plinth_plans_total``), each gate
(``plinth.gate``, ``plinth_gate_verdicts_total``), ``Platform.apply``
(``plinth.apply``), ``Reconciler.reconcile`` (``plinth.reconcile``, its duration and
errors) and each provider's ``plan``/``apply``/``observe``/``destroy``
(``plinth.provider``). Audit records add ``plinth.record`` spans (see
``integration.events.outbox``). A reconcile that an apply enqueued continues the
apply's trace, though it runs later on a worker thread.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from opentelemetry.context import Context

from plinth.core import metrics, tracing
from plinth.orchestration.gates.base import Gate, GateContext, PlanView, Verdict

if TYPE_CHECKING:
    from plinth.capabilities.identity.schemas import Actor
    from plinth.orchestration.platform import Platform

__all__ = ["instrument"]

F = TypeVar("F", bound=Callable[..., Any])
_PROVIDER_CALLS = ("plan", "apply", "observe", "destroy")
_HANDOFF_MAX = 10_000  # apply contexts kept for reconciles still to come


class _TracedGate:
    """A gate that reports each verdict as a span and a metric."""

    def __init__(self, inner: Gate) -> None:
        self.inner = inner
        self.name = inner.name

    def evaluate(self, plan: PlanView, actor: Actor, context: GateContext) -> Verdict:
        """Evaluate the wrapped gate."""
        with tracing.span("plinth.gate", {"plinth.gate": self.name}) as current:
            verdict = self.inner.evaluate(plan, actor, context)
            if current is not None:
                current.set_attribute("plinth.verdict", verdict.verdict.value)
        metrics.GATE_VERDICTS.labels(self.name, verdict.verdict.value).inc()
        return verdict

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Handoff:
    """Contexts of applies, kept until the reconcile of each touched resource starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[str, Context] = {}

    def keep(self, resource_ids: list[str]) -> None:
        context = tracing.capture()
        if context is None:
            return
        with self._lock:
            for resource_id in resource_ids[:1000]:
                self._contexts.pop(resource_id, None)  # re-inserted last: newest at the end
                self._contexts[resource_id] = context
            while len(self._contexts) > _HANDOFF_MAX:  # reconciles that never came: oldest go
                del self._contexts[next(iter(self._contexts))]

    def take(self, resource_id: str) -> Context | None:
        with self._lock:
            return self._contexts.pop(resource_id, None)


def _plan(inner: F) -> F:
    @functools.wraps(inner)
    def plan(*args: Any, **kwargs: Any) -> Any:
        with tracing.span("plinth.plan") as current:
            try:
                result = inner(*args, **kwargs)
            except Exception:
                metrics.PLANS.labels("error").inc()
                raise
            outcome = str(result.get("outcome", "unknown"))
            if current is not None:
                current.set_attribute("plinth.outcome", outcome)
                current.set_attribute("plinth.plan", str(result.get("digest", "")))
        metrics.PLANS.labels(outcome).inc()
        return result

    return cast(F, plan)


def _apply(inner: F) -> F:
    @functools.wraps(inner)
    def apply(*args: Any, **kwargs: Any) -> Any:
        digest = args[1] if len(args) > 1 else kwargs.get("plan_digest")
        with tracing.span("plinth.apply", {"plinth.plan": digest}) as current:
            result = inner(*args, **kwargs)
            if current is not None:
                current.set_attribute("plinth.status", str(result.get("status")))
            return result

    return cast(F, apply)


def _touched(inner: F, handoff: _Handoff) -> F:
    @functools.wraps(inner)
    def apply(*args: Any, **kwargs: Any) -> Any:
        result = inner(*args, **kwargs)
        handoff.keep(list(getattr(result, "touched", [])))
        return result

    return cast(F, apply)


def _reconcile(inner: F, handoff: _Handoff) -> F:
    @functools.wraps(inner)
    def reconcile(resource_id: str) -> Any:
        started = time.perf_counter()
        parent = handoff.take(resource_id) if tracing.enabled() else None
        try:
            with tracing.span("plinth.reconcile", {"plinth.resource": resource_id}, parent=parent):
                return inner(resource_id)
        except Exception as exc:
            metrics.RECONCILE_ERRORS.labels(type(exc).__name__).inc()
            raise
        finally:
            metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)

    return cast(F, reconcile)


def _provider_call(inner: F, provider: str, operation: str) -> F:
    attributes = {"plinth.provider": provider, "plinth.operation": operation}

    @functools.wraps(inner)
    def call(*args: Any, **kwargs: Any) -> Any:
        with tracing.span("plinth.provider", attributes):
            return inner(*args, **kwargs)

    call.plinth_traced = True  # type: ignore[attr-defined]
    return cast(F, call)


def instrument(platform: Platform) -> None:
    """Wrap the platform's plan, gates, apply, reconcile and provider calls (once)."""
    if getattr(platform, "_instrumented", False):
        return
    handoff = _Handoff()
    setattr(platform, "plan", _plan(platform.plan))  # noqa: B010 - instance, not class
    setattr(platform, "apply", _apply(platform.apply))  # noqa: B010
    applier = platform.applier
    setattr(applier, "apply", _touched(applier.apply, handoff))  # noqa: B010
    reconciler = platform.reconciler
    setattr(reconciler, "reconcile", _reconcile(reconciler.reconcile, handoff))  # noqa: B010
    gates = platform.pipeline.gates
    gates[:] = [cast(Gate, _TracedGate(g)) for g in gates]
    for provider in platform.registry.providers():
        for operation in _PROVIDER_CALLS:
            method = getattr(provider, operation, None)
            if callable(method) and not getattr(method, "plinth_traced", False):
                try:
                    setattr(provider, operation, _provider_call(method, provider.name, operation))
                except AttributeError:  # a provider with __slots__ keeps its plain methods
                    continue
    setattr(platform, "_instrumented", True)  # noqa: B010
