"""``plinth demo``: a demo organisation with weeks of history, then the story of the pillars.

Seeding runs an embedded platform whose clock starts weeks ago and is moved forward
(``FrozenClock``); history comes from ``demo_history``, usage from ``demo_usage``,
the story from ``demo_story``. The experience layer prints each step and serves.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from plinth.core.clock import FrozenClock, SystemClock
from plinth.core.config import Settings
from plinth.core.errors import Conflict, InvalidInput
from plinth.orchestration.demo_history import History, move_to
from plinth.orchestration.demo_story import Step, run_story
from plinth.orchestration.demo_usage import seed_lab_jobs, seed_usage
from plinth.orchestration.platform import Platform

__all__ = ["MARKER", "UPSTREAM_FILES", "DemoResult", "Step", "demo_state", "seed_demo_organisation"]

MARKER = "demo.json"
UPSTREAM_FILES = ("llm-upstream.port", "llm-upstream.log")  # the CLI's local LLM upstream
Report = Callable[[Step], None]


@dataclass
class DemoResult:
    """What seeding made: the users' tokens, counts of history, the story's steps."""

    tokens: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result without tokens (it is written beside the data)."""
        return {"counts": self.counts, "steps": [s.as_dict() for s in self.steps]}


def demo_state(data_dir: Path) -> str:
    """Say what ``data_dir`` is: ``empty`` (or absent), ``demo`` (seeded before) or ``other``."""
    if not data_dir.exists() or all(p.name in UPSTREAM_FILES for p in data_dir.iterdir()):
        return "empty"
    return "demo" if (data_dir / MARKER).exists() else "other"


def seed_demo_organisation(
    settings: Settings, *, days: int = 42, seed: int = 7, report: Report | None = None
) -> DemoResult:
    """Seed an empty data dir with the demo organisation, its history and the story."""
    if demo_state(settings.data_dir) != "empty":
        raise Conflict(f"{settings.data_dir} is not empty: the demo seeds a new data dir only")
    if not 1 <= days <= 182:
        raise InvalidInput(f"days must be 1 to 182, not {days}")
    say: Report = report or (lambda step: None)
    now = SystemClock().now()
    clock = FrozenClock(now - timedelta(days=days, hours=1))
    rng = random.Random(seed)
    platform = Platform(settings.model_copy(update={"seed_demo": True}), clock=clock)
    try:
        tokens = platform.prepare()
        history = History(platform, clock, rng)
        counts = history.run(clock.now(), now - timedelta(hours=6))
        move_to(clock, now - timedelta(hours=5))
        counts["usage_samples"] = seed_usage(platform, history.actor("pat"), rng, days=days)
        counts["lab_jobs"] = seed_lab_jobs(platform, history.actor("dana"))
        say(Step("platform", "History seeded", _history_lines(counts, days)))
        move_to(clock, now - timedelta(hours=2))
        steps = run_story(platform, history, say)
    finally:
        platform.stop()
    result = DemoResult(tokens=tokens, counts=counts, steps=steps)
    marker = settings.data_dir / MARKER
    marker.write_text(json.dumps(result.as_dict() | {"seeded_at": now.isoformat()}, indent=2))
    return result


def _history_lines(counts: dict[str, int], days: int) -> tuple[str, ...]:
    return (
        f"{days} days of releases through dev, staging and prod: {counts.get('deploys', 0)} "
        f"deploys, {counts.get('failures', 0)} failures, {counts.get('rollbacks', 0)} rollbacks",
        f"deploy-bot escalations approved by humans: {counts.get('approvals', 0)}; "
        f"plans denied by a gate: {counts.get('denied', 0)}; "
        f"releases refused on the way: {counts.get('refused', 0)}",
        f"usage samples in the FinOps ledger: {counts.get('usage_samples', 0)}; "
        f"GPU jobs for the lab pool: {counts.get('lab_jobs', 0)}",
    )
