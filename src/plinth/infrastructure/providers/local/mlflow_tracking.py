"""The ``mlflow`` resource type: a real MLflow tracking server (optional extra ``plinth[mlflow]``).

The provider runs ``python -m mlflow server`` on a loopback port with a SQLite backend
store and an artifact directory under ``<data_dir>/mlflow/<resource>/`` (kept after
destroy only when ``keep_data`` is true). Spec: ``{port?: int, keep_data?: bool}``;
outputs: ``{url}``, which training jobs receive through placeholders. A server started
with the same spec digest is adopted, never doubled.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.health import free_port, http_status
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic
from plinth.infrastructure.providers.local.processes import Found
from plinth.infrastructure.providers.local.specs import plain, safe_id, spec_digest, validate_spec
from plinth.infrastructure.providers.local.workloads import process_records

__all__ = ["MlflowServers"]

TYPE = "mlflow"
SERVER = "mlflow"
_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH")


class MlflowServers:
    """Applies, observes and destroys MLflow tracking servers."""

    def __init__(self, layout: Layout, *, start_timeout_s: float = 120.0) -> None:
        self.layout = layout
        self.data_dir = str(layout.root)
        self.start_timeout_s = start_timeout_s

    def home(self, resource_id: str) -> Path:
        """Return the directory of the server's database and artifacts."""
        return self.layout.root / "mlflow" / safe_id(resource_id)

    def _find(self, resource: Resource) -> Found | None:
        return processes.leaders(processes.scan(self.data_dir, resource.id)).get(SERVER)

    def _port(self, resource: Resource, found: Found | None) -> int:
        if resource.spec.get("port"):
            return int(resource.spec["port"])
        saved = read_json(self.layout.run_dir(resource.id) / "ports.json") or {}
        running = found.environ.get("PORT") if found is not None else None
        for value in (running, saved.get("http")):
            if value is not None and str(value).isdigit():
                return int(value)
        return free_port()

    def _launch(self, resource: Resource, port: int, digest: str) -> Found:
        home = self.home(resource.id)
        (home / "artifacts").mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
            "--artifacts-destination", str(home / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update({"PYTHONUNBUFFERED": "1", "PORT": str(port)})
        env[processes.MARK_RESOURCE] = resource.id
        env[processes.MARK_DATA_DIR] = self.data_dir
        env[processes.MARK_CONTAINER] = SERVER
        env[processes.MARK_DIGEST] = digest
        run_dir = self.layout.run_dir(resource.id)
        write_json_atomic(run_dir / "ports.json", {"http": port})
        proc = processes.launch(
            argv,
            env=env,
            cwd=home,
            log_path=self.layout.logs_dir(resource.id) / f"{SERVER}.log",
            exit_path=run_dir / f"{SERVER}.exit",
        )
        return Found(proc, env)

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Run the tracking server; adopt one already running with this spec."""
        resource = replace(resource, spec=validate_spec(TYPE, resource.spec))
        if importlib.util.find_spec("mlflow") is None:
            raise PermanentError("the mlflow resource needs the optional extra plinth[mlflow]")
        digest = spec_digest(resource.spec)
        with self.layout.locked(resource.id):
            found = self._find(resource)
            port = self._port(resource, found)
            if found is None or found.digest != digest:
                processes.terminate([f.process for f in processes.scan(self.data_dir, resource.id)])
                found = self._launch(resource, port, digest)
            self.layout.record_digest(resource.id, digest)
            deadline = time.monotonic() + self.start_timeout_s
            while http_status(f"http://127.0.0.1:{port}/health") != 200:
                if not processes.is_alive(found.process) or time.monotonic() > deadline:
                    log = self.layout.logs_dir(resource.id) / f"{SERVER}.log"
                    last = " | ".join(processes.tail_lines(log, 3))
                    raise TemporaryError(f"the MLflow server did not start: {last}")
                time.sleep(0.2)
        return self.observe(resource, state)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report whether the server runs and answers ``/health``."""
        resource = replace(resource, spec=plain(resource.spec))
        found = self._find(resource)
        if found is None:
            if not self.layout.run_dir(resource.id).is_dir():
                return Observation(exists=False, phase="absent", state={})
            return Observation(
                exists=False,
                phase="failed",
                healthy=False,
                applied_digest=self.layout.recorded_digest(resource.id),
                message="the MLflow server is not running; see its logs",
            )
        port = self._port(resource, found)
        healthy = http_status(f"http://127.0.0.1:{port}/health") == 200
        return Observation(
            exists=True,
            phase="running",
            healthy=healthy,
            outputs={"url": f"http://127.0.0.1:{port}", "port": port},
            state={"port": port, "processes": process_records({SERVER: found})},
            applied_digest=found.digest,
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Stop the server; remove its run files and, unless ``keep_data``, its data."""
        with self.layout.locked(resource.id):
            processes.terminate([f.process for f in processes.scan(self.data_dir, resource.id)])
            shutil.rmtree(self.layout.run_dir(resource.id), ignore_errors=True)
            if not resource.spec.get("keep_data"):
                shutil.rmtree(self.home(resource.id), ignore_errors=True)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return CPU and memory of the server's processes and its disk use."""
        found = self._find(resource)
        home = self.home(resource.id)
        disk = sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) if home.is_dir() else 0
        if found is None:
            return Usage(disk_bytes=disk)
        cpu, rss = processes.tree_usage([found.process])
        try:
            wall = time.time() - found.process.create_time()
        except psutil.Error:
            wall = 0.0
        return Usage(cpu_seconds=cpu, memory_bytes=rss, disk_bytes=disk, wall_seconds=wall)
