"""The ``vm`` resource type with real QEMU guests (KVM when it works here, TCG otherwise).

The guest is built once per session by ``scripts/build-test-guest.sh`` from Debian
packages: a distribution kernel and a busybox initramfs that serves HTTP on port 80.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    Observation,
    ProviderContext,
    Resource,
)
from plinth.infrastructure.providers.local import processes, qemu, vm_files
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime

from .local_provider_helpers import SECRET, make_resource

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
)

ROOT = Path(__file__).resolve().parents[4]
BOOT_TIMEOUT = 240  # seconds: TCG on a busy two-core machine boots slowly

USER_DATA = """\
echo "user data ran" > /www/ud.txt
echo "disk-marker-42" | dd of=/dev/vda conv=fsync 2>/dev/null
"""


@pytest.fixture(scope="session")
def guest() -> tuple[Path, str]:
    """Build the test guest once; return its directory and the accelerator the VMs get."""
    cache = ROOT / ".cache" / "guest"
    script = ROOT / "scripts" / "build-test-guest.sh"
    subprocess.run([str(script), str(cache)], check=True, capture_output=True, timeout=600)
    kernel = cache / "vmlinuz"
    return cache, qemu.choose_accelerator(os.environ.get("PLINTH_VM_ACCELERATOR"), kernel=kernel)


@pytest.fixture
def vm_provider(tmp_path: Path, guest: tuple[Path, str]) -> Iterator[LocalProvider]:
    """A provider on its own data directory; every QEMU it started dies at the end."""
    settings = {"vm_accelerator": os.environ.get("PLINTH_VM_ACCELERATOR") or "auto"}
    context = ProviderContext(data_dir=tmp_path / "data", secret_key=SECRET, settings=settings)
    yield LocalProvider(context)
    stop_local_runtime(tmp_path / "data")


def vm_spec(guest: Path, **extra: Any) -> dict[str, Any]:
    """Return a small vm spec booting the test guest."""
    spec: dict[str, Any] = {
        "image": {
            "kernel": str(guest / "vmlinuz"),
            "initrd": str(guest / "initrd.cpio.gz"),
        },
        "memory": "160Mi",
        "ports": {"http": 80},
        "health": {"port": "http", "http_path": "/healthz"},
        "boot_timeout_seconds": BOOT_TIMEOUT,
    }
    spec.update(extra)
    return spec


def get(url: str) -> str:
    """Return the body of ``GET url``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def qemu_of(provider: LocalProvider, resource: Resource) -> psutil.Process:
    """Return the VM's QEMU process."""
    found = processes.scan(str(provider.layout.root), resource.id)
    assert len(found) == 1, "exactly one QEMU per vm"
    return found[0].process


def test_vm_lifecycle(vm_provider: LocalProvider, guest: tuple[Path, str]) -> None:
    """Boot, serve, run user_data, get repaired and resized, replaced, destroyed."""
    spec = vm_spec(guest[0], user_data=USER_DATA, disks=[{"name": "data", "size": "64Mi"}])
    vm = make_resource("vm-legacy", "vm", spec, name="legacy")
    assert vm_provider.plan(vm, None).action == ChangeAction.CREATE

    seen = vm_provider.apply(vm, {})
    assert seen.phase == "running" and seen.healthy is True
    assert seen.outputs["accelerator"] == guest[1]
    assert seen.outputs["accelerator"].upper() in seen.message
    url = seen.outputs["url"]
    assert "plinth test guest" in get(url + "/")
    assert get(url + "/ud.txt").strip() == "user data ran"
    assert any("httpd serving" in line for line in vm_provider.logs(vm, {}))
    assert vm_provider.usage(vm, {}).memory_bytes > 0
    assert vm_provider.plan(vm, seen).action == ChangeAction.NOOP
    first = qemu_of(vm_provider, vm)
    assert vm_provider.apply(vm, seen.state).phase == "running"  # adopts, starts no second
    assert qemu_of(vm_provider, vm).pid == first.pid
    shrink = replace(vm, spec={**spec, "disks": [{"name": "data", "size": "32Mi"}]})
    with pytest.raises(PermanentError, match="cannot shrink from 64Mi to 32Mi"):
        vm_provider.apply(shrink, seen.state)
    assert qemu_of(vm_provider, vm).pid == first.pid  # refused before anything stopped

    # Killed and resized at once: one restart repairs and resizes; the disk keeps its data.
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    resized = replace(vm, spec={**spec, "vcpus": 2, "memory": "192Mi"})
    down = vm_provider.observe(resized, seen.state)
    assert down.phase == "stopped" and "not running" in down.message
    change = vm_provider.plan(resized, down)
    assert change.action == ChangeAction.UPDATE
    assert "vm not running" in change.reasons
    assert any(r.startswith("restart to resize") for r in change.reasons)
    again = vm_provider.apply(resized, down.state)
    assert again.healthy is True and again.outputs["port"] == seen.outputs["port"]
    assert "disk-marker-42" in get(url + "/disks.txt")
    assert "-smp 2" in " ".join(qemu_of(vm_provider, vm).cmdline())

    # A new image is a replace: a new machine on the same data disk.
    image = {**spec["image"], "cmdline": "console=ttyS0 quiet panic=-1 plinth=2"}
    moved = replace(resized, spec={**resized.spec, "image": image})
    before = vm_provider.observe(moved, again.state)
    change = vm_provider.plan(moved, before)
    assert change.action == ChangeAction.REPLACE and "image changed" in change.reasons[0]
    vm_provider.destroy(moved, before.state)
    after = vm_provider.apply(moved, before.state)
    assert after.healthy is True
    assert "disk-marker-42" in get(after.outputs["url"] + "/disks.txt")

    # Halted (for a snapshot): disks flushed, QEMU gone, the next reconcile starts it again.
    disks = vm_provider.vms.disk_files(moved)
    assert list(disks) == ["data"] and disks["data"].is_file()
    vm_provider.vms.halt(moved)
    assert processes.scan(str(vm_provider.layout.root), vm.id) == []
    halted = vm_provider.observe(moved, after.state)
    assert vm_provider.plan(moved, halted).reasons == ("vm not running",)

    vm_provider.destroy(moved, halted.state)
    assert processes.scan(str(vm_provider.layout.root), vm.id) == []
    assert not vm_provider.layout.vm_dir(vm.id).exists()
    assert vm_provider.observe(moved, {}).phase == "absent"


def test_boot_timeout_leaves_nothing(vm_provider: LocalProvider, guest: tuple[Path, str]) -> None:
    """A guest whose httpd never starts fails with the console tail; no QEMU, no files stay."""
    image = {
        "kernel": str(guest[0] / "vmlinuz"),
        "initrd": str(guest[0] / "initrd.cpio.gz"),
        "cmdline": "console=ttyS0 panic=-1",
    }
    spec = vm_spec(guest[0], image=image, user_data="sleep 100000\n", boot_timeout_seconds=6)
    spec["disks"] = [{"name": "scratch", "size": "16Mi"}]
    vm = make_resource("vm-stuck", "vm", spec, name="stuck")
    with pytest.raises(PermanentError, match=r"did not become healthy in 6 s; console: .+"):
        vm_provider.apply(vm, {})
    assert processes.scan(str(vm_provider.layout.root), vm.id) == []
    assert not vm_provider.layout.vm_dir(vm.id).exists()


def test_bad_input_is_refused_before_anything_starts(
    vm_provider: LocalProvider, guest: tuple[Path, str], tmp_path: Path
) -> None:
    """A missing image, an unknown health port, a missing GPU, huge disks: clear errors."""
    missing = vm_spec(guest[0])
    missing["image"] = {**missing["image"], "kernel": str(tmp_path / "no-such-kernel")}
    cases: list[tuple[dict[str, Any], str]] = [
        (missing, "image kernel .*no-such-kernel does not exist"),
        (vm_spec(guest[0], health={"port": "ssh"}), "health.port 'ssh' is not one of its ports"),
        (vm_spec(guest[0], gpu={"count": 1}), "GPU passthrough is not available on this host"),
        (vm_spec(guest[0], disks=[{"name": "big", "size": "900Ti"}]), "disks need 900Ti more"),
        (vm_spec(guest[0], vcpus=0), "invalid vm spec"),
    ]
    for spec, message in cases:
        vm = make_resource("vm-bad", "vm", spec, name="bad")
        with pytest.raises(PermanentError, match=message):
            vm_provider.apply(vm, {})
        assert processes.scan(str(vm_provider.layout.root)) == []
        assert not vm_provider.layout.vm_dir(vm.id).exists()


def test_plan_of_disks_and_resizes(tmp_path: Path) -> None:
    """Growing a disk is an update, removing one a replace, shrinking one is named."""
    vm_provider = LocalProvider(ProviderContext(data_dir=tmp_path, secret_key=SECRET))
    applied = {"image": {"disk": "/x"}, "vcpus": 1, "memory": 256 * 1024**2, "disks": {"d": 2**30}}
    seen = Observation(exists=True, phase="running", state={"applied": applied})

    def plan(**spec: Any) -> tuple[ChangeAction, tuple[str, ...]]:
        change = vm_provider.plan(make_resource("v", "vm", {"image": {"disk": "/x"}, **spec}), seen)
        return change.action, change.reasons

    assert plan(disks=[{"name": "d", "size": "2Gi"}]) == (
        ChangeAction.UPDATE,
        ("grow disk 'd' 1Gi → 2Gi",),
    )
    assert plan() == (ChangeAction.REPLACE, ("disk 'd' removed",))
    action, reasons = plan(disks=[{"name": "d", "size": "1Mi"}])
    assert "cannot shrink" in reasons[0]
    action, reasons = plan(disks=[{"name": "d", "size": "1Gi"}], memory="512Mi")
    assert (action, reasons) == (ChangeAction.UPDATE, ("restart to resize: memory 256Mi → 512Mi",))
    assert plan(disks=[{"name": "d", "size": "1Gi"}])[0] == ChangeAction.UPDATE  # digest differs


def test_host_ports_stay_until_taken(tmp_path: Path) -> None:
    """A VM keeps its host port across restarts, and gets another one when it was taken."""
    spec = {"ports": {"http": 80, "ssh": 22}}
    first = vm_files.host_ports(tmp_path, spec)
    assert vm_files.host_ports(tmp_path, spec) == first
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", first["http"]))
        squatter.listen()
        moved = vm_files.host_ports(tmp_path, spec)
    assert moved["http"] != first["http"] and moved["ssh"] == first["ssh"]


def test_disk_image_boots_on_an_overlay(vm_provider: LocalProvider, tmp_path: Path) -> None:
    """A disk image is never written: the VM gets a qcow2 overlay, removed when boot fails."""
    image = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    before = image.read_bytes()
    spec = {"image": {"disk": str(image)}, "memory": "96Mi", "boot_timeout_seconds": 3}
    spec |= {"ports": {"http": 80}, "health": {"port": "http", "http_path": "/"}}
    vm = make_resource("vm-disk", "vm", spec, name="disk")
    with pytest.raises(PermanentError, match="did not become healthy in 3 s"):
        vm_provider.apply(vm, {})  # a blank disk has nothing to boot
    assert image.read_bytes() == before
    assert processes.scan(str(vm_provider.layout.root), vm.id) == []
    assert not vm_provider.layout.vm_dir(vm.id).exists()
