"""VMs: time from apply to healthy under KVM and under TCG, and how many small VMs fit.

Question: how long does the local provider take to boot a ``vm`` (apply → health check
passes) with hardware virtualisation (KVM) and with software emulation (TCG), and how
many small guests run at once on this machine before boots fail or the bounds are hit?

The guest is the test guest of ``scripts/build-test-guest.sh`` (Debian kernel, busybox
initramfs, HTTP health check on ``/healthz``). Boot: ``--runs`` applies per accelerator
(each in a fresh data directory, destroyed afterwards), medians and the TCG/KVM ratio;
KVM is skipped, with the reason, when ``/dev/kvm`` cannot be opened or a guest does not
run under it. Density: guests of ``--density-memory`` started one after another, each
left running, until one fails to become healthy, the host's available memory falls
under ``--reserve-mib``, ``--max-vms`` run, or ``--density-seconds`` have passed; then
every one is stopped.

The issue names no numeric goal: ``goal_met`` is true when both measurements completed
(a boot time for each accelerator this host supports, and a density count).

Run: ``.venv/bin/python benchmarks/vm.py [--runs 3] [--max-vms 16] [--density-seconds 300]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import ProviderContext, Resource
from plinth.infrastructure.providers.local import qemu
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime

ROOT = Path(__file__).resolve().parents[1]
SECRET = b"benchmark-secret-key-for-the-vms"


def build_guest() -> Path:
    """Build (or find) the test guest; return its directory."""
    cache = ROOT / ".cache" / "guest"
    script = ROOT / "scripts" / "build-test-guest.sh"
    subprocess.run([str(script), str(cache)], check=True, capture_output=True, timeout=900)
    return cache


def vm(guest: Path, name: str, *, memory: str, timeout: int) -> Resource:
    """Return a vm resource booting the test guest."""
    spec = {
        "image": {"kernel": str(guest / "vmlinuz"), "initrd": str(guest / "initrd.cpio.gz")},
        "memory": memory,
        "ports": {"http": 80},
        "health": {"port": "http", "http_path": "/healthz"},
        "boot_timeout_seconds": timeout,
    }
    return Resource(id=name, type="vm", name=name, environment="dev", project="bench", spec=spec)


def provider(data_dir: Path, accelerator: str) -> LocalProvider:
    """Return a local provider pinned to ``accelerator``."""
    settings = {"vm_accelerator": accelerator}
    return LocalProvider(ProviderContext(data_dir=data_dir, secret_key=SECRET, settings=settings))


def boot_times(guest: Path, accelerator: str, runs: int, timeout: int) -> list[float]:
    """Return the seconds from apply to healthy of ``runs`` boots under ``accelerator``."""
    times = []
    for run in range(runs):
        data_dir = Path(tempfile.mkdtemp(prefix=f"plinth-bench-vm-{accelerator}-"))
        local = provider(data_dir, accelerator)
        resource = vm(guest, f"boot-{run}", memory="128Mi", timeout=timeout)
        try:
            start = time.perf_counter()
            observed = local.apply(resource, {})
            times.append(time.perf_counter() - start)
            assert observed.healthy, "apply returned an unhealthy vm"
            local.destroy(resource, observed.state)
        finally:
            stop_local_runtime(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)
        print(f"{accelerator} boot {run + 1}/{runs}: {times[-1]:.2f} s", file=sys.stderr)
    return times


def density(guest: Path, accelerator: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start small guests one after another until a bound or a failure; stop them all."""
    data_dir = Path(tempfile.mkdtemp(prefix="plinth-bench-vm-density-"))
    local = provider(data_dir, accelerator)
    started = time.monotonic()
    running: list[Resource] = []
    stop_reason = f"reached --max-vms {args.max_vms}"
    try:
        while len(running) < args.max_vms:
            if time.monotonic() - started > args.density_seconds:
                stop_reason = f"reached --density-seconds {args.density_seconds}"
                break
            available = psutil.virtual_memory().available // 1024**2
            if available < args.reserve_mib:
                stop_reason = f"available memory {available} MiB under --reserve-mib"
                break
            resource = vm(guest, f"dense-{len(running)}", memory=args.density_memory, timeout=180)
            try:
                local.apply(resource, {})
            except (PermanentError, TemporaryError) as exc:
                stop_reason = f"vm {len(running) + 1} failed: {str(exc)[:200]}"
                break
            running.append(resource)
            print(f"density: {len(running)} vms running", file=sys.stderr)
        rss = sum(local.usage(r, {}).memory_bytes for r in running)
        healthy = sum(1 for r in running if local.observe(r, {}).healthy)
    finally:
        stop_local_runtime(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "vms_running": len(running),
        "vms_healthy_at_end": healthy,
        "memory_per_vm": args.density_memory,
        "mean_qemu_rss_mib": round(rss / max(1, len(running)) / 1024**2, 1),
        "stop_reason": stop_reason,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--boot-timeout", type=int, default=240)
    parser.add_argument("--max-vms", type=int, default=16)
    parser.add_argument("--density-seconds", type=int, default=300)
    parser.add_argument("--density-memory", default="96Mi")
    parser.add_argument("--reserve-mib", type=int, default=512)
    args = parser.parse_args()
    guest = build_guest()
    result: dict[str, Any] = {"cpus": psutil.cpu_count(), "runs": args.runs}
    kvm_ok = qemu.kvm_usable() and qemu.kvm_boots(guest / "vmlinuz")
    medians: dict[str, float] = {}
    for accelerator in ("kvm", "tcg"):
        if accelerator == "kvm" and not kvm_ok:
            result["kvm_skipped"] = (
                "/dev/kvm cannot be opened"
                if not qemu.kvm_usable()
                else "/dev/kvm opens but no guest runs under it (nested virtualisation)"
            )
            continue
        times = boot_times(guest, accelerator, args.runs, args.boot_timeout)
        medians[accelerator] = statistics.median(times)
        result[f"{accelerator}_boot_s"] = [round(t, 2) for t in times]
        result[f"{accelerator}_boot_median_s"] = round(medians[accelerator], 2)
    if "kvm" in medians:
        result["tcg_over_kvm"] = round(medians["tcg"] / medians["kvm"], 2)
    fastest = "kvm" if kvm_ok else "tcg"
    result["density_accelerator"] = fastest
    result["density"] = density(guest, fastest, args)
    both = "kvm" in medians and "tcg" in medians
    result["goal_met"] = both and result["density"]["vms_running"] > 0
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
