"""GPU workloads on the local provider: CUDA_VISIBLE_DEVICES, queued requests, idle notebooks."""

from __future__ import annotations

from typing import Any

import pytest

from plinth.capabilities.accelerators.model import Allocation, Placement
from plinth.capabilities.accelerators.requests import allocation_fragment, with_allocation
from plinth.core.errors import TemporaryError
from plinth.infrastructure.providers.local.idle_watch import IDLE_EXIT_CODE
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import make_resource, wait_for

SHOW = (
    'echo "devices=$CUDA_VISIBLE_DEVICES type=$PLINTH_ACCELERATOR_TYPE" '
    '"fraction=${PLINTH_ACCELERATOR_FRACTION:-none}"'
)


def gpu_job(script: str, **extra: Any) -> dict[str, Any]:
    """Return a job spec asking for two A100 that runs ``sh -c script``."""
    return {
        "containers": {"main": {"image": "exec:sh", "args": ["-c", script]}},
        "timeout_s": 30,
        "accelerators": {"type": "A100", "count": 2, "kind": "training-job"},
        **extra,
    }


def test_a_gpu_job_sees_its_allocation(provider: LocalProvider) -> None:
    allocation = Allocation("res_gpu", (Placement("gpu-a", (1, 3)),))
    spec = with_allocation(gpu_job(SHOW), allocation_fragment(allocation))
    res = make_resource("res_gpu_job", "job", spec)
    try:
        provider.apply(res, {})
        wait_for(lambda: provider.observe(res, {}).phase == "succeeded")
        lines = provider.logs(res, {}, tail=5)
        assert any("devices=1,3 type=A100 fraction=none" in line for line in lines)
    finally:
        provider.destroy(res, {})


def test_physical_indices_and_fractions_reach_the_process(provider: LocalProvider) -> None:
    allocation = Allocation("res_nb", (Placement("box-l4", (0,), 250),))
    fragment = allocation_fragment(allocation, physical={"box-l4": (3,)})
    spec = with_allocation(gpu_job(SHOW), fragment)
    res = make_resource("res_gpu_frac", "job", spec)
    try:
        provider.apply(res, {})
        wait_for(lambda: provider.observe(res, {}).phase == "succeeded")
        assert any(
            "devices=3 type=A100 fraction=0.25" in line for line in provider.logs(res, {}, tail=5)
        )
    finally:
        provider.destroy(res, {})


def test_a_queued_request_starts_nothing(provider: LocalProvider) -> None:
    res = make_resource("res_gpu_queued", "job", gpu_job("echo should-not-run"))
    try:
        with pytest.raises(TemporaryError, match="queued"):
            provider.apply(res, {})
        assert provider.observe(res, {}).phase in ("absent", "pending")
        assert provider.logs(res, {}, tail=5) == []
    finally:
        provider.destroy(res, {})


def test_an_idle_notebook_is_stopped(provider: LocalProvider) -> None:
    allocation = Allocation("res_nb", (Placement("gpu-a", (0,), 500),))
    spec = with_allocation(gpu_job("sleep 60", idle_stop_s=1), allocation_fragment(allocation))
    spec["accelerators"]["kind"] = "notebook"
    res = make_resource("res_gpu_idle", "job", spec)
    try:
        provider.apply(res, {})
        wait_for(lambda: provider.observe(res, {}).phase == "failed", timeout=20)
        assert provider.observe(res, {}).outputs["last_exit_code"] == IDLE_EXIT_CODE
    finally:
        provider.destroy(res, {})
