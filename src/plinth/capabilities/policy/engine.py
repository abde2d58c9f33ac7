"""The policy engine: packs evaluated in worker processes, with a time bound, failing closed.

Each ``PolicyEngine.evaluate`` sends the input to a worker (``worker.py``) that holds the
packs compiled. A worker that does not answer within the bound is killed and replaced,
and the evaluation becomes a ``deny`` that says why, as does any error: a policy that
cannot be evaluated never lets a change through.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from plinth.capabilities.policy import worker as worker_module
from plinth.capabilities.policy.model import (
    Evaluation,
    Pack,
    PolicyResult,
    TestOutcome,
    results_from,
)
from plinth.capabilities.policy.worker import packages_of, rule_names
from plinth.core.errors import Issue, SpecError

__all__ = ["DEFAULT_TIMEOUT_S", "PolicyEngine", "PolicyTimeout", "WorkerPool", "shared_pool"]

DEFAULT_TIMEOUT_S = 5.0
_COMPILE_S = 30.0  # compiling a pack once per worker has its own, wider bound
_POOL_SIZE = 2
_START_S = 30.0


class PolicyTimeout(Exception):
    """A worker did not answer within the bound (it has been killed)."""


class _Worker:
    """One worker process and the packs it has compiled."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.loaded: set[str] = set()
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            # Run the file itself: the worker imports only the standard library and regopy.
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(Path(worker_module.__file__))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            self.loaded = set()
            self._buffer = b""
            # Starting is not evaluating: the bound applies once the worker answers.
            self._exchange(self.proc, {"op": "ping"}, time.monotonic() + _START_S)
        return self.proc

    def stop(self) -> None:
        """Kill the process (if any) and forget what it compiled."""
        proc, self.proc = self.proc, None
        self.loaded = set()
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def ask(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request and wait for its answer until ``deadline`` (monotonic)."""
        return self._exchange(self._start(), request, deadline)

    def _exchange(
        self, proc: subprocess.Popen[bytes], request: Mapping[str, Any], deadline: float
    ) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            self.stop()
            raise RuntimeError("the policy worker stopped") from exc
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0.0))
            if not ready:
                self.stop()
                raise PolicyTimeout()
            chunk = os.read(fd, 65536)
            if not chunk:
                self.stop()
                raise RuntimeError("the policy worker stopped (it crashed)")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer


class WorkerPool:
    """A few workers shared by every engine of this process."""

    def __init__(self, size: int = _POOL_SIZE) -> None:
        self._workers = [_Worker() for _ in range(size)]
        # Last in, first out: one caller at a time keeps getting the same, warm worker.
        self._free: queue.LifoQueue[_Worker] = queue.LifoQueue()
        for worker in self._workers:
            self._free.put(worker)

    def run(self, pack: Pack, request: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Run a request against a pack on a free worker (compiling it there first)."""
        deadline = time.monotonic() + timeout_s
        worker = self._free.get()
        try:
            try:
                return self._on(worker, pack, request, deadline)
            except RuntimeError:  # a crashed worker gets one fresh start (never a timeout)
                return self._on(worker, pack, request, deadline)
        finally:
            self._free.put(worker)

    @staticmethod
    def _on(
        worker: _Worker, pack: Pack, request: Mapping[str, Any], deadline: float
    ) -> dict[str, Any]:
        if pack.key not in worker.loaded:
            loaded = worker.ask(_load_request(pack), time.monotonic() + _COMPILE_S)
            if not loaded.get("ok"):
                return loaded
            worker.loaded.add(pack.key)
        return worker.ask({**request, "key": pack.key}, deadline)

    def close(self) -> None:
        """Stop every worker process (they start again when needed)."""
        for worker in self._workers:
            worker.stop()


def _load_request(pack: Pack) -> dict[str, Any]:
    return {
        "op": "load",
        "key": pack.key,
        "modules": dict(pack.modules),
        "tests": dict(pack.tests),
        "data": dict(pack.data),
    }


_SHARED: list[WorkerPool] = []
_SHARED_LOCK = threading.Lock()


def shared_pool() -> WorkerPool:
    """Return this process's worker pool (stopped at exit)."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(WorkerPool())
            atexit.register(_SHARED[0].close)
        return _SHARED[0]


def _failure(pack: Pack, why: str) -> PolicyResult:
    return PolicyResult(
        pack=pack.name,
        rule="evaluation",
        level="deny",
        message=f"policy pack {pack.ref} could not be evaluated ({why}), so the change is denied",
        severity="high",
        fix="fix the pack (plinth policy test) or ask a platform engineer; nothing is let "
        "through while a policy cannot be evaluated",
    )


class PolicyEngine:
    """Evaluates policy packs on an input within a time bound; fails closed."""

    def __init__(
        self,
        packs: Sequence[Pack],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pool: WorkerPool | None = None,
    ) -> None:
        self.packs = tuple(packs)
        self.timeout_s = timeout_s
        self.pool = pool or shared_pool()

    def _ask(
        self, pack: Pack, request: Mapping[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        bound = timeout_s or self.timeout_s
        try:
            return self.pool.run(pack, request, bound)
        except PolicyTimeout:
            return {"ok": False, "error": f"it took longer than {bound:g}s"}
        except (RuntimeError, OSError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}

    def evaluate(self, input: Mapping[str, Any]) -> Evaluation:
        """Return every pack's results on ``input`` (a deny per pack that fails)."""
        started = time.perf_counter()
        results: list[PolicyResult] = []
        errors: list[str] = []
        for pack in self.packs:
            answer = self._ask(pack, {"op": "eval", "input": dict(input)})
            if answer.get("ok"):
                results.extend(results_from(pack, answer.get("raw") or []))
            else:
                failure = _failure(pack, _describe(answer))
                errors.append(failure.message)
                results.append(failure)
        return Evaluation(
            results=tuple(results),
            packs=tuple(p.ref for p in self.packs),
            errors=tuple(errors),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def test(self) -> list[TestOutcome]:
        """Run every pack's ``test_*`` rules and return one outcome per test."""
        outcomes: list[TestOutcome] = []
        for pack in self.packs:
            wanted = _tests_of(pack)
            if not wanted:
                continue
            # Tests run on request, not on the plan path: they get the compile bound.
            answer = self._ask(pack, {"op": "test", "tests": wanted}, _COMPILE_S)
            if not answer.get("ok"):
                why = _describe(answer)
                outcomes.extend(TestOutcome(pack.ref, p, r, False, why) for p, r in wanted)
                continue
            for package, rule, passed, error in answer["results"]:
                outcomes.append(TestOutcome(pack.ref, package, rule, bool(passed), error))
        return outcomes

    def check(self) -> None:
        """Compile every pack; raise SpecError naming the module and line of a problem."""
        issues: list[Issue] = []
        for pack in self.packs:
            answer = self._ask(pack, {"op": "ping"})
            if answer.get("ok"):
                continue
            where = answer.get("module")
            path = f"$.spec.modules.{where}" if where in pack.modules else "$.spec.modules"
            if where in pack.tests:
                path = f"$.spec.tests.{where}"
            line = f" (line {answer['line']})" if answer.get("line") else ""
            error = answer.get("error") or "does not compile"
            issues.append(Issue(f"policy {pack.ref}: module {where or '?'}{line}: {error}", path))
        if issues:
            raise SpecError(issues)


def _describe(answer: Mapping[str, Any]) -> str:
    error = str(answer.get("error") or "unknown error")
    if answer.get("module"):
        return f"{error} in module {answer['module']} line {answer.get('line', '?')}"
    return error


def _tests_of(pack: Pack) -> list[list[str]]:
    wanted: list[list[str]] = []
    texts: Iterable[str] = [*pack.tests.values(), *pack.modules.values()]
    for text in texts:
        for package in packages_of(text):
            wanted.extend([package, rule] for rule in rule_names(text))
    return wanted
