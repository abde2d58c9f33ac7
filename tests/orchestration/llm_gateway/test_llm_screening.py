"""Screens on the gateway's traffic: stream redaction across chunk boundaries."""

from __future__ import annotations

import pytest

from plinth.orchestration.llm_gateway.gateway import prompt_redactions
from plinth.orchestration.llm_gateway.screening import (
    Screening,
    StreamRedactor,
    load_screens,
    response_screens,
)

SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def screening() -> Screening:
    return Screening(load_screens(), response_screens())


def stream(redactor: StreamRedactor, pieces: list[str]) -> str:
    return "".join(redactor.push(p) for p in pieces) + redactor.finish()


@pytest.mark.parametrize("size", [1, 3, 7, 16, 64])
def test_a_secret_split_over_chunks_is_still_redacted(screening: Screening, size: int) -> None:
    text = "Here is the key " + SECRET + " and mail bob@example.com, then more words follow. " * 3
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    redactor = StreamRedactor(screening)
    out = stream(redactor, pieces)
    assert SECRET not in out and "bob@example.com" not in out
    assert out.endswith("then more words follow. ")
    assert redactor.redactions >= 2


def test_clean_text_passes_unchanged(screening: Screening) -> None:
    text = "plinth keeps every inference governed metered and audited " * 4
    pieces = [w + " " for w in text.split(" ")]
    redactor = StreamRedactor(screening)
    assert stream(redactor, pieces) == "".join(pieces)
    assert redactor.redactions == 0


def test_without_screens_text_streams_through() -> None:
    redactor = StreamRedactor(Screening(None))
    assert redactor.push("abc") == "abc" and redactor.finish() == ""


def test_prompt_redactions_count_what_was_redacted_out_of_prompts_and_tool_results() -> None:
    screens = {
        "prompt": [
            {"message": 0, "action": "redact", "found": ["email", "aws_key"], "redacted": 2},
            {"message": 1, "action": "redact", "found": ["email"]},  # seen, not redacted
        ],
        "tool": [{"message": 2, "action": "redact", "found": ["jwt"], "redacted": 1}],
        "response": {"redactions": 4},
    }
    assert prompt_redactions(screens) == 3
    assert prompt_redactions({}) == 0
