"""A local upstream that speaks the OpenAI protocol, for tests and benchmarks.

``python -m plinth.integration.llm_upstream --port 8790`` serves, on plain asyncio
(HTTP/1.1, kept-alive connections, no framework, so it adds next to nothing to a
measurement):

- ``POST /v1/chat/completions``: a deterministic answer of ``max_tokens`` words
  (default 16), or, when the last user message contains ``ECHO:``, the text after it;
  with ``stream: true`` as server-sent events (one chunk per word, a finish chunk, a
  usage chunk when ``stream_options.include_usage``, then ``data: [DONE]``);
- ``POST /v1/embeddings``: small deterministic vectors with usage;
- ``GET /v1/models``: the models it answers to (any name works).

Usage counts one token per word of output and one per four bytes of input plus three
per message. Test hooks in the request body: ``plinth_delay_ms`` (a pause before each
streamed chunk), and the model names ``fail-500`` (HTTP 500) and ``fail-stream`` (the
connection closes after three chunks). Paths without ``/v1`` work too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import time
from typing import Any

__all__ = ["main", "serve"]

WORDS = ("plinth", "keeps", "every", "inference", "governed", "metered", "and", "audited")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json(status: int, value: Any) -> bytes:
    body = _dumps(value)
    return (
        _head(status, {"Content-Type": "application/json", "Content-Length": str(len(body))}) + body
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _answer(body: dict[str, Any]) -> tuple[list[str], int]:
    """Return the answer's pieces and the prompt's token count."""
    messages = body.get("messages") or []
    texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    prompt_tokens = sum(len(t.encode()) for t in texts) // 4 + 3 * len(messages)
    last = next((t for t in reversed(texts) if "ECHO:" in t), None)
    if last is not None:
        echoed = last.split("ECHO:", 1)[1].strip()
        pieces = [w + " " for w in echoed.split(" ")]
        pieces[-1] = pieces[-1].rstrip()
        return pieces, prompt_tokens
    count = body.get("max_completion_tokens") or body.get("max_tokens") or 16
    count = max(1, min(int(count), 4096))
    return [
        WORDS[i % len(WORDS)] + ("" if i == count - 1 else " ") for i in range(count)
    ], prompt_tokens


def _chunk(cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    event = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    return b"data: " + _dumps(event) + b"\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _stream(writer: asyncio.StreamWriter, body: dict[str, Any]) -> bool:
    """Write a streamed completion; return False when the connection must close."""
    model = str(body.get("model", ""))
    pieces, prompt_tokens = _answer(body)
    delay = float(body.get("plinth_delay_ms") or 0) / 1000
    cid, created = f"chatcmpl-{time.monotonic_ns():x}", int(time.time())
    writer.write(
        _head(
            200,
            {
                "Content-Type": "text/event-stream",
                "Transfer-Encoding": "chunked",
                "Cache-Control": "no-cache",
            },
        )
    )
    writer.write(_chunked(_chunk(cid, model, created, {"role": "assistant", "content": ""}, None)))
    for i, piece in enumerate(pieces):
        if delay:
            await asyncio.sleep(delay)
        if model == "fail-stream" and i == 3:
            await writer.drain()
            return False
        writer.write(_chunked(_chunk(cid, model, created, {"content": piece}, None)))
        await writer.drain()
    writer.write(_chunked(_chunk(cid, model, created, {}, "stop")))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        event = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        writer.write(_chunked(b"data: " + _dumps(event) + b"\n\n"))
    writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()
    return True


def _completion(body: dict[str, Any]) -> bytes:
    model = str(body.get("model", ""))
    pieces, prompt_tokens = _answer(body)
    message = {"role": "assistant", "content": "".join(pieces)}
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens + len(pieces),
    }
    return _json(
        200,
        {
            "id": f"chatcmpl-{time.monotonic_ns():x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": usage,
        },
    )


def _embeddings(body: dict[str, Any]) -> bytes:
    given = body.get("input")
    items = (
        given if isinstance(given, list) and given and not isinstance(given[0], int) else [given]
    )
    data, tokens = [], 0
    for i, item in enumerate(items):
        text = item if isinstance(item, str) else json.dumps(item)
        tokens += max(1, len(text.encode()) // 4)
        seed = hashlib.sha256(text.encode()).digest()
        data.append(
            {
                "object": "embedding",
                "index": i,
                "embedding": [round(b / 255 - 0.5, 6) for b in seed[:8]],
            }
        )
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json(
        200, {"object": "list", "data": data, "model": str(body.get("model", "")), "usage": usage}
    )


def _error(status: int, message: str) -> bytes:
    return _json(
        status,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    )


async def _respond(writer: asyncio.StreamWriter, method: str, path: str, raw: bytes) -> bool:
    """Answer one request; return False when the connection must close."""
    path = path.split("?", 1)[0].removeprefix("/v1")
    if method == "GET" and path == "/models":
        names = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
        writer.write(
            _json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": n, "object": "model", "created": 0, "owned_by": "local"}
                        for n in names
                    ],
                },
            )
        )
        return True
    if method != "POST" or path not in ("/chat/completions", "/embeddings"):
        writer.write(_error(404, f"no route {method} {path}"))
        return True
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        writer.write(_error(400, f"invalid JSON: {exc}"))
        return True
    if body.get("model") == "fail-500":
        writer.write(_error(500, "the upstream failed (test hook)"))
        return True
    if path == "/embeddings":
        writer.write(_embeddings(body))
        return True
    if body.get("stream"):
        return await _stream(writer, body)
    writer.write(_completion(body))
    return True


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)
            }
            raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            keep = await _respond(writer, method, path, raw)
            await writer.drain()
            if not keep or headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(host: str, port: int) -> None:
    """Serve until cancelled."""
    server = await asyncio.start_server(_connection, host, port, backlog=1024)
    print(f"OpenAI-compatible upstream on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Run the upstream from the command line."""
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
