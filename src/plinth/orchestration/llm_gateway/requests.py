"""OpenAI requests, checked: shape, sizes, and an upper bound on their input tokens.

Only what the gateway relies on is checked (the upstream checks the rest): a JSON
object with a model name; for chat, a non-empty list of messages with known roles and
text (or text parts) as content, integer limits in range, ``stream`` a boolean; for
embeddings, a string, a list of strings or token arrays. Anything else is a 400 in the
OpenAI format. The input bound is the UTF-8 size of the text plus a few tokens per
message: no tokenizer makes more tokens than bytes, so a budget hold built on it is
never too small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from plinth.orchestration.llm_gateway.errors import LlmError, bad_request

__all__ = ["ChatRequest", "EmbeddingsRequest", "message_texts", "parse_chat", "parse_embeddings"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_MESSAGES = 4096
MAX_TOKENS = 1_000_000
PER_MESSAGE = 8


@dataclass
class ChatRequest:
    """A checked chat completion request."""

    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    choices: int
    input_bound: int


@dataclass
class EmbeddingsRequest:
    """A checked embeddings request."""

    body: dict[str, Any]
    model: str
    input_bound: int


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("the request body is not valid JSON", "invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", "invalid_json")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > 200:
        raise LlmError(
            400, "'model' must be a non-empty string", type="invalid_request_error", code="model"
        )
    return model


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"'{key}' must be an integer from {low} to {high}", key)
    return value


def _text_of(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise bad_request(f"{where}: each content part must be an object with a type")
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise bad_request(f"{where}: a text part needs a string 'text'")
                texts.append(part["text"])
        return "\n".join(texts)
    raise bad_request(f"{where}: content must be a string, a list of parts or null")


def message_texts(messages: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """Return (index, role, text) of each message (already checked)."""
    return [
        (i, str(m["role"]), _text_of(m.get("content"), f"messages[{i}]"))
        for i, m in enumerate(messages)
    ]


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", "messages")
    if len(messages) > MAX_MESSAGES:
        raise bad_request(f"at most {MAX_MESSAGES} messages", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad_request(f"messages[{i}] must be an object with a known role", "messages")
        _text_of(message.get("content"), f"messages[{i}]")
    return messages


def parse_chat(raw: bytes) -> ChatRequest:
    """Check a chat completion request; raise LlmError (400) when it is malformed."""
    body = _object(raw)
    model = _model(body)
    messages = _messages(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    include_usage = bool((options or {}).get("include_usage", False))
    max_tokens = _int(body, "max_completion_tokens", 1, MAX_TOKENS)
    if max_tokens is None:
        max_tokens = _int(body, "max_tokens", 1, MAX_TOKENS)
    choices = _int(body, "n", 1, 16) or 1
    size = sum(len(text.encode()) for _, _, text in message_texts(messages))
    tools = body.get("tools")
    if tools is not None:
        size += len(json.dumps(tools).encode())
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        choices=choices,
        input_bound=size + PER_MESSAGE * len(messages) + PER_MESSAGE,
    )


def parse_embeddings(raw: bytes) -> EmbeddingsRequest:
    """Check an embeddings request; raise LlmError (400) when it is malformed."""
    body = _object(raw)
    model = _model(body)
    given = body.get("input")
    items = given if isinstance(given, list) else [given]
    if not items or len(items) > 2048:
        raise bad_request("'input' must be a string or a list of 1 to 2048 items", "input")
    bound = 0
    for item in items:
        if isinstance(item, str):
            bound += len(item.encode()) + 1
        elif isinstance(item, int) and not isinstance(item, bool):
            bound += 1
        elif isinstance(item, list) and all(
            isinstance(t, int) and not isinstance(t, bool) for t in item
        ):
            bound += len(item)
        else:
            raise bad_request("'input' must be strings or arrays of token ids", "input")
    return EmbeddingsRequest(body=body, model=model, input_bound=bound)
