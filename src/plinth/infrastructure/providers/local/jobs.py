"""The ``job`` resource type: processes that run to completion, once or on a schedule.

Without ``schedule`` a job runs once per spec digest: a finished run (whatever
its exit status) is not run again until the spec changes. With ``schedule`` (a
cron expression) ``apply`` starts a run when the next fire time after the last
run (or after the first apply) has passed; ``requeue_after`` says how long until
then. ``timeout_s`` stops a run that takes longer (exit status 124); ``idle_stop_s``
(notebooks) stops a run whose processes use no CPU for that long (exit status 125).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.layout import read_json, write_json_atomic
from plinth.infrastructure.providers.local.services import workload_usage
from plinth.infrastructure.providers.local.specs import plain, spec_digest, validate_spec
from plinth.infrastructure.providers.local.workloads import (
    Workloads,
    process_records,
    resolve_command,
)

__all__ = ["Jobs", "as_epoch", "iso"]

TIMEOUT_EXIT_CODE = 124
IDLE_WATCH = "plinth.infrastructure.providers.local.idle_watch"


def as_epoch(value: Any) -> float | None:
    """Return ``value`` (epoch seconds or an ISO 8601 string) as epoch seconds, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def iso(epoch: float | None) -> str | None:
    """Return ``epoch`` as an ISO 8601 UTC string (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


class Jobs:
    """Applies, observes and destroys jobs."""

    def __init__(self, workloads: Workloads) -> None:
        self.workloads = workloads

    def _run_record(self, resource: Resource) -> dict[str, Any]:
        record = read_json(self.workloads.layout.run_dir(resource.id) / "run.json")
        return record if isinstance(record, dict) else {}

    def _times(self, resource: Resource, state: Mapping[str, Any]) -> tuple[float | None, float]:
        """Return (start of the last run or None, time the schedule counts from)."""
        record = self._run_record(resource)
        last = as_epoch(record.get("started_at")) or as_epoch(state.get("last_run_at"))
        since = as_epoch(record.get("scheduled_since")) or as_epoch(state.get("scheduled_since"))
        return last, (last or since or time.time())

    def next_run_at(self, resource: Resource, state: Mapping[str, Any]) -> float | None:
        """Return when the next scheduled run is due (epoch seconds), or None without schedule."""
        schedule = resource.spec.get("schedule")
        if not schedule:
            return None
        _, base = self._times(resource, state)
        return float(croniter(str(schedule), base).get_next(float))

    def requeue_after(self, resource: Resource, state: Mapping[str, Any]) -> float | None:
        """Return seconds until the next scheduled run (0 when due), or None without schedule."""
        due = self.next_run_at(resource, state)
        return None if due is None else max(0.0, due - time.time())

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Start a run when one is needed; never start a second run while one is going."""
        resource = replace(resource, spec=validate_spec("job", resource.spec))
        spec = resource.spec
        for name, container in spec["containers"].items():
            resolve_command(name, container)
        schedule = spec.get("schedule")
        if schedule and not croniter.is_valid(str(schedule)):
            raise PermanentError(f"job schedule {schedule!r} is not a valid cron expression")
        digest = spec_digest(spec)
        w = self.workloads
        with w.layout.locked(resource.id):
            record = self._run_record(resource)
            leaders = processes.leaders(processes.scan(w.data_dir, resource.id))
            # A run of an older spec stops; the run record says which spec the current run
            # is of, so a marker read mid-exec (or lost) never stops a run of this spec.
            if record.get("digest") != digest and any(f.digest != digest for f in leaders.values()):
                w.stop(resource)
                leaders = {}
            if leaders:
                self._enforce_timeout(resource, record)
            elif self._due(resource, state, record, digest):
                started = self._start(resource, record, digest)
                state = {**state, "processes": process_records(started)}
            w.record_digest(resource, digest)
        return self.observe(resource, state)

    def _due(
        self, resource: Resource, state: Mapping[str, Any], record: dict[str, Any], digest: str
    ) -> bool:
        schedule = resource.spec.get("schedule")
        if not schedule:
            return record.get("digest") != digest
        if "scheduled_since" not in record:
            since = as_epoch(state.get("scheduled_since")) or time.time()
            record["scheduled_since"] = since
            write_json_atomic(self.workloads.layout.run_dir(resource.id) / "run.json", record)
        due = self.next_run_at(resource, state)
        return due is not None and due <= time.time()

    def _start(self, resource: Resource, record: dict[str, Any], digest: str) -> dict[str, Any]:
        timeout_s = resource.spec.get("timeout_s")
        prefix: list[str] = []
        if timeout_s and shutil.which("timeout"):
            prefix = ["timeout", "--kill-after=5", str(int(timeout_s))]
        idle_s = resource.spec.get("idle_stop_s")
        if idle_s:  # notebooks: stopped once idle (exit 125), see idle_watch
            prefix += [sys.executable, "-m", IDLE_WATCH, "--idle-seconds", str(int(idle_s)), "--"]
        w = self.workloads
        names = list(resource.spec["containers"])
        started = w.start(resource, names, ports={}, digest=digest, prefix=prefix)
        record.update({"digest": digest, "started_at": time.time()})
        write_json_atomic(w.layout.run_dir(resource.id) / "run.json", record)
        return started

    def _enforce_timeout(self, resource: Resource, record: Mapping[str, Any]) -> None:
        timeout_s = resource.spec.get("timeout_s")
        started = as_epoch(record.get("started_at"))
        if not timeout_s or started is None or time.time() - started <= float(timeout_s):
            return
        w = self.workloads
        w.stop(resource)
        for name in resource.spec["containers"]:
            path = w.exit_path(resource.id, name)
            if processes.read_exit_code(path) is None:
                path.write_text(f"{TIMEOUT_EXIT_CODE}\n")

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the current or last run and, for scheduled jobs, the next one."""
        resource = replace(resource, spec=plain(resource.spec))
        w = self.workloads
        found = w.find(resource, state)
        if not found and not w.layout.run_dir(resource.id).is_dir():
            return Observation(exists=False, phase="absent", healthy=None, state={})
        record = self._run_record(resource)
        last_run_at = as_epoch(record.get("started_at"))
        codes = [s.exit_code for s in w.statuses(resource, found)]
        running = bool(found)
        exit_code = None if running or last_run_at is None else _job_exit_code(codes)
        digest = next((f.digest for f in found.values() if f.digest), None)
        digest = digest or w.recorded_digest(resource)
        outputs: dict[str, Any] = {"last_run_at": iso(last_run_at), "last_exit_code": exit_code}
        if resource.spec.get("schedule"):
            outputs["next_run_at"] = iso(self.next_run_at(resource, state))
            phase = "running" if running else "scheduled"
        elif running:
            phase = "running"
        elif last_run_at is None:
            phase = "pending"
        else:
            phase = "succeeded" if exit_code == 0 else "failed"
        message = "" if exit_code in (None, 0) else f"the last run exited with code {exit_code}"
        return Observation(
            exists=True,
            phase=phase,
            healthy=exit_code in (None, 0),
            outputs=outputs,
            state={
                "processes": process_records(found),
                "digest": digest,
                "last_run_at": last_run_at,
                "last_exit_code": exit_code,
                "scheduled_since": as_epoch(record.get("scheduled_since")),
            },
            applied_digest=digest,
            message=message,
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Stop a run in progress and remove the job's files (logs are kept)."""
        with self.workloads.layout.locked(resource.id):
            self.workloads.stop(resource)
            self.workloads.remove(resource)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return CPU, memory and wall time of a run in progress (zero when none)."""
        return workload_usage(self.workloads.find(resource, state))


def _job_exit_code(codes: list[int | None]) -> int:
    """Return 0 when every container exited 0, else the first failure (137 when killed)."""
    for code in codes:
        if code is None:
            return 137
        if code != 0:
            return code
    return 0
