"""The demo's usage history (through ``Costing.ingest``) and GPU jobs for the lab pool."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import yaml

from plinth.capabilities.finops.samples import UsageSample
from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["LAB_JOBS", "TEAM_USAGE", "seed_lab_jobs", "seed_usage", "usage_samples"]

# (team, project, environment, resource) -> (vCPUs, GiB of memory, L4 GPU-hours a day)
TEAM_USAGE: dict[tuple[str, str, str, str], tuple[float, float, float]] = {
    ("payments", "checkout", "prod", "checkout-api"): (2.0, 4.0, 0.0),
    ("payments", "checkout", "prod", "payments-worker"): (1.0, 2.0, 0.0),
    ("payments", "checkout", "staging", "checkout-api"): (0.5, 1.0, 0.0),
    ("payments", "checkout", "dev", "checkout-api"): (0.5, 1.0, 0.0),
    ("ml-research", "recommender", "prod", "recs-api"): (2.0, 8.0, 4.0),
    ("ml-research", "recommender", "dev", "train"): (4.0, 16.0, 14.0),
    ("platform", "platform-tools", "prod", "status-page"): (0.5, 0.5, 0.0),
}


def _sample(
    labels: tuple[datetime, str, str, str, str], dimension: str, quantity: float, unit: str
) -> UsageSample:
    day, team, project, environment, name = labels
    return UsageSample(
        at=day.isoformat(),
        period_s=86400.0,
        dimension=dimension,
        quantity=quantity,
        unit=unit,
        team=team,
        project=project,
        environment=environment,
        resource_name=name,
        provider="local",
        region="local",
    )


def usage_samples(start_day: datetime, days: int, rng: random.Random) -> list[UsageSample]:
    """Return one sample per resource, dimension and day; ML training grows week by week."""
    samples: list[UsageSample] = []
    for index in range(days):
        day = start_day + timedelta(days=index)
        weekday = day.weekday() < 5
        for (team, project, env, name), (cpu, memory, gpu_hours) in TEAM_USAGE.items():
            growth = 1.0 + (index / max(days, 1)) * (1.0 if name == "train" else 0.2)
            load = (1.0 if weekday else 0.6) * growth * rng.uniform(0.85, 1.15)
            if name == "train" and index == days - 4:
                load *= 3.5  # a runaway training sweep: an anomaly for the leader's view
            labels = (day, team, project, env, name)
            samples.append(_sample(labels, "cpu", cpu * load, "vcpu"))
            samples.append(_sample(labels, "memory", memory, "gib"))
            if gpu_hours:
                samples.append(_sample(labels, "gpu.l4", gpu_hours * load, "gpu-hour"))
    return samples


def seed_usage(platform: Platform, actor: Actor, rng: random.Random, *, days: int) -> int:
    """Report weeks of daily usage through the ingest path; look for anomalies; return count."""
    today = platform.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    samples = usage_samples(today - timedelta(days=days), days, rng)
    platform.costing.ingest(actor, samples)
    platform.costing.scan(actor, days=days)
    return len(samples)


LAB_JOBS = (
    ("train-churn", "training-job", "2", "py:plinth_demo.cron_task"),
    ("explore-features", "notebook", "0.5", "py:plinth_demo.webapp"),
    ("score-nightly", "batch-inference", "1", "py:plinth_demo.cron_task"),
)


def _job(name: str, kind: str, count: str, image: str) -> str:
    doc = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {
            "name": name,
            "annotations": {
                "plinth.dev/type": kind,
                "plinth.dev/accelerator": "L4",
                "plinth.dev/accelerator-count": count,
                "plinth.dev/estimate-seconds": "1800",
            },
        },
        "containers": {"main": {"image": image}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def seed_lab_jobs(platform: Platform, dana: Actor) -> int:
    """Dana's GPU jobs in the lab pool (the scheduler places them once the platform runs)."""
    applied = 0
    for name, kind, count, image in LAB_JOBS:
        request = PlanRequest(
            environment="dev",
            project="recommender",
            documents=_job(name, kind, count, image),
            file=f"{name}.yaml",
        )
        plan = platform.plan(dana, request)
        if plan["status"] == "planned":
            platform.apply(dana, plan["digest"])
            applied += 1
    return applied
