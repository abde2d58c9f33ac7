"""Prometheus metrics of the control plane, on prometheus-client's default registry.

The default registry also carries the process and Python collectors (CPU, memory,
open files, garbage collection). Names follow Prometheus conventions: ``_total``
for counters, ``_seconds`` for durations; labels stay low-cardinality (route
templates, never raw paths).
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE",
    "DELIVERIES",
    "DELIVERIES_FAILED",
    "GATE_VERDICTS",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "LEADER",
    "OUTBOX_BACKLOG",
    "PLANS",
    "RECONCILE_DURATION",
    "RECONCILE_ERRORS",
    "exposition",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "plinth_http_requests",
    "HTTP requests served, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "plinth_http_request_duration_seconds",
    "Time to serve an HTTP request, by method and route template.",
    ["method", "route"],
)
PLANS = Counter(
    "plinth_plans",
    "Plans made, by outcome (allow, warn, deny, needs_approval, error).",
    ["outcome"],
)
GATE_VERDICTS = Counter(
    "plinth_gate_verdicts", "Gate verdicts, by gate and verdict.", ["gate", "verdict"]
)
RECONCILE_DURATION = Histogram(
    "plinth_reconcile_duration_seconds", "Time to reconcile one resource."
)
RECONCILE_ERRORS = Counter(
    "plinth_reconcile_errors", "Reconciles that raised, by error type.", ["error"]
)
OUTBOX_BACKLOG = Gauge(
    "plinth_outbox_backlog",
    "Events not yet fanned out plus deliveries waiting for an attempt (read at scrape).",
)
DELIVERIES = Counter(
    "plinth_event_deliveries",
    "Delivery attempts, by target kind (webhook, broker) and outcome (delivered, retry, failed).",
    ["target", "outcome"],
)
DELIVERIES_FAILED = Gauge(
    "plinth_event_deliveries_dead",
    "Deliveries that ran out of attempts and wait for a redelivery (read at scrape).",
)
LEADER = Gauge(
    "plinth_leader", "1 when this replica runs the background work (the leader), else 0."
)


def exposition() -> bytes:
    """Return every metric in the Prometheus text exposition format."""
    return generate_latest(REGISTRY)
