"""The local provider's services: real processes, real HTTP on loopback."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    LogSource,
    Provider,
    ProviderContext,
    Resource,
)
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime

from .local_provider_helpers import SECRET, make_resource, wait_for

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def web_spec(name: str = "web", **extra: Any) -> dict[str, Any]:
    """Return the spec of the demo web service."""
    spec: dict[str, Any] = {
        "containers": {
            "web": {"image": "py:plinth_demo.webapp", "env": {"PLINTH_SERVICE_NAME": name}}
        },
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "healthcheck": {"http": {"path": "/healthz", "port": "http"}},
    }
    spec.update(extra)
    return spec


def get_json(url: str) -> Any:
    """Return the JSON body of ``GET url``."""
    with OPENER.open(url, timeout=5) as response:
        return json.loads(response.read())


def leaders(data_dir: Path, rid: str) -> list[processes.Found]:
    """Return the wrapper processes of a resource."""
    return list(processes.leaders(processes.scan(str(data_dir.resolve()), rid)).values())


def test_provider_meets_the_contract(provider: LocalProvider) -> None:
    assert isinstance(provider, Provider)
    assert isinstance(provider, LogSource)
    assert set(provider.resource_types()) == {
        "service",
        "job",
        "postgres",
        "volume",
        "route",
        "model-deployment",
        "mlflow",
        "secret",
        "vm",
    }


def test_service_lifecycle(provider: LocalProvider, data_dir: Path) -> None:
    res = make_resource("res_web", "service", web_spec("shop-web"))
    assert provider.plan(res, provider.observe(res, {})).action is ChangeAction.CREATE
    obs = provider.apply(res, {})
    assert obs.exists and obs.phase == "running" and obs.healthy
    url = obs.outputs["url"]
    assert obs.outputs["urls"]["http"] == url
    assert get_json(url) == {"service": "shop-web", "database": "not configured"}
    pid = obs.state["processes"]["web"]["pid"]
    port = obs.outputs["port"]

    again = provider.apply(res, obs.state)
    assert again.state["processes"]["web"]["pid"] == pid
    assert provider.plan(res, again).action is ChangeAction.NOOP

    adopted = provider.apply(res, {})
    assert adopted.state["processes"]["web"]["pid"] == pid
    assert adopted.outputs["port"] == port
    assert len(leaders(data_dir, res.id)) == 1

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: provider.observe(res, adopted.state).phase != "running")
    dead = provider.observe(res, adopted.state)
    assert not dead.exists and dead.healthy is False
    change = provider.plan(res, dead)
    assert change.action is ChangeAction.UPDATE and "process not running" in change.reasons
    revived = provider.apply(res, dead.state)
    assert revived.healthy and revived.outputs["port"] == port
    assert revived.state["processes"]["web"]["pid"] != pid
    assert len(leaders(data_dir, res.id)) == 1

    changed = make_resource("res_web", "service", web_spec("shop-web-v2"))
    assert provider.plan(changed, revived).action is ChangeAction.UPDATE
    updated = provider.apply(changed, revived.state)
    assert get_json(updated.outputs["url"])["service"] == "shop-web-v2"
    assert updated.outputs["port"] == port
    assert len(leaders(data_dir, res.id)) == 1

    lines = provider.logs(changed, updated.state, tail=50)
    assert any(line.startswith("[web] plinth demo web service listening") for line in lines)
    usage = provider.usage(changed, updated.state)
    assert usage.memory_bytes > 0 and usage.wall_seconds >= 0

    provider.destroy(changed, updated.state)
    assert leaders(data_dir, res.id) == []
    assert not processes.scan(str(data_dir.resolve()), res.id)
    gone = provider.observe(changed, updated.state)
    assert not gone.exists and gone.phase == "absent"
    assert provider.plan(None, gone).action is ChangeAction.NOOP
    provider.destroy(changed, {})
    assert provider.usage(changed, {}).memory_bytes == 0


def test_health_checks(data_dir: Path) -> None:
    settings = {"start_timeout_s": 0.5}
    context = ProviderContext(data_dir=data_dir, secret_key=SECRET, settings=settings)
    provider = LocalProvider(context)
    checks: dict[str, Any] = {
        "res_exec": {"exec": {"command": ["sh", "-c", 'test "$PORT_HTTP" -gt 0']}},
        "res_tcp": {"tcp": {"port": "http"}},
        "res_missing": {"http": {"path": "/no-such-page", "port": "http"}},
    }
    resources = [make_resource(r, "service", web_spec(healthcheck=c)) for r, c in checks.items()]
    try:
        for res in resources:
            provider.apply(res, {})
        for res in resources[:2]:
            wait_for(lambda r=res: provider.observe(r, {}).healthy is True)  # type: ignore[misc]
        missing = provider.observe(resources[2], {})
        assert missing.phase == "running" and missing.healthy is False
    finally:
        for res in resources:
            provider.destroy(res, {})


def test_restart_policy_never_leaves_a_failed_process(provider: LocalProvider) -> None:
    spec = {
        "containers": {"main": {"image": "exec:sh", "args": ["-c", "echo bye; exit 3"]}},
        "restart": "never",
    }
    res = make_resource("res_never", "service", spec)
    try:
        provider.apply(res, {})
        wait_for(lambda: provider.observe(res, {}).phase == "failed")
        obs = provider.observe(res, {})
        assert "exited with code 3" in obs.message
        assert provider.plan(res, obs).action is ChangeAction.NOOP
        assert provider.apply(res, obs.state).phase == "failed"
        assert provider.logs(res, obs.state, tail=5) == ["[main] bye"]
    finally:
        provider.destroy(res, {})


def test_command_resolution(provider: LocalProvider) -> None:
    spec = {
        "containers": {
            "main": {
                "image": "ignored:when-command-given",
                "command": [sys.executable, "-c"],
                "args": ["import os,time; print(os.environ['PLINTH_VOLUME_DATA']); time.sleep(60)"],
                "files": [{"target": "/etc/app.conf", "content": "x=1\n", "mode": "0600"}],
            }
        },
        "volumes": [{"source": "/srv/data", "target": "/data", "read_only": False}],
    }
    res = make_resource("res_cmd", "service", spec)
    try:
        obs = provider.apply(res, {})
        assert obs.phase == "running"
        assert obs.outputs == {"host": "127.0.0.1", "ports": {}, "urls": {}}
        env = psutil.Process(obs.state["processes"]["main"]["pid"]).environ()
        conf = Path(env["PLINTH_FILES_DIR"]) / "etc" / "app.conf"
        assert conf.read_text() == "x=1\n" and conf.stat().st_mode & 0o777 == 0o600
        wait_for(lambda: provider.logs(res, {}, tail=1) == ["[main] /srv/data"])
    finally:
        provider.destroy(res, {})
    assert not conf.exists()


def test_unrunnable_specs_are_permanent_errors(provider: LocalProvider) -> None:
    image = make_resource("res_bad", "service", {"containers": {"web": {"image": "nginx:1.27"}}})
    with pytest.raises(PermanentError, match=r"cannot run container image 'nginx:1\.27'"):
        provider.apply(image, {})
    secret = {"containers": {"web": {"image": "py:x", "env": {"TOKEN": 12345}}}}
    with pytest.raises(PermanentError) as info:
        provider.apply(make_resource("res_bad2", "service", secret), {})
    assert "12345" not in str(info.value)
    with pytest.raises(PermanentError):
        provider.apply(make_resource("res_bad3", "queue", {}), {})


def test_stop_local_runtime_kills_everything(tmp_path: Path) -> None:
    provider = LocalProvider(ProviderContext(data_dir=tmp_path, secret_key=SECRET))
    res: Resource = make_resource("res_stop", "service", web_spec())
    provider.apply(res, {})
    assert leaders(tmp_path, res.id)
    stop_local_runtime(tmp_path)
    assert not processes.scan(str(tmp_path.resolve()))
    assert provider.observe(res, {}).phase == "failed"
    provider.destroy(res, {})


def test_demo_static_site(provider: LocalProvider) -> None:
    spec = {
        "containers": {"site": {"image": "py:plinth_demo.static_site"}},
        "ports": [{"name": "http", "port": 80}],
        "healthcheck": {"http": {"path": "/healthz", "port": "http"}},
    }
    res = make_resource("res_site", "service", spec)
    try:
        obs = provider.apply(res, {})
        assert obs.healthy
        with OPENER.open(obs.outputs["url"] + "/", timeout=5) as response:
            assert b"Hello from Plinth" in response.read()
    finally:
        provider.destroy(res, {})
