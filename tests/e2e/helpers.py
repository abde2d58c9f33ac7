"""Helpers for end-to-end tests: find a workload's processes, read its state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psutil

__all__ = ["all_marked_resource_ids", "marked_processes", "workload", "workload_ready"]


def marked_processes(data_dir: Path) -> dict[str, list[int]]:
    """Return ``{resource id: [pid, ...]}`` for live workload processes of a data dir."""
    wanted = str(data_dir.resolve())
    found: dict[str, list[int]] = {}
    for proc in psutil.process_iter(["pid", "environ", "status"]):
        try:
            env = proc.info["environ"] or {}
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        parent = proc.parent() if env.get("PLINTH_DATA_DIR") == wanted else None
        # Count the workload itself (its parent is the marked wrapper), not the wrapper.
        if parent is not None and "PLINTH_RESOURCE_ID" in (_environ(parent) or {}):
            found.setdefault(env["PLINTH_RESOURCE_ID"], []).append(proc.info["pid"])
    return found


def _environ(proc: psutil.Process) -> dict[str, str] | None:
    try:
        return proc.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def workload(client: httpx.Client, name: str, env: str = "dev") -> dict[str, Any]:
    """Return the API's view of a workload."""
    response = client.get(f"/api/v1/workloads/{name}", params={"environment": env})
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def workload_ready(client: httpx.Client, name: str, env: str = "dev") -> dict[str, Any] | None:
    """Return the workload when it and all its resources are converged and healthy."""
    response = client.get(f"/api/v1/workloads/{name}", params={"environment": env})
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    resources = data["resources"]
    converged = all(
        r["observed_generation"] == r["generation"]
        and r["phase"] in ("running", "ready", "succeeded")
        and r["healthy"] is not False
        for r in resources
    )
    return data if resources and converged and data["phase"] == "running" else None


def all_marked_resource_ids(data_dir: Path) -> set[str]:
    """Return the resource id of every live process started for a data dir (wrappers too)."""
    wanted = str(data_dir.resolve())
    ids: set[str] = set()
    for proc in psutil.process_iter(["environ", "status"]):
        try:
            env = proc.info["environ"] or {}
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if env.get("PLINTH_DATA_DIR") == wanted and "PLINTH_RESOURCE_ID" in env:
            ids.add(env["PLINTH_RESOURCE_ID"])
    return ids
