"""The local provider's ``secret`` type and its least-privilege service processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from plinth.infrastructure.providers.base import ProviderContext
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime

from .local_provider_helpers import SECRET, make_resource, wait_for


def test_secret_is_generated_kept_sealed_and_rotated(provider: LocalProvider) -> None:
    resource = make_resource("sec-1", "secret", {"length": 24, "rotation": "30d"}, name="token")
    first = provider.apply(resource, {})
    value = first.outputs["value"]
    assert len(value) == 24 and first.outputs["version"] == 1
    assert first.secret_outputs == frozenset({"value", "previous"})
    assert value not in repr(first.state) and value not in first.message
    stored = provider.layout.run_dir("sec-1") / "secret.json"
    assert value not in stored.read_text()  # encrypted at rest
    assert stored.stat().st_mode & 0o777 == 0o600

    again = provider.apply(resource, first.state)
    assert again.outputs["value"] == value  # idempotent: the value is kept
    assert provider.plan(resource, again).action.value == "no-op"

    assert provider.rotate_secret(resource, again.state) == 2
    rotated = provider.observe(resource, {})
    assert rotated.outputs["value"] != value and rotated.outputs["version"] == 2
    assert rotated.outputs["previous"] == [value]  # kept sealed, for log redaction

    longer = make_resource("sec-1", "secret", {"length": 40}, name="token")
    assert provider.plan(longer, rotated).action.value == "update"
    assert len(provider.apply(longer, {}).outputs["value"]) == 40

    provider.destroy(longer, {})
    assert provider.observe(longer, {}).exists is False
    assert provider.enforced_defaults("secret") == frozenset({"encryptedAtRest"})


def test_bad_secret_specs_are_refused(provider: LocalProvider) -> None:
    from plinth.core.errors import PermanentError

    for spec in ({"length": 4}, {"rotation": "soon"}, {"value": "mine"}):
        with pytest.raises(PermanentError):
            provider.apply(make_resource("sec-bad", "secret", spec), {})


@pytest.fixture
def open_data_dir() -> Iterator[Path]:
    """A data directory every user may traverse (pytest's own are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="plinth-lp-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        stop_local_runtime(root)
        shutil.rmtree(root, ignore_errors=True)


def _status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    return ""


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_service_runs_unprivileged_with_no_new_privileges(open_data_dir: Path) -> None:
    provider = LocalProvider(ProviderContext(data_dir=open_data_dir, secret_key=SECRET))
    volume = open_data_dir / "volumes" / "data"
    volume.mkdir(parents=True)
    script = 'id -u > "$PLINTH_VOLUME_DATA/uid"; exec sleep 30'
    spec = {
        "containers": {"main": {"image": "exec:sh", "command": ["/bin/sh", "-c", script]}},
        "volumes": [{"source": str(volume), "target": "/data"}],
        "security": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    resource = make_resource("svc-lp", "service", spec, name="lp")
    observed = provider.apply(resource, {})
    leader = psutil.Process(int(observed.state["processes"]["main"]["pid"]))
    wait_for(lambda: (volume / "uid").is_file() and (volume / "uid").read_text().strip() != "")
    child = leader.children()[0]
    assert _status(child.pid, "NoNewPrivs") == "1"
    expected = 65534 if os.geteuid() == 0 else os.geteuid()
    assert int((volume / "uid").read_text()) == expected
    assert child.uids().real == expected
    assert "runAsNonRoot" in provider.enforced_defaults("service")
    provider.destroy(resource, observed.state)


def test_an_opted_out_service_keeps_its_user(open_data_dir: Path) -> None:
    provider = LocalProvider(ProviderContext(data_dir=open_data_dir, secret_key=SECRET))
    spec = {
        "containers": {"main": {"image": "exec:sleep", "args": ["30"]}},
        "security": {"runAsNonRoot": False, "allowPrivilegeEscalation": True},
    }
    resource = make_resource("svc-root", "service", spec, name="root")
    observed = provider.apply(resource, {})
    leader = psutil.Process(int(observed.state["processes"]["main"]["pid"]))
    child = leader.children()[0] if leader.children() else leader
    assert child.uids().real == os.geteuid()
    assert _status(child.pid, "NoNewPrivs") == "0"
    provider.destroy(resource, observed.state)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to an unprivileged user")
def test_a_private_data_dir_is_reported_as_not_enforced(provider: LocalProvider) -> None:
    # The session's data directory lives under pytest's private (0700) temporary root.
    assert "runAsNonRoot" not in provider.enforced_defaults("service")
    assert "allowPrivilegeEscalation" in provider.enforced_defaults("service")
