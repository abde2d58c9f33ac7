"""A demo scheduled task: prints a timestamped line and exits 0."""

from __future__ import annotations

import os
from datetime import UTC, datetime

__all__ = ["main"]


def main() -> int:
    """Print one line saying when and where the task ran; return 0."""
    name = os.environ.get("PLINTH_SERVICE_NAME") or os.environ.get("PLINTH_RESOURCE_ID") or "demo"
    print(f"{datetime.now(UTC).isoformat()} plinth demo task {name} ran", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
