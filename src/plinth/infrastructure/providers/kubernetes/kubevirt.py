"""The ``vm`` resource type as a KubeVirt ``VirtualMachine`` (``kubevirt.io/v1``, KubeVirt 1.9).

What renders to what:

- ``image: {kernel, initrd, cmdline?}`` → ``firmware.kernelBoot`` with a kernel boot
  container: the OCI image ``image.container_image`` or, by convention,
  ``<vm_image_registry>/<kernel file stem>``, holding the kernel and initrd under
  ``/boot/<file name>`` (the names of the host paths);
- ``image: {disk}`` → a ``containerDisk`` root disk: ``image.container_image`` or
  ``<vm_image_registry>/<disk file stem>`` (KubeVirt's convention: the disk under ``/disk``);
- ``vcpus`` / ``memory`` → ``domain.cpu.cores`` / ``domain.memory.guest`` and the pod's
  memory request;
- ``disks`` → one PersistentVolumeClaim each (``<vm>-<disk>``), attached as virtio disks:
  they survive restarts and replacements of the VM;
- ``user_data`` → a Secret with key ``userdata`` read by ``cloudInitNoCloud.secretRef``
  (user data may hold credentials);
- ``ports`` → the masquerade interface's ports and a ClusterIP Service;
  ``health`` → the VM's readiness probe;
- ``gpu`` → ``domain.devices.gpus`` naming the device plugin's resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.names import (
    Manifest,
    RenderOptions,
    dns_label,
    labels,
    metadata,
    object_name,
    secret_manifest,
)
from plinth.infrastructure.providers.kubernetes.pods import DEFAULT_ACCELERATOR_RESOURCE
from plinth.infrastructure.providers.kubernetes.storage import claim_manifest
from plinth.infrastructure.providers.kubernetes.workloads import cluster_service

__all__ = ["KUBEVIRT_VERSION", "boot_image", "render_vm"]

KUBEVIRT_VERSION = "v1.9.0"
DEFAULT_MEMORY = "256Mi"


def _quantity(size: str) -> str:
    """Return a size of the ``vm`` contract as a Kubernetes quantity (``K`` is ``k`` there)."""
    return f"{size[:-1]}k" if size.endswith("K") else size


def boot_image(spec: Mapping[str, Any], options: RenderOptions) -> str:
    """Return the OCI image that carries the VM's kernel and initrd, or its disk."""
    image = spec["image"]
    if image.get("container_image"):
        return str(image["container_image"])
    if not options.vm_image_registry:
        raise PermanentError(
            "a vm on Kubernetes boots from an OCI image: give image.container_image, or set "
            "the provider setting vm_image_registry (the image is then <registry>/<file stem>)"
        )
    source = PurePosixPath(str(image.get("kernel") or image.get("disk")))
    stem = source.name.split(".")[0]
    return f"{options.vm_image_registry.rstrip('/')}/{dns_label(stem)}"


def _disks_and_volumes(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions
) -> tuple[list[Manifest], list[Manifest], Manifest | None]:
    """Return the domain disks, the volumes and the kernel boot firmware of a VM."""
    disks: list[Manifest] = []
    volumes: list[Manifest] = []
    firmware: Manifest | None = None
    image = spec["image"]
    container = boot_image(spec, options)
    if "disk" in image:
        disks.append({"name": "root", "bootOrder": 1, "disk": {"bus": "virtio"}})
        volumes.append({"name": "root", "containerDisk": {"image": container}})
    else:
        boot: Manifest = {
            "container": {
                "image": container,
                "kernelPath": f"/boot/{PurePosixPath(str(image['kernel'])).name}",
                "initrdPath": f"/boot/{PurePosixPath(str(image['initrd'])).name}",
            }
        }
        if image.get("cmdline"):
            boot["kernelArgs"] = str(image["cmdline"])
        firmware = {"kernelBoot": boot}
    for disk in spec.get("disks") or []:
        name = dns_label(f"data-{disk['name']}")
        disks.append({"name": name, "disk": {"bus": "virtio"}})
        claim = object_name(resource, str(disk["name"]))
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": claim}})
    if spec.get("user_data"):
        disks.append({"name": "cloudinit", "disk": {"bus": "virtio"}})
        secret = {"name": object_name(resource, "userdata")}
        volumes.append({"name": "cloudinit", "cloudInitNoCloud": {"secretRef": secret}})
    return disks, volumes, firmware


def _probe(spec: Mapping[str, Any]) -> Manifest | None:
    health = spec.get("health")
    if not isinstance(health, Mapping):
        return None
    ports = spec.get("ports") or {}
    if health["port"] not in ports:
        raise PermanentError(f"vm health names port {health['port']!r}, which is not declared")
    port = int(ports[health["port"]])
    if health.get("http_path"):
        action: Manifest = {"httpGet": {"path": str(health["http_path"]), "port": port}}
    else:
        action = {"tcpSocket": {"port": port}}
    timeout = int(spec.get("boot_timeout_seconds") or 60)
    return {
        **action,
        "periodSeconds": 5,
        "initialDelaySeconds": 0,
        "failureThreshold": max(3, timeout // 5),
    }


def _domain(spec: Mapping[str, Any], options: RenderOptions, disks: list[Manifest]) -> Manifest:
    memory = _quantity(str(spec.get("memory") or DEFAULT_MEMORY))
    interface: Manifest = {"name": "default", "masquerade": {}}
    ports = spec.get("ports") or {}
    if ports:
        interface["ports"] = [
            {"name": dns_label(name, limit=15), "port": int(port), "protocol": "TCP"}
            for name, port in sorted(ports.items())
        ]
    devices: Manifest = {"disks": disks, "interfaces": [interface]}
    gpu = spec.get("gpu")
    if isinstance(gpu, Mapping):
        device = options.accelerator_resources.get(
            str(gpu.get("type") or ""), DEFAULT_ACCELERATOR_RESOURCE
        )
        devices["gpus"] = [
            {"name": f"gpu{i}", "deviceName": device} for i in range(int(gpu["count"]))
        ]
    return {
        "cpu": {"cores": int(spec.get("vcpus") or 1)},
        "memory": {"guest": memory},
        "resources": {"requests": {"memory": memory}},
        "devices": devices,
    }


def render_vm(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, digest: str
) -> list[Manifest]:
    """Return the PVCs, user-data Secret, VirtualMachine and Service of a ``vm``."""
    disks, volumes, firmware = _disks_and_volumes(resource, spec, options)
    domain = _domain(spec, options, disks)
    if firmware is not None:
        domain["firmware"] = firmware
    vmi_spec: Manifest = {"domain": domain, "networks": [{"name": "default", "pod": {}}]}
    if volumes:
        vmi_spec["volumes"] = volumes
    probe = _probe(spec)
    if probe is not None:
        vmi_spec["readinessProbe"] = probe
    out: list[Manifest] = [
        claim_manifest(
            resource,
            options,
            name=object_name(resource, str(d["name"])),
            size=_quantity(str(d["size"])),
            spec_digest=digest,
        )
        for d in spec.get("disks") or []
    ]
    if spec.get("user_data"):
        name = object_name(resource, "userdata")
        user_data = {"userdata": str(spec["user_data"])}
        out.append(
            secret_manifest(resource, options, name=name, spec_digest=digest, values=user_data)
        )
    out.append(
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": metadata(resource, options, name=object_name(resource), spec_digest=digest),
            "spec": {
                "runStrategy": "Always",
                "template": {"metadata": {"labels": labels(resource, options)}, "spec": vmi_spec},
            },
        }
    )
    if spec.get("ports"):
        ports = [{"name": n, "port": p} for n, p in sorted(spec["ports"].items())]
        out.append(cluster_service(resource, options, digest, ports))
    return out
