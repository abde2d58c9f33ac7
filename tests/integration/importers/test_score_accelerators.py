"""Score workloads that ask for accelerators through Plinth annotations."""

from __future__ import annotations

import pytest

from plinth.capabilities.catalog.loader import load_documents
from plinth.core.errors import SpecError
from plinth.integration.importers.score import translate_workload


def workload(annotations: str) -> str:
    """Return a Score workload with ``annotations`` (YAML flow mapping)."""
    return f"""
apiVersion: score.dev/v1b1
metadata:
  name: trainer
  annotations: {annotations}
containers:
  main:
    image: py:train
"""


def spec_of(annotations: str) -> dict[str, object]:
    """Return the translated workload resource's type and spec."""
    (doc,) = load_documents(workload(annotations))
    first = translate_workload(doc)[0]
    return {"type": first.type, **first.spec}


def test_training_job_asks_for_a_gang() -> None:
    spec = spec_of(
        '{"plinth.dev/type": training-job, "plinth.dev/accelerator": H100, '
        '"plinth.dev/accelerator-count": "16", "plinth.dev/accelerator-nodes": "2", '
        '"plinth.dev/priority": high, "plinth.dev/estimate-seconds": "7200"}'
    )
    assert spec["type"] == "job"
    assert spec["accelerators"] == {
        "type": "H100",
        "count": 16,
        "kind": "training-job",
        "nodes": 2,
        "partition": None,
        "priority": "high",
        "estimate_s": 7200.0,
    }


def test_notebook_is_time_limited_and_idle_stopped() -> None:
    spec = spec_of(
        '{"plinth.dev/type": notebook, "plinth.dev/accelerator": A100, '
        '"plinth.dev/accelerator-count": "0.5"}'
    )
    assert spec["type"] == "job" and spec["timeout_s"] == 28800 and spec["idle_stop_s"] == 1800
    assert spec["accelerators"]["count"] == 0.5  # type: ignore[index]


def test_plain_workloads_are_unchanged() -> None:
    assert "accelerators" not in spec_of("{}")


@pytest.mark.parametrize(
    ("annotations", "words"),
    [
        ('{"plinth.dev/accelerator": A100, "plinth.dev/accelerator-count": "-1"}', "> 0"),
        ('{"plinth.dev/accelerator": A100, "plinth.dev/accelerator-count": "0.5"}', "whole number"),
        ('{"plinth.dev/accelerator": A100, "plinth.dev/accelerator-count": two}', "> 0"),
        ('{"plinth.dev/type": gpu-job}', "must be 'service'"),
    ],
)
def test_bad_requests_are_clear_errors(annotations: str, words: str) -> None:
    (doc,) = load_documents(workload(annotations))
    with pytest.raises(SpecError) as caught:
        translate_workload(doc)
    assert words in str(caught.value.issues[0].message)
