"""The ``local`` provider: services, jobs, databases, volumes and routes on this machine."""

from __future__ import annotations

from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.runtime import stop_local_runtime

__all__ = ["LocalProvider", "stop_local_runtime"]
