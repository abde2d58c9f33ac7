"""QEMU for the ``vm`` resource type: accelerator, disks, command line and the process.

The QEMU process carries the provider's marker variables (see ``processes``), runs in a
session of its own, and is recorded in ``qemu.json`` (pid and start time) in the VM's
directory; a record counts only while that pid still runs with the same start time and
markers, so a recycled pid is never mistaken for the VM.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.layout import read_json, write_json_atomic
from plinth.infrastructure.providers.local.vm_specs import DEFAULT_CMDLINE, format_size, parse_size

__all__ = [
    "QEMU_BINARY",
    "Launch",
    "choose_accelerator",
    "command_line",
    "create_disk",
    "disk_size",
    "find_qemu",
    "grow_disk",
    "kvm_boots",
    "kvm_usable",
    "recorded_accelerator",
    "start_qemu",
    "stop_qemu",
    "vfio_devices",
]

QEMU_BINARY = "qemu-system-x86_64"
_RECORD = "qemu.json"
_CONTAINER = "qemu"


def kvm_usable() -> bool:
    """Return whether this process can open ``/dev/kvm`` for reading and writing."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


_KVM_BOOTS: dict[str, bool] = {}


def kvm_boots(kernel: Path | None) -> bool:
    """Return whether a KVM guest really runs here, trying ``kernel`` once per host boot.

    Nested virtualisation can open ``/dev/kvm`` yet never run a guest: the kernel is
    booted with no root and ``panic=-1`` under ``-no-reboot``, which ends QEMU within
    seconds when KVM works; a QEMU still running after 10 s means it does not.
    Without a kernel (disk images) an openable ``/dev/kvm`` is trusted.
    """
    if kernel is None:
        return True
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    if boot_id not in _KVM_BOOTS:
        argv = [QEMU_BINARY, "-enable-kvm", "-cpu", "host", "-m", "128", "-nodefaults"]
        argv += ["-display", "none", "-no-reboot", "-kernel", str(kernel)]
        argv += ["-append", "panic=-1 rdinit=/plinth-kvm-probe root=/dev/plinth-none"]
        try:
            subprocess.run(argv, capture_output=True, timeout=10, check=False)
            _KVM_BOOTS[boot_id] = True
        except (OSError, subprocess.TimeoutExpired):
            _KVM_BOOTS[boot_id] = False
    return _KVM_BOOTS[boot_id]


def choose_accelerator(setting: str | None, *, kernel: Path | None = None) -> str:
    """Return ``"kvm"`` or ``"tcg"`` for the setting ``auto`` (default), ``kvm`` or ``tcg``.

    ``auto`` picks KVM when ``/dev/kvm`` opens for reading and writing and a guest really
    runs under it (see ``kvm_boots``), TCG otherwise.
    """
    wanted = (setting or os.environ.get("PLINTH_VM_ACCELERATOR") or "auto").strip().lower()
    if wanted == "tcg":
        return "tcg"
    if wanted == "kvm":
        if not kvm_usable():
            raise PermanentError("vm_accelerator is 'kvm' but /dev/kvm cannot be opened here")
        return "kvm"
    if wanted != "auto":
        raise PermanentError(f"vm_accelerator must be auto, kvm or tcg, not {wanted!r}")
    return "kvm" if kvm_usable() and kvm_boots(kernel) else "tcg"


def vfio_devices() -> list[str]:
    """Return the PCI addresses of devices bound to ``vfio-pci`` (passthrough candidates)."""
    driver = Path("/sys/bus/pci/drivers/vfio-pci")
    if not driver.is_dir():
        return []
    return sorted(p.name for p in driver.iterdir() if p.name.count(":") == 2)


def _qemu_img(*args: str) -> str:
    try:
        done = subprocess.run(
            ["qemu-img", *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PermanentError(f"qemu-img could not run: {exc}") from exc
    if done.returncode != 0:
        raise PermanentError(f"qemu-img {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def disk_size(path: Path) -> int:
    """Return the virtual size in bytes of the disk image at ``path``."""
    info = json.loads(_qemu_img("info", "--output=json", "-U", str(path)))
    return int(info["virtual-size"])


def _format_of(path: Path) -> str:
    info = json.loads(_qemu_img("info", "--output=json", "-U", str(path)))
    return str(info.get("format") or "raw")


def create_disk(path: Path, size: int, *, backing: Path | None = None) -> None:
    """Create a qcow2 disk of ``size`` bytes (an overlay of ``backing`` when given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    args = ["create", "-q", "-f", "qcow2"]
    if backing is not None:
        args += ["-b", str(backing), "-F", _format_of(backing)]
    _qemu_img(*args, str(tmp), *([] if backing is not None else [str(size)]))
    os.replace(tmp, path)


def grow_disk(path: Path, size: int) -> None:
    """Grow the qcow2 disk at ``path`` to ``size`` bytes (never shrinks)."""
    current = disk_size(path)
    if size < current:
        raise PermanentError(
            f"disk {path.stem!r} cannot shrink from {format_size(current)} to "
            f"{format_size(size)}; declare at least {format_size(current)}, or destroy the vm"
        )
    if size > current:
        _qemu_img("resize", "-q", str(path), str(size))


@dataclass(frozen=True)
class Launch:
    """Everything one QEMU start needs."""

    vm_dir: Path
    spec: Mapping[str, Any]
    accelerator: str
    host_ports: Mapping[str, int]
    disks: Sequence[Path]
    root_disk: Path | None
    user_data: Path | None
    gpus: Sequence[str]


def command_line(launch: Launch) -> list[str]:
    """Return QEMU's argv for ``launch`` (serial console appended to ``console.log``)."""
    spec = launch.spec
    memory_mib = max(32, _memory_bytes(spec) // 1024**2)
    argv = [QEMU_BINARY, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]
    if launch.accelerator == "kvm":
        argv += ["-enable-kvm", "-cpu", "host"]
    else:
        argv += ["-accel", "tcg"]
    argv += ["-m", str(memory_mib), "-smp", str(int(spec.get("vcpus") or 1))]
    console = launch.vm_dir / "console.log"
    argv += ["-chardev", f"file,id=console,path={console},append=on", "-serial", "chardev:console"]
    argv += ["-monitor", "none", "-pidfile", str(launch.vm_dir / "qemu.pid")]
    image = spec["image"]
    if "kernel" in image:
        argv += ["-kernel", image["kernel"], "-initrd", image["initrd"]]
        argv += ["-append", str(image.get("cmdline") or DEFAULT_CMDLINE)]
    if launch.root_disk is not None:
        argv += ["-drive", f"file={launch.root_disk},if=virtio,format=qcow2"]
    for disk in launch.disks:
        argv += ["-drive", f"file={disk},if=virtio,format=qcow2"]
    forwards = "".join(
        f",hostfwd=tcp:127.0.0.1:{launch.host_ports[name]}-:{guest}"
        for name, guest in (spec.get("ports") or {}).items()
    )
    argv += ["-netdev", f"user,id=net0{forwards}", "-device", "virtio-net-pci,netdev=net0"]
    if launch.user_data is not None:
        argv += ["-fw_cfg", f"name=opt/plinth/user-data,file={launch.user_data}"]
    for address in launch.gpus:
        argv += ["-device", f"vfio-pci,host={address}"]
    return argv


def _memory_bytes(spec: Mapping[str, Any]) -> int:
    return parse_size(str(spec.get("memory") or "256Mi"), where="spec['memory']")


def start_qemu(launch: Launch, *, markers: Mapping[str, str], digest: str) -> processes.Found:
    """Start QEMU detached (its own output in ``qemu.log``) and record its identity."""
    if shutil.which(QEMU_BINARY) is None:
        raise PermanentError(f"{QEMU_BINARY} is not installed on this host (apt: qemu-system-x86)")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **markers,
        processes.MARK_CONTAINER: _CONTAINER,
        processes.MARK_DIGEST: digest,
    }
    argv = command_line(launch)
    with (launch.vm_dir / "qemu.log").open("ab") as log:
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=str(launch.vm_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    proc = psutil.Process(popen.pid)
    record = {"pid": proc.pid, "create_time": proc.create_time(), "accelerator": launch.accelerator}
    write_json_atomic(launch.vm_dir / _RECORD, record)
    return processes.Found(proc, env)


def find_qemu(vm_dir: Path, *, data_dir: str, resource_id: str) -> processes.Found | None:
    """Return the VM's running QEMU: by its record, else by scanning for its markers."""
    record = read_json(vm_dir / _RECORD)
    if isinstance(record, dict):
        found = processes.from_records(
            {_CONTAINER: record}, data_dir=data_dir, resource_id=resource_id
        )
        if found:
            return found[_CONTAINER]
    for item in processes.scan(data_dir, resource_id):
        if item.container == _CONTAINER:
            return item
    return None


def recorded_accelerator(vm_dir: Path) -> str | None:
    """Return the accelerator the VM was last started with, or None."""
    record = read_json(vm_dir / _RECORD)
    return str(record.get("accelerator")) if isinstance(record, dict) else None


def stop_qemu(found: processes.Found | None, *, grace_s: float = 10.0) -> None:
    """Stop QEMU: SIGTERM (QEMU flushes its disks and exits), then SIGKILL after ``grace_s``."""
    if found is None:
        return
    with contextlib.suppress(psutil.Error):
        processes.terminate([found.process], grace_s=grace_s)
