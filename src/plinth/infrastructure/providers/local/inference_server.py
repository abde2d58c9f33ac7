"""The inference server of one model-deployment replica (a real HTTP server, stdlib only).

Run as ``python -m plinth.infrastructure.providers.local.inference_server --artifact PATH
--digest sha256:... --format sklearn|onnx|embeddings --model name@version --port N``.

On start it recomputes the artifact's digest (the model registry's: the SHA-256 of the
sorted ``[file name, sha256]`` manifest, see ``artifact_digest``) and refuses to serve an
artifact that changed (exit code 3), then loads the model (exit code 4 when it cannot).

Routes: ``GET /healthz``; ``GET /v1/models``; ``POST /v1/predict`` with
``{"instances": [[...], ...]}`` answering ``{"predictions": [...]}`` (scikit-learn
pickle/joblib and ONNX models); ``POST /v1/embeddings`` OpenAI-compatible (``input`` a
string or a list of strings) for the ``embeddings`` format; ``GET /metrics/usage``: the
requests, predictions and tokens counted since start.

Loading a pickle runs code from the artifact: the platform deploys only artifacts whose
digest the registry recorded and whose signature its gate verified.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from plinth.core.digest import canonical_json
from plinth.infrastructure.providers.local.serving_models import LoadedModel, load_model

__all__ = [
    "EXIT_TAMPERED",
    "EXIT_UNLOADABLE",
    "MAX_BODY_BYTES",
    "Counters",
    "artifact_digest",
    "main",
    "read_json_body",
    "send_json",
]

EXIT_TAMPERED = 3
EXIT_UNLOADABLE = 4
MAX_BODY_BYTES = 10 * 1024 * 1024
_GIT_PATHS = frozenset({".git", ".github", ".gitattributes", ".gitignore"})


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def artifact_digest(path: Path) -> str:
    """Return the registry's digest of a model file or directory (``sha256:<hex>``).

    Raises:
        FileNotFoundError: nothing is at ``path``.
    """
    if path.is_file():
        items = [(".", _sha256_file(path))]
    elif path.is_dir():
        items = [
            (file.relative_to(path).as_posix(), _sha256_file(file))
            for file in path.rglob("*")
            if file.is_file() and file.relative_to(path).parts[0] not in _GIT_PATHS
        ]
    else:
        raise FileNotFoundError(f"no model artifact at {path}")
    body = canonical_json(sorted([name, sha] for name, sha in items))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


class Counters:
    """Thread-safe request counters, as served at ``/metrics/usage``."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        start = initial or {}
        saved = start.get("requests") or {}
        self.requests: dict[str, int] = {str(k): int(v) for k, v in saved.items()}
        self.predictions = int(start.get("predictions", 0))
        self.tokens = int(start.get("tokens", 0))
        self.errors = int(start.get("errors", 0))
        self.changed = False

    def add(
        self, route: str, *, predictions: int = 0, tokens: int = 0, error: bool = False
    ) -> None:
        """Count one request to ``route``."""
        with self._lock:
            self.requests[route] = self.requests.get(route, 0) + 1
            self.predictions += predictions
            self.tokens += tokens
            self.errors += int(error)
            self.changed = True

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as JSON-ready data."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "predictions": self.predictions,
                "tokens": self.tokens,
                "errors": self.errors,
            }


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    """Write ``body`` as a JSON response."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def read_json_body(handler: BaseHTTPRequestHandler) -> Any:
    """Return the request's JSON body; ValueError with a reason when it is not one."""
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_BODY_BYTES:
        raise ValueError(f"request body over {MAX_BODY_BYTES} bytes")
    raw = handler.rfile.read(length) if length else b""
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise ValueError(f"request body is not JSON: {exc.args[0]}") from exc


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


def _make_handler(
    model: LoadedModel, name: str, digest: str, counters: Counters
) -> type[BaseHTTPRequestHandler]:
    routes_get: dict[str, Callable[[], Any]] = {
        "/healthz": lambda: {"status": "ok", "model": name, "digest": digest},
        "/v1/models": lambda: {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "plinth", "format": model.format}],
        },
        "/metrics/usage": counters.snapshot,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            route = routes_get.get(self.path.split("?", 1)[0])
            if route is None:
                send_json(self, 404, _error(f"no route {self.path}", "not_found"))
                return
            send_json(self, 200, route())

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ("/v1/predict", "/v1/embeddings"):
                send_json(self, 404, _error(f"no route {path}", "not_found"))
                return
            try:
                body = read_json_body(self)
                if path == "/v1/predict":
                    result = _predict(model, name, body)
                    count, tokens = len(result["predictions"]), 0
                else:
                    result = _embeddings(model, name, body)
                    count, tokens = 0, int(result["usage"]["total_tokens"])
            except LookupError as exc:
                counters.add(path, error=True)
                send_json(self, 404, _error(str(exc.args[0]), "model_not_found"))
                return
            except (ValueError, TypeError) as exc:
                counters.add(path, error=True)
                send_json(self, 400, _error(str(exc)))
                return
            counters.add(path, predictions=count, tokens=tokens)
            send_json(self, 200, result)

    return Handler


def _predict(model: LoadedModel, name: str, body: Any) -> dict[str, Any]:
    if model.format == "embeddings":
        raise ValueError("this deployment serves embeddings: POST /v1/embeddings")
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        raise ValueError("give 'instances': a non-empty list of feature rows")
    if not all(isinstance(row, list) for row in instances):
        raise ValueError("each instance must be a list of feature values")
    return {"model": name, "predictions": model.predict(instances)}


def _embeddings(model: LoadedModel, name: str, body: Any) -> dict[str, Any]:
    if model.format != "embeddings":
        raise ValueError(f"this deployment serves a {model.format} model: POST /v1/predict")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object with 'input'")
    wanted = body.get("model")
    if wanted not in (None, "", name, name.split("@", 1)[0]):
        raise LookupError(f"model {wanted!r} is not served here (this is {name!r})")
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("'input' must be a string or a non-empty list of strings")
    vectors, tokens = model.embed(texts)
    return {
        "object": "list",
        "model": name,
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _watch_parent(parent: int) -> None:
    """End this process when the parent (the deployment's router) is gone."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify the artifact, load the model and serve until killed; return the exit code."""
    parser = argparse.ArgumentParser(description="Plinth model inference server")
    parser.add_argument("--artifact", required=True, type=Path)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--format", required=True, choices=["sklearn", "onnx", "embeddings"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        actual = artifact_digest(args.artifact)
    except OSError as exc:
        print(f"refusing to serve {args.model}: {exc}", file=sys.stderr, flush=True)
        return EXIT_TAMPERED
    if actual != args.digest:
        print(
            f"refusing to serve {args.model}: the artifact at {args.artifact} has digest "
            f"{actual}, not the registered {args.digest} (it was changed)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_TAMPERED
    try:
        model = load_model(args.format, args.artifact)
    except Exception as exc:
        print(f"cannot load {args.model} ({args.format}): {exc}", file=sys.stderr, flush=True)
        return EXIT_UNLOADABLE
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    handler = _make_handler(model, args.model, args.digest, Counters())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"serving {args.model} on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
