"""The ``vm`` resource type: a QEMU virtual machine on this machine, for real.

Files live in ``<data_dir>/vms/<resource>/``: data disks (``<name>.qcow2``), the
overlay of a disk image (``_root.qcow2``), ``console.log`` (the serial console,
what ``plinth logs`` shows), ``qemu.log`` (QEMU's own messages), ``qemu.json``
(pid, start time, accelerator), ``ports.json`` (host ports, stable across
restarts), ``applied.json`` (what the plan compares) and ``user-data`` /
``user-data.done`` (the first-boot script, handed over through fw_cfg).

``apply`` adopts a running QEMU started with the same spec, restarts one started
with another, creates or grows data disks, boots, and waits for the health check
up to ``boot_timeout_seconds``; a failed apply stops what it started and removes
what it created. ``destroy`` keeps the data disks only when the observation it is
given says a replace is pending (``state["pending_replace"]``): a replace boots a
new machine on the same disks, a delete removes everything.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local import processes, qemu, vm_files
from plinth.infrastructure.providers.local.health import http_status
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic
from plinth.infrastructure.providers.local.specs import plain, spec_digest, validate_spec
from plinth.infrastructure.providers.local.vm_specs import (
    applied_summary,
    replace_reasons,
)

__all__ = ["VirtualMachines", "vm_outputs"]


def vm_outputs(ports: Mapping[str, int], accelerator: str | None) -> dict[str, Any]:
    """Return a vm's outputs: host, port and url of the first port, every port, accelerator."""
    outputs: dict[str, Any] = {"host": "127.0.0.1", "ports": dict(ports)}
    if ports:
        first = next(iter(ports.values()))
        outputs["port"] = first
        outputs["url"] = f"http://127.0.0.1:{first}"
    outputs["accelerator"] = accelerator or "none"
    return outputs


def _tcp_answers(port: int) -> bool:
    """Return whether a connection to ``port`` is accepted and not closed straight away.

    QEMU user networking accepts on the host first and closes when the guest refuses,
    so a connection that ends at once means nothing listens in the guest.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.settimeout(0.5)
            return sock.recv(1) != b""
    except TimeoutError:
        return True
    except OSError:
        return False


def _healthy(spec: Mapping[str, Any], ports: Mapping[str, int]) -> bool:
    health = spec.get("health")
    if not health:
        return not ports or _tcp_answers(next(iter(ports.values())))
    port = ports.get(str(health["port"]))
    if port is None:
        return False
    if "http_path" in health:
        status = http_status(f"http://127.0.0.1:{port}{health['http_path']}")
        return status is not None and 200 <= status < 400
    return _tcp_answers(port)


class VirtualMachines:
    """Applies, observes and destroys QEMU virtual machines."""

    def __init__(self, layout: Layout, *, accelerator: str | None = None) -> None:
        self.layout = layout
        self.accelerator = accelerator

    # -- apply ------------------------------------------------------------------------

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make the VM run with the current spec and be healthy; adopt a running QEMU."""
        spec = validate_spec("vm", resource.spec)
        summary = applied_summary(spec)
        self._check_host(resource, spec)
        kernel = spec["image"].get("kernel")
        accelerator = qemu.choose_accelerator(
            self.accelerator, kernel=Path(kernel) if kernel else None
        )
        digest = spec_digest(spec)
        vm_dir = self.layout.vm_dir(resource.id)
        with self.layout.locked(resource.id):
            found = self._find(resource)
            if found is not None and found.digest == digest:
                self._wait_healthy(resource, spec, found, console_from=0)
                _record_applied(vm_dir, spec, summary, digest)  # a crash may have come first
                return self.observe(resource, state)
            vm_files.check_disks(self.layout.root, vm_dir, summary["disks"])
            qemu.stop_qemu(found)
            fresh_dir = not vm_dir.exists()
            created: list[Path] = []
            started: processes.Found | None = None
            try:
                vm_dir.mkdir(parents=True, exist_ok=True)
                disks = vm_files.prepare_disks(vm_dir, summary["disks"], created)
                root = vm_files.prepare_root(vm_dir, spec, created)
                user_data = vm_files.user_data_file(vm_dir, spec)
                launch = qemu.Launch(
                    vm_dir=vm_dir,
                    spec=spec,
                    accelerator=accelerator,
                    host_ports=vm_files.host_ports(vm_dir, spec),
                    disks=disks,
                    root_disk=root,
                    user_data=user_data,
                    gpus=self._gpus(spec),
                )
                offset = vm_files.file_size(vm_dir / "console.log")
                started = qemu.start_qemu(launch, markers=self._markers(resource), digest=digest)
                self._wait_healthy(resource, spec, started, console_from=offset)
                _record_applied(vm_dir, spec, summary, digest)
            except BaseException:
                qemu.stop_qemu(started, grace_s=2.0)
                for path in created:
                    path.unlink(missing_ok=True)
                if fresh_dir:
                    shutil.rmtree(vm_dir, ignore_errors=True)
                raise
        return self.observe(resource, state)

    def _check_host(self, resource: Resource, spec: Mapping[str, Any]) -> None:
        """Refuse, before anything starts, what cannot work on this host."""
        for key, path in spec["image"].items():
            if key != "cmdline" and not Path(path).is_file():
                raise PermanentError(
                    f"vm {resource.name}: image {key} {path} does not exist on this host"
                )
        health = spec.get("health")
        if health and str(health["port"]) not in (spec.get("ports") or {}):
            raise PermanentError(
                f"vm {resource.name}: health.port {health['port']!r} is not one of its ports"
            )
        self._gpus(spec)

    def _gpus(self, spec: Mapping[str, Any]) -> list[str]:
        gpu = spec.get("gpu")
        if not gpu:
            return []
        devices = qemu.vfio_devices()
        if len(devices) < int(gpu["count"]):
            raise PermanentError(
                f"GPU passthrough is not available on this host: the vm asks for "
                f"{gpu['count']} GPU(s) and {len(devices)} device(s) are bound to vfio-pci"
            )
        return devices[: int(gpu["count"])]

    def _wait_healthy(
        self,
        resource: Resource,
        spec: Mapping[str, Any],
        found: processes.Found,
        *,
        console_from: int,
    ) -> None:
        """Wait for the health check; on failure stop QEMU and raise with the console tail."""
        vm_dir = self.layout.vm_dir(resource.id)
        ports = read_json(vm_dir / "ports.json") or {}
        timeout = int(spec.get("boot_timeout_seconds") or 60)
        deadline = time.monotonic() + timeout
        while True:
            if not processes.is_alive(found.process):
                why = "QEMU exited before the vm became healthy (the guest reset or powered off)"
                log = " | ".join(processes.tail_lines(vm_dir / "qemu.log", 3))
                if "forwarding" in log:
                    raise TemporaryError(f"vm {resource.name}: a host port was taken: {log}")
                break
            if _healthy(spec, ports):
                return
            if time.monotonic() >= deadline:
                why = f"did not become healthy in {timeout} s"
                break
            time.sleep(0.5)
        qemu.stop_qemu(found, grace_s=2.0)
        raise PermanentError(
            f"vm {resource.name} {why}; console: {vm_files.console_tail(vm_dir, console_from)}"
        )

    def _markers(self, resource: Resource) -> dict[str, str]:
        return {
            processes.MARK_DATA_DIR: str(self.layout.root),
            processes.MARK_RESOURCE: resource.id,
        }

    def _find(self, resource: Resource) -> processes.Found | None:
        return qemu.find_qemu(
            self.layout.vm_dir(resource.id),
            data_dir=str(self.layout.root),
            resource_id=resource.id,
        )

    # -- observe, destroy, usage ------------------------------------------------------

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report whether QEMU runs, the health check, the ports and the accelerator."""
        vm_dir = self.layout.vm_dir(resource.id)
        if not vm_dir.is_dir():
            return Observation(exists=False, phase="absent", healthy=None, state={})
        spec = plain(resource.spec)
        applied = read_json(vm_dir / "applied.json")
        recorded = read_json(vm_dir / "ports.json")
        ports: dict[str, int] = recorded if isinstance(recorded, dict) else {}
        accelerator = qemu.recorded_accelerator(vm_dir)
        found = self._find(resource)
        try:
            desired = applied_summary(spec)
            pending = isinstance(applied, dict) and bool(replace_reasons(desired, applied))
        except (PermanentError, KeyError, TypeError):
            pending = False
        if found is not None:
            phase, healthy = "running", _healthy(spec, ports)
            message = (
                f"running under {_accelerator_words(accelerator)} (QEMU pid {found.process.pid})"
            )
        else:
            phase, healthy = "stopped", False
            message = (
                f"vm not running: no QEMU process (last started under "
                f"{_accelerator_words(accelerator)}); the next apply starts it again"
            )
        try:
            digest: str | None = (vm_dir / "digest").read_text().strip() or None
        except OSError:
            digest = None
        return Observation(
            exists=isinstance(applied, dict),
            phase=phase,
            healthy=healthy,
            outputs=vm_outputs(ports, accelerator),
            state={
                "applied": applied,
                "ports": ports,
                "accelerator": accelerator,
                "pending_replace": pending,
            },
            applied_digest=digest,
            message=message,
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Stop QEMU and remove the VM's files (data disks stay when a replace is pending)."""
        vm_dir = self.layout.vm_dir(resource.id)
        with self.layout.locked(resource.id):
            self._stop_all(resource)
            if not state.get("pending_replace"):
                shutil.rmtree(vm_dir, ignore_errors=True)
                return
            keep = set(self.disk_files(resource).values())
            for path in vm_dir.iterdir() if vm_dir.is_dir() else []:
                if path not in keep and path.name not in ("console.log", "ports.json"):
                    path.unlink(missing_ok=True)

    def _stop_all(self, resource: Resource) -> None:
        qemu.stop_qemu(self._find(resource))
        for item in processes.scan(str(self.layout.root), resource.id):
            qemu.stop_qemu(item)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return QEMU's CPU seconds and resident memory, and the disks' allocated bytes."""
        vm_dir = self.layout.vm_dir(resource.id)
        disk = sum(p.stat().st_blocks * 512 for p in vm_dir.glob("*.qcow2") if p.is_file())
        found = self._find(resource)
        if found is None:
            return Usage(disk_bytes=disk)
        cpu, rss = processes.tree_usage([found.process])
        try:
            wall = time.time() - found.process.create_time()
        except psutil.Error:
            wall = 0.0
        return Usage(cpu_seconds=cpu, memory_bytes=rss, disk_bytes=disk, wall_seconds=wall)

    def logs(self, resource: Resource, *, tail: int = 200) -> list[str]:
        """Return the last ``tail`` lines of the VM's serial console."""
        return processes.tail_lines(self.layout.vm_dir(resource.id) / "console.log", tail)

    # -- for snapshots ----------------------------------------------------------------

    def disk_files(self, resource: Resource) -> dict[str, Path]:
        """Return the existing data disk files of the VM, by disk name."""
        vm_dir = self.layout.vm_dir(resource.id)
        names = [str(d["name"]) for d in plain(resource.spec).get("disks") or []]
        return {n: vm_dir / f"{n}.qcow2" for n in names if (vm_dir / f"{n}.qcow2").is_file()}

    def halt(self, resource: Resource) -> None:
        """Stop QEMU cleanly (its disks flushed); the next apply or reconcile starts it again."""
        with self.layout.locked(resource.id):
            self._stop_all(resource)


def _record_applied(
    vm_dir: Path, spec: Mapping[str, Any], summary: Mapping[str, Any], digest: str
) -> None:
    """Remember what runs: the plan's summary, the digest, and that user_data has run."""
    if spec.get("user_data"):
        (vm_dir / "user-data.done").write_text(vm_files.text_digest(spec["user_data"]))
    write_json_atomic(vm_dir / "applied.json", summary)
    (vm_dir / "digest").write_text(digest)


def _accelerator_words(accelerator: str | None) -> str:
    if accelerator == "kvm":
        return "KVM (hardware virtualisation)"
    if accelerator == "tcg":
        return "TCG (software emulation, slower than KVM)"
    return "an unknown accelerator"
