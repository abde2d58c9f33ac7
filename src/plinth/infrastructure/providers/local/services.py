"""The ``service`` resource type: long-running processes with ports and a health check.

``apply`` never starts a second copy: it scans the process table for the
resource's markers, adopts a live process started with the same spec digest,
and stops then restarts a container whose digest differs. ``restart`` decides
whether a container that ended is started again: ``always`` (the default),
``on-failure`` (only after a non-zero exit or a kill) or ``never``.

A service or job whose spec says ``"stopped": true`` is held stopped
(``hold_stopped``): its processes are ended, nothing is started, its ports and
files stay, and it reports phase ``stopped`` once nothing runs
(``stopped_observation``). Removing the flag starts it again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import psutil

from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.health import exec_ok, http_status, tcp_ok
from plinth.infrastructure.providers.local.least_privilege import privilege_prefix
from plinth.infrastructure.providers.local.processes import Found
from plinth.infrastructure.providers.local.specs import plain, spec_digest, validate_spec
from plinth.infrastructure.providers.local.workloads import (
    ContainerStatus,
    Workloads,
    process_records,
    resolve_command,
)

__all__ = [
    "STOPPED_MESSAGE",
    "Services",
    "hold_stopped",
    "service_outputs",
    "should_restart",
    "stopped_observation",
    "workload_usage",
]

STOPPED_MESSAGE = "stopped on request (annotation plinth.dev/stopped)"


def should_restart(policy: str, exit_code: int | None) -> bool:
    """Return whether a container that ended with ``exit_code`` (None: killed) starts again."""
    if policy == "never":
        return False
    if policy == "on-failure":
        return exit_code != 0
    return True


def service_outputs(ports: Mapping[str, int]) -> dict[str, Any]:
    """Return the outputs of a service listening on ``ports``."""
    outputs: dict[str, Any] = {"host": "127.0.0.1"}
    if ports:
        first = next(iter(ports.values()))
        outputs["port"] = first
        outputs["url"] = f"http://127.0.0.1:{first}"
    outputs["ports"] = dict(ports)
    outputs["urls"] = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return outputs


class Services:
    """Applies, observes and destroys services."""

    def __init__(self, workloads: Workloads, *, start_timeout_s: float = 10.0) -> None:
        self.workloads = workloads
        self.start_timeout_s = start_timeout_s

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make every container run with the current spec; adopt what already runs."""
        resource = replace(resource, spec=validate_spec("service", resource.spec))
        spec = resource.spec
        for name, container in spec["containers"].items():
            resolve_command(name, container)
        digest = spec_digest(spec)
        w = self.workloads
        with w.layout.locked(resource.id):
            leaders = processes.leaders(processes.scan(w.data_dir, resource.id))
            ports = w.ports(resource, state, leaders)
            keep = {
                n: f for n, f in leaders.items() if n in spec["containers"] and f.digest == digest
            }
            first_time = w.recorded_digest(resource) != digest
            marked = {f.container for f in processes.scan(w.data_dir, resource.id)}
            w.stop(resource, marked - set(keep))
            policy = str(spec.get("restart") or "always")
            to_start = [
                s.name
                for s in w.statuses(resource, keep)
                if not s.alive and (first_time or should_restart(policy, s.exit_code))
            ]
            prefix = privilege_prefix(w.layout, spec) if to_start else []
            started = w.start(resource, to_start, ports=ports, digest=digest, prefix=prefix)
            w.record_digest(resource, digest)
            running = {**keep, **started}
            self._wait_ready(resource, running, ports, digest)
        return self.observe(resource, {"ports": ports, "processes": process_records(running)})

    def _wait_ready(
        self,
        resource: Resource,
        running: Mapping[str, Found],
        ports: Mapping[str, int],
        digest: str,
    ) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if not all(processes.is_alive(f.process) for f in running.values()):
                return
            healthy = self._healthy(resource, ports, digest)
            if healthy or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def _healthy(self, resource: Resource, ports: Mapping[str, int], digest: str) -> bool:
        check = resource.spec.get("healthcheck")
        if not check:
            tcp = [p for p in resource.spec.get("ports") or [] if p.get("protocol", "TCP") == "TCP"]
            return not tcp or tcp_ok(ports.get(str(tcp[0]["name"]), 0))
        if "http" in check:
            port = ports.get(str(check["http"]["port"]))
            if port is None:
                return False
            path = "/" + str(check["http"]["path"]).lstrip("/")
            status = http_status(f"http://127.0.0.1:{port}{path}")
            return status is not None and 200 <= status < 400
        if "tcp" in check:
            port = ports.get(str(check["tcp"]["port"]))
            return port is not None and tcp_ok(port)
        first = next(iter(resource.spec["containers"]))
        env = self.workloads.environment(resource, first, ports=ports, digest=digest)
        cwd = self.workloads.layout.files_dir(resource.id)
        return exec_ok(check["exec"]["command"], env=env, cwd=str(cwd if cwd.is_dir() else "/"))

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report whether each container's process runs, and whether the service is healthy."""
        resource = replace(resource, spec=plain(resource.spec))
        w = self.workloads
        found = w.find(resource, state)
        if not found and not w.layout.run_dir(resource.id).is_dir():
            return Observation(exists=False, phase="absent", healthy=None, state={})
        statuses = w.statuses(resource, found)
        ports = w.known_ports(resource, state, found)
        digest = next((f.digest for f in found.values() if f.digest), None)
        digest = digest or w.recorded_digest(resource)
        phase, message = _phase(statuses)
        healthy = phase == "running" and self._healthy(resource, ports, digest or "")
        return Observation(
            exists=phase == "running",
            phase=phase,
            healthy=healthy,
            outputs=service_outputs(ports),
            state={"ports": ports, "processes": process_records(found), "digest": digest},
            applied_digest=digest,
            message=message,
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Stop every process of the service and remove its files (logs are kept)."""
        with self.workloads.layout.locked(resource.id):
            self.workloads.stop(resource)
            self.workloads.remove(resource)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return CPU, memory and wall time of the running processes (zero when none)."""
        return workload_usage(self.workloads.find(resource, state))


def hold_stopped(workloads: Workloads, resource: Resource) -> None:
    """End every process of a service or job that should stay stopped; start nothing."""
    spec = validate_spec(resource.type, resource.spec)
    with workloads.layout.locked(resource.id):
        workloads.stop(resource)
        workloads.record_digest(resource, spec_digest(spec))


def stopped_observation(observed: Observation) -> Observation:
    """Return ``observed`` of a workload held stopped: phase ``stopped`` once nothing runs."""
    if observed.phase == "absent" or observed.state.get("processes"):
        return observed  # never applied, or still running: the plan says what to do
    outputs = dict(observed.outputs)
    if "next_run_at" in outputs:
        outputs["next_run_at"] = None
    return replace(
        observed,
        exists=True,
        phase="stopped",
        healthy=None,
        outputs=outputs,
        message=STOPPED_MESSAGE,
    )


def workload_usage(found: Mapping[str, Found]) -> Usage:
    """Return the usage of the running processes ``found``."""
    procs = [f.process for f in found.values()]
    cpu, rss = processes.tree_usage(procs)
    wall = 0.0
    for proc in procs:
        try:
            wall = max(wall, time.time() - proc.create_time())
        except psutil.Error:
            continue
    return Usage(cpu_seconds=cpu, memory_bytes=rss, wall_seconds=wall)


def _phase(statuses: list[ContainerStatus]) -> tuple[str, str]:
    if statuses and all(s.alive for s in statuses):
        return "running", ""
    problems = []
    for s in statuses:
        if s.alive:
            continue
        if s.exit_code is None:
            problems.append(f"container {s.name!r} is not running (killed or never started)")
        elif s.exit_code != 0:
            problems.append(f"container {s.name!r} exited with code {s.exit_code}")
    if problems:
        return "failed", "; ".join(problems) + "; see its logs"
    return "stopped", "every container exited with code 0"
