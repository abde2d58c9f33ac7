"""Traces of the one path with OpenTelemetry: off by default, and one check when off.

``configure(exporter)`` picks where spans go: ``none`` (the default: no provider,
``span`` returns a shared no-op), ``console`` (printed, for a look on one machine),
``memory`` (kept in an ``InMemorySpanExporter``, for tests) or ``otlp`` (only when
the ``opentelemetry-exporter-otlp-proto-http`` package is installed; it reads the
standard ``OTEL_EXPORTER_OTLP_*`` variables). The provider is Plinth's own, not the
process-global one, so embedding Plinth never changes a host application's tracing.

Context crosses process boundaries as a W3C ``traceparent`` (``extract`` from
incoming headers, ``current_traceparent`` into outgoing events).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from plinth.core.errors import InvalidInput

__all__ = [
    "EXPORTERS",
    "SpanKind",
    "capture",
    "configure",
    "current_traceparent",
    "enabled",
    "extract",
    "memory_exporter",
    "span",
]

EXPORTERS = ("none", "console", "memory", "otlp")
_PROPAGATOR = TraceContextTextMapPropagator()
_OFF: AbstractContextManager[None] = nullcontext()


class _State:
    """The configured provider and tracer (absent while tracing is off)."""

    def __init__(self) -> None:
        self.exporter_name = "none"
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer | None = None
        self.memory: InMemorySpanExporter | None = None


_state = _State()


def _exporter(name: str) -> tuple[SpanExporter, bool]:
    """Return the exporter called ``name`` and whether to send spans one by one."""
    if name == "console":
        return ConsoleSpanExporter(), True
    if name == "memory":
        return InMemorySpanExporter(), True
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    except ImportError:
        raise InvalidInput(
            "tracing_exporter 'otlp' needs the opentelemetry-exporter-otlp-proto-http package: "
            "install it next to Plinth, or choose none, console or memory"
        ) from None
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter, False


def configure(exporter: str, *, service: str = "plinth") -> None:
    """Send spans to ``exporter`` (one of ``EXPORTERS``); ``none`` turns tracing off."""
    if exporter not in EXPORTERS:
        raise InvalidInput(
            f"tracing_exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}"
        )
    if exporter == _state.exporter_name:
        return
    if _state.provider is not None:
        _state.provider.shutdown()
    _state.exporter_name, _state.provider, _state.tracer, _state.memory = exporter, None, None, None
    if exporter == "none":
        return
    chosen, one_by_one = _exporter(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    processor = SimpleSpanProcessor(chosen) if one_by_one else BatchSpanProcessor(chosen)
    provider.add_span_processor(processor)
    _state.provider, _state.tracer = provider, provider.get_tracer("plinth")
    _state.memory = chosen if isinstance(chosen, InMemorySpanExporter) else None


def enabled() -> bool:
    """True when spans are recorded."""
    return _state.tracer is not None


def memory_exporter() -> InMemorySpanExporter | None:
    """Return the in-memory exporter when ``memory`` is configured (for tests)."""
    return _state.memory


def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> AbstractContextManager[Span | None]:
    """Return a context manager around a span (current while open); a no-op when off."""
    tracer = _state.tracer
    if tracer is None:
        return _OFF
    return _open(tracer, name, dict(attributes or {}), parent, kind)


@contextmanager
def _open(
    tracer: trace.Tracer,
    name: str,
    attributes: dict[str, Any],
    parent: Context | None,
    kind: SpanKind,
) -> Iterator[Span]:
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=clean, record_exception=True
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def capture() -> Context | None:
    """Return the current context to carry to another thread (None when tracing is off)."""
    if _state.tracer is None:
        return None
    return get_current()


def extract(headers: Mapping[str, str]) -> Context:
    """Return the context a W3C ``traceparent`` header carries (empty when there is none)."""
    return _PROPAGATOR.extract(carrier=dict(headers))


def current_traceparent() -> str | None:
    """Return the W3C ``traceparent`` of the current span (None when off or outside a span)."""
    if _state.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")
