"""The local provider's jobs: once per spec, or on a cron schedule driven through state."""

from __future__ import annotations

import sys
import time
from typing import Any

from plinth.infrastructure.providers.base import ChangeAction
from plinth.infrastructure.providers.local.jobs import as_epoch
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import make_resource, wait_for


def job_spec(*args: str, schedule: str | None = None) -> dict[str, Any]:
    """Return a job spec running the demo task (or ``sh -c args`` when given)."""
    container: dict[str, Any] = {"image": "py:plinth_demo.cron_task", "env": {}}
    if args:
        container = {"image": "exec:sh", "args": ["-c", *args]}
    return {"containers": {"task": container}, "schedule": schedule, "timeout_s": 30}


def test_job_runs_once_per_spec(provider: LocalProvider) -> None:
    res = make_resource("res_job_once", "job", job_spec())
    try:
        assert provider.plan(res, provider.observe(res, {})).action is ChangeAction.CREATE
        provider.apply(res, {})
        wait_for(lambda: provider.observe(res, {}).phase == "succeeded")
        done = provider.observe(res, {})
        assert done.outputs["last_exit_code"] == 0 and done.healthy
        assert any("plinth demo task" in line for line in provider.logs(res, {}, tail=10))
        again = provider.apply(res, done.state)
        assert again.phase == "succeeded"
        assert again.outputs["last_run_at"] == done.outputs["last_run_at"]
        assert provider.plan(res, again).action is ChangeAction.NOOP
        assert provider.requeue_after(res, again.state) is None
    finally:
        provider.destroy(res, {})
    assert provider.observe(res, {}).phase == "absent"


def test_failing_job_reports_its_exit_code(provider: LocalProvider) -> None:
    res = make_resource("res_job_fail", "job", job_spec("exit 2"))
    try:
        provider.apply(res, {})
        wait_for(lambda: provider.observe(res, {}).phase == "failed")
        obs = provider.observe(res, {})
        assert obs.outputs["last_exit_code"] == 2 and obs.healthy is False
        assert "code 2" in obs.message
        assert provider.apply(res, obs.state).phase == "failed"
    finally:
        provider.destroy(res, {})


def test_running_job_is_adopted_not_doubled(provider: LocalProvider) -> None:
    res = make_resource("res_job_long", "job", job_spec("sleep 30"))
    try:
        first = provider.apply(res, {})
        assert first.phase == "running"
        pid = first.state["processes"]["task"]["pid"]
        second = provider.apply(res, {})
        assert second.state["processes"]["task"]["pid"] == pid
        assert provider.usage(res, second.state).wall_seconds >= 0
    finally:
        provider.destroy(res, {})


def test_scheduled_job_runs_when_due(provider: LocalProvider) -> None:
    spec = job_spec(sys.executable, schedule="* * * * *")
    spec["containers"]["task"] = {"image": "py:plinth_demo.cron_task"}
    fresh = make_resource("res_cron_fresh", "job", spec)
    due = make_resource("res_cron_due", "job", spec)
    try:
        idle = provider.apply(fresh, {})
        assert idle.phase == "scheduled" and idle.outputs["last_run_at"] is None
        wait_after = provider.requeue_after(fresh, idle.state)
        assert wait_after is not None and 0 <= wait_after <= 60

        two_minutes_ago = time.time() - 120
        started = provider.apply(due, {"scheduled_since": two_minutes_ago})
        assert started.outputs["last_run_at"] is not None
        wait_for(lambda: provider.observe(due, {}).outputs["last_exit_code"] == 0)
        ran = provider.observe(due, {})
        assert ran.phase == "scheduled" and ran.healthy
        next_run = as_epoch(ran.outputs["next_run_at"])
        last_run = as_epoch(ran.outputs["last_run_at"])
        assert next_run is not None and last_run is not None and next_run > last_run
        assert provider.plan(due, ran).action is ChangeAction.NOOP
        assert provider.apply(due, ran.state).outputs["last_run_at"] == ran.outputs["last_run_at"]
    finally:
        provider.destroy(fresh, {})
        provider.destroy(due, {})
