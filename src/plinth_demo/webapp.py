"""A demo web service: ``GET /`` says who it is and whether its database answers.

Listens on 127.0.0.1:$PORT. When ``DATABASE_URL`` is set, each ``GET /`` runs
``SELECT 1`` and counts the visit in a small table; ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DemoHandler", "database_status", "main"]


def database_status(url: str | None) -> tuple[str, int | None]:
    """Return ("connected" | "not configured" | "error: ...", visit count or None)."""
    if not url:
        return "not configured", None
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS plinth_demo_visits "
                "(id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute("INSERT INTO plinth_demo_visits DEFAULT VALUES")
            row = conn.execute("SELECT count(*) FROM plinth_demo_visits").fetchone()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"error: {first}", None
    return "connected", int(row[0]) if row else 0


class DemoHandler(BaseHTTPRequestHandler):
    """Answers ``/`` with JSON and ``/healthz`` with ``ok``."""

    server_version = "plinth-demo/1"

    def do_GET(self) -> None:
        """Serve one GET request."""
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok", "text/plain")
            return
        if path != "/":
            self._send(404, json.dumps({"error": "not found"}).encode(), "application/json")
            return
        status, visits = database_status(os.environ.get("DATABASE_URL"))
        body: dict[str, Any] = {
            "service": os.environ.get("PLINTH_SERVICE_NAME") or "demo",
            "database": status,
        }
        if visits is not None:
            body["visits"] = visits
        self._send(200, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    """Serve until killed."""
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), DemoHandler)
    print(f"plinth demo web service listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
