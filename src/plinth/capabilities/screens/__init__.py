"""Screens: fast built-in detectors of prompt injection, PII and secrets, with redaction.

A ``ScreenSet`` runs detectors over a text seen as a ``prompt`` (to a model), a
``response`` (from a model, or an agent's tool arguments) or a ``tool`` result, and a
``ScreenPolicy`` turns the findings into one ``ScanResult``: ``allow``, ``redact`` (use
``result.redacted``) or ``block``. ``default_screens()`` is the built-in set; the
Presidio adapter (``plinth.capabilities.screens.presidio``) is optional (extra
``presidio``). The MCP gateway uses the same screens through
``plinth.orchestration.mcp_gateway.screens``.
"""

from __future__ import annotations

from plinth.capabilities.screens.credentials import SecretsDetector
from plinth.capabilities.screens.injection import InjectionDetector
from plinth.capabilities.screens.pii import PiiDetector
from plinth.capabilities.screens.screenset import DEFAULT_RULES, ScreenPolicy, ScreenSet
from plinth.capabilities.screens.verdicts import (
    ACTIONS,
    KINDS,
    Action,
    Detector,
    Finding,
    Kind,
    ScanResult,
    TextScreen,
    redact,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_RULES",
    "KINDS",
    "Action",
    "Detector",
    "Finding",
    "InjectionDetector",
    "Kind",
    "PiiDetector",
    "ScanResult",
    "ScreenPolicy",
    "ScreenSet",
    "SecretsDetector",
    "TextScreen",
    "default_screens",
    "redact",
]


def default_screens(*, policy: ScreenPolicy | None = None) -> ScreenSet:
    """Return the built-in screens (injection, PII, secrets) under ``policy`` (default rules)."""
    return ScreenSet([InjectionDetector(), PiiDetector(), SecretsDetector()], policy=policy)
