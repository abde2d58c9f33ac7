"""What services and jobs share: containers run as local processes.

Command resolution, in order:

1. ``command`` is given: run ``command + args`` (``command[0]`` is looked up on ``PATH``).
2. the image is ``py:<module>``: run ``<the control plane's python> -m <module> + args``.
3. the image is ``exec:<program>``: run ``<program> + args``.
4. anything else (a container image such as ``nginx:1.27``) is refused with a
   ``PermanentError``: the local provider runs processes, not container images;
   write ``py:<module>`` or ``exec:<program>``, or give ``command``.

Each container is one process whose environment holds only a few variables of
the control plane (``PATH``, ``HOME``, locale, ...) and then, in this order: the
container's ``env``; ``PORT`` (the first port) and ``PORT_<NAME>`` for every
named port; ``PLINTH_VOLUME_<TARGET>`` (the volume's source directory, named
after the target's last part) for every volume; ``PLINTH_FILES_DIR`` (where the
declared files were written, also the working directory); and the markers
``PLINTH_RESOURCE_ID``, ``PLINTH_DATA_DIR``, ``PLINTH_CONTAINER`` and
``PLINTH_SPEC_DIGEST``. A spec that asks for accelerators also gets
``CUDA_VISIBLE_DEVICES`` for its allocation (see ``accelerators``). Ports are
free loopback ports chosen at the first apply and kept across restarts. A spec
with ``egress: {allow: [...]}`` runs each container in a network namespace of
its own that reaches only those hosts (see ``egress``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import psutil

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.local import egress, processes
from plinth.infrastructure.providers.local.accelerators import accelerator_env
from plinth.infrastructure.providers.local.health import free_port
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic
from plinth.infrastructure.providers.local.processes import Found
from plinth.infrastructure.providers.local.specs import env_key, safe_id

__all__ = ["ContainerStatus", "Workloads", "process_records", "resolve_command"]

_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "SHELL")


def resolve_command(name: str, container: Mapping[str, Any]) -> list[str]:
    """Return the argv that runs ``container`` as a local process (see the module docs)."""
    image = str(container.get("image", ""))
    command = container.get("command")
    args = [str(a) for a in container.get("args") or []]
    if command:
        return [str(c) for c in command] + args
    if image.startswith("py:") and image[3:].strip():
        return [sys.executable, "-m", image[3:].strip(), *args]
    if image.startswith("exec:") and image[5:].strip():
        program = image[5:].strip()
        if shutil.which(program) is None:
            raise PermanentError(
                f"container {name!r}: program {program!r} was not found on this machine"
            )
        return [program, *args]
    raise PermanentError(
        f"the local provider cannot run container image {image!r} (container {name!r}): "
        "it runs local processes; write image 'py:<python module>' or 'exec:<program>', "
        "or give a 'command'"
    )


@dataclass(frozen=True)
class ContainerStatus:
    """What one container's process is doing now."""

    name: str
    found: Found | None
    exit_code: int | None

    @property
    def alive(self) -> bool:
        """Return whether the process runs."""
        return self.found is not None


class Workloads:
    """Starts, finds and stops the processes of services and jobs."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.data_dir = str(layout.root)

    def exit_path(self, resource_id: str, container: str) -> Path:
        """Return the file where a container's exit status is written."""
        return self.layout.run_dir(resource_id) / f"{safe_id(container)}.exit"

    def find(self, resource: Resource, state: Mapping[str, Any]) -> dict[str, Found]:
        """Return the live wrapper process of each container (recorded pids first, then a scan)."""
        records = state.get("processes")
        if isinstance(records, Mapping) and set(records) == set(_containers(resource.spec)):
            fast = processes.from_records(records, data_dir=self.data_dir, resource_id=resource.id)
            if fast is not None:
                return fast
        return processes.leaders(processes.scan(self.data_dir, resource.id))

    def statuses(self, resource: Resource, found: Mapping[str, Found]) -> list[ContainerStatus]:
        """Return the status of every container the spec declares."""
        return [
            ContainerStatus(
                name,
                found.get(name),
                None
                if name in found
                else processes.read_exit_code(self.exit_path(resource.id, name)),
            )
            for name in _containers(resource.spec)
        ]

    def stop(self, resource: Resource, containers: set[str] | None = None) -> None:
        """Stop the resource's processes (only those of ``containers`` when given)."""
        marked = processes.scan(self.data_dir, resource.id)
        chosen = [f.process for f in marked if containers is None or f.container in containers]
        processes.terminate(chosen)

    def known_ports(
        self, resource: Resource, state: Mapping[str, Any], found: Mapping[str, Found]
    ) -> dict[str, int]:
        """Return the ports already chosen for the spec's named ports (state, processes, disk)."""
        names = [str(p["name"]) for p in resource.spec.get("ports") or []]
        known: dict[str, int] = {}
        sources: list[Mapping[str, Any]] = [state.get("ports") or {}]
        sources += [{n: f.environ.get(f"PORT_{env_key(n)}") for n in names} for f in found.values()]
        sources.append(read_json(self.layout.run_dir(resource.id) / "ports.json") or {})
        for name in names:
            for source in sources:
                value = source.get(name)
                if value is not None and str(value).isdigit():
                    known[name] = int(value)
                    break
        return known

    def ports(
        self, resource: Resource, state: Mapping[str, Any], found: Mapping[str, Found]
    ) -> dict[str, int]:
        """Return the port of every named port: kept from before when known, else a new one."""
        known = self.known_ports(resource, state, found)
        chosen: dict[str, int] = {}
        for port in resource.spec.get("ports") or []:
            name = str(port["name"])
            if name in known:
                chosen[name] = known[name]
            else:
                taken = frozenset(known.values()) | frozenset(chosen.values())
                chosen[name] = free_port(exclude=taken)
        write_json_atomic(self.layout.run_dir(resource.id) / "ports.json", chosen)
        return chosen

    def environment(
        self, resource: Resource, name: str, *, ports: Mapping[str, int], digest: str
    ) -> dict[str, str]:
        """Return the full environment of container ``name``."""
        spec = resource.spec
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update({k: v for k, v in os.environ.items() if k.startswith("LC_")})
        env["PYTHONUNBUFFERED"] = "1"
        env.update({str(k): str(v) for k, v in (spec["containers"][name].get("env") or {}).items()})
        env.update(accelerator_env(spec))
        if ports:
            env["PORT"] = str(next(iter(ports.values())))
        for port_name, port in ports.items():
            env[f"PORT_{env_key(port_name)}"] = str(port)
        for volume in spec.get("volumes") or []:
            target = PurePosixPath(str(volume["target"])).name or "ROOT"
            env[f"PLINTH_VOLUME_{env_key(target)}"] = str(volume["source"])
        env["PLINTH_FILES_DIR"] = str(self.layout.files_dir(resource.id))
        env[processes.MARK_RESOURCE] = resource.id
        env[processes.MARK_DATA_DIR] = self.data_dir
        env[processes.MARK_CONTAINER] = name
        env[processes.MARK_DIGEST] = digest
        return env

    def write_files(self, resource: Resource) -> Path:
        """Write every declared file under the resource's files directory; return it."""
        root = self.layout.files_dir(resource.id)
        root.mkdir(parents=True, exist_ok=True)
        for name, container in resource.spec["containers"].items():
            for item in container.get("files") or []:
                relative = PurePosixPath(str(item["target"]).lstrip("/"))
                if ".." in relative.parts or not relative.parts:
                    raise PermanentError(
                        f"container {name!r}: file target {item['target']!r} must not contain '..'"
                    )
                path = root.joinpath(*relative.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(str(item["content"]))
                if item.get("mode"):
                    path.chmod(int(str(item["mode"]), 8))
        return root

    def start(
        self,
        resource: Resource,
        names: list[str],
        *,
        ports: Mapping[str, int],
        digest: str,
        prefix: Sequence[str] = (),
    ) -> dict[str, Found]:
        """Start the named containers (each argv after ``prefix``); return their wrappers."""
        accelerator_env(resource.spec)  # a queued accelerator request starts nothing
        argvs = {n: [*prefix, *resolve_command(n, resource.spec["containers"][n])] for n in names}
        cwd = self.write_files(resource)
        confine = egress.prepare(self.layout, resource, ports=ports) if names else []
        started: dict[str, Found] = {}
        try:
            for name in names:
                env = self.environment(resource, name, ports=ports, digest=digest)
                proc = processes.launch(
                    [*confine, *argvs[name]],
                    env=env,
                    cwd=cwd,
                    log_path=self.layout.logs_dir(resource.id) / f"{safe_id(name)}.log",
                    exit_path=self.exit_path(resource.id, name),
                )
                started[name] = Found(proc, env)
        except OSError:
            processes.terminate([f.process for f in started.values()])
            egress.remove(self.layout, resource.id)
            raise
        return started

    def record_digest(self, resource: Resource, digest: str) -> None:
        """Remember the digest last applied."""
        self.layout.record_digest(resource.id, digest)

    def recorded_digest(self, resource: Resource) -> str | None:
        """Return the digest last applied, or None."""
        return self.layout.recorded_digest(resource.id)

    def remove(self, resource: Resource) -> None:
        """Remove what the resource owns on disk, except its logs."""
        shutil.rmtree(self.layout.files_dir(resource.id), ignore_errors=True)
        shutil.rmtree(self.layout.run_dir(resource.id), ignore_errors=True)
        egress.remove(self.layout, resource.id)

    def logs(self, resource: Resource, *, tail: int) -> list[str]:
        """Return the last ``tail`` lines of every container's log, prefixed with its name."""
        lines: list[str] = []
        logs_dir = self.layout.logs_dir(resource.id)
        names = list(_containers(resource.spec))
        if logs_dir.is_dir():
            known = {f"{safe_id(n)}.log" for n in names}
            names += sorted(p.stem for p in logs_dir.glob("*.log") if p.name not in known)
        for name in names:
            for line in processes.tail_lines(logs_dir / f"{safe_id(name)}.log", tail):
                lines.append(f"[{name}] {line}")
        return lines[-tail:] if tail > 0 else []


def _containers(spec: Mapping[str, Any]) -> list[str]:
    containers = spec.get("containers")
    return [str(n) for n in containers] if isinstance(containers, Mapping) else []


def process_records(found: Mapping[str, Found]) -> dict[str, dict[str, Any]]:
    """Return the state records (pid, create time) of ``found``."""
    records: dict[str, dict[str, Any]] = {}
    for name, item in found.items():
        try:
            records[name] = {"pid": item.process.pid, "create_time": item.process.create_time()}
        except psutil.Error:
            continue
    return records
