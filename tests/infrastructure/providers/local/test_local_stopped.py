"""Stopping services and jobs of the local provider (spec ``"stopped": true``) and starting them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import ChangeAction, Observation
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.provider import LocalProvider, plan_change
from plinth.infrastructure.providers.local.services import STOPPED_MESSAGE

from .local_provider_helpers import make_resource


def web_spec(**extra: Any) -> dict[str, Any]:
    """Return the spec of the demo web service (with ``extra`` keys)."""
    return {
        "containers": {
            "web": {"image": "py:plinth_demo.webapp", "env": {"PLINTH_SERVICE_NAME": "stop"}}
        },
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "healthcheck": {"http": {"path": "/healthz", "port": "http"}},
        **extra,
    }


def sleeper_spec(**extra: Any) -> dict[str, Any]:
    """Return the spec of a job that sleeps for a while."""
    return {"containers": {"task": {"image": "exec:sh", "args": ["-c", "sleep 30"]}}, **extra}


def live(data_dir: Path, rid: str) -> list[processes.Found]:
    """Return the processes that carry the resource's markers."""
    return processes.scan(str(data_dir.resolve()), rid)


def test_a_running_service_stops_and_starts_again(provider: LocalProvider, data_dir: Path) -> None:
    running = make_resource("res_stop_web", "service", web_spec())
    stopped = make_resource("res_stop_web", "service", web_spec(stopped=True))
    try:
        first = provider.apply(running, {})
        assert first.phase == "running" and first.healthy
        port = first.outputs["port"]

        change = provider.plan(stopped, provider.observe(stopped, first.state))
        assert change.action is ChangeAction.UPDATE and change.reasons == ("stop requested",)
        held = provider.apply(stopped, first.state)
        assert held.phase == "stopped" and held.exists and held.healthy is None
        assert held.message == STOPPED_MESSAGE
        assert held.outputs["port"] == port  # kept, so dependants stay resolvable
        assert live(data_dir, running.id) == []
        assert provider.usage(stopped, held.state).cpu_seconds == 0.0

        again = provider.observe(stopped, held.state)
        assert again.phase == "stopped"
        assert provider.plan(stopped, again).action is ChangeAction.NOOP
        assert provider.apply(stopped, again.state).phase == "stopped"  # idempotent
        assert live(data_dir, running.id) == []

        start = provider.plan(running, provider.observe(running, again.state))
        assert start.action is ChangeAction.UPDATE
        restarted = provider.apply(running, again.state)
        assert restarted.phase == "running" and restarted.healthy
        assert restarted.outputs["port"] == port
        assert len(processes.leaders(live(data_dir, running.id))) == 1
    finally:
        provider.destroy(running, {})
    assert live(data_dir, running.id) == []


def test_a_service_created_stopped_never_starts(provider: LocalProvider, data_dir: Path) -> None:
    stopped = make_resource("res_stop_new", "service", web_spec(stopped=True))
    try:
        absent = provider.observe(stopped, {})
        assert absent.phase == "absent"
        assert provider.plan(stopped, absent).action is ChangeAction.CREATE
        held = provider.apply(stopped, {})
        assert held.phase == "stopped"
        assert live(data_dir, stopped.id) == []
        assert provider.plan(stopped, held).action is ChangeAction.NOOP
    finally:
        provider.destroy(stopped, {})
    assert provider.observe(stopped, {}).phase == "absent"


def test_a_running_job_stops_and_a_stopped_schedule_never_fires(
    provider: LocalProvider, data_dir: Path
) -> None:
    running = make_resource("res_stop_job", "job", sleeper_spec())
    stopped = make_resource("res_stop_job", "job", sleeper_spec(stopped=True))
    scheduled = make_resource(
        "res_stop_cron", "job", sleeper_spec(schedule="* * * * *", stopped=True)
    )
    try:
        first = provider.apply(running, {})
        assert first.phase == "running" and live(data_dir, running.id)
        assert provider.plan(stopped, first).action is ChangeAction.UPDATE
        held = provider.apply(stopped, first.state)
        assert held.phase == "stopped" and live(data_dir, running.id) == []
        assert provider.plan(stopped, provider.observe(stopped, {})).action is ChangeAction.NOOP

        cron = provider.apply(scheduled, {})
        assert cron.phase == "stopped" and cron.outputs["next_run_at"] is None
        assert provider.requeue_after(scheduled, cron.state) is None
        assert live(data_dir, scheduled.id) == []
    finally:
        provider.destroy(running, {})
        provider.destroy(scheduled, {})
    assert live(data_dir, running.id) == [] and live(data_dir, scheduled.id) == []


def test_plan_of_a_stopped_workload_compares_only() -> None:
    stopped = make_resource("res_x", "service", web_spec(stopped=True))
    seen = Observation(exists=True, phase="stopped", applied_digest="something else")
    assert plan_change(stopped, seen).reasons == ("spec changed",)
    assert plan_change(stopped, None).action is ChangeAction.CREATE
    failed = Observation(exists=False, phase="failed", state={"processes": {}})
    assert plan_change(stopped, failed).reasons == ("stop requested",)
    volume = make_resource("res_v", "volume", {"size": None, "stopped": True})
    assert plan_change(volume, None).action is ChangeAction.CREATE  # only workloads stop


def test_a_stopped_flag_must_be_a_boolean(provider: LocalProvider) -> None:
    bad = make_resource("res_stop_bad", "service", web_spec(stopped="yes"))
    try:
        with pytest.raises(PermanentError, match="stopped"):
            provider.apply(bad, {})
    finally:
        provider.destroy(bad, {})
