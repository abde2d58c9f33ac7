"""NVML discovery: the real no-driver path here, and parsing NVML answers of a GPU machine.

The GPU machine is played by a stand-in ``pynvml`` module that answers with the real
package's API shape (functions, ``NVMLError`` subclasses, structs with ``total``,
``gpuInstanceSliceCount`` and ``memorySizeMB``): it is not our code being faked.
"""

from __future__ import annotations

import importlib
import types
from dataclasses import dataclass
from typing import Any

import pytest

from plinth.capabilities.accelerators.discovery import accelerator_type, discover, node_name
from plinth.capabilities.accelerators.pools import pool_set

GIB = 1024**3


class NVMLError(Exception):
    """Base of NVML errors, as in pynvml."""


class NVMLErrorNotSupported(NVMLError):
    """NVML_ERROR_NOT_SUPPORTED."""


class NVMLErrorNotFound(NVMLError):
    """NVML_ERROR_NOT_FOUND."""


@dataclass
class Memory:
    """c_nvmlMemory_t."""

    total: int
    free: int = 0
    used: int = 0


@dataclass
class Attributes:
    """c_nvmlDeviceAttributes."""

    gpuInstanceSliceCount: int
    memorySizeMB: int


def fake_nvml(gpus: list[dict[str, Any]]) -> types.ModuleType:
    """Return a module speaking pynvml's API for ``gpus`` (name, memory, mig, migs)."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError  # type: ignore[attr-defined]
    m.NVML_DEVICE_MIG_ENABLE = 1  # type: ignore[attr-defined]
    calls: list[str] = []
    m.calls = calls  # type: ignore[attr-defined]

    def get_mig_mode(h: tuple[str, int]) -> list[int]:
        gpu = gpus[h[1]]
        if "mig" not in gpu:
            raise NVMLErrorNotSupported("Not Supported")
        return [1 if gpu["mig"] else 0, 0]

    def mig_handle(h: tuple[str, int], slot: int) -> tuple[str, int, int]:
        migs = gpus[h[1]].get("migs", [])
        if slot >= len(migs) or migs[slot] is None:
            raise NVMLErrorNotFound("Not Found")
        return ("mig", h[1], slot)

    def name(h: tuple[Any, ...]) -> bytes | str:
        if h[0] == "mig":
            return str(gpus[h[1]]["migs"][h[2]]["name"])
        return str(gpus[h[1]]["name"]).encode()  # older drivers answer bytes

    def memory(h: tuple[Any, ...]) -> Memory:
        if h[0] == "mig":
            return Memory(int(gpus[h[1]]["migs"][h[2]]["mib"]) * 1024 * 1024)
        return Memory(int(gpus[h[1]]["gib"] * GIB))

    def attributes(h: tuple[Any, ...]) -> Attributes:
        mig = gpus[h[1]]["migs"][h[2]]
        return Attributes(mig["slices"], mig["mib"])

    def uuid(h: tuple[Any, ...]) -> str:
        return f"MIG-{h[1]}-{h[2]}" if h[0] == "mig" else f"GPU-{h[1]}"

    m.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    m.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    m.nvmlSystemGetDriverVersion = lambda: "580.65.06"  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = name  # type: ignore[attr-defined]
    m.nvmlDeviceGetMemoryInfo = memory  # type: ignore[attr-defined]
    m.nvmlDeviceGetUUID = uuid  # type: ignore[attr-defined]
    m.nvmlDeviceGetMigMode = get_mig_mode  # type: ignore[attr-defined]
    m.nvmlDeviceGetMaxMigDeviceCount = lambda h: 7  # type: ignore[attr-defined]
    m.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle  # type: ignore[attr-defined]
    m.nvmlDeviceGetAttributes = attributes  # type: ignore[attr-defined]
    return m


def test_no_driver_on_this_machine_is_a_clear_result() -> None:
    pytest.importorskip("pynvml")
    found = discover()
    assert not found.available
    assert found.reason.startswith("no NVIDIA driver")
    assert found.nodes == ()


def test_without_the_package_the_reason_names_the_extra() -> None:
    def missing(name: str) -> types.ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}")

    found = discover(import_module=missing)
    assert not found.available and "plinth[gpu]" in found.reason


def test_gpus_become_nodes_with_real_names_memory_and_mig() -> None:
    nvml = fake_nvml(
        [
            {"name": "NVIDIA H100 80GB HBM3", "gib": 79.6, "mig": False},
            {
                "name": "NVIDIA H100 80GB HBM3",
                "gib": 79.6,
                "mig": True,
                "migs": [
                    {"name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb", "mib": 9984, "slices": 1},
                    None,
                    {"name": "NVIDIA H100 80GB HBM3 MIG 3g.40gb", "mib": 40192, "slices": 3},
                    {"name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb", "mib": 9984, "slices": 1},
                ],
            },
            {"name": "NVIDIA H100 80GB HBM3", "gib": 79.6, "mig": False},
            {"name": "NVIDIA L4", "gib": 22.5},  # not MIG-capable: NOT_SUPPORTED
        ]
    )
    found = discover(host="Lab.Box", import_module=lambda _: nvml)
    assert found.available and found.driver == "580.65.06"
    assert nvml.calls == ["init", "shutdown"]
    h100, l4 = found.nodes
    assert (h100.name, h100.accelerator, h100.count, h100.memory_gib) == (
        "lab.box-h100",
        "H100",
        2,
        79.6,
    )
    assert h100.partitions == (("1g.10gb", 2), ("3g.40gb", 1))
    assert found.physical["lab.box-h100"] == (0, 2)  # GPU 1 is split into MIG slices
    assert found.mig_uuids["lab.box-h100"]["1g.10gb"] == ("MIG-1-0", "MIG-1-3")
    assert (l4.accelerator, l4.count, found.physical["lab.box-l4"]) == ("L4", 1, (3,))
    assert [g.uuid for g in found.gpus] == ["GPU-0", "GPU-1", "GPU-2", "GPU-3"]


def test_mig_profile_from_attributes_when_the_name_lacks_it() -> None:
    nvml = fake_nvml(
        [
            {
                "name": "NVIDIA A100-SXM4-40GB",
                "gib": 40,
                "mig": True,
                "migs": [{"name": "MIG device", "mib": 4864, "slices": 1}],
            }
        ]
    )
    (node,) = discover(host="h", import_module=lambda _: nvml).nodes
    assert (node.accelerator, node.count, node.partitions) == ("A100", 0, (("1g.5gb", 1),))


def test_an_nvml_failure_while_listing_is_reported_and_nvml_is_shut_down() -> None:
    nvml = fake_nvml([{"name": "NVIDIA A100", "gib": 40}])

    def broken() -> int:
        raise NVMLError("GPU is lost")

    nvml.nvmlDeviceGetCount = broken  # type: ignore[attr-defined]
    found = discover(import_module=lambda _: nvml)
    assert not found.available and "GPU is lost" in found.reason
    assert nvml.calls == ["init", "shutdown"]


def test_nvml_pool_falls_back_to_declared_nodes_without_a_driver() -> None:
    pytest.importorskip("pynvml")
    doc = {
        "apiVersion": "plinth.dev/v1",
        "kind": "AcceleratorPool",
        "metadata": {"name": "here"},
        "spec": {
            "discovery": "nvml",
            "nodes": [{"name": "n1", "accelerators": {"type": "L4", "count": 2}}],
        },
    }
    pools = pool_set([doc])
    assert [n.name for n in pools.pools[0].nodes] == ["n1"]
    assert "no NVIDIA driver" in pools.notes[0] and "declared nodes" in pools.notes[0]
    nvml = fake_nvml([{"name": "NVIDIA L4", "gib": 22.5}])
    found = discover(host="box", import_module=lambda _: nvml)
    assert [n.name for n in pool_set([doc], discovery=found).pools[0].nodes] == ["box-l4"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("Tesla T4", "T4"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada Generation"),
    ],
)
def test_accelerator_type(name: str, expected: str) -> None:
    assert accelerator_type(name) == expected


def test_node_name_is_a_valid_pool_node_name() -> None:
    assert node_name("GPU_Box #1", "RTX 6000 Ada") == "gpu-box-1-rtx-6000-ada"
    assert importlib.import_module("plinth.capabilities.accelerators.discovery")
