"""The README walkthrough, as a test: apply, use, break, watch it heal, verify, tamper."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.helpers import marked_processes, workload_ready
from tests.support import REPO, start_server, wait_until

PLINTH = str(Path(sys.executable).parent / "plinth")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLINTH, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )


def test_readme_walkthrough(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with start_server(data_dir) as server, server.client("ada") as api:
        env = server.cli_env("ada")
        applied = _cli(env, "apply", "-f", "examples/shop.yaml", "--env", "dev", "--yes")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "Applied plan" in applied.stdout

        ready = wait_until(lambda: workload_ready(api, "shop"), timeout=120, what="shop ready")
        service = next(r for r in ready["resources"] if r["type"] == "service")
        answer = httpx.get(service["outputs"]["url"], timeout=10).json()
        assert answer == {"service": "shop", "database": "connected", "visits": answer["visits"]}

        before = marked_processes(data_dir)[service["id"]]
        assert len(before) == 1
        os.kill(before[0], signal.SIGKILL)

        def healed() -> bool:
            pids = marked_processes(data_dir).get(service["id"], [])
            return bool(pids) and pids != before and workload_ready(api, "shop") is not None

        wait_until(healed, timeout=60, what="reconcile to restart the killed process")
        assert httpx.get(service["outputs"]["url"], timeout=10).json()["database"] == "connected"
        described = api.get("/api/v1/workloads/shop/describe", params={"environment": "dev"}).json()
        assert any(e["reason"] == "Repaired" for e in described["events"])

        verified = _cli(env, "audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "intact" in verified.stdout

        with sqlite3.connect(data_dir / "plinth.db") as db:
            db.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3")
        broken = _cli(env, "audit", "verify")
        assert broken.returncode == 1
        assert "record #3" in broken.stdout + broken.stderr
