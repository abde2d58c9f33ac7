"""Metering: usage samples ingested per second and allocation latency, at 1,000 resources.

One run, against a control plane running as its own process on loopback:

1. start the control plane: ``python -m plinth up`` (SQLite, or ``--database-url``);
2. write 1,000 running service resources (500m CPU and 256Mi requested each,
   spread over the seeded projects and so over three teams) into its store;
3. post usage for them over HTTP from ``--senders`` agents, each reporting its
   own share of the resources (like one agent per node) in batches of 10,000
   per-second samples: every resource's ``cpu`` and ``memory`` for the seconds
   since its last export (4 agents of 250 resources: a 20 s export interval;
   ledger rows are per resource, dimension and hour of a batch).
   Bodies are encoded beforehand so the client is not the bottleneck;
4. meanwhile, two probes in turn, every 0.25 s each, post one sample for a team
   of its own and poll ``GET /api/v1/cost?by=team`` until that team's cost shows
   it: the allocation latency (sample sent → visible in the team's cost).

Goal: at least 50,000 samples/s ingested and p99 allocation latency under 5 s.

Run: ``.venv/bin/python benchmarks/metering.py [--batches N] [--senders N] [--quick]
[--database-url URL]``. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

__all__ = ["Probe", "main", "make_bodies", "start_server"]

REPO = Path(__file__).resolve().parent.parent
RESOURCES = 1_000
BATCH = 10_000
GOAL_SAMPLES_PER_S = 50_000
GOAL_P99_S = 5.0
PROJECTS = ("checkout", "recommender", "platform-tools")
PROBE_STRIDE = 10_000
MAX_BODY = 32 * 1024**2


@dataclass
class Server:
    """The control plane process under test."""

    process: subprocess.Popen[bytes]
    url: str
    kind: str
    data_dir: Path

    def token(self, user: str) -> str:
        tokens: dict[str, str] = json.loads((self.data_dir / "tokens.json").read_text())
        return tokens[user]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(argv: list[str], env: dict[str, str], data_dir: Path, kind: str) -> Server:
    port = _free_port()
    log = open(data_dir / f"{kind}.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [*argv, "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    server = Server(process, f"http://127.0.0.1:{port}", kind, data_dir)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the {kind} server exited; see {data_dir / (kind + '.log')}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.2)


def start_server(root: Path, database_url: str | None) -> Server:
    """Start ``plinth up`` on a fresh data directory (and the given store, if any)."""
    env = {
        **os.environ,
        # The benchmark's resources are records only: nothing reconciles them, and the
        # metering loop (if this setting exists) does not scan the process table for them.
        "PLINTH_RECONCILE_INTERVAL": "86400",
        "PLINTH_METERING_INTERVAL": "86400",
        "PLINTH_MAX_BODY_BYTES": str(MAX_BODY),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PLINTH_CONFIG", None)
    if database_url:
        env["PLINTH_DATABASE_URL"] = database_url
    data_dir = root / "plinth"
    data_dir.mkdir()
    return _start([sys.executable, "-m", "plinth", "up"], env, data_dir, "plinth-up")


def fill_resources(server: Server, database_url: str | None) -> list[str]:
    """Write 1,000 running services into the server's store; return their ids."""
    from plinth.capabilities.inventory import service as inventory
    from plinth.core.clock import SystemClock
    from plinth.core.ids import RandomIds
    from plinth.infrastructure.store.db import Database

    db = Database(database_url or f"sqlite:///{(server.data_dir / 'plinth.db').resolve()}")
    ids, clock, found = RandomIds(), SystemClock(), []
    spec = {
        "containers": {"main": {"image": "py:plinth_demo.webapp"}},
        "resources": {"cpu": "500m", "memory": "256Mi"},
    }
    with db.transaction() as session:
        for n in range(RESOURCES):
            record = inventory.put_desired(
                session,
                environment="dev",
                project=PROJECTS[n % len(PROJECTS)],
                name=f"bench-{n:04d}",
                type="service",
                provider="local",
                workload=f"bench-{n:04d}",
                spec=spec,
                depends_on=[],
                refs=[f"bench-{n:04d}"],
                ids=ids,
                clock=clock,
            )
            record.phase = "running"
            found.append(record.id)
    db.dispose()
    return found


def make_bodies(resource_ids: list[str], batches: int, start: datetime) -> list[bytes]:
    """Return one agent's ``batches`` bodies of 10,000 per-second samples of its resources.

    Each body holds every resource's ``cpu`` and ``memory`` for the next
    10,000 / (2 x resources) seconds: what an agent sends once per export interval.
    """
    periods = BATCH // (2 * len(resource_ids))
    bodies = []
    for b in range(batches):
        samples = []
        for p in range(periods):
            at = (start + timedelta(seconds=b * periods + p)).isoformat()
            for n, rid in enumerate(resource_ids):
                common = {"resource_id": rid, "at": at, "period_s": 1}
                samples.append(
                    {
                        **common,
                        "dimension": "cpu",
                        "quantity": 0.2 + (n % 7) / 10,
                        "unit": "vcpu-second",
                    }
                )
                samples.append(
                    {
                        **common,
                        "dimension": "memory",
                        "quantity": 150_000_000 + n * 1000,
                        "unit": "byte",
                    }
                )
        bodies.append(json.dumps({"samples": samples}).encode())
    return bodies


@dataclass
class Load:
    """What the senders did."""

    samples: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(url: str, token: str, bodies: list[bytes], load: Load) -> None:
    """Post every body in turn (one sender thread)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for body in bodies:
            response = client.post("/api/v1/usage", content=body)
            with load.lock:
                if response.status_code == 200:
                    load.samples += int(response.json()["accepted"])
                else:
                    load.errors.append(f"{response.status_code}: {response.text[:200]}")


@dataclass
class Probe:
    """Allocation latency: one sample for a fresh team, until that team's cost shows it."""

    url: str
    writer: str
    reader: str
    latencies: list[float] = field(default_factory=list)
    misses: int = 0

    def once(self, n: int) -> None:
        team = f"probe-{n:05d}"
        at = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
        sample = {
            "at": at,
            "period_s": 10,
            "dimension": "cpu",
            "quantity": 5,
            "unit": "vcpu-second",
            "provider": "local",
            "region": "local",
            "team": team,
        }
        auth = {"Authorization": f"Bearer {self.writer}"}
        read = {"Authorization": f"Bearer {self.reader}"}
        with httpx.Client(base_url=self.url, timeout=60) as client:
            sent = time.monotonic()
            client.post("/api/v1/usage", json={"samples": [sample]}, headers=auth)
            while time.monotonic() - sent < 30:
                report = client.get(
                    "/api/v1/cost", params={"by": "team", "window": "3h"}, headers=read
                ).json()
                if any(i["team"] == team for i in report.get("items", [])):
                    self.latencies.append(time.monotonic() - sent)
                    return
                time.sleep(0.1)
        self.misses += 1

    def run(self, stop: threading.Event, first: int = 0) -> None:
        """Probe every 0.25 s until told to stop (teams numbered from ``first``)."""
        n = first
        while not stop.is_set():
            self.once(n)
            n += 1
            stop.wait(0.25)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(server: Server, ids: list[str], *, batches: int, senders: int) -> dict[str, Any]:
    """Run the load and the probe together; return the figures."""
    start = datetime.now(UTC) - timedelta(hours=2)
    # Each sender is an agent reporting its own share of the resources.
    bodies = [make_bodies(ids[i::senders], -(-batches // senders), start) for i in range(senders)]
    token = server.token("pat")
    probe = Probe(server.url, token, server.token("ada"))
    probe.once(-1)  # warm up the report path
    probe.latencies.clear()
    load, stop = Load(), threading.Event()
    probers = [
        threading.Thread(target=probe.run, args=(stop, first), daemon=True)
        for first in (0, PROBE_STRIDE)
    ]
    threads = [threading.Thread(target=send, args=(server.url, token, own, load)) for own in bodies]
    server_process = psutil.Process(server.process.pid)
    cpu_before = sum(server_process.cpu_times()[:2])
    began = time.monotonic()
    for prober in probers:
        prober.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    server_cpu = sum(server_process.cpu_times()[:2]) - cpu_before
    stop.set()
    for prober in probers:
        prober.join(timeout=60)
    rate = load.samples / elapsed if elapsed else 0.0
    p99 = _percentile(probe.latencies, 0.99)
    return {
        "samples": load.samples,
        "errors": load.errors[:3],
        "elapsed_s": round(elapsed, 3),
        "samples_per_s": round(rate, 1),
        # The server's CPU time over the same span (probes included): a figure that
        # depends less on what else the machine is running.
        "server_cpu_s": round(server_cpu, 3),
        "samples_per_server_cpu_s": round(load.samples / server_cpu, 1) if server_cpu else None,
        "cpus": os.cpu_count(),
        "probes": len(probe.latencies),
        "probe_misses": probe.misses,
        "latency_p50_s": round(_percentile(probe.latencies, 0.5), 4),
        "latency_p99_s": round(p99, 4),
        "latency_max_s": round(max(probe.latencies, default=float("nan")), 4),
        "goal_met": bool(
            not load.errors and not probe.misses and rate >= GOAL_SAMPLES_PER_S and p99 < GOAL_P99_S
        ),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (last line: JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60, help="batches of 10,000 samples")
    parser.add_argument("--senders", type=int, default=4, help="concurrent HTTP senders")
    parser.add_argument("--quick", action="store_true", help="a short run (12 batches)")
    parser.add_argument("--database-url", default=None, help="store URL (default: SQLite)")
    args = parser.parse_args(argv)
    batches = 12 if args.quick else args.batches
    with tempfile.TemporaryDirectory(prefix="plinth-metering-") as root:
        server = start_server(Path(root), args.database_url)
        try:
            ids = fill_resources(server, args.database_url)
            figures = measure(server, ids, batches=batches, senders=args.senders)
        finally:
            server.stop()
    figures = {
        "benchmark": "metering",
        "store": "postgresql" if args.database_url else "sqlite",
        "resources": RESOURCES,
        "batch": BATCH,
        "batches": batches,
        "senders": args.senders,
        "export_interval_s": BATCH // (2 * -(-RESOURCES // args.senders)),
        "goal_samples_per_s": GOAL_SAMPLES_PER_S,
        "goal_p99_s": GOAL_P99_S,
        **figures,
    }
    print(
        f"{figures['samples']} samples in {figures['elapsed_s']} s: "
        f"{figures['samples_per_s']} samples/s; allocation latency p50 "
        f"{figures['latency_p50_s']} s, p99 {figures['latency_p99_s']} s "
        f"({figures['probes']} probes)"
    )
    print(json.dumps(figures))
    return 0 if figures["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
