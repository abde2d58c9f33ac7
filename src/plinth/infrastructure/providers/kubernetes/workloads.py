"""Workloads as Kubernetes objects: services, jobs, model deployments and their NetworkPolicy.

- ``service``: a Deployment (one replica; zero when ``stopped``) and, when it
  declares ports, a ClusterIP Service;
- ``job``: a Job, or a CronJob when it has a ``schedule`` (suspended when
  ``stopped``); a job that asks for accelerators is created suspended with the
  Kueue queue label, so that Kueue admits it against the team's quota;
- ``model-deployment``: a Deployment of the model server image (setting
  ``model_server_image``) reading the artifact from a claim (``model_store_claim``),
  and a Service;
- every workload: a NetworkPolicy that denies all traffic except DNS and what the
  spec allows (``security.allow``: other resources of the same project; ``egress.allow``:
  ``address:port`` pairs).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.names import (
    Manifest,
    RenderOptions,
    dns_label,
    label_value,
    labels,
    metadata,
    namespace_for,
    object_name,
    secret_manifest,
    selector_labels,
)
from plinth.infrastructure.providers.kubernetes.pods import (
    env_secret,
    files_secret,
    pod_template,
    queue_labels,
)

__all__ = [
    "MODEL_SERVER_PORT",
    "cluster_service",
    "network_policy",
    "render_job",
    "render_model_deployment",
    "render_service",
    "service_host",
]

MODEL_SERVER_PORT = 8000


def service_host(resource: Resource, options: RenderOptions) -> str:
    """Return the in-cluster DNS name of the resource's Service."""
    return f"{object_name(resource)}.{namespace_for(resource, options)}.svc.cluster.local"


def _secrets(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    return [
        secret_manifest(resource, options, name=name, spec_digest=digest, values=data)
        for name, data in (env_secret(resource, spec), files_secret(resource, spec))
        if data
    ]


def cluster_service(
    resource: Resource, options: RenderOptions, digest: str, ports: Sequence[Mapping[str, Any]]
) -> Manifest:
    """Return the ClusterIP Service of ``resource`` for ``ports`` (``{name, port, protocol?}``)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(resource, options, name=object_name(resource), spec_digest=digest),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(resource),
            "ports": [
                {
                    "name": dns_label(str(p["name"])),
                    "port": int(p["port"]),
                    "targetPort": int(p["port"]),
                    "protocol": p.get("protocol") or "TCP",
                }
                for p in ports
            ],
        },
    }


def _deployment(
    resource: Resource,
    options: RenderOptions,
    digest: str,
    template: Manifest,
    *,
    replicas: int,
) -> Manifest:
    meta = metadata(resource, options, name=object_name(resource), spec_digest=digest)
    meta["labels"].update(template["metadata"]["labels"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(resource)},
            "template": template,
        },
    }


def render_service(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the Secrets, Deployment, Service and NetworkPolicy of a ``service``."""
    template = pod_template(resource, spec, options, restart_policy="Always")
    replicas = 0 if spec.get("stopped") else 1
    out = _secrets(resource, spec, options, digest)
    out.append(_deployment(resource, options, digest, template, replicas=replicas))
    if spec.get("ports"):
        out.append(cluster_service(resource, options, digest, list(spec["ports"])))
    out.append(network_policy(resource, spec, options, digest))
    return out


def render_job(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the Secrets, Job or CronJob and NetworkPolicy of a ``job``."""
    template = pod_template(resource, spec, options, restart_policy="Never")
    queued = queue_labels(spec, options)
    job_spec: Manifest = {"backoffLimit": 2, "template": template}
    if spec.get("timeout_s"):
        job_spec["activeDeadlineSeconds"] = int(spec["timeout_s"])
    if queued:
        job_spec["suspend"] = True
    meta = metadata(resource, options, name=object_name(resource), spec_digest=digest)
    meta["labels"].update(queued)
    if spec.get("schedule"):
        job: Manifest = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {
                "schedule": str(spec["schedule"]),
                "concurrencyPolicy": "Forbid",
                "suspend": bool(spec.get("stopped")),
                "jobTemplate": {
                    "metadata": {"labels": {**labels(resource, options), **queued}},
                    "spec": job_spec,
                },
            },
        }
    else:
        if spec.get("stopped"):
            job_spec["suspend"] = True
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec}
    return [
        *_secrets(resource, spec, options, digest),
        job,
        network_policy(resource, spec, options, digest),
    ]


def render_model_deployment(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the Deployment, Service and NetworkPolicy serving a registered model version."""
    if not options.model_server_image or not options.model_store_claim:
        raise PermanentError(
            "a model-deployment on Kubernetes needs the provider settings model_server_image "
            "(the inference server image) and model_store_claim (the claim holding artifacts)"
        )
    port = int(spec.get("port") or MODEL_SERVER_PORT)
    artifact = str(spec["artifact"]["path"]).lstrip("/")
    container = {
        "image": options.model_server_image,
        "args": [
            f"--model={spec['model']}",
            f"--format={spec['format']}",
            f"--artifact=/models/{artifact}",
            f"--digest={spec['artifact']['digest']}",
            f"--port={port}",
        ],
    }
    workload = {
        **{k: v for k, v in spec.items() if k == "security"},
        "containers": {"server": container},
        "ports": [{"name": "http", "port": port}],
        "healthcheck": {"tcp": {"port": "http"}},
        "volumes": [
            {"source": f"pvc:{options.model_store_claim}", "target": "/models", "read_only": True}
        ],
    }
    template = pod_template(resource, workload, options, restart_policy="Always")
    replicas = int(spec.get("replicas", 1))
    return [
        _deployment(resource, options, digest, template, replicas=replicas),
        cluster_service(resource, options, digest, workload["ports"]),
        network_policy(resource, workload, options, digest),
    ]


def _egress_peer(entry: str) -> Manifest:
    """Return a NetworkPolicy egress rule for one ``address:port`` of ``egress.allow``."""
    host, sep, port_text = entry.rpartition(":")
    host = host.strip("[]")
    if not sep or not port_text.isdigit():
        raise PermanentError(f"egress entry {entry!r} is not address:port")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise PermanentError(
            f"egress entry {entry!r} names a host: a Kubernetes NetworkPolicy allows IP "
            "addresses only (use the address, or a CNI with FQDN policies)"
        ) from None
    cidr = f"{address}/{32 if address.version == 4 else 128}"
    return {
        "to": [{"ipBlock": {"cidr": cidr}}],
        "ports": [{"protocol": "TCP", "port": int(port_text)}],
    }


def _from_ingress_controller(spec: Mapping[str, Any], options: RenderOptions) -> Manifest:
    """Return the ingress rule that lets the ingress controller reach the declared ports."""
    namespace = {"kubernetes.io/metadata.name": options.ingress_namespace}
    return {
        "from": [{"namespaceSelector": {"matchLabels": namespace}}],
        "ports": [
            {"protocol": p.get("protocol") or "TCP", "port": int(p["port"])} for p in spec["ports"]
        ],
    }


def network_policy(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> Manifest:
    """Return the default-deny NetworkPolicy of a workload with its declared exceptions."""
    security = spec.get("security") or {}
    allowed = sorted(str(name) for name in security.get("allow") or [])
    project = label_value(resource.project)
    peers = [
        {"podSelector": {"matchLabels": {"plinth.dev/project": project, "plinth.dev/name": name}}}
        for name in sorted({label_value(n) for n in allowed})
    ]
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    egress: list[Manifest] = [dns]
    ingress: list[Manifest] = []
    if peers:
        egress.append({"to": peers})
        ingress.append({"from": peers})
    if spec.get("ports"):
        ingress.append(_from_ingress_controller(spec, options))
    if security.get("networkPolicy") == "allow-all":
        egress, ingress = [{}], [{}]
    else:
        egress_spec = spec.get("egress")
        for entry in (egress_spec or {}).get("allow") or []:
            egress.append(_egress_peer(str(entry)))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(resource, options, name=object_name(resource), spec_digest=digest),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(resource)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }
