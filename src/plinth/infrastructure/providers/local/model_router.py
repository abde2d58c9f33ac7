"""The front process of a model deployment: round-robin proxy, replica supervisor, scale to zero.

Run as ``python -c 'from ...model_router import main; main()' CONFIG.json`` (see ``serving``). It
listens on the deployment's port, starts ``replicas`` inference servers (each on a port
of its own, as its children, marked ``PLINTH_CONTAINER=replica-<i>``), restarts one that
dies, and forwards ``POST /v1/*`` to the ready replicas in turn. After
``scale_to_zero_after_seconds`` without a request it stops every replica; the next
request starts them again and waits for the first to be ready (a cold start, answered
with the header ``X-Plinth-Cold-Start: true``). A replica that refuses its artifact
(changed on disk) is not restarted: the deployment reports ``failed`` with the reason.

It answers itself: ``GET /healthz`` and ``GET /v1/models`` (without waking replicas),
``GET /metrics/usage`` (requests, predictions and tokens, kept across restarts in
``usage.json``) and ``GET /_plinth/status`` (what the provider observes).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.health import free_port, http_status
from plinth.infrastructure.providers.local.inference_server import (
    EXIT_TAMPERED,
    Counters,
    read_json_body,
    send_json,
)
from plinth.infrastructure.providers.local.layout import read_json, write_json_atomic

__all__ = ["Replica", "Router", "main"]

_SERVER = (
    "import sys; from plinth.infrastructure.providers.local.inference_server import main; "
    "sys.exit(main())"
)
_MAX_BACKOFF_S = 10.0
_FORWARDED = frozenset({"/v1/predict", "/v1/embeddings"})


@dataclass
class Replica:
    """One inference server process started by the router."""

    index: int
    port: int
    process: subprocess.Popen[bytes]
    ready: bool = False
    failures: int = 0


class Router:
    """Supervises the replicas of one deployment and picks one for each request."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.desired = int(config["replicas"])
        idle = config.get("scale_to_zero_after_seconds")
        self.idle_after = float(idle) if idle is not None else None
        self.cold_timeout = float(config.get("cold_start_timeout_s", 120.0))
        self.usage_path = Path(config["run_dir"]) / "usage.json"
        self.counters = Counters(read_json(self.usage_path))
        self.replicas: dict[int, Replica] = {}
        self.error = ""
        self.cold_starts = 0
        self.last_request = time.monotonic()
        self.in_flight = 0
        self._next = 0
        self._restart_at: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._cond = threading.Condition()

    def _launch(self, index: int, failures: int = 0) -> None:
        taken = frozenset(r.port for r in self.replicas.values())
        port = free_port(exclude=taken)
        argv = [
            sys.executable, "-c", _SERVER,
            "--artifact", str(self.config["artifact"]), "--digest", str(self.config["digest"]),
            "--format", str(self.config["format"]), "--model", str(self.config["model"]),
            "--port", str(port), "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        env = {**os.environ, processes.MARK_CONTAINER: f"replica-{index}"}
        log_path = Path(self.config["logs_dir"]) / f"replica-{index}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with log_path.open("ab") as log:
                proc = subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
        except OSError as exc:
            self.error = f"cannot start replica {index}: {exc}"
            return
        self.replicas[index] = Replica(index, port, proc, failures=failures)

    def start_all(self) -> None:
        """Start every missing replica (caller holds the condition)."""
        if self.error:
            return
        for index in range(self.desired):
            if index not in self.replicas:
                self._launch(index)

    def start(self) -> None:
        """Start the replicas the spec asks for."""
        with self._cond:
            self.start_all()

    def shutdown(self) -> None:
        """Stop every replica and save the counters."""
        with self._cond:
            self.stop_all()
        write_json_atomic(self.usage_path, self.counters.snapshot())

    def stop_all(self) -> None:
        """Stop every replica (caller holds the condition)."""
        for replica in self.replicas.values():
            replica.process.terminate()
        for replica in self.replicas.values():
            try:
                replica.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()
        self.replicas.clear()
        self._restart_at.clear()

    def _check(self, replica: Replica) -> None:
        """Notice a replica that became ready or ended (caller holds the condition)."""
        if self.replicas.get(replica.index) is not replica:
            return
        code = replica.process.poll()
        if code is None:
            if not replica.ready:
                replica.ready = http_status(f"http://127.0.0.1:{replica.port}/healthz") == 200
                if replica.ready:
                    replica.failures = 0
                    self.last_request = max(self.last_request, time.monotonic())
                    self._cond.notify_all()
            return
        del self.replicas[replica.index]
        log = Path(self.config["logs_dir"]) / f"replica-{replica.index}.log"
        last = (processes.tail_lines(log, 1) or [f"exit code {code}"])[-1]
        if code == EXIT_TAMPERED:
            self.error = last
            self.stop_all()
            self._cond.notify_all()
            return
        failures = replica.failures + 1
        backoff = min(_MAX_BACKOFF_S, 0.2 * 2**failures)
        self._restart_at[replica.index] = time.monotonic() + backoff
        self._failures[replica.index] = failures
        print(f"replica {replica.index} ended ({last}); restarting in {backoff:.1f}s", flush=True)

    def supervise_once(self) -> None:
        """Check replicas, restart dead ones, scale to zero when idle."""
        with self._cond:
            for replica in list(self.replicas.values()):
                self._check(replica)
            now = time.monotonic()
            for index, when in list(self._restart_at.items()):
                if when <= now and not self.error:
                    del self._restart_at[index]
                    self._launch(index, self._failures.get(index, 0))
            idle = now - self.last_request
            resting = self.idle_after is not None and idle >= self.idle_after
            settled = all(r.ready for r in self.replicas.values()) and not self._restart_at
            if resting and settled and self.replicas and self.in_flight == 0:
                print(f"idle for {idle:.0f}s: scaling to zero", flush=True)
                self.stop_all()
            if self.counters.changed:
                self.counters.changed = False
                write_json_atomic(self.usage_path, self.counters.snapshot())

    def acquire(self) -> tuple[Replica | None, bool, str]:
        """Return a ready replica (waking the deployment when needed), whether it was cold."""
        with self._cond:
            self.last_request = time.monotonic()
            cold = False
            if self.desired == 0:
                return None, False, "the deployment is scaled to 0 replicas by its spec"
            deadline = time.monotonic() + self.cold_timeout
            while not self.error:
                if not self.replicas and not self._restart_at:
                    cold = True
                    self.cold_starts += 1
                    self.start_all()
                ready = [r for r in self.replicas.values() if r.ready]
                if ready:
                    self._next += 1
                    self.in_flight += 1
                    return ready[self._next % len(ready)], cold, ""
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, cold, "no replica became ready in time"
                self.in_flight += 1  # a waiting request keeps the replicas up
                self._cond.wait(min(left, 0.1))
                self.in_flight -= 1
                for replica in list(self.replicas.values()):
                    self._check(replica)
            return None, cold, self.error

    def release(self) -> None:
        """Mark one forwarded request as done."""
        with self._cond:
            self.in_flight -= 1
            self.last_request = time.monotonic()

    def status(self) -> dict[str, Any]:
        """Return what the provider observes."""
        with self._cond:
            ready = sum(1 for r in self.replicas.values() if r.ready)
            if self.error:
                state = "failed"
            elif self.desired == 0:
                state = "paused"
            elif not self.replicas and not self._restart_at:
                state = "scaled-to-zero"
            else:
                state = "serving" if ready else "starting"
            return {
                "state": state,
                "replicas": self.desired,
                "running_replicas": len(self.replicas),
                "ready_replicas": ready,
                "cold_starts": self.cold_starts,
                "error": self.error,
                "model": self.config["model"],
                "format": self.config["format"],
                "usage": self.counters.snapshot(),
            }


def _forward(replica: Replica, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=300)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _make_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    model = str(router.config["model"])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                status = router.status()
                code = 503 if status["state"] == "failed" else 200
                send_json(self, code, {"status": status["state"], "model": model})
            elif path == "/v1/models":
                entry = {"id": model, "object": "model", "owned_by": "plinth"}
                send_json(self, 200, {"object": "list", "data": [entry]})
            elif path == "/metrics/usage":
                send_json(self, 200, {**router.counters.snapshot(), "model": model})
            elif path == "/_plinth/status":
                send_json(self, 200, router.status())
            else:
                send_json(self, 404, {"error": {"message": f"no route {path}"}})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in _FORWARDED:
                send_json(self, 404, {"error": {"message": f"no route {path}"}})
                return
            try:
                parsed = read_json_body(self)
            except ValueError as exc:
                router.counters.add(path, error=True)
                send_json(self, 400, {"error": {"message": str(exc)}})
                return
            replica, cold, reason = router.acquire()
            headers = {"X-Plinth-Cold-Start": "true" if cold else "false"}
            if replica is None:
                router.counters.add(path, error=True)
                send_json(self, 503, {"error": {"message": reason}}, headers)
                return
            try:
                code, raw = _forward(replica, "POST", path, json.dumps(parsed).encode())
            except (OSError, http.client.HTTPException) as exc:
                code, raw = 502, json.dumps({"error": {"message": f"replica: {exc}"}}).encode()
            finally:
                router.release()
            _count(router, path, code, raw)
            self.send_response(code)
            headers["X-Plinth-Replica"] = str(replica.index)
            headers.update({"Content-Type": "application/json", "Content-Length": str(len(raw))})
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler


def _count(router: Router, path: str, code: int, raw: bytes) -> None:
    try:
        answer = json.loads(raw) if code == 200 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        router.counters.add(path, error=True)
        return
    predictions = len(answer.get("predictions") or [])
    tokens = int((answer.get("usage") or {}).get("total_tokens") or 0)
    router.counters.add(path, predictions=predictions, tokens=tokens)


def _supervise(router: Router, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        router.supervise_once()


def main(argv: list[str] | None = None) -> int:
    """Run the router of the deployment described by the config file; return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    router = Router(config)
    server = ThreadingHTTPServer(("127.0.0.1", int(config["port"])), _make_handler(router))
    server.daemon_threads = True
    stop = threading.Event()

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    router.start()
    threading.Thread(target=_supervise, args=(router, stop), daemon=True).start()
    print(f"routing {config['model']} on http://127.0.0.1:{config['port']}", flush=True)
    try:
        server.serve_forever()
    finally:
        stop.set()
        router.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
