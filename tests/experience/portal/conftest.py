"""Fixtures for portal tests: a real platform on a temporary SQLite store, served in-process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from plinth.core.config import Settings
from plinth.experience.api.app import create_app
from plinth.orchestration.platform import Platform


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A prepared demo platform (no background work: the tests read and plan)."""
    running = Platform(Settings(data_dir=tmp_path / "data"))
    running.tokens = running.prepare()  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One prepared demo platform for the tests of a module that only read."""
    running = Platform(Settings(data_dir=tmp_path_factory.mktemp("portal") / "data"))
    running.tokens = running.prepare()  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture
def reader(shared_platform: Platform) -> Iterator[TestClient]:
    """A client with no session yet, on the module's shared platform (for reads only)."""
    with TestClient(create_app(shared_platform), base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """An HTTP client of the whole app (API and portal)."""
    with TestClient(create_app(platform), base_url="http://testserver") as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    """Return the CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: TestClient, user: str) -> None:
    """Sign in as a demo user through the login form."""
    page = client.get("/portal/login")
    response = client.post(
        "/portal/login/demo",
        data={"csrf": csrf_of(page.text), "user": user, "next": "/portal"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
