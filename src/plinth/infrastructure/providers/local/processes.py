"""Starting, finding and stopping the local provider's processes.

Every process the provider starts carries marker variables in its environment
(``PLINTH_DATA_DIR``, ``PLINTH_RESOURCE_ID``, ``PLINTH_CONTAINER``,
``PLINTH_SPEC_DIGEST``), so it can always be found again by scanning the
process table, even when the control plane lost its state. Each container runs
under a small ``/bin/sh`` wrapper that is the leader of a new session and writes
the command's exit status to a file when it ends; the wrapper is the process
the provider records and watches.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "MARK_CONTAINER",
    "MARK_DATA_DIR",
    "MARK_DIGEST",
    "MARK_RESOURCE",
    "Found",
    "is_alive",
    "launch",
    "leaders",
    "read_exit_code",
    "scan",
    "tail_lines",
    "terminate",
    "tree_usage",
]

MARK_RESOURCE = "PLINTH_RESOURCE_ID"
MARK_DATA_DIR = "PLINTH_DATA_DIR"
MARK_CONTAINER = "PLINTH_CONTAINER"
MARK_DIGEST = "PLINTH_SPEC_DIGEST"

_WRAPPER = '"$@"; code=$?; echo "$code" > "$0.tmp" && mv -f "$0.tmp" "$0"; exit "$code"'


@dataclass(frozen=True)
class Found:
    """One running process that carries the provider's markers."""

    process: psutil.Process
    environ: Mapping[str, str]

    @property
    def container(self) -> str:
        """Return the container this process belongs to."""
        return self.environ.get(MARK_CONTAINER, "")

    @property
    def digest(self) -> str | None:
        """Return the spec digest the process was started with."""
        return self.environ.get(MARK_DIGEST)


def _environ(proc: psutil.Process) -> dict[str, str] | None:
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return None


def is_alive(proc: psutil.Process) -> bool:
    """Return whether ``proc`` still runs (reaping it when it is our exited child)."""
    try:
        if not proc.is_running():
            return False
        if proc.status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.Error:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(proc.pid, os.WNOHANG)
    return False


def scan(data_dir: str, resource_id: str | None = None) -> list[Found]:
    """Return every live process marked with ``data_dir`` (and ``resource_id`` when given)."""
    found: list[Found] = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        env = _environ(proc)
        if not env or env.get(MARK_DATA_DIR) != data_dir:
            continue
        if resource_id is not None and env.get(MARK_RESOURCE) != resource_id:
            continue
        if is_alive(proc):
            found.append(Found(proc, env))
    return found


def _is_leader(proc: psutil.Process) -> bool:
    try:
        return os.getsid(proc.pid) == proc.pid
    except OSError:
        return False


def leaders(found: Iterable[Found]) -> dict[str, Found]:
    """Return the wrapper (session leader) process of each container among ``found``."""
    result: dict[str, Found] = {}
    for item in found:
        if _is_leader(item.process) and item.container not in result:
            result[item.container] = item
    return result


def from_records(
    records: Mapping[str, Any], *, data_dir: str, resource_id: str
) -> dict[str, Found] | None:
    """Return the recorded processes if every one still runs and is ours, else None."""
    result: dict[str, Found] = {}
    for container, record in records.items():
        try:
            proc = psutil.Process(int(record["pid"]))
            same = abs(proc.create_time() - float(record["create_time"])) < 0.01
        except (psutil.Error, KeyError, TypeError, ValueError):
            return None
        env = _environ(proc) if same and is_alive(proc) else None
        if env is None or env.get(MARK_RESOURCE) != resource_id:
            return None
        if env.get(MARK_DATA_DIR) != data_dir or env.get(MARK_CONTAINER) != container:
            return None
        result[container] = Found(proc, env)
    return result


def launch(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path, exit_path: Path
) -> psutil.Process:
    """Start ``argv`` detached in a new session, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exit_path.parent.mkdir(parents=True, exist_ok=True)
    exit_path.unlink(missing_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", _WRAPPER, str(exit_path), *argv],
            env=dict(env),
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return psutil.Process(popen.pid)


def read_exit_code(exit_path: Path) -> int | None:
    """Return the exit status the wrapper recorded, or None when there is none."""
    try:
        return int(exit_path.read_text().strip())
    except (OSError, ValueError):
        return None


def terminate(procs: Sequence[psutil.Process], *, grace_s: float = 5.0) -> None:
    """Stop ``procs`` and their process groups: SIGTERM, wait ``grace_s``, then SIGKILL."""
    if not procs:
        return
    everyone: dict[int, psutil.Process] = {p.pid: p for p in procs}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                everyone.setdefault(child.pid, child)
    _signal_all(everyone.values(), signal.SIGTERM)
    alive = _wait_gone(list(everyone.values()), grace_s)
    if alive:
        _signal_all(alive, signal.SIGKILL)
        _wait_gone(alive, grace_s)


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has ended (a zombie counts as ended); return those left."""
    deadline = time.monotonic() + timeout_s
    pending = [p for p in procs if is_alive(p)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [p for p in pending if is_alive(p)]
    return pending


def _signal_all(procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    groups: set[int] = set()
    for proc in procs:
        with contextlib.suppress(OSError):
            if _is_leader(proc):
                groups.add(proc.pid)
        with contextlib.suppress(psutil.Error, OSError):
            proc.send_signal(sig)
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, sig)


def tree_usage(procs: Iterable[psutil.Process]) -> tuple[float, int]:
    """Return (CPU seconds, resident bytes) summed over ``procs`` and their descendants."""
    cpu = 0.0
    rss = 0
    seen: set[int] = set()
    for proc in procs:
        try:
            members = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            if member.pid in seen:
                continue
            seen.add(member.pid)
            try:
                times = member.cpu_times()
                cpu += times.user + times.system
                rss += member.memory_info().rss
            except psutil.Error:
                continue
    return cpu, rss


def tail_lines(path: Path, count: int) -> list[str]:
    """Return the last ``count`` lines of a text file (empty when it is missing)."""
    if count <= 0:
        return []
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            block = 8192
            data = b""
            while end > 0 and data.count(b"\n") <= count:
                start = max(0, end - block)
                handle.seek(start)
                data = handle.read(end - start) + data
                end = start
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]
