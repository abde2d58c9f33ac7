"""Calls upstream: whole responses (chat, embeddings) and chat streams, screened and metered.

A stream is read line by line from the upstream (``data: {...}`` events), its text
deltas go through the response screens with a carry-over buffer, and it is sent on
chunk by chunk. The gateway always asks the upstream for the usage chunk
(``stream_options.include_usage``) and passes it on only when the client asked. The
request is metered exactly once, in :meth:`ChatStream.close` (idempotent): with the
upstream's usage when it came, else with what the upstream delivered (input by its
bound's estimate, output by the characters received, four to a token: what was paid
for, including text still held back by the screens), marked ``cut`` when the stream
ended before ``[DONE]`` (the client left or the upstream broke off; in the second case
the held-back text is sent, redacted, before an error event).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from plinth.orchestration.llm_gateway.errors import LlmError
from plinth.orchestration.llm_gateway.gateway import LlmGateway, Prepared, dumps, usage_of
from plinth.orchestration.llm_gateway.screening import StreamRedactor
from plinth.orchestration.llm_gateway.sse import Streamed
from plinth.orchestration.llm_gateway.upstream import (
    TRANSPORT_ERRORS,
    unavailable,
    upstream_error,
)

__all__ = ["ChatStream", "complete", "embed"]

_DONE = b"data: [DONE]\n\n"


def _estimate(chars: int) -> int:
    return (chars + 3) // 4


def _settle_error(gateway: LlmGateway, prepared: Prepared, error: LlmError) -> LlmError:
    gateway.finish(prepared, outcome="error", status=error.status, reason=error.message)
    return error


def _redact_choices(gateway: LlmGateway, document: dict[str, Any]) -> int:
    """Redact the message text of each choice in place; return the redactions made."""
    if not gateway.screening.enabled:
        return 0
    count = 0
    for choice in document.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        text = message.get("content")
        if not isinstance(text, str) or not text:
            continue
        scan = gateway.screening.scan(text, kind="response")
        if scan.action != "allow" and scan.redacted != text:
            message["content"] = scan.redacted
            count += len(scan.categories) or 1
    return count


async def complete(gateway: LlmGateway, prepared: Prepared) -> bytes:
    """Make a chat completion without streaming; return the (screened) response body."""
    route = prepared.route
    try:
        response = await gateway.upstreams.post(
            route.provider, "/chat/completions", dumps(prepared.body)
        )
    except LlmError as exc:
        raise _settle_error(gateway, prepared, exc) from None
    if response.status != 200:
        raise _settle_error(
            gateway, prepared, upstream_error(route.provider.name, response.status, response.body)
        )
    try:
        document = json.loads(response.body)
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise _settle_error(
            gateway, prepared, unavailable(route.provider.name, f"unreadable answer: {exc}")
        ) from None
    usage = usage_of(document)
    if usage is None:
        texts = [
            str((c.get("message") or {}).get("content") or "")
            for c in document.get("choices") or []
        ]
        usage = (_estimate(prepared.input_bound), _estimate(sum(map(len, texts))))
    redactions = _redact_choices(gateway, document)
    if redactions:
        prepared.screens["response"] = {"redactions": redactions}
    changed = redactions or route.upstream_name != route.name
    if changed:
        document["model"] = route.name
    logged = document.get("choices") if prepared.content is not None else None
    gateway.finish(
        prepared,
        outcome="ok",
        status=200,
        tokens_in=usage[0],
        tokens_out=usage[1],
        redactions=redactions,
        response=logged,
    )
    return dumps(document) if changed else response.body


async def embed(gateway: LlmGateway, prepared: Prepared) -> bytes:
    """Make an embeddings request; return the response body."""
    route = prepared.route
    try:
        response = await gateway.upstreams.post(route.provider, "/embeddings", dumps(prepared.body))
    except LlmError as exc:
        raise _settle_error(gateway, prepared, exc) from None
    if response.status != 200:
        raise _settle_error(
            gateway, prepared, upstream_error(route.provider.name, response.status, response.body)
        )
    try:
        document = json.loads(response.body)
        usage = document.get("usage") if isinstance(document, dict) else None
    except ValueError as exc:
        raise _settle_error(
            gateway, prepared, unavailable(route.provider.name, f"unreadable answer: {exc}")
        ) from None
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int):
        tokens = _estimate(prepared.input_bound)
    gateway.finish(prepared, outcome="ok", status=200, tokens_in=tokens)
    if route.upstream_name != route.name:
        document["model"] = route.name
        return dumps(document)
    return response.body


class ChatStream:
    """One streamed chat completion: ``open``, then ``chunks``, then ``close`` (always)."""

    def __init__(self, gateway: LlmGateway, prepared: Prepared, *, client_usage: bool) -> None:
        self.gateway, self.prepared, self.client_usage = gateway, prepared, client_usage
        self._stack = AsyncExitStack()
        self._response: Streamed | None = None
        self._redactors: dict[int, StreamRedactor] = {}
        self._usage: tuple[int, int] | None = None
        self._delivered = 0
        self._received = 0
        self._texts: dict[int, list[str]] = {}
        self._done = False
        self._closed = False
        self._reason = ""

    async def open(self) -> None:
        """Start the upstream stream; raise LlmError (settled) when it cannot start."""
        route = self.prepared.route
        try:
            response = await self._stack.enter_async_context(
                self.gateway.upstreams.stream(
                    route.provider, "/chat/completions", dumps(self.prepared.body)
                )
            )
            if response.status != 200:
                body = await response.read()
                raise upstream_error(route.provider.name, response.status, body)
        except TRANSPORT_ERRORS as exc:
            self._closed = True
            await self._stack.aclose()
            error = unavailable(route.provider.name, f"{type(exc).__name__}: {exc}")
            raise _settle_error(self.gateway, self.prepared, error) from None
        except LlmError as exc:
            self._closed = True
            await self._stack.aclose()
            raise _settle_error(self.gateway, self.prepared, exc) from None
        self._response = response

    def _redactor(self, index: int) -> StreamRedactor:
        found = self._redactors.get(index)
        if found is None:
            found = self._redactors[index] = StreamRedactor(self.gateway.screening)
        return found

    def _rewrite(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """Screen one chunk's deltas in place (held-back text joins the finishing delta)."""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = int(choice.get("index") or 0)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice["delta"] = {}
            redactor = self._redactor(index)
            text = delta.get("content")
            if isinstance(text, str) and text:
                self._received += len(text)
                delta["content"] = redactor.push(text)
            if choice.get("finish_reason"):
                tail = redactor.finish()
                if tail:
                    delta["content"] = (delta.get("content") or "") + tail
            sent = delta.get("content")
            if isinstance(sent, str) and sent:
                self._delivered += len(sent)
                if self.prepared.content is not None:
                    self._texts.setdefault(index, []).append(sent)
        if self.prepared.route.upstream_name != self.prepared.route.name:
            chunk["model"] = self.prepared.route.name
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the SSE events to send to the client."""
        assert self._response is not None
        try:
            async for line in self._response.lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if self._done:
                    continue  # read to the end of the body, so the connection is reused
                if data == "[DONE]":
                    self._done = True
                    yield _DONE
                    continue
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(chunk, dict):
                    continue
                usage = usage_of(chunk)
                if usage is not None:
                    self._usage = usage
                    if not self.client_usage:
                        if not chunk.get("choices"):
                            continue
                        chunk.pop("usage", None)
                yield b"data: " + dumps(self._rewrite(chunk)) + b"\n\n"
        except TRANSPORT_ERRORS as exc:
            for index, redactor in self._redactors.items():  # what was held back goes out
                tail = redactor.finish()
                if tail:
                    self._delivered += len(tail)
                    choice = {"index": index, "delta": {"content": tail}, "finish_reason": None}
                    yield (
                        b"data: "
                        + dumps({"object": "chat.completion.chunk", "choices": [choice]})
                        + b"\n\n"
                    )
            self._reason = f"the upstream stream broke off: {type(exc).__name__}"
            error = {
                "error": {"message": self._reason, "type": "upstream_error", "code": "stream_cut"}
            }
            yield b"data: " + dumps(error) + b"\n\n"

    async def close(self) -> None:
        """Meter the stream once (cut when it did not reach [DONE]) and close the upstream."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._stack.aclose()
        finally:
            self._meter()

    def _meter(self) -> None:
        redactions = sum(r.redactions for r in self._redactors.values())
        if redactions:
            self.prepared.screens["response"] = {"redactions": redactions}
        if self._usage is not None:
            tokens_in, tokens_out = self._usage
        else:
            tokens_in = _estimate(self.prepared.input_bound)
            tokens_out = _estimate(self._received)
        cut = not self._done
        self.gateway.finish(
            self.prepared,
            outcome="cut" if cut else "ok",
            status=200,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            redactions=redactions,
            response=[{"index": i, "content": "".join(t)} for i, t in sorted(self._texts.items())],
            reason=self._reason or ("the client left before the end of the stream" if cut else ""),
        )
