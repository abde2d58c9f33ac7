"""Names, labels and annotations every object the Kubernetes provider renders carries.

Every object of one Plinth resource carries the label ``plinth.dev/resource-id``
(a DNS-safe digest of the resource id: label values are limited to 63
characters) so that observe and destroy find all of them with one label
selector; the full id is in the annotation ``plinth.dev/resource``. Cost
attribution labels name the project, the environment, the team when known and
the resource; ``app.kubernetes.io/managed-by: plinth`` marks what Plinth manages.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plinth.infrastructure.providers.base import Resource

__all__ = [
    "DIGEST_ANNOTATION",
    "MANAGED_BY",
    "RESOURCE_ANNOTATION",
    "RESOURCE_LABEL",
    "Manifest",
    "RenderOptions",
    "dns_label",
    "label_value",
    "labels",
    "metadata",
    "namespace_for",
    "namespace_name",
    "object_name",
    "resource_label_value",
    "secret_data",
    "secret_manifest",
    "selector_labels",
]

RESOURCE_LABEL = "plinth.dev/resource-id"
RESOURCE_ANNOTATION = "plinth.dev/resource"
DIGEST_ANNOTATION = "plinth.dev/spec-digest"
MANAGED_BY = "app.kubernetes.io/managed-by"

Manifest = dict[str, Any]
"""One Kubernetes object, as plain data."""

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class RenderOptions:
    """What rendering needs besides the resource: provider settings, already parsed."""

    namespace_prefix: str = "plinth-"
    namespace: str | None = None
    team: str | None = None
    local_queue: str = "default"
    ingress_class: str | None = None
    ingress_namespace: str = "ingress-nginx"
    storage_class: str | None = None
    accelerator_resources: Mapping[str, str] = field(default_factory=dict)
    model_server_image: str | None = None
    model_store_claim: str | None = None
    vm_image_registry: str | None = None
    secret_key: bytes = b""


def dns_label(text: str, *, limit: int = 63) -> str:
    """Return ``text`` as an RFC 1123 label, at most ``limit`` long.

    Lower-casing alone keeps the name; any other change appends a short digest of
    ``text``, so that distinct names stay distinct.
    """
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if cleaned == text.lower() and len(cleaned) <= limit:
        return cleaned
    short = hashlib.sha256(text.encode()).hexdigest()[:8]
    head = cleaned[: limit - 9].strip("-") or "x"
    return f"{head}-{short}"


def resource_label_value(resource_id: str) -> str:
    """Return the value of ``plinth.dev/resource-id`` for ``resource_id`` (a valid label)."""
    return "r" + hashlib.sha256(resource_id.encode()).hexdigest()[:40]


def namespace_name(project: str, environment: str, options: RenderOptions) -> str:
    """Return the namespace of a project's environment: fixed by settings, else its own."""
    if options.namespace:
        return options.namespace
    return dns_label(f"{options.namespace_prefix}{project}-{environment}")


def namespace_for(resource: Resource, options: RenderOptions) -> str:
    """Return the namespace of ``resource`` (see ``namespace_name``)."""
    return namespace_name(resource.project, resource.environment, options)


def object_name(resource: Resource, suffix: str = "") -> str:
    """Return the name of one of the resource's objects (a DNS label, ``suffix`` kept)."""
    base = dns_label(resource.name, limit=63 - len(suffix) - (1 if suffix else 0))
    return f"{base}-{suffix}" if suffix else base


def label_value(text: str) -> str:
    """Return ``text`` as a valid label value (kept as is when it already is one)."""
    value = text[:63]
    return value if _LABEL_VALUE.match(value) else dns_label(text)


def selector_labels(resource: Resource) -> dict[str, str]:
    """Return the labels that select the pods of ``resource`` (immutable in selectors)."""
    return {RESOURCE_LABEL: resource_label_value(resource.id)}


def labels(resource: Resource, options: RenderOptions) -> dict[str, str]:
    """Return the cost-attribution and management labels of every object of ``resource``."""
    out = {
        RESOURCE_LABEL: resource_label_value(resource.id),
        MANAGED_BY: "plinth",
        "plinth.dev/project": label_value(resource.project),
        "plinth.dev/environment": label_value(resource.environment),
        "plinth.dev/name": label_value(resource.name),
        "plinth.dev/type": label_value(resource.type),
    }
    if options.team:
        out["plinth.dev/team"] = label_value(options.team)
    return out


def metadata(
    resource: Resource,
    options: RenderOptions,
    *,
    name: str,
    spec_digest: str,
    namespaced: bool = True,
) -> dict[str, Any]:
    """Return ``metadata`` for one object of ``resource``."""
    meta: dict[str, Any] = {
        "name": name,
        "labels": labels(resource, options),
        "annotations": {RESOURCE_ANNOTATION: resource.id, DIGEST_ANNOTATION: spec_digest},
    }
    if namespaced:
        meta["namespace"] = namespace_for(resource, options)
    return meta


def secret_data(values: Mapping[str, str]) -> dict[str, str]:
    """Return ``values`` as a Secret's ``data`` (base64; what the API server stores)."""
    return {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}


def secret_manifest(
    resource: Resource,
    options: RenderOptions,
    *,
    name: str,
    spec_digest: str,
    values: Mapping[str, str],
) -> Manifest:
    """Return an ``Opaque`` Secret of ``resource`` holding ``values``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(resource, options, name=name, spec_digest=spec_digest),
        "type": "Opaque",
        "data": secret_data(values),
    }
