"""What a workload that asks for accelerators sees: ``CUDA_VISIBLE_DEVICES`` and friends.

The platform allocates devices before it applies the resource and writes the
allocation into the spec (``accelerators.allocation``); the local provider only
turns it into environment variables:

- ``CUDA_VISIBLE_DEVICES``: the allocated device indices (or MIG UUIDs), comma-separated;
- ``PLINTH_ACCELERATOR_TYPE``: the type asked for (``A100``, ...);
- ``PLINTH_ACCELERATOR_FRACTION``: the share of the device, for fractional requests;
- ``PLINTH_ACCELERATOR_PARTITION``: the MIG-style profile, for partition requests.

A spec that asks for accelerators but carries no allocation yet is not started:
``TemporaryError`` (the request is queued; the reconciler retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plinth.core.errors import TemporaryError

__all__ = ["RETRY_AFTER_S", "accelerator_env"]

RETRY_AFTER_S = 10.0


def accelerator_env(spec: Mapping[str, Any]) -> dict[str, str]:
    """Return the accelerator variables for ``spec`` (empty when it asks for none)."""
    asked = spec.get("accelerators")
    if not isinstance(asked, Mapping):
        return {}
    allocation = asked.get("allocation")
    if not isinstance(allocation, Mapping):
        raise TemporaryError(
            f"waiting for {asked.get('count')} {asked.get('type')} accelerator(s): "
            "the request is queued",
            retry_after=RETRY_AFTER_S,
        )
    env = {
        "CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in allocation.get("devices") or []),
        "PLINTH_ACCELERATOR_TYPE": str(asked.get("type")),
    }
    if allocation.get("fraction") is not None:
        env["PLINTH_ACCELERATOR_FRACTION"] = str(allocation["fraction"])
    if allocation.get("partition"):
        env["PLINTH_ACCELERATOR_PARTITION"] = str(allocation["partition"])
    return env
