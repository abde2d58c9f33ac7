"""Accelerator scheduling: pools, queues with quotas, Plinth's scheduler, baselines, simulator."""

from __future__ import annotations

from plinth.capabilities.accelerators.engine import (
    Admit,
    Decision,
    Policy,
    Preempt,
    QueueingEngine,
    Running,
)
from plinth.capabilities.accelerators.metrics import RunMetrics, jain, percentile, summarise
from plinth.capabilities.accelerators.model import (
    MILLI,
    Allocation,
    Node,
    Placement,
    Pool,
    Queue,
    Request,
)
from plinth.capabilities.accelerators.policies import (
    DrfPolicy,
    FifoPolicy,
    KueueLikePolicy,
    StaticPartitionPolicy,
)
from plinth.capabilities.accelerators.scheduler import PlinthScheduler
from plinth.capabilities.accelerators.simulator import GraceWatch, JobRecord, Simulator, TraceJob

__all__ = [
    "MILLI",
    "Admit",
    "Allocation",
    "Decision",
    "DrfPolicy",
    "FifoPolicy",
    "GraceWatch",
    "JobRecord",
    "KueueLikePolicy",
    "Node",
    "Placement",
    "PlinthScheduler",
    "Policy",
    "Pool",
    "Preempt",
    "Queue",
    "QueueingEngine",
    "Request",
    "RunMetrics",
    "Running",
    "Simulator",
    "StaticPartitionPolicy",
    "TraceJob",
    "jain",
    "percentile",
    "summarise",
]
