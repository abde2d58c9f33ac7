"""Checking OpenAI requests: shapes, limits and the input bound."""

from __future__ import annotations

import json

import pytest

from plinth.orchestration.llm_gateway import LlmError, parse_chat, parse_embeddings


def chat(**body: object) -> bytes:
    return json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "héllo"}], **body}
    ).encode()


def test_a_plain_chat_request() -> None:
    request = parse_chat(chat(max_tokens=10, stream=True, stream_options={"include_usage": True}))
    assert request.model == "m" and request.stream and request.include_usage
    assert request.max_tokens == 10 and request.choices == 1
    assert request.input_bound >= len("héllo".encode())  # never below the UTF-8 size


def test_text_parts_count_in_the_bound() -> None:
    parts = [{"type": "text", "text": "a" * 100}, {"type": "image_url", "image_url": {"url": "x"}}]
    request = parse_chat(
        json.dumps({"model": "m", "messages": [{"role": "user", "content": parts}]}).encode()
    )
    assert request.input_bound >= 100


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{nope", "invalid_json"),
        (b"[]", "invalid_json"),
        (json.dumps({"messages": []}).encode(), "model"),
        (json.dumps({"model": "m", "messages": []}).encode(), "messages"),
        (
            json.dumps({"model": "m", "messages": [{"role": "x", "content": "y"}]}).encode(),
            "messages",
        ),
        (chat(max_tokens=0), "max_tokens"),
        (chat(max_tokens=True), "max_tokens"),
        (chat(stream="yes"), "stream"),
        (chat(n=99), "n"),
        (
            json.dumps({"model": "m", "messages": [{"role": "user", "content": 5}]}).encode(),
            "invalid_request",
        ),
    ],
)
def test_malformed_chat_requests_are_400(raw: bytes, code: str) -> None:
    with pytest.raises(LlmError) as refused:
        parse_chat(raw)
    assert refused.value.status == 400 and refused.value.code == code
    assert json.loads(refused.value.body())["error"]["type"] == "invalid_request_error"


def test_embeddings_requests() -> None:
    assert parse_embeddings(json.dumps({"model": "e", "input": "abcd"}).encode()).input_bound == 5
    tokens = parse_embeddings(json.dumps({"model": "e", "input": [[1, 2, 3], [4]]}).encode())
    assert tokens.input_bound == 4
    with pytest.raises(LlmError):
        parse_embeddings(json.dumps({"model": "e", "input": [{"x": 1}]}).encode())
    with pytest.raises(LlmError):
        parse_embeddings(json.dumps({"model": "e", "input": []}).encode())
