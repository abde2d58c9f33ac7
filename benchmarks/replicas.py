"""Several replicas on PostgreSQL: API throughput with one and two, plan/apply as state grows.

In one run, on the PostgreSQL server named by ``--pg-url`` (default: the env var
``PLINTH_BENCH_PG_URL`` or ``PLINTH_TEST_PG_URL``), in fresh databases dropped afterwards:

(a) API throughput: one ``plinth up`` replica, then two on the same port (SO_REUSEPORT,
    the kernel spreads connections), the same ``wrk`` load on an authenticated read
    (``GET /api/v1/resources?limit=20`` with a store of 1,000 resources), in alternating
    rounds. Goal: two replicas serve at least 1.6x the requests per second of one.
(b) Plan and apply latency of one workload update (10 resources) in a store holding 1,000
    and one holding 100,000 resources, spread over projects and environments as an
    organisation would have them (rows written through the store's own models, the
    benchmark workload planned and applied for real). Goal: median growth under 2x.

``wrk`` is needed for (a): ``apt-get install -y wrk``. The last line printed is one JSON
object with the figures and ``goal_met``.

Run: ``.venv/bin/python benchmarks/replicas.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, func, insert, select, text

# The plan benchmark (a sibling script) defines the organisation and the workload we reuse.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import plan as bench_plan
from plinth.capabilities.finops import committed
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.inventory import service as inventory
from plinth.capabilities.inventory.models import (
    DocumentRecord,
    DocumentRevision,
    ResourceRecord,
)
from plinth.core.clock import SystemClock
from plinth.core.config import Settings
from plinth.core.ids import RandomIds
from plinth.core.secrets import load_or_create_key
from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.registry import ProviderRegistry
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["main"]

SMALL, LARGE = 1_000, 100_000
THROUGHPUT_GOAL, GROWTH_GOAL = 1.6, 2.0
ENDPOINT = "/api/v1/resources?limit=20"
PER_WORKLOAD = bench_plan.RESOURCES_PER_WORKLOAD
REPO = Path(__file__).resolve().parent.parent


# -- databases ------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create a uniquely named database; drop it afterwards."""
    name = f"plinth_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def bench_platform(url: str, data_dir: Path) -> tuple[Platform, dict[str, str]]:
    """Return a seeded platform on ``url`` (real, idle local provider) and its new tokens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(data_dir / "secret.key")
    registry = ProviderRegistry()
    registry.register(LocalProvider(ProviderContext(data_dir=data_dir, secret_key=key)))
    settings = Settings(data_dir=data_dir, database_url=url, reconcile_interval_s=3600.0)
    platform = Platform(settings, clock=SystemClock(), ids=RandomIds(), registry=registry)
    return platform, platform.prepare()


# -- state ----------------------------------------------------------------------------


def _clone(row: Any, template: str, name: str) -> dict[str, Any]:
    """Return a table row's values with the workload name replaced and a new id."""
    values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
    for key, value in values.items():
        if isinstance(value, str) and template in value:
            values[key] = value.replace(template, name)
        elif isinstance(value, list | dict):
            values[key] = json.loads(json.dumps(value).replace(template, name))
    values["id"] = f"{values['id'][:8]}{uuid.uuid4().hex}"
    return values


def fill(platform: Platform, total: int) -> float:
    """Hold ``total`` resources: the benchmark workload plus copies of one per scope."""
    started = time.perf_counter()
    placements = bench_plan._placements(total)
    templates: dict[tuple[str, str], str] = {}
    with platform.db.transaction() as session:
        for project, team in bench_plan.EXTRA_PROJECTS:
            identity.upsert_project(
                session, name=project, team=team, description="benchmark",
                ids=platform.ids, clock=platform.clock,
            )  # fmt: skip
        for env, project, name in placements:
            if name == bench_plan.BENCH_NAME or (env, project) not in templates:
                bench_plan._deploy(platform, session, env, project, name)
                if name != bench_plan.BENCH_NAME:
                    templates[(env, project)] = name
    copies = [p for p in placements if p[2] not in templates.values() and p[0:2] in templates]
    copies = [p for p in copies if p[2] != bench_plan.BENCH_NAME]
    with platform.db.transaction() as session:
        for model in (ResourceRecord, DocumentRecord, DocumentRevision):
            rows: list[dict[str, Any]] = []
            for (env, project), template in templates.items():
                query = select(model).where(_of(model, env, project, template))
                originals = list(session.scalars(query))
                for e, p, name in copies:
                    if (e, p) == (env, project):
                        rows.extend(_clone(row, template, name) for row in originals)
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start : start + 5000])
        committed.rebuild(session)
    return time.perf_counter() - started


def _of(model: Any, env: str, project: str, workload: str) -> Any:
    if model is ResourceRecord:
        return (
            (ResourceRecord.environment == env)
            & (ResourceRecord.project == project)
            & (ResourceRecord.workload == workload)
        )
    if model is DocumentRecord:
        return (
            (DocumentRecord.environment == env)
            & (DocumentRecord.project == project)
            & (DocumentRecord.name == workload)
        )
    return DocumentRevision.key == inventory.document_key("Workload", env, project, workload)


def resource_count(platform: Platform) -> int:
    """Return how many resources the store holds."""
    with platform.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(ResourceRecord)) or 0)


# -- (b) plan and apply latency -------------------------------------------------------


@dataclass
class Latency:
    """Plan and apply timings of the benchmark workload on one platform."""

    state: int
    platform: Platform
    actor: Actor
    plans: list[float] = field(default_factory=list)
    applies: list[float] = field(default_factory=list)
    done: int = 0

    def run(self, count: int, *, timed: bool) -> None:
        """Plan and apply an update of the benchmark workload ``count`` times."""
        env, project = bench_plan.BENCH_SCOPE
        for _ in range(count):
            self.done += 1
            workload = bench_plan.score_workload(bench_plan.BENCH_NAME, release=f"r{self.done}")
            request = PlanRequest(
                environment=env, project=project, documents=yaml.safe_dump(workload), file=None
            )
            t0 = time.perf_counter()
            plan = self.platform.plan(self.actor, request)
            t1 = time.perf_counter()
            applied = self.platform.apply(self.actor, plan["digest"])
            t2 = time.perf_counter()
            if applied.get("status") != "applied":
                raise SystemExit(f"plan was not applied: {applied.get('status')}")
            if timed:
                self.plans.append(t1 - t0)
                self.applies.append(t2 - t1)

    def medians_ms(self) -> tuple[float, float]:
        """Return the median plan and apply latency in milliseconds."""
        return statistics.median(self.plans) * 1000, statistics.median(self.applies) * 1000


def latency(cases: list[Latency], *, iterations: int) -> None:
    """Warm up, then time ``iterations`` rounds per case, interleaved in blocks of five."""
    for case in cases:
        case.run(3, timed=False)
    for turn in range(0, iterations, 5):
        for case in cases if (turn // 5) % 2 == 0 else cases[::-1]:
            case.run(min(5, iterations - turn), timed=True)


# -- (a) API throughput ---------------------------------------------------------------


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_replica(url: str, data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start ``plinth up --db URL --reuse-port`` and wait until it answers."""
    env = {**os.environ, "PLINTH_RECONCILE_INTERVAL": "5", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "plinth", "up", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--db", url, "--reuse-port"]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    replica_id = f"{socket.gethostname()}-{proc.pid}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"replica exited with {proc.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            # With two replicas on the port, ask until this very replica answered.
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            if health["replica"]["replica_id"] == replica_id:
                return proc
        time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"replica did not answer in time; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a replica (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def wrk(port: int, token: str, *, seconds: int) -> float:
    """Run wrk against ENDPOINT; return requests per second."""
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}{ENDPOINT}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"the endpoint answered errors under load:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    return float(found.group(1))


def throughput(
    url: str, data_dir: Path, token: str, *, rounds: int, seconds: int
) -> dict[str, Any]:
    """Measure one replica, then two, ``rounds`` times; return the medians and ratio."""
    port, log = free_port(), data_dir / "replicas.log"
    one: list[float] = []
    two: list[float] = []
    first = start_replica(url, data_dir, port, log)
    try:
        wrk(port, token, seconds=2)  # warm up
        for n in range(rounds):
            one.append(wrk(port, token, seconds=seconds))
            second = start_replica(url, data_dir, port, log)
            try:
                wrk(port, token, seconds=2)
                two.append(wrk(port, token, seconds=seconds))
            finally:
                stop(second)
            print(f"  round {n + 1}: one replica {one[-1]:.0f} req/s, two {two[-1]:.0f} req/s")
    finally:
        stop(first)
    rps1, rps2 = statistics.median(one), statistics.median(two)
    return {"rps_one": round(rps1, 1), "rps_two": round(rps2, 1), "ratio": round(rps2 / rps1, 3)}


# -- main -----------------------------------------------------------------------------


def main() -> None:
    """Run both measurements; print a summary and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_url = os.environ.get("PLINTH_BENCH_PG_URL") or os.environ.get("PLINTH_TEST_PG_URL")
    parser.add_argument("--pg-url", default=default_url, help="admin URL of a PostgreSQL server")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    if not args.pg_url:
        raise SystemExit("no PostgreSQL: pass --pg-url or set PLINTH_BENCH_PG_URL")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it (Debian: apt-get install -y wrk)")
    iterations, rounds, seconds = (10, 1, 5) if args.quick else (30, 3, 10)
    with (
        tempfile.TemporaryDirectory(prefix="plinth-bench-") as tmp,
        fresh_database(args.pg_url) as small_url,
        fresh_database(args.pg_url) as large_url,
    ):
        root = Path(tmp)
        small, tokens = bench_platform(small_url, root / "small")
        large, _ = bench_platform(large_url, root / "large")
        cases = []
        for platform, state in ((small, SMALL), (large, LARGE)):
            seconds_taken = fill(platform, state)
            held = resource_count(platform)
            if held != state:
                raise SystemExit(f"the store holds {held} resources, wanted {state}")
            print(f"state {state:>7,} resources written in {seconds_taken:.1f}s")
            cases.append(Latency(state, platform, platform.actor(bench_plan.BENCH_ACTOR)))
        latency(cases, iterations=iterations)
        (plan_small, apply_small), (plan_large, apply_large) = (c.medians_ms() for c in cases)
        for case in cases:
            p, a = case.medians_ms()
            print(f"state {case.state:>7,}: plan p50 {p:.1f} ms, apply p50 {a:.1f} ms")
        small.stop()
        large.stop()
        print(f"API throughput, GET {ENDPOINT}, wrk -t2 -c16, {seconds}s per measurement:")
        api = throughput(small_url, root / "small", tokens["ada"], rounds=rounds, seconds=seconds)
    growth = {
        "plan": round(plan_large / plan_small, 3),
        "apply": round(apply_large / apply_small, 3),
    }
    print(f"two replicas / one: {api['ratio']:.2f}x (goal >= {THROUGHPUT_GOAL}x)")
    print(f"growth 1k -> 100k: plan {growth['plan']:.2f}x, apply {growth['apply']:.2f}x")
    figures = {
        "throughput": {**api, "endpoint": ENDPOINT, "cpus": os.cpu_count()},
        "latency_ms": {
            "plan_p50": {"1000": round(plan_small, 2), "100000": round(plan_large, 2)},
            "apply_p50": {"1000": round(apply_small, 2), "100000": round(apply_large, 2)},
        },
        "growth": growth,
        "goal_met": api["ratio"] >= THROUGHPUT_GOAL and max(growth.values()) < GROWTH_GOAL,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
