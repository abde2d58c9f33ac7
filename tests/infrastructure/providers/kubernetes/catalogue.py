"""Resources of every type the Kubernetes provider renders, in their interesting variants."""

from __future__ import annotations

from typing import Any

from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.names import RenderOptions

__all__ = ["OPTIONS", "SECURE", "VARIANTS", "resource"]

SECURE: dict[str, Any] = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "networkPolicy": "default-deny",
    "tls": True,
    "allow": ["shop-db", "shop-cache"],
    "optOuts": [],
    "enforcement": {},
}
OPTIONS = RenderOptions(
    team="payments",
    ingress_class="nginx",
    storage_class="fast",
    accelerator_resources={"H100": "nvidia.com/gpu", "MI300": "amd.com/gpu"},
    model_server_image="registry.example/plinth/model-server:1",
    model_store_claim="models",
    vm_image_registry="registry.example/vm-images",
    secret_key=b"s" * 32,
)
BACKEND = "http://web.plinth-shop-dev.svc.cluster.local:8080"


def resource(type_name: str, spec: dict[str, Any], *, name: str = "web") -> Resource:
    """Return a resource of project ``shop`` in ``dev``."""
    return Resource(f"shop/dev/{name}", type_name, name, "dev", "shop", spec)


def _container(**extra: Any) -> dict[str, Any]:
    return {"main": {"image": "registry.example/web:1", **extra}}


_FULL_CONTAINER = _container(
    command=["/app/run"],
    args=["--port", "8080"],
    env={"DATABASE_URL": "postgresql://u:p@db/app", "MODE": "prod"},
    files=[{"target": "/etc/app/app.conf", "content": "x = 1\n", "mode": "0640"}],
)
_GPU = {"type": "H100", "count": 2, "allocation": {"devices": [0, 1]}}

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "service-minimal": ("service", {"containers": _container()}),
    "service-full": (
        "service",
        {
            "containers": {**_FULL_CONTAINER, "sidecar": {"image": "registry.example/proxy:2"}},
            "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}],
            "healthcheck": {"http": {"path": "/healthz", "port": "http"}},
            "resources": {"cpu": "500m", "memory": "1Gi"},
            "volumes": [{"source": "pvc:web-data/uploads", "target": "/data", "read_only": False}],
            "restart": "always",
            "security": SECURE,
        },
    ),
    "service-tcp-udp": (
        "service",
        {
            "containers": _container(),
            "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "t", "port": 53}],
            "healthcheck": {"tcp": {"port": "t"}},
        },
    ),
    "service-exec-stopped": (
        "service",
        {
            "containers": _container(),
            "healthcheck": {"exec": {"command": ["/bin/true"]}},
            "stopped": True,
        },
    ),
    "service-opted-out": (
        "service",
        {
            "containers": _container(),
            "security": {
                **SECURE,
                "runAsNonRoot": False,
                "readOnlyRootFilesystem": False,
                "allowPrivilegeEscalation": True,
                "networkPolicy": "allow-all",
                "optOuts": ["runAsNonRoot"],
            },
        },
    ),
    "agent-with-egress": (
        "service",
        {
            "containers": _container(),
            "egress": {"allow": ["10.1.2.3:5432", "[2001:db8::1]:443"]},
            "security": SECURE,
        },
    ),
    "service-accelerated-mig": (
        "service",
        {
            "containers": _container(),
            "accelerators": {"type": "A100", "count": 1, "allocation": {"partition": "1g.5gb"}},
        },
    ),
    "job-once": ("job", {"containers": _FULL_CONTAINER, "timeout_s": 600, "security": SECURE}),
    "job-scheduled": ("job", {"containers": _container(), "schedule": "*/5 * * * *"}),
    "job-scheduled-stopped": (
        "job",
        {"containers": _container(), "schedule": "0 3 * * *", "stopped": True},
    ),
    "job-stopped": ("job", {"containers": _container(), "stopped": True}),
    "training-job": (
        "job",
        {"containers": _container(), "accelerators": _GPU, "resources": {"memory": "64Gi"}},
    ),
    "training-job-amd-scheduled": (
        "job",
        {
            "containers": _container(),
            "schedule": "0 * * * *",
            "accelerators": {"type": "MI300", "count": 1},
        },
    ),
    "model-deployment": (
        "model-deployment",
        {
            "model": "fraud@3",
            "artifact": {"path": "/artifacts/fraud/3/model.onnx", "digest": "sha256:" + "a" * 64},
            "format": "onnx",
            "replicas": 2,
            "security": SECURE,
        },
    ),
    "volume-default": ("volume", {}),
    "volume-sized": ("volume", {"size": "20Gi", "security": {"encryptedAtRest": True}}),
    "secret-default": ("secret", {}),
    "secret-long": ("secret", {"length": 64, "rotation": "30d"}),
    "route-tls": (
        "route",
        {"host": "shop.example.com", "path": "/api", "port": 8080, "backend_url": BACKEND},
    ),
    "route-plain": (
        "route",
        {
            "host": "shop.example.com",
            "path": "",
            "port": 8080,
            "backend_url": BACKEND,
            "security": {"tls": False},
        },
    ),
    "vm-kernel": (
        "vm",
        {
            "image": {
                "kernel": "/srv/images/vmlinuz-6.1",
                "initrd": "/srv/images/initrd.img",
                "cmdline": "console=ttyS0 quiet",
            },
            "vcpus": 2,
            "memory": "512Mi",
            "disks": [{"name": "data", "size": "2Gi"}, {"name": "logs", "size": "1Gi"}],
            "ports": {"http": 80, "ssh": 22},
            "health": {"port": "http", "http_path": "/"},
            "user_data": "#!/bin/sh\necho hello > /tmp/hello\n",
            "gpu": {"count": 1, "type": "H100"},
            "boot_timeout_seconds": 90,
        },
    ),
    "vm-disk": (
        "vm",
        {
            "image": {"disk": "/srv/images/legacy.qcow2", "container_image": "quay.io/x/legacy:7"},
            "ports": {"app": 8080},
            "health": {"port": "app"},
        },
    ),
    "vm-minimal": ("vm", {"image": {"kernel": "/k/vmlinuz", "initrd": "/k/initrd"}}),
}
"""name → (type, resolved spec)."""
