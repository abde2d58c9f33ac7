"""Render one resource into the Kubernetes objects that realise it (pure: no I/O).

| type | objects |
|---|---|
| service | Secret (env, files), Deployment, Service (with ports), NetworkPolicy |
| job | Secret (env, files), Job or CronJob (with ``schedule``), NetworkPolicy |
| model-deployment | Deployment, Service, NetworkPolicy |
| volume | PersistentVolumeClaim |
| secret | Secret |
| route | Ingress |
| vm | PersistentVolumeClaim per data disk, Secret (user data), VirtualMachine, Service |

Every object carries the labels and annotations of ``names``; the spec digest
annotation is the digest the platform records as the applied digest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.kubevirt import render_vm
from plinth.infrastructure.providers.kubernetes.names import RenderOptions
from plinth.infrastructure.providers.kubernetes.specs import validate_spec
from plinth.infrastructure.providers.kubernetes.storage import (
    render_route,
    render_secret,
    render_volume,
)
from plinth.infrastructure.providers.kubernetes.workloads import (
    render_job,
    render_model_deployment,
    render_service,
)
from plinth.infrastructure.providers.local.specs import spec_digest

__all__ = ["RENDERERS", "render"]

Renderer = Callable[[Resource, Mapping[str, Any], RenderOptions, str], list[dict[str, Any]]]

RENDERERS: dict[str, Renderer] = {
    "service": render_service,
    "job": render_job,
    "model-deployment": render_model_deployment,
    "volume": render_volume,
    "secret": render_secret,
    "route": render_route,
    "vm": render_vm,
}


def render(resource: Resource, options: RenderOptions) -> list[dict[str, Any]]:
    """Return the manifests of ``resource`` in the order they should be applied.

    Raises:
        PermanentError: the spec does not fit the type, or cannot be realised on Kubernetes.
    """
    spec = validate_spec(resource.type, resource.spec)
    return RENDERERS[resource.type](resource, spec, options, spec_digest(resource.spec))
