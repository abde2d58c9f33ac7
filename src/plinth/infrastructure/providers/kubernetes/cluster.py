"""Talking to one cluster through the official ``kubernetes`` client, with typed errors.

``Cluster`` speaks the REST paths of the kinds in ``KINDS`` through the client's
``ApiClient`` (so authentication, TLS and kubeconfig handling are the client's):
server-side apply (``PATCH`` as ``application/apply-patch+yaml`` under a field
manager), get, list by label selector and delete. The client is imported only
when a ``Cluster`` is built, so ``import plinth`` works without the
``kubernetes`` extra.

Errors: an unreachable cluster, ``429`` and ``5xx`` are ``TemporaryError``;
``401``/``403`` are ``PermanentError`` naming the cluster and the credential
problem; ``422`` is ``PermanentError`` with the API server's message; a ``409``
field-manager conflict is ``PermanentError`` naming the manager and field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plinth.core.errors import PermanentError, TemporaryError

__all__ = ["KINDS", "Cluster", "ClusterConfig", "Kind", "Missing", "kind_of"]


class Missing(PermanentError):
    """The API server answered 404: the object (or its API) does not exist."""


@dataclass(frozen=True)
class Kind:
    """Where the objects of one kind live in the REST API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """Return the REST path of the collection, or of one object when ``name`` is given."""
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        tail = f"/{name}" if name else ""
        return f"{root}{scope}/{self.plural}{tail}"


KINDS: tuple[Kind, ...] = (
    Kind("v1", "Namespace", "namespaces", namespaced=False),
    Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    Kind("v1", "Secret", "secrets"),
    Kind("v1", "Service", "services"),
    Kind("apps/v1", "Deployment", "deployments"),
    Kind("batch/v1", "Job", "jobs"),
    Kind("batch/v1", "CronJob", "cronjobs"),
    Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Kind("networking.k8s.io/v1", "Ingress", "ingresses"),
    Kind("kubevirt.io/v1", "VirtualMachine", "virtualmachines"),
    Kind("kueue.x-k8s.io/v1beta2", "ResourceFlavor", "resourceflavors", namespaced=False),
    Kind("kueue.x-k8s.io/v1beta2", "Cohort", "cohorts", namespaced=False),
    Kind("kueue.x-k8s.io/v1beta2", "ClusterQueue", "clusterqueues", namespaced=False),
    Kind("kueue.x-k8s.io/v1beta2", "LocalQueue", "localqueues"),
)
_BY_KIND = {(k.api_version, k.kind): k for k in KINDS}


def kind_of(manifest: Mapping[str, Any]) -> Kind:
    """Return the ``Kind`` of a manifest, or raise PermanentError for one not supported."""
    found = _BY_KIND.get((str(manifest.get("apiVersion")), str(manifest.get("kind"))))
    if found is None:
        raise PermanentError(
            f"no REST path known for {manifest.get('apiVersion')}/{manifest.get('kind')}"
        )
    return found


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach the cluster (from the provider settings)."""

    kubeconfig: str | None = None
    context: str | None = None
    field_manager: str = "plinth"
    force_conflicts: bool = False
    request_timeout_s: float = 10.0


class Cluster:
    """One cluster, reached with the official client; every method raises typed errors."""

    def __init__(self, config: ClusterConfig) -> None:
        from kubernetes import config as kube_config  # the optional extra: import lazily

        self.config = config
        try:
            self._client = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=config.kubeconfig, context=config.context, persist_config=False
            )
        except (kube_config.ConfigException, OSError, ValueError) as exc:
            raise PermanentError(
                f"cannot load the kubeconfig ({config.kubeconfig or 'default'}): {exc}"
            ) from None
        self._client.configuration.retries = False
        self.server = str(self._client.configuration.host)

    def close(self) -> None:
        """Release the client's connections."""
        self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        serialized = self._client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(
                *serialized, _request_timeout=self.config.request_timeout_s
            )
            response.read()
            result = self._client.response_deserialize(response, {"2XX": "object"})
        except ApiException as exc:
            raise self._error(exc, method, path) from None
        except Exception as exc:  # urllib3: refused, reset, timed out, DNS, TLS
            raise TemporaryError(
                f"cluster {self.server} unreachable: {type(exc).__name__}: {exc}"
            ) from None
        data = result.data
        return data if isinstance(data, dict) else {}

    def _error(self, exc: Any, method: str, path: str) -> Exception:
        status = int(exc.status or 0)
        try:
            body = json.loads(exc.body or "{}")
        except ValueError:
            body = {}
        message = str(body.get("message") or exc.reason or "")
        if status == 404:
            return Missing(f"{path} not found on cluster {self.server}: {message}")
        if status in (401, 403):
            problem = (
                "credentials are missing, expired or wrong"
                if status == 401
                else ("the credentials are not allowed to do this (RBAC)")
            )
            return PermanentError(
                f"cluster {self.server} refused {method} {path}: {problem} ({status} {message})"
            )
        if status == 409 and body.get("reason") == "Conflict":
            return PermanentError(f"field manager conflict on {path}: {message}")
        if status == 422 or status == 400:
            return PermanentError(f"the API server rejected {path}: {message}")
        if status == 429 or status >= 500 or status == 0:
            return TemporaryError(f"cluster {self.server} answered {status} for {path}: {message}")
        return PermanentError(
            f"cluster {self.server} answered {status} for {method} {path}: {message}"
        )

    def apply(
        self, manifest: Mapping[str, Any], *, force: bool | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply ``manifest`` under the field manager; return the live object.

        With ``dry_run`` the server validates and merges but stores nothing.
        """
        kind = kind_of(manifest)
        meta = manifest["metadata"]
        query = [("fieldManager", self.config.field_manager)]
        if dry_run:
            query.append(("dryRun", "All"))
        if self.config.force_conflicts if force is None else force:
            query.append(("force", "true"))
        path = kind.path(meta.get("namespace"), meta["name"])
        try:
            return self._call(
                "PATCH",
                path,
                query=query,
                body=dict(manifest),
                content_type="application/apply-patch+yaml",
            )
        except Missing as exc:  # 404 on apply: no such namespace, or the API is not served
            raise PermanentError(
                f"cannot apply {kind.kind} {meta['name']}: {exc} (is the namespace there, and "
                f"does the cluster serve {kind.api_version}? KubeVirt and Kueue need installing)"
            ) from None

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Return one object, or None when it does not exist."""
        try:
            return self._call("GET", kind.path(namespace, name))
        except Missing:
            return None

    def list(self, kind: Kind, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        """Return the objects of ``kind`` matching label ``selector`` (none without the API)."""
        try:
            found = self._call("GET", kind.path(namespace), query=[("labelSelector", selector)])
        except Missing:
            return []
        items = found.get("items") or []
        return [dict(i, apiVersion=kind.api_version, kind=kind.kind) for i in items]

    def delete(self, kind: Kind, namespace: str | None, name: str, *, propagation: str) -> None:
        """Delete one object; succeed when it is already gone."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        try:
            self._call(
                "DELETE",
                kind.path(namespace, name),
                query=[("propagationPolicy", propagation)],
                body=body,
                content_type="application/json",
            )
        except Missing:
            return
