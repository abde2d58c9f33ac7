"""Run a command and stop it once it has been idle too long (used for notebooks).

``python -m plinth.infrastructure.providers.local.idle_watch --idle-seconds N -- argv...``

The command's process tree is idle while its total CPU time grows by less than
``--min-cpu-seconds`` (default 0.05) per check. After ``N`` idle seconds the tree is
terminated and the watcher exits with status 125, so the job reports why it ended.
Otherwise the watcher exits with the command's own status.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

import psutil

__all__ = ["IDLE_EXIT_CODE", "main", "tree_cpu_seconds"]

IDLE_EXIT_CODE = 125


def tree_cpu_seconds(proc: psutil.Process) -> float:
    """Return the CPU seconds used by ``proc`` and its live children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _stop(proc: psutil.Process) -> None:
    family = [*proc.children(recursive=True), proc]
    for p in family:
        try:
            p.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(family, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its status, or IDLE_EXIT_CODE when it was stopped for idling."""
    parser = argparse.ArgumentParser(prog="idle_watch")
    parser.add_argument("--idle-seconds", type=float, required=True)
    parser.add_argument("--min-cpu-seconds", type=float, default=0.05)
    parser.add_argument("--check-seconds", type=float, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    child = subprocess.Popen(command)
    proc = psutil.Process(child.pid)

    def forward(signum: int, _frame: FrameType | None) -> None:
        _stop(proc)

    signal.signal(signal.SIGTERM, forward)
    check = args.check_seconds or max(0.1, min(5.0, args.idle_seconds / 5))
    last_cpu, idle_since = tree_cpu_seconds(proc), time.monotonic()
    while child.poll() is None:
        time.sleep(check)
        cpu = tree_cpu_seconds(proc)
        if cpu - last_cpu >= args.min_cpu_seconds:
            last_cpu, idle_since = cpu, time.monotonic()
        elif time.monotonic() - idle_since >= args.idle_seconds and child.poll() is None:
            print(f"idle for {args.idle_seconds:g} s: stopping", file=sys.stderr, flush=True)
            _stop(proc)
            child.wait()
            return IDLE_EXIT_CODE
    return int(child.returncode)


if __name__ == "__main__":
    sys.exit(main())
