"""The ``model-deployment`` resource type: a registered model version served over HTTP.

Spec (resolved: the platform turns ``model: name@version`` into the artifact's path in
the content-addressed store and its registered digest)::

    {model: "name@version", artifact: {path, digest}, format: sklearn|onnx|embeddings,
     replicas: 1, scale_to_zero_after_seconds: null, port: null}

``apply`` refuses an artifact whose digest is not the registered one, or a format whose
optional extra is missing, with a ``PermanentError`` and starts nothing. Otherwise it
starts one router process (``model_router``, marked ``PLINTH_CONTAINER=router``) that
starts the replicas (``inference_server``), proxies to them in turn and scales them to
zero when idle. A router started with the same spec digest is adopted, never doubled;
a spec change restarts the router and its replicas. Outputs: ``url`` (the router),
``replicas`` (desired), ``ready_replicas``, ``model``. The request, prediction and
token counts for metering are in ``Observation.state["usage"]`` and ``request_usage``.
"""

from __future__ import annotations

import http.client
import json
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
from plinth.infrastructure.providers.local.health import free_port
from plinth.infrastructure.providers.local.inference_server import artifact_digest
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic
from plinth.infrastructure.providers.local.processes import Found
from plinth.infrastructure.providers.local.serving_models import missing_runtime
from plinth.infrastructure.providers.local.specs import plain, spec_digest, validate_spec
from plinth.infrastructure.providers.local.workloads import process_records

__all__ = ["ModelDeployments", "check_artifact"]

TYPE = "model-deployment"
ROUTER = "router"
_ROUTER_CODE = (
    "import sys; from plinth.infrastructure.providers.local.model_router import main; "
    "sys.exit(main())"
)
_PORT_VARIABLE = "PLINTH_SERVING_PORT"
_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH")


def check_artifact(spec: Mapping[str, Any]) -> None:
    """Raise ``PermanentError`` unless the artifact is there with its registered digest."""
    path = Path(str(spec["artifact"]["path"]))
    expected = str(spec["artifact"]["digest"])
    try:
        actual = artifact_digest(path)
    except OSError as exc:
        raise PermanentError(f"model {spec['model']}: artifact unreadable: {exc}") from exc
    if actual != expected:
        raise PermanentError(
            f"model {spec['model']}: the artifact at {path} has digest {actual}, not the "
            f"registered {expected}: it was changed after registration; refusing to serve it"
        )


def _router_status(port: int) -> dict[str, Any] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", "/_plinth/status")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        data: dict[str, Any] = json.loads(body)
        return data
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


class ModelDeployments:
    """Applies, observes and destroys model deployments."""

    def __init__(self, layout: Layout, *, start_timeout_s: float = 60.0) -> None:
        self.layout = layout
        self.data_dir = str(layout.root)
        self.start_timeout_s = start_timeout_s

    def _config_path(self, resource_id: str) -> Path:
        return self.layout.run_dir(resource_id) / "serving.json"

    def _find(self, resource: Resource, state: Mapping[str, Any]) -> Found | None:
        records = state.get("processes")
        if isinstance(records, Mapping) and set(records) == {ROUTER}:
            fast = processes.from_records(records, data_dir=self.data_dir, resource_id=resource.id)
            if fast is not None:
                return fast[ROUTER]
        return processes.leaders(processes.scan(self.data_dir, resource.id)).get(ROUTER)

    def _port(self, resource: Resource, state: Mapping[str, Any], router: Found | None) -> int:
        if resource.spec.get("port"):
            return int(resource.spec["port"])
        config = read_json(self._config_path(resource.id)) or {}
        running = router.environ.get(_PORT_VARIABLE) if router is not None else None
        for value in (running, state.get("port"), config.get("port")):
            if value is not None and str(value).isdigit():
                return int(value)
        return free_port()

    def _environment(self, resource: Resource, digest: str, port: int) -> dict[str, str]:
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update({k: v for k, v in os.environ.items() if k.startswith("LC_")})
        env.update({"PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        env[processes.MARK_RESOURCE] = resource.id
        env[processes.MARK_DATA_DIR] = self.data_dir
        env[processes.MARK_CONTAINER] = ROUTER
        env[processes.MARK_DIGEST] = digest
        env[_PORT_VARIABLE] = str(port)
        return env

    def _launch(self, resource: Resource, port: int, digest: str) -> Found:
        spec = resource.spec
        run_dir = self.layout.run_dir(resource.id)
        config = {
            "model": spec["model"],
            "artifact": spec["artifact"]["path"],
            "digest": spec["artifact"]["digest"],
            "format": spec["format"],
            "replicas": int(spec.get("replicas", 1)),
            "scale_to_zero_after_seconds": spec.get("scale_to_zero_after_seconds"),
            "port": port,
            "run_dir": str(run_dir),
            "logs_dir": str(self.layout.logs_dir(resource.id)),
        }
        write_json_atomic(self._config_path(resource.id), config)
        env = self._environment(resource, digest, port)
        proc = processes.launch(
            [sys.executable, "-c", _ROUTER_CODE, str(self._config_path(resource.id))],
            env=env,
            cwd=run_dir,
            log_path=self.layout.logs_dir(resource.id) / f"{ROUTER}.log",
            exit_path=run_dir / f"{ROUTER}.exit",
        )
        return Found(proc, env)

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Serve the model as specified; adopt a router already running with this spec."""
        resource = replace(resource, spec=validate_spec(TYPE, resource.spec))
        spec = resource.spec
        reason = missing_runtime(str(spec["format"]))
        if reason is not None:
            raise PermanentError(f"model {spec['model']}: {reason}")
        check_artifact(spec)
        digest = spec_digest(spec)
        with self.layout.locked(resource.id):
            router = processes.leaders(processes.scan(self.data_dir, resource.id)).get(ROUTER)
            port = self._port(resource, state, router)
            if router is None or router.digest != digest:
                processes.terminate([f.process for f in processes.scan(self.data_dir, resource.id)])
                router = self._launch(resource, port, digest)
            self.layout.record_digest(resource.id, digest)
            self._wait_ready(resource, router, port, int(spec.get("replicas", 1)))
        records = process_records({ROUTER: router})
        return self.observe(resource, {"port": port, "processes": records})

    def _wait_ready(self, resource: Resource, router: Found, port: int, replicas: int) -> None:
        """Wait until every replica is ready (or the deployment rests at zero); raise on failure."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if not processes.is_alive(router.process):
                log = self.layout.logs_dir(resource.id) / f"{ROUTER}.log"
                last = " | ".join(processes.tail_lines(log, 3))
                raise TemporaryError(f"the model router ended at start: {last}")
            status = _router_status(port)
            if status is not None:
                if status["state"] == "failed":
                    raise PermanentError(str(status["error"]))
                if status["state"] in ("paused", "scaled-to-zero"):
                    return
                if status["ready_replicas"] >= replicas:
                    return
            time.sleep(0.05)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report whether the router runs, its replicas, and the request counts."""
        resource = replace(resource, spec=plain(resource.spec))
        router = self._find(resource, state)
        config = read_json(self._config_path(resource.id)) or {}
        if router is None:
            if not self.layout.run_dir(resource.id).is_dir():
                return Observation(exists=False, phase="absent", state={})
            code = processes.read_exit_code(self.layout.run_dir(resource.id) / f"{ROUTER}.exit")
            return Observation(
                exists=False,
                phase="failed",
                healthy=False,
                applied_digest=self.layout.recorded_digest(resource.id),
                message=f"the model router is not running (exit code {code}); see its logs",
            )
        port = int(router.environ.get(_PORT_VARIABLE) or config.get("port") or 0)
        status = _router_status(port) or {"state": "starting", "ready_replicas": 0, "error": ""}
        phase = "failed" if status["state"] == "failed" else "running"
        healthy = status["state"] in ("scaled-to-zero", "paused") or (
            status["state"] == "serving" and status["ready_replicas"] > 0
        )
        return Observation(
            exists=True,
            phase=phase,
            healthy=healthy,
            outputs={
                "url": f"http://127.0.0.1:{port}",
                "model": resource.spec.get("model"),
                "replicas": int(resource.spec.get("replicas", 1)),
                "ready_replicas": int(status["ready_replicas"]),
                "serving": status["state"],
            },
            state={
                "port": port,
                "processes": process_records({ROUTER: router}),
                "digest": router.digest,
                "usage": status.get("usage") or self.request_usage(resource),
            },
            applied_digest=router.digest or self.layout.recorded_digest(resource.id),
            message=str(status.get("error") or ""),
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Stop the router and every replica; remove the run files (logs are kept)."""
        with self.layout.locked(resource.id):
            processes.terminate([f.process for f in processes.scan(self.data_dir, resource.id)])
            shutil.rmtree(self.layout.run_dir(resource.id), ignore_errors=True)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return CPU and memory of the router and its replicas, and the router's wall time."""
        router = self._find(resource, state)
        if router is None:
            return Usage()
        cpu, rss = processes.tree_usage([router.process])
        try:
            wall = time.time() - router.process.create_time()
        except psutil.Error:
            wall = 0.0
        return Usage(cpu_seconds=cpu, memory_bytes=rss, wall_seconds=wall)

    def request_usage(self, resource: Resource) -> dict[str, Any]:
        """Return the cumulative requests, predictions and tokens served (for metering)."""
        saved = read_json(self.layout.run_dir(resource.id) / "usage.json")
        return dict(saved) if isinstance(saved, Mapping) else {}

    def logs(self, resource: Resource, *, tail: int) -> list[str]:
        """Return the last ``tail`` lines of the router's and replicas' logs."""
        logs_dir = self.layout.logs_dir(resource.id)
        lines: list[str] = []
        for path in sorted(logs_dir.glob("*.log")) if logs_dir.is_dir() else []:
            lines += [f"[{path.stem}] {line}" for line in processes.tail_lines(path, tail)]
        return lines[-tail:] if tail > 0 else []
