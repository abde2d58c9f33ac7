"""The Presidio adapter: runs offline on Presidio's pattern recognizers when the extra is in."""

from __future__ import annotations

import pytest

from plinth.capabilities.screens import default_screens
from plinth.capabilities.screens.presidio import PresidioDetector, presidio_available

pytestmark = pytest.mark.skipif(
    not presidio_available(),
    reason="the 'presidio' extra (presidio-analyzer) is not installed",
)


@pytest.fixture(scope="module")
def detector() -> PresidioDetector:
    """One analyzer for the module (building it takes about a second)."""
    return PresidioDetector()


def test_presidio_finds_cards_ibans_and_ssns(detector: PresidioDetector) -> None:
    text = "card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, ssn 123-45-6789"
    found = {(f.category, text[f.start : f.end]) for f in detector.find(text)}
    assert ("credit-card", "4111 1111 1111 1111") in found
    assert ("iban-code", "GB82 WEST 1234 5698 7654 32") in found
    assert all(f.detector == "presidio" for f in detector.find(text))


def test_presidio_ignores_a_card_that_fails_luhn(detector: PresidioDetector) -> None:
    assert [
        f for f in detector.find("order 4111 1111 1111 1112") if f.category == "credit-card"
    ] == []


def test_presidio_plugs_into_a_screen_set(detector: PresidioDetector) -> None:
    screens = default_screens()
    screens.add(detector)
    result = screens.scan("pay to IBAN DE89 3704 0044 0532 0130 00 today", kind="response")
    assert result.action == "redact"
    assert "presidio" in {f.detector for f in result.findings}
    assert "DE89" not in result.redacted
