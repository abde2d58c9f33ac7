"""Fixtures of the model registry tests: real keys, a real CA, a real model, a real store."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.capabilities.models.pki import KeyPair, SigningCA, make_ca, make_key, registry_store

from plinth.infrastructure.store.db import Database


@pytest.fixture(scope="session")
def key() -> KeyPair:
    """The team's model-signing key."""
    return make_key()


@pytest.fixture(scope="session")
def other_key() -> KeyPair:
    """A key nobody trusts."""
    return make_key()


@pytest.fixture(scope="session")
def signing_ca() -> SigningCA:
    """A CA and a code-signing certificate."""
    return make_ca()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A small trained model, pickled: a logistic regression's weights and a threshold."""
    path = tmp_path / "src" / "churn.pkl"
    path.parent.mkdir()
    model = {"kind": "logistic-regression", "coef": [0.42, -1.3, 2.1], "intercept": -0.2}
    path.write_bytes(pickle.dumps(model))
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model directory: weights, a config and a tokenizer in a subfolder."""
    path = tmp_path / "src" / "embedder"
    (path / "tokenizer").mkdir(parents=True)
    (path / "weights.bin").write_bytes(os.urandom(4096))
    (path / "config.json").write_text(json.dumps({"dim": 384}))
    (path / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    return path


@pytest.fixture
def registry_db(database_url: str) -> Iterator[Database]:
    """A store with the registry's tables (and the audit and team tables it uses)."""
    db = registry_store(database_url)
    yield db
    db.dispose()
