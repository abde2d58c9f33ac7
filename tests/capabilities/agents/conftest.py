"""This directory's tests share one database per module and backend, emptied before each test."""

from __future__ import annotations

import pytest
from tests.infrastructure.store import reuse

from plinth.core.secrets import SecretBox

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url


@pytest.fixture
def box() -> SecretBox:
    """The platform's secret box, with a fixed test key."""
    return SecretBox(b"k" * 32)
