"""``plinth models register``'s lineage options become the API's lineage object."""

from __future__ import annotations

import pytest

from plinth.core.errors import InvalidInput
from plinth.experience.cli.models import lineage_of


def test_lineage_options_map_to_the_lineage_object() -> None:
    lineage = lineage_of(
        training_job="train-42",
        dataset="s3://d/churn.parquet",
        dataset_digest="sha256:ab",
        code_revision="9f1c2e7",
        parent="churn@1.0.0",
        params=["C=0.5", "penalty=l2", "balanced=true"],
    )
    assert lineage == {
        "training_job": "train-42",
        "dataset": {"uri": "s3://d/churn.parquet", "digest": "sha256:ab"},
        "code_revision": "9f1c2e7",
        "parent": "churn@1.0.0",
        "hyperparameters": {"C": 0.5, "penalty": "l2", "balanced": True},
    }
    empty = lineage_of(
        training_job=None,
        dataset=None,
        dataset_digest=None,
        code_revision=None,
        parent=None,
        params=[],
    )
    assert empty == {}


def test_a_parameter_without_a_value_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        lineage_of(
            training_job=None,
            dataset=None,
            dataset_digest=None,
            code_revision=None,
            parent=None,
            params=["C"],
        )
