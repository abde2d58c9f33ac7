"""The ``kubernetes`` provider: renders resources to manifests and applies them server-side."""

from __future__ import annotations

from plinth.infrastructure.providers.kubernetes.kueue import render_kueue
from plinth.infrastructure.providers.kubernetes.names import RenderOptions
from plinth.infrastructure.providers.kubernetes.render import render

__all__ = ["RenderOptions", "render", "render_kueue"]
