"""Microsoft Presidio as a detector (optional: ``pip install 'plinth[presidio]'``).

Presidio's analyzer normally runs a spaCy model for names and places; no such model is on
PyPI, so the adapter runs Presidio's pattern recognizers (cards, IBANs, phones, SSNs,
passports, licences, bank numbers, crypto wallets, IPs, MAC addresses…) with its no-op NLP
engine: no model, no download, no network. The e-mail and URL recognizers are left out
(they fetch the public-suffix list from the network; the built-in PII detector covers
e-mail). Presidio is much slower than the built-in detectors (milliseconds per KB), so it
is not in ``default_screens()``: add it with ``ScreenSet.add(PresidioDetector())``.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from typing import Any

from plinth.capabilities.screens.verdicts import Finding, Kind

__all__ = ["DEFAULT_ENTITIES", "PresidioDetector", "presidio_available"]

DEFAULT_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "CRYPTO",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "UK_NHS",
    "MEDICAL_LICENSE",
)
_NETWORKED = ("EmailRecognizer", "UrlRecognizer")


def presidio_available() -> bool:
    """True when the ``presidio`` extra (presidio-analyzer) is installed."""
    return importlib.util.find_spec("presidio_analyzer") is not None


def _engine(language: str) -> Any:
    """Build Presidio's analyzer with pattern recognizers only and the no-op NLP engine."""
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError as exc:  # the extra is not installed
        raise ModuleNotFoundError(
            "the Presidio screen needs the 'presidio' extra: pip install 'plinth[presidio]'"
        ) from exc
    nlp = NoOpNlpEngine(models=[{"lang_code": language, "model_name": "none"}])
    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=[language])
    for name in _NETWORKED:
        if any(getattr(r, "name", None) == name for r in registry.recognizers):
            registry.remove_recognizer(name)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=[language])


class PresidioDetector:
    """Presidio's recognizers as a ``Detector``; findings' detector is ``presidio``.

    Categories are Presidio's entity names in lower case with dashes (``credit-card``,
    ``us-ssn``); scores are Presidio's. The analyzer is built on first use (about a
    second) and shared by the threads that use this detector.
    """

    name = "presidio"

    def __init__(
        self,
        *,
        entities: Sequence[str] = DEFAULT_ENTITIES,
        language: str = "en",
        score_threshold: float = 0.5,
    ) -> None:
        self.entities = list(entities)
        self.language = language
        self.score_threshold = score_threshold
        self._analyzer: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._analyzer is None:
                self._analyzer = _engine(self.language)
            return self._analyzer

    def find(self, text: str, *, kind: Kind = "prompt") -> Sequence[Finding]:
        """Return Presidio's results in ``text`` at or above the score threshold."""
        results = self._get().analyze(
            text=text,
            language=self.language,
            entities=self.entities,
            score_threshold=self.score_threshold,
        )
        return [
            Finding(
                self.name,
                str(r.entity_type).lower().replace("_", "-"),
                int(r.start),
                int(r.end),
                float(r.score),
            )
            for r in results
            if 0 <= r.start < r.end <= len(text)
        ]
