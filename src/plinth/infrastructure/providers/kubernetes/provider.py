"""``KubernetesProvider``: realises resources as Kubernetes objects with server-side apply.

Settings (``ProviderContext.settings``, all optional; see ``docs/kubernetes.md``):

| key | meaning | default |
|---|---|---|
| ``kubernetes_kubeconfig`` | kubeconfig file | the client's default (``~/.kube/config``) |
| ``kubernetes_context`` | kubeconfig context | the current context |
| ``kubernetes_namespace`` | one namespace for everything | per project and environment |
| ``kubernetes_namespace_prefix`` | prefix of those namespaces | ``plinth-`` |
| ``kubernetes_create_namespaces`` | apply the namespace first | ``true`` |
| ``kubernetes_field_manager`` | server-side apply field manager | ``plinth`` |
| ``kubernetes_force_conflicts`` | take fields other managers own | ``false`` |
| ``kubernetes_propagation_policy`` | how deletes propagate | ``Background`` |
| ``kubernetes_request_timeout_s`` | per request | ``10`` |
| ``kubernetes_ignored_managers`` | managers whose changes are not drift | controllers |
| ``kubernetes_project_teams`` | ``{project: team}`` (else the platform's own teams) | none |
| ``kubernetes_local_queue`` | Kueue LocalQueue of accelerator work | ``default`` |
| ``kubernetes_ingress_class`` | class of route Ingresses | none |
| ``kubernetes_ingress_namespace`` | where the ingress controller runs | ``ingress-nginx`` |
| ``kubernetes_storage_class`` | claims of volumes and VM disks | the cluster default |
| ``kubernetes_accelerator_resources`` | ``{type: extended resource}`` | ``nvidia.com/gpu`` |
| ``kubernetes_model_server_image`` | image serving models | none |
| ``kubernetes_model_store_claim`` | claim holding model artifacts | none |
| ``kubernetes_vm_image_registry`` | where VM boot images are pushed | none |

Applying renders first (a spec that cannot be realised fails before anything is
written), makes sure the namespace exists, dry-runs every object on the server
(so a rejected manifest or a field-manager conflict leaves nothing half-applied),
then applies them and deletes objects of the resource that are no longer rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    Observation,
    ProviderChange,
    ProviderContext,
    Resource,
    Usage,
)
from plinth.infrastructure.providers.kubernetes.cluster import (
    KINDS,
    Cluster,
    ClusterConfig,
    kind_of,
)
from plinth.infrastructure.providers.kubernetes.names import (
    DIGEST_ANNOTATION,
    MANAGED_BY,
    RESOURCE_LABEL,
    RenderOptions,
    namespace_for,
    resource_label_value,
)
from plinth.infrastructure.providers.kubernetes.observe import age_seconds, observation
from plinth.infrastructure.providers.kubernetes.render import render
from plinth.infrastructure.providers.kubernetes.specs import SCHEMAS
from plinth.infrastructure.providers.kubernetes.workloads import service_host
from plinth.infrastructure.providers.local.specs import spec_digest

__all__ = ["DEFAULT_IGNORED_MANAGERS", "KubernetesProvider", "render_options"]

DEFAULT_IGNORED_MANAGERS = (
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kueue",
    "kueue-controller-manager",
    "virt-controller",
    "virt-handler",
)
_PROCESS_DEFAULTS = frozenset(
    {"runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "networkPolicy"}
)
_RESOURCE_KINDS = tuple(k for k in KINDS if k.namespaced and k.kind != "LocalQueue")


def _setting(settings: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = settings.get(f"kubernetes_{key}")
    return default if value is None or value == "" else value


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def render_options(
    s: Mapping[str, Any], *, secret_key: bytes = b"", project: str | None = None
) -> RenderOptions:
    """Return the render options that provider settings ``s`` give (the team of ``project``)."""
    teams = _setting(s, "project_teams", {})
    team = teams.get(project) if isinstance(teams, Mapping) and project else None
    lookup = s.get("project_team")  # the platform's own answer: who owns a project
    if team is None and project and callable(lookup):
        team = lookup(project)
    return RenderOptions(
        namespace_prefix=str(_setting(s, "namespace_prefix", "plinth-")),
        namespace=_setting(s, "namespace"),
        team=team,
        local_queue=str(_setting(s, "local_queue", "default")),
        ingress_class=_setting(s, "ingress_class"),
        ingress_namespace=str(_setting(s, "ingress_namespace", "ingress-nginx")),
        storage_class=_setting(s, "storage_class"),
        accelerator_resources=dict(_setting(s, "accelerator_resources", {})),
        model_server_image=_setting(s, "model_server_image"),
        model_store_claim=_setting(s, "model_store_claim"),
        vm_image_registry=_setting(s, "vm_image_registry"),
        secret_key=secret_key,
    )


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj["kind"]), str(obj["metadata"]["name"])


def _changes(
    manifests: list[dict[str, Any]], live: Mapping[tuple[str, str], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the manifests to apply and the live Jobs they replace."""
    todo: list[dict[str, Any]] = []
    replaced: list[dict[str, Any]] = []
    for manifest in manifests:
        before = live.get(_key(manifest))
        if manifest["kind"] == "Job" and before is not None:
            digest = (before["metadata"].get("annotations") or {}).get(DIGEST_ANNOTATION)
            if digest == manifest["metadata"]["annotations"][DIGEST_ANNOTATION]:
                continue  # a Job's template is immutable and Kueue owns its suspension
            replaced.append(before)
        todo.append(manifest)
    return todo, replaced


class KubernetesProvider:
    """Realises services, jobs, volumes, secrets, routes, model deployments and VMs in a cluster."""

    name: ClassVar[str] = "kubernetes"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        s = context.settings
        self.cluster_config = ClusterConfig(
            kubeconfig=_setting(s, "kubeconfig"),
            context=_setting(s, "context"),
            field_manager=str(_setting(s, "field_manager", "plinth")),
            force_conflicts=_flag(_setting(s, "force_conflicts", False)),
            request_timeout_s=float(_setting(s, "request_timeout_s", 10.0)),
        )
        self.create_namespaces = _flag(_setting(s, "create_namespaces", True))
        self.propagation = str(_setting(s, "propagation_policy", "Background"))
        self.ignored_managers = tuple(_setting(s, "ignored_managers", DEFAULT_IGNORED_MANAGERS))
        self._cluster: Cluster | None = None

    @property
    def cluster(self) -> Cluster:
        """Return the cluster connection, made on first use."""
        if self._cluster is None:
            self._cluster = Cluster(self.cluster_config)
        return self._cluster

    def resource_types(self) -> Mapping[str, Mapping[str, Any]]:
        """Return the JSON Schema of each resource type's resolved spec."""
        return dict(SCHEMAS)

    def enforced_defaults(self, type_name: str) -> frozenset[str]:
        """Return the secure defaults the rendered objects enforce for ``type_name``."""
        if type_name in ("service", "job", "model-deployment"):
            return _PROCESS_DEFAULTS
        return frozenset()

    def plan(self, desired: Resource | None, observed: Observation | None) -> ProviderChange:
        """Compare desired with observed; no side effects."""
        exists = observed is not None and observed.exists
        if desired is None:
            return (
                ProviderChange(ChangeAction.DELETE, ("no longer desired",))
                if exists
                else ProviderChange(ChangeAction.NOOP)
            )
        if observed is None or not observed.exists:
            return ProviderChange(ChangeAction.CREATE, ("does not exist",))
        if spec_digest(desired.spec) != observed.applied_digest:
            if desired.type == "job" and not desired.spec.get("schedule"):
                return ProviderChange(
                    ChangeAction.REPLACE, ("spec changed; a Job's template cannot change",)
                )
            return ProviderChange(ChangeAction.UPDATE, ("spec changed",))
        differences = list(observed.state.get("drift") or [])
        if differences:
            return ProviderChange(ChangeAction.UPDATE, tuple(f"drift: {d}" for d in differences))
        return ProviderChange(ChangeAction.NOOP)

    def _options(self, resource: Resource) -> RenderOptions:
        return render_options(
            self.context.settings, secret_key=self.context.secret_key, project=resource.project
        )

    def _live(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        selector = f"{RESOURCE_LABEL}={resource_label_value(resource.id)}"
        found: list[dict[str, Any]] = []
        for kind in _RESOURCE_KINDS:
            found.extend(self.cluster.list(kind, namespace, selector))
        return found

    def _ensure_namespace(self, namespace: str) -> None:
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {MANAGED_BY: "plinth"}},
        }
        if self.create_namespaces and self.cluster.get(KINDS[0], None, namespace) is None:
            self.cluster.apply(manifest)

    def _write(
        self, todo: list[dict[str, Any]], replaced: list[dict[str, Any]], namespace: str
    ) -> None:
        """Dry-run, then apply ``todo``; old Jobs go only once the rest passed the dry run."""
        old = {_key(o) for o in replaced}
        for manifest in todo:  # an old Job would refuse its replacement's dry run
            if _key(manifest) not in old:
                self.cluster.apply(manifest, dry_run=True)
        for before in replaced:
            self.cluster.delete(
                kind_of(before), namespace, before["metadata"]["name"], propagation="Background"
            )
        for manifest in todo:
            if _key(manifest) in old:
                self.cluster.apply(manifest, dry_run=True)
        for manifest in todo:
            self.cluster.apply(manifest)

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make the resource's objects exist as rendered; idempotent and crash-safe."""
        options = self._options(resource)
        manifests = render(resource, options)
        namespace = namespace_for(resource, options)
        self._ensure_namespace(namespace)
        live = {_key(o): o for o in self._live(resource, namespace)}
        todo, replaced = _changes(manifests, live)
        self._write(todo, replaced, namespace)
        rendered = {_key(m) for m in manifests}
        for key, obj in live.items():
            if key not in rendered:
                self.cluster.delete(kind_of(obj), namespace, key[1], propagation=self.propagation)
        return self.observe(resource, state)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the resource's live objects: phase, health, outputs and drift."""
        options = self._options(resource)
        namespace = namespace_for(resource, options)
        live = self._live(resource, namespace)
        try:
            desired = render(resource, options)
        except PermanentError:  # the spec can no longer be rendered: report what lives
            desired = []
        return observation(
            resource,
            live,
            desired=desired,
            host=service_host(resource, options),
            field_manager=self.cluster_config.field_manager,
            ignored_managers=self.ignored_managers,
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Delete every object labelled with the resource's id; succeed if none is left."""
        namespace = namespace_for(resource, self._options(resource))
        for obj in self._live(resource, namespace):
            self.cluster.delete(
                kind_of(obj), namespace, obj["metadata"]["name"], propagation=self.propagation
            )

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return the time since the resource's main object was created (no metrics API here)."""
        return Usage(wall_seconds=age_seconds(state.get("created_at")))

    def close(self) -> None:
        """Release the cluster connection."""
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
