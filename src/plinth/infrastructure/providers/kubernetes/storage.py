"""Volumes, secrets and routes as Kubernetes objects.

- ``volume``: a PersistentVolumeClaim (``ReadWriteOnce``, ``size`` or 1Gi, the
  storage class of the setting ``storage_class`` when given); its ``source`` output is
  ``pvc:<claim>``, which workloads mount;
- ``secret``: a Secret whose value is derived from the platform key and the resource
  id (HMAC-SHA256), so that applying again never changes it and nothing random has to
  be remembered between calls;
- ``route``: an Ingress for ``host`` and ``path`` to the Service behind
  ``backend_url`` (which must be an in-cluster Service of the same namespace).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.names import (
    Manifest,
    RenderOptions,
    metadata,
    namespace_for,
    object_name,
    secret_manifest,
)

__all__ = [
    "DEFAULT_SECRET_LENGTH",
    "DEFAULT_VOLUME_SIZE",
    "SECRET_KEY",
    "claim_manifest",
    "render_route",
    "render_secret",
    "render_volume",
    "secret_value",
]

DEFAULT_VOLUME_SIZE = "1Gi"
DEFAULT_SECRET_LENGTH = 32
SECRET_KEY = "value"


def claim_manifest(
    resource: Resource, options: RenderOptions, *, name: str, size: str, spec_digest: str
) -> Manifest:
    """Return a ``ReadWriteOnce`` PersistentVolumeClaim of ``resource`` (setting's class)."""
    claim: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if options.storage_class:
        claim["storageClassName"] = options.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(resource, options, name=name, spec_digest=spec_digest),
        "spec": claim,
    }


def render_volume(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the PersistentVolumeClaim of a ``volume``."""
    size = str(spec.get("size") or DEFAULT_VOLUME_SIZE)
    return [
        claim_manifest(resource, options, name=object_name(resource), size=size, spec_digest=digest)
    ]


def secret_value(resource: Resource, spec: Mapping[str, Any], key: bytes) -> str:
    """Return the value of a ``secret`` resource: URL-safe, ``length`` characters."""
    length = int(spec.get("length") or DEFAULT_SECRET_LENGTH)
    value = ""
    counter = 0
    while len(value) < length:
        block = hmac.new(key, f"{resource.id}/{counter}".encode(), hashlib.sha256).digest()
        value += base64.urlsafe_b64encode(block).decode().rstrip("=")
        counter += 1
    return value[:length]


def render_secret(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the Secret of a ``secret`` resource."""
    if not options.secret_key:
        raise PermanentError("the kubernetes provider has no platform key to derive secrets")
    values = {SECRET_KEY: secret_value(resource, spec, options.secret_key)}
    name = object_name(resource)
    return [secret_manifest(resource, options, name=name, spec_digest=digest, values=values)]


def _backend(resource: Resource, spec: Mapping[str, Any], options: RenderOptions) -> Manifest:
    """Return the Ingress backend for ``backend_url`` (a Service of the same namespace)."""
    url = urlsplit(str(spec["backend_url"]))
    parts = (url.hostname or "").split(".")
    namespace = namespace_for(resource, options)
    in_cluster = len(parts) >= 3 and parts[2] == "svc" and parts[1] == namespace
    if not in_cluster or url.port is None:
        raise PermanentError(
            f"route {resource.name}: backend {spec['backend_url']!r} is not a Service of "
            f"namespace {namespace} (<service>.{namespace}.svc...:<port>)"
        )
    return {"service": {"name": parts[0], "port": {"number": url.port}}}


def render_route(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the Ingress of a ``route``."""
    path = str(spec.get("path") or "/")
    rule = {
        "host": str(spec["host"]),
        "http": {
            "paths": [
                {
                    "path": path if path.startswith("/") else f"/{path}",
                    "pathType": "Prefix",
                    "backend": _backend(resource, spec, options),
                }
            ]
        },
    }
    ingress: Manifest = {"rules": [rule]}
    if options.ingress_class:
        ingress["ingressClassName"] = options.ingress_class
    security = spec.get("security") or {}
    if security.get("tls", True) is not False:
        ingress["tls"] = [{"hosts": [rule["host"]], "secretName": object_name(resource, "tls")}]
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata(resource, options, name=object_name(resource), spec_digest=digest),
            "spec": ingress,
        }
    ]
