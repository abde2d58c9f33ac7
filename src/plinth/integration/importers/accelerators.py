"""How a Score workload asks for accelerators: Plinth annotations (Score has no GPU field).

``metadata.annotations``:

- ``plinth.dev/type``: ``training-job``, ``batch-inference`` or ``notebook`` (all run
  as a ``job`` resource that asks for accelerators), besides ``service`` and ``job``;
- ``plinth.dev/accelerator``: the type (``H100``, ``A100``, ``L4``, ...); a workload
  of any type with this annotation asks for accelerators;
- ``plinth.dev/accelerator-count``: devices (default 1); a fraction below 1 is allowed
  for notebooks and batch inference only;
- ``plinth.dev/accelerator-nodes``: spread a gang over exactly this many nodes;
- ``plinth.dev/accelerator-partition``: ask for MIG-style slices of this profile;
- ``plinth.dev/priority``: a whole number or a priority class of the pool;
- ``plinth.dev/estimate-seconds``: the expected run time (better start estimates);
- ``plinth.dev/idle-stop-seconds``: notebooks only (default 1800); a notebook's time
  limit is ``plinth.dev/timeout-seconds`` (default 28800).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ACCELERATOR_KINDS",
    "ANNOTATION_ACCELERATOR",
    "NOTEBOOK_IDLE_S",
    "NOTEBOOK_LIMIT_S",
    "accelerator_fields",
]

ACCELERATOR_KINDS = ("training-job", "batch-inference", "notebook")
ANNOTATION_ACCELERATOR = "plinth.dev/accelerator"
NOTEBOOK_IDLE_S = 1800
NOTEBOOK_LIMIT_S = 28800
_PREFIX = "plinth.dev/"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _whole(annotations: Mapping[str, str], key: str, issues: list[tuple[str, str]]) -> int | None:
    text = annotations.get(_PREFIX + key)
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        issues.append((_PREFIX + key, f"{_PREFIX}{key} must be a whole number >= 1"))
        return None
    return int(text)


def _count(kind: str, text: str, issues: list[tuple[str, str]]) -> float:
    key = _PREFIX + "accelerator-count"
    count = _number(text)
    if count is None or count <= 0:
        issues.append((key, f"{key} must be a number > 0, not {text!r}"))
        return 1.0
    if not count.is_integer() and (count > 1 or kind not in ("notebook", "batch-inference")):
        issues.append(
            (
                key,
                f"{key} {text} must be a whole number (fractions below 1 are "
                "for notebooks and batch inference)",
            )
        )
    return int(count) if count.is_integer() else count


def accelerator_fields(
    kind: str, annotations: Mapping[str, str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Return the spec fields a workload's annotations add, and (annotation, message) issues."""
    issues: list[tuple[str, str]] = []
    fields: dict[str, Any] = {}
    if kind == "notebook":
        idle = _whole(annotations, "idle-stop-seconds", issues)
        fields["idle_stop_s"] = idle or NOTEBOOK_IDLE_S
    accel = annotations.get(ANNOTATION_ACCELERATOR)
    if accel is None:
        return fields, issues
    if not accel.strip():
        issues.append((ANNOTATION_ACCELERATOR, f"{ANNOTATION_ACCELERATOR} must name a type"))
    priority: int | str = 0
    text = annotations.get(_PREFIX + "priority")
    if text is not None:
        priority = int(text) if text.lstrip("-").isdigit() else text
    estimate = annotations.get(_PREFIX + "estimate-seconds")
    estimate_s = _number(estimate) if estimate is not None else None
    if estimate is not None and (estimate_s is None or estimate_s <= 0):
        issues.append((_PREFIX + "estimate-seconds", "must be a number of seconds > 0"))
        estimate_s = None
    fields["accelerators"] = {
        "type": accel.strip(),
        "count": _count(kind, annotations.get(_PREFIX + "accelerator-count", "1"), issues),
        "kind": kind if kind in ACCELERATOR_KINDS else "training-job",
        "nodes": _whole(annotations, "accelerator-nodes", issues),
        "partition": annotations.get(_PREFIX + "accelerator-partition") or None,
        "priority": priority,
        "estimate_s": estimate_s,
    }
    return fields, issues
