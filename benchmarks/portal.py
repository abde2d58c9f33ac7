"""Portal: server render time of each persona's home with the demo organisation's data.

Seeds a fresh data dir with ``plinth demo``'s organisation (six weeks of history, usage,
the story), signs in as each persona and renders their home repeatedly in-process
(the ASGI app, no network). Goal: every home under 300 ms (p95). The first render of a
home is reported apart (``cold_ms``): it compiles templates and fills the 30 s cache of
DORA figures. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from plinth.core.config import Settings
from plinth.experience.api.app import create_app
from plinth.orchestration.demo import seed_demo_organisation
from plinth.orchestration.platform import Platform

GOAL_MS = 300.0
HOMES = {
    "developer": "ada",
    "platform": "pat",
    "leader": "lee",
    "security": "sam",
    "ml": "dana",
}


def _login(client: TestClient, user: str) -> None:
    client.cookies.clear()
    page = client.get("/portal/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    done = client.post(
        "/portal/login/demo", data={"csrf": csrf.group(1), "user": user}, follow_redirects=False
    )
    assert done.status_code == 303, done.text


def measure(client: TestClient, view: str, user: str, rounds: int) -> dict[str, float]:
    """Return render times of one home (ms): the first (cold) one, then p50, p95 and max."""
    _login(client, user)
    start = time.perf_counter()
    assert client.get(f"/portal/{view}").status_code == 200  # cold: templates, caches
    cold_ms = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(f"/portal/{view}")
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:500]
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "max_ms": round(times[-1], 1),
        "cold_ms": round(cold_ms, 1),
        "bytes": len(response.content),
    }


def main() -> int:
    """Seed the demo, render each home and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--days", type=int, default=42, help="days of demo history")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        started = time.perf_counter()
        result = seed_demo_organisation(settings, days=args.days)  # what `plinth demo` seeds
        seeded_s = time.perf_counter() - started
        platform = Platform(settings)
        platform.prepare()
        try:
            with TestClient(create_app(platform)) as client:
                figures = {v: measure(client, v, u, args.rounds) for v, u in HOMES.items()}
        finally:
            platform.stop()
    for view, f in figures.items():
        print(
            f"{view:<10} p50 {f['p50_ms']:>7.1f} ms  p95 {f['p95_ms']:>7.1f} ms  "
            f"max {f['max_ms']:>7.1f} ms  cold {f['cold_ms']:>7.1f} ms  {f['bytes']:>7} bytes"
        )
    worst = max(f["p95_ms"] for f in figures.values())
    summary = {
        "benchmark": "portal",
        "days": args.days,
        "history": result.counts,
        "seed_s": round(seeded_s, 1),
        "rounds": args.rounds,
        "homes": figures,
        "goal_p95_ms": GOAL_MS,
        "worst_p95_ms": worst,
        "goal_met": worst < GOAL_MS,
    }
    print(json.dumps(summary))
    return 0 if summary["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
