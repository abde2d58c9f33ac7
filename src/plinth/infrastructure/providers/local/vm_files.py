"""A ``vm``'s directory: data disks, the image overlay, host ports, user_data, console.

See ``vms`` for the layout of ``<data_dir>/vms/<resource>/``.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.local import processes, qemu
from plinth.infrastructure.providers.local.health import free_port
from plinth.infrastructure.providers.local.layout import read_json, write_json_atomic
from plinth.infrastructure.providers.local.vm_specs import format_size

__all__ = [
    "ROOT_DISK",
    "check_disks",
    "console_tail",
    "file_size",
    "host_ports",
    "port_free",
    "prepare_disks",
    "prepare_root",
    "text_digest",
    "user_data_file",
]

ROOT_DISK = "_root.qcow2"
_CONSOLE_TAIL = 15


def check_disks(root: Path, vm_dir: Path, sizes: Mapping[str, int]) -> None:
    """Refuse a shrinking disk, and disks that need more than the free space."""
    growth = 0
    for name, size in sizes.items():
        path = vm_dir / f"{name}.qcow2"
        current = qemu.disk_size(path) if path.exists() else 0
        if size < current:
            raise PermanentError(
                f"disk {name!r} cannot shrink from {format_size(current)} to "
                f"{format_size(size)}; declare at least {format_size(current)}"
            )
        growth += size - current
    where = vm_dir if vm_dir.exists() else root
    where.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(where).free
    if growth > free:
        raise PermanentError(
            f"the vm's disks need {format_size(growth)} more but only {format_size(free)} "
            f"is free on the filesystem of {where}"
        )


def prepare_disks(vm_dir: Path, sizes: Mapping[str, int], created: list[Path]) -> list[Path]:
    """Create missing data disks and grow the others (sizes checked before)."""
    paths = {name: vm_dir / f"{name}.qcow2" for name in sizes}
    for name, path in paths.items():
        if path.exists():
            qemu.grow_disk(path, sizes[name])
        else:
            created.append(path)
            qemu.create_disk(path, sizes[name])
    return list(paths.values())


def prepare_root(vm_dir: Path, spec: Mapping[str, Any], created: list[Path]) -> Path | None:
    """Return the qcow2 overlay of a disk image (created on first boot), or None."""
    image = spec["image"]
    if "disk" not in image:
        return None
    root = vm_dir / ROOT_DISK
    if not root.exists():
        created.append(root)
        qemu.create_disk(root, 0, backing=Path(image["disk"]))
    return root


def user_data_file(vm_dir: Path, spec: Mapping[str, Any]) -> Path | None:
    """Return the user_data file to hand over when it has not run on this machine yet."""
    text = spec.get("user_data")
    if not text:
        return None
    try:
        done = (vm_dir / "user-data.done").read_text().strip()
    except OSError:
        done = ""
    if done == text_digest(text):
        return None
    path = vm_dir / "user-data"
    path.write_text(text)
    path.chmod(0o600)
    return path


def host_ports(vm_dir: Path, spec: Mapping[str, Any]) -> dict[str, int]:
    """Return host ports for the guest ports: the recorded ones while free, else new ones."""
    recorded = read_json(vm_dir / "ports.json")
    known: dict[str, int] = recorded if isinstance(recorded, dict) else {}
    ports: dict[str, int] = {}
    for name in spec.get("ports") or {}:
        port = known.get(name)
        if not isinstance(port, int) or not port_free(port):
            port = free_port(exclude=frozenset(ports.values()))
        ports[name] = port
    write_json_atomic(vm_dir / "ports.json", ports)
    return ports


def console_tail(vm_dir: Path, offset: int) -> str:
    try:
        with (vm_dir / "console.log").open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        qemu_log = processes.tail_lines(vm_dir / "qemu.log", 3)
        return " | ".join(qemu_log) or "(nothing on the serial console)"
    return " | ".join(lines[-_CONSOLE_TAIL:])


def port_free(port: int) -> bool:
    """Return whether ``port`` on 127.0.0.1 can be bound now (as QEMU binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as QEMU binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def text_digest(text: str) -> str:
    """Return the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


def file_size(path: Path) -> int:
    """Return the size of ``path`` in bytes (0 when missing)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
