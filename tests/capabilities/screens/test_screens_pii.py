"""PII screen: each kind of personal data, checksums, look-alikes, redaction offsets."""

from __future__ import annotations

import pytest

from plinth.capabilities.screens import PiiDetector, default_screens
from plinth.capabilities.screens.pii import iban_valid, luhn_valid

DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    """Return (category, matched text) for each finding, in order."""
    out = sorted(DETECTOR.find(text), key=lambda f: f.start)
    return [(f.category, text[f.start : f.end]) for f in out]


@pytest.mark.parametrize(
    ("text", "category", "value"),
    [
        ("mail jane.doe@example.com now", "email", "jane.doe@example.com"),
        ("call +44 20 7946 0958 today", "phone", "+44 20 7946 0958"),
        ("call (555) 010-4567", "phone", "(555) 010-4567"),
        ("card 4111 1111 1111 1111 exp", "credit-card", "4111 1111 1111 1111"),
        ("card 5555-5555-5555-4444.", "credit-card", "5555-5555-5555-4444"),
        ("amex 378282246310005", "credit-card", "378282246310005"),
        ("IBAN GB82 WEST 1234 5698 7654 32 ok", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000", "iban", "DE89370400440532013000"),
        ("ssn 123-45-6789.", "us-ssn", "123-45-6789"),
        ("from 203.0.113.7 at noon", "ip-address", "203.0.113.7"),
    ],
)
def test_personal_data_is_found(text: str, category: str, value: str) -> None:
    assert (category, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # fails Luhn
        "ref 1234 5678 9012 3456",  # fails Luhn
        "IBAN GB83 WEST 1234 5698 7654 32",  # wrong check digits
        "ssn 000-12-3456 and 666-12-3456 and 900-12-3456",  # never issued
        "version 10.2.3.4 and v1.2.3.4",
        "Chapter 4.2.1.7 and the block 10.0.0.0/8",
        "meeting on 2026-03-15 at 14:30, total $1,234,567.89",
        "decorator @dataclass on the class, mention @team",
        "ISBN 978-3-16-148410-0",
    ],
)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert found(text) == []


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654 3")  # wrong length
    assert not iban_valid("ZZ82 WEST 1234 5698 7654 32")  # unknown country


def test_redaction_replaces_exact_spans() -> None:
    text = "Ping jane@example.com or +44 20 7946 0958; card 4111 1111 1111 1111."
    result = default_screens().scan(text, kind="response")
    assert result.action == "redact"
    assert result.redacted == (
        "Ping [REDACTED:EMAIL] or [REDACTED:PHONE]; card [REDACTED:CREDIT_CARD]."
    )
    for f in result.findings:
        assert text[f.start : f.end] in {
            "jane@example.com",
            "+44 20 7946 0958",
            "4111 1111 1111 1111",
        }


def test_pii_in_prompts_is_recorded_not_redacted_by_default() -> None:
    result = default_screens().scan("my mail is jane@example.com", kind="prompt")
    assert result.action == "allow"
    assert result.categories == ["email"]
    assert result.redacted == "my mail is jane@example.com"
