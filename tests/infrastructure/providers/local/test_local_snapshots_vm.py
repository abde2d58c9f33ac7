"""VM disk snapshots with real qcow2 images and qemu-img, against the ``VmDisks`` contract.

The VM side here is a small honest stand-in for the ``vm`` type (real disk files, a halt
that is recorded); the disks are written and read back with ``qemu-io``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import ProviderContext, Resource
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.postgres import Postgres
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime
from plinth.infrastructure.providers.local.snapshots import Snapshots, VmDisks

from .local_provider_helpers import make_resource, wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
    reason="qemu-utils is not installed",
)


class Disks:
    """A VM's disks as the ``vm`` type exposes them; ``halt`` only counts."""

    def __init__(self, disks: dict[str, Path]) -> None:
        self.disks = disks
        self.halts = 0

    def disk_files(self, resource: Resource) -> dict[str, Path]:
        """Return the disks."""
        return dict(self.disks)

    def halt(self, resource: Resource) -> None:
        """Record the halt."""
        self.halts += 1


def qcow2(path: Path, pattern: int) -> Path:
    """Create a 16 MiB qcow2 image whose first 64 KiB hold ``pattern``."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    fill(path, pattern)
    return path


def fill(path: Path, pattern: int) -> None:
    """Write ``pattern`` over the image's first 64 KiB."""
    write = f"write -P {pattern} 0 64k"
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", write, str(path)], check=True, capture_output=True
    )


def holds(path: Path, pattern: int) -> bool:
    """Return True when the image's first 64 KiB hold ``pattern``."""
    read = f"read -P {pattern} 0 64k"
    done = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", read, str(path)], capture_output=True, text=True
    )
    return done.returncode == 0 and "verification failed" not in done.stdout + done.stderr


def locked(path: Path) -> bool:
    """Return True when another process holds the image (``qemu-img info`` is refused)."""
    done = subprocess.run(["qemu-img", "info", str(path)], capture_output=True, text=True)
    return done.returncode != 0 and "lock" in done.stderr


def snapshots(tmp_path: Path, vms: object) -> Snapshots:
    """Return snapshots of a data directory under ``tmp_path``."""
    layout = Layout(tmp_path / "data")

    def no_postgres() -> Postgres:
        raise AssertionError("no database here")

    return Snapshots(layout, postgres=no_postgres, vms=lambda: vms, settings={})


def test_vm_disks_are_copied_while_halted_and_restored(tmp_path: Path) -> None:
    disks = Disks(
        {"data": qcow2(tmp_path / "data.qcow2", 0x41), "logs": qcow2(tmp_path / "logs.qcow2", 0x11)}
    )
    assert isinstance(disks, VmDisks)
    snaps = snapshots(tmp_path, disks)
    vm = make_resource("res_vm", "vm", {"vcpus": 1}, name="legacy")
    taken = snaps.snapshot(vm, {}, "snap_vm_1")
    assert taken.kind == "vm-disk" and disks.halts == 1
    saved = Path(taken.location) / "disks"
    assert sorted(p.name for p in saved.iterdir()) == ["data.qcow2", "logs.qcow2"]
    assert holds(saved / "data.qcow2", 0x41)

    fill(disks.disks["data"], 0x42)
    fill(disks.disks["logs"], 0x22)
    assert not holds(disks.disks["data"], 0x41)  # the check can fail
    snaps.restore(vm, {}, taken.location)
    assert disks.halts == 2
    assert holds(disks.disks["data"], 0x41) and holds(disks.disks["logs"], 0x11)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    del disks.disks["logs"]
    with pytest.raises(PermanentError, match="no longer has disk"):
        snaps.restore(vm, {}, taken.location)
    assert disks.halts == 2  # refused before anything was touched


def test_a_disk_still_in_use_is_never_copied(tmp_path: Path) -> None:
    disks = Disks({"data": qcow2(tmp_path / "data.qcow2", 0x41)})
    snaps = snapshots(tmp_path, disks)
    vm = make_resource("res_vm_busy", "vm", {}, name="busy")
    holder = subprocess.Popen(  # holds the image's write lock, as a running QEMU does
        ["qemu-io", "-f", "qcow2", str(disks.disks["data"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: locked(disks.disks["data"]))
        with pytest.raises(TemporaryError, match="kept being started again"):
            snaps.snapshot(vm, {}, "snap_busy")
        assert disks.halts == 3
        assert not (tmp_path / "data" / "snapshots" / "snap_busy").exists()
    finally:
        holder.kill()
        holder.wait(10)
    assert snaps.snapshot(vm, {}, "snap_busy").kind == "vm-disk"


def test_a_missing_disk_file_leaves_no_snapshot(tmp_path: Path) -> None:
    disks = Disks({"data": tmp_path / "gone.qcow2"})
    snaps = snapshots(tmp_path, disks)
    vm = make_resource("res_vm2", "vm", {}, name="legacy")
    with pytest.raises(PermanentError, match="disk data of vm legacy is missing"):
        snaps.snapshot(vm, {}, "snap_vm_2")
    assert not (tmp_path / "data" / "snapshots" / "snap_vm_2").exists()


def test_a_provider_without_vms_says_so(tmp_path: Path) -> None:
    snaps = snapshots(tmp_path, object())
    with pytest.raises(PermanentError, match="cannot snapshot VMs"):
        snaps.snapshot(make_resource("res_vm3", "vm", {}), {}, "snap_vm_3")


ROOT = Path(__file__).resolve().parents[4]
MARKER_DATA = 'echo "snap-marker-7" | dd of=/dev/vda conv=fsync 2>/dev/null\n'


@pytest.fixture
def vm_provider(tmp_path: Path) -> Iterator[tuple[LocalProvider, Path]]:
    """A provider on its own data directory and the test guest; every QEMU dies at the end."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    cache = ROOT / ".cache" / "guest"
    script = ROOT / "scripts" / "build-test-guest.sh"
    subprocess.run([str(script), str(cache)], check=True, capture_output=True, timeout=600)
    # TCG unless told otherwise: nested KVM can open /dev/kvm here and still hang.
    settings = {"vm_accelerator": os.environ.get("PLINTH_VM_ACCELERATOR") or "tcg"}
    context = ProviderContext(data_dir=tmp_path / "data", secret_key=b"s" * 32, settings=settings)
    try:
        yield LocalProvider(context), cache
    finally:
        stop_local_runtime(tmp_path / "data")


def test_a_real_vm_disk_is_restored(vm_provider: tuple[LocalProvider, Path]) -> None:
    provider, guest = vm_provider
    spec = {
        "image": {"kernel": str(guest / "vmlinuz"), "initrd": str(guest / "initrd.cpio.gz")},
        "memory": "160Mi",
        "ports": {"http": 80},
        "health": {"port": "http", "http_path": "/healthz"},
        "boot_timeout_seconds": 240,
        "user_data": MARKER_DATA,
        "disks": [{"name": "data", "size": "16Mi"}],
    }
    vm = make_resource("vm-snap", "vm", spec, name="legacy")
    seen = provider.apply(vm, {})
    assert seen.healthy is True
    taken = provider.snapshot(vm, seen.state, "snap_real_vm")
    assert taken.kind == "vm-disk"
    assert provider.observe(vm, seen.state).phase != "running"  # halted for the copy
    disk = provider.vms.disk_files(vm)["data"]
    fill(disk, 0)  # the data is lost while the VM is down
    assert holds(disk, 0)

    provider.restore(vm, seen.state, taken.location)
    assert not holds(disk, 0)
    again = provider.apply(vm, seen.state)  # what the reconciler does next
    assert again.healthy is True
    with urllib.request.urlopen(again.outputs["url"] + "/disks.txt", timeout=10) as response:
        assert "snap-marker-7" in response.read().decode()
    provider.destroy(vm, again.state)
    provider.drop_snapshot(taken.location)
