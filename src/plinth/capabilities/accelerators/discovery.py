"""Find this machine's NVIDIA GPUs through NVML (``nvidia-ml-py``), when there are any.

``pynvml`` is an optional extra (``pip install plinth[gpu]``) and is imported only
when discovery runs. Without the package, the driver or a GPU, ``discover`` returns
a result with ``available`` False and a reason that says which; an
``AcceleratorPool`` with ``discovery: nvml`` then uses its declared nodes.

Each GPU type on the machine becomes one node (``<host>-<type>``, lower case).
GPUs in MIG mode are not handed out whole: their MIG devices become the node's
partitions (profile names such as ``1g.10gb``), and ``physical`` maps the node's
whole-device indices (0, 1, ... as the scheduler numbers them) to NVML indices,
so that ``CUDA_VISIBLE_DEVICES`` names the right GPUs.
"""

from __future__ import annotations

import importlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from plinth.capabilities.accelerators.model import Node

__all__ = [
    "KNOWN_TYPES",
    "Discovery",
    "Gpu",
    "MigDevice",
    "accelerator_type",
    "discover",
    "node_name",
]

KNOWN_TYPES = ("H200", "H100", "A100", "A10G", "A10", "L40S", "L40", "L4", "T4", "V100", "A30")
_MIB = 1024 * 1024
_GIB = 1024 * _MIB
_MIG_NAME = re.compile(r"MIG\s+(\d+g\.\d+gb)", re.IGNORECASE)


@dataclass(frozen=True)
class MigDevice:
    """One MIG slice of a GPU."""

    uuid: str
    profile: str
    memory_gib: float


@dataclass(frozen=True)
class Gpu:
    """One physical GPU as NVML reports it."""

    index: int
    uuid: str
    name: str
    accelerator: str
    memory_gib: float
    mig: tuple[MigDevice, ...] = ()
    mig_enabled: bool = False


@dataclass(frozen=True)
class Discovery:
    """What discovery found: GPUs and nodes, or why there are none."""

    available: bool
    reason: str
    driver: str | None = None
    gpus: tuple[Gpu, ...] = ()
    nodes: tuple[Node, ...] = ()
    physical: dict[str, tuple[int, ...]] = field(default_factory=dict)
    mig_uuids: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)


def accelerator_type(name: str) -> str:
    """Return the accelerator type of an NVML device name (``NVIDIA H100 80GB HBM3`` → H100)."""
    tokens = [t.upper() for t in re.split(r"[\s\-_/]+", name) if t]
    for known in KNOWN_TYPES:
        if known in tokens:
            return known
    for known in KNOWN_TYPES:
        if any(t.startswith(known) for t in tokens):
            return known
    cleaned = re.sub(r"^(NVIDIA|TESLA|GEFORCE|QUADRO)\s+", "", name.strip(), flags=re.IGNORECASE)
    return cleaned or "GPU"


def node_name(host: str, accelerator: str) -> str:
    """Return a pool node name for ``accelerator`` GPUs on ``host``."""
    text = re.sub(r"[^a-z0-9.-]+", "-", f"{host}-{accelerator}".lower()).strip("-.")
    return text[:63].rstrip("-.") or "gpu-node"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _load(import_module: Callable[[str], ModuleType]) -> ModuleType | str:
    try:
        return import_module("pynvml")
    except ImportError:
        return "the nvidia-ml-py package is not installed (pip install 'plinth[gpu]')"


def discover(
    *, host: str | None = None, import_module: Callable[[str], ModuleType] | None = None
) -> Discovery:
    """Return this machine's GPUs as pool nodes, or an unavailable result with the reason."""
    loaded = _load(import_module or importlib.import_module)
    if isinstance(loaded, str):
        return Discovery(False, loaded)
    nvml = loaded
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return Discovery(False, f"no NVIDIA driver: NVML could not start ({_text(exc)})")
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = tuple(_gpu(nvml, i) for i in range(int(nvml.nvmlDeviceGetCount())))
    except nvml.NVMLError as exc:
        return Discovery(False, f"NVML failed while listing GPUs: {_text(exc)}")
    finally:
        nvml.nvmlShutdown()
    if not gpus:
        return Discovery(False, "the NVIDIA driver reports no GPU", driver=driver)
    return _as_nodes(gpus, driver, host or socket.gethostname())


def _gpu(nvml: Any, index: int) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _text(nvml.nvmlDeviceGetName(handle))
    memory = nvml.nvmlDeviceGetMemoryInfo(handle).total / _GIB
    try:
        enabled = nvml.nvmlDeviceGetMigMode(handle)[0] == nvml.NVML_DEVICE_MIG_ENABLE
    except nvml.NVMLError:  # not a MIG-capable GPU
        enabled = False
    migs: list[MigDevice] = []
    if enabled:
        for slot in range(int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except nvml.NVMLError:  # an empty slot
                continue
            migs.append(_mig(nvml, mig))
    uuid = _text(nvml.nvmlDeviceGetUUID(handle))
    return Gpu(index, uuid, name, accelerator_type(name), round(memory, 1), tuple(migs), enabled)


def _mig(nvml: Any, handle: Any) -> MigDevice:
    name = _text(nvml.nvmlDeviceGetName(handle))
    memory_gib = nvml.nvmlDeviceGetMemoryInfo(handle).total / _GIB
    match = _MIG_NAME.search(name)
    if match:
        profile = match.group(1).lower()
    else:
        attrs = nvml.nvmlDeviceGetAttributes(handle)
        profile = f"{attrs.gpuInstanceSliceCount}g.{round(attrs.memorySizeMB / 1024)}gb"
    return MigDevice(_text(nvml.nvmlDeviceGetUUID(handle)), profile, round(memory_gib, 1))


def _as_nodes(gpus: tuple[Gpu, ...], driver: str, host: str) -> Discovery:
    nodes: list[Node] = []
    physical: dict[str, tuple[int, ...]] = {}
    mig_uuids: dict[str, dict[str, tuple[str, ...]]] = {}
    for accel in dict.fromkeys(g.accelerator for g in gpus):
        same = [g for g in gpus if g.accelerator == accel]
        name = node_name(host, accel)
        whole = tuple(g.index for g in same if not g.mig_enabled)
        profiles: dict[str, list[str]] = {}
        for gpu in same:
            for mig in gpu.mig:
                profiles.setdefault(mig.profile, []).append(mig.uuid)
        partitions = tuple((p, len(u)) for p, u in sorted(profiles.items()))
        memory = max(g.memory_gib for g in same)
        nodes.append(Node(name, accel, len(whole), memory, partitions))
        physical[name] = whole
        mig_uuids[name] = {p: tuple(u) for p, u in sorted(profiles.items())}
    found = ", ".join(f"{n.count} {n.accelerator}" for n in nodes)
    return Discovery(
        True,
        f"NVML found {len(gpus)} GPU(s): {found}",
        driver=driver,
        gpus=gpus,
        nodes=tuple(nodes),
        physical=physical,
        mig_uuids=mig_uuids,
    )
