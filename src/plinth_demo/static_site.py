"""A demo static site: serves the directory ``SITE_DIR`` on 127.0.0.1:$PORT.

Without ``SITE_DIR`` it writes a tiny ``index.html`` into ``$PLINTH_FILES_DIR/site``
(or a temporary directory) and serves that. ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import functools
import os
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["SiteHandler", "main", "site_dir"]

INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>Plinth demo site</title></head>
<body><h1>Hello from Plinth</h1><p>This static site runs on the local provider.</p></body>
</html>
"""


def site_dir() -> Path:
    """Return the directory to serve, writing the bundled page when none is given."""
    given = os.environ.get("SITE_DIR")
    if given:
        return Path(given)
    files = os.environ.get("PLINTH_FILES_DIR")
    root = Path(files) / "site" if files else Path(tempfile.mkdtemp(prefix="plinth-site-"))
    root.mkdir(parents=True, exist_ok=True)
    index = root / "index.html"
    if not index.exists():
        index.write_text(INDEX)
    return root


class SiteHandler(SimpleHTTPRequestHandler):
    """Serves files, plus ``/healthz``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        """Serve one GET request."""
        if self.path.split("?", 1)[0] == "/healthz":
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def main() -> None:
    """Serve until killed."""
    port = int(os.environ.get("PORT", "8000"))
    root = site_dir()
    handler = functools.partial(SiteHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    print(f"plinth demo static site serving {root} on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
