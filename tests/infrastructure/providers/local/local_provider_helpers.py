"""Helpers shared by the local provider's tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from plinth.infrastructure.providers.base import Resource

SECRET = b"test-secret-key-for-the-local-provider"


def make_resource(rid: str, type_name: str, spec: dict[str, Any], name: str = "demo") -> Resource:
    """Return a resource of the test project."""
    return Resource(id=rid, type=type_name, name=name, environment="dev", project="shop", spec=spec)


def wait_for(check: Callable[[], bool], *, timeout: float = 15.0) -> None:
    """Poll ``check`` until it is true; fail the test when it never is."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)
