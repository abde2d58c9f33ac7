"""GET /api/v1/providers: every installed provider, its package, types and schemas; any user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from tests.fakes.provider import FAKE_TYPES, FakeProvider
from tests.infrastructure.store import reuse
from tests.orchestration.conftest import World, world

from plinth.experience.api.app import create_app
from plinth.experience.api.routes_providers import router
from plinth.infrastructure.providers.base import ProviderContext

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
__all__ = ["world"]  # fixtures used by this module

URL = "/api/v1/providers"
PLUGINS = """[plinth.providers]
broken = plinth_no_such_plugin_module:Provider
extra = tests.experience.api.test_routes_providers:extra_provider
"""


def extra_provider(context: ProviderContext) -> FakeProvider:
    """A third-party provider factory, registered by the test distribution below."""
    return FakeProvider()


def install_plugins(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install a distribution with one broken and one working provider entry point."""
    info = root / "plinth_test_plugins-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: plinth-test-plugins\nVersion: 1.2.3\n"
    )
    (info / "entry_points.txt").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(root))


def wire(world: World) -> TestClient:
    """Return a client of the app with the providers routes included."""
    app = create_app(world.platform)
    if not any(getattr(r, "path", "") == URL for r in app.routes):
        app.include_router(router)
    return TestClient(app)


@pytest.fixture
def api(world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of the API and the demo user ada's Authorization header."""
    with wire(world) as client:
        yield client, {"Authorization": f"Bearer {world.tokens['ada']}"}


def test_lists_installed_and_in_process_providers(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, ada = api
    listed = client.get(URL, headers=ada)
    assert listed.status_code == 200, listed.text
    items = {item["name"]: item for item in listed.json()["items"]}
    local = items["local"]
    assert local["enabled"] is False  # this platform realises resources with the fake only
    assert local["package"] == "plinth" and local["version"] and local["error"] is None
    assert local["entry_point"].endswith(":LocalProvider")
    types = {t["name"]: t["schema"] for t in local["types"]}
    assert {"service", "job", "postgres", "volume", "route", "secret"} <= set(types)
    for schema in types.values():
        Draft202012Validator.check_schema(schema)
    assert types["route"]["required"] == ["host", "path", "port", "backend_url"]
    fake = items["fake"]
    assert fake["enabled"] is True and fake["entry_point"] is None and fake["package"] is None
    assert [t["name"] for t in fake["types"]] == sorted(FAKE_TYPES)
    assert client.get(URL).status_code == 401


def test_a_broken_plugin_is_listed_with_its_error(
    api: tuple[TestClient, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, ada = api
    install_plugins(tmp_path / "site", monkeypatch)
    listed = client.get(URL, headers=ada)
    assert listed.status_code == 200, listed.text
    items = {item["name"]: item for item in listed.json()["items"]}
    broken = items["broken"]
    assert broken["package"] == "plinth-test-plugins" and broken["version"] == "1.2.3"
    assert broken["error"].startswith("ModuleNotFoundError")
    assert "plinth_no_such_plugin_module" in broken["error"]
    assert broken["types"] == [] and broken["enabled"] is False
    extra = items["extra"]
    assert extra["error"] is None and extra["enabled"] is False
    assert [t["name"] for t in extra["types"]] == sorted(FAKE_TYPES)


def test_pages_and_shows_one(api: tuple[TestClient, dict[str, str]]) -> None:
    client, ada = api
    first = client.get(URL, params={"limit": 1}, headers=ada).json()
    assert len(first["items"]) == 1 and first["next_page_token"]
    rest = client.get(
        URL, params={"limit": 50, "page_token": first["next_page_token"]}, headers=ada
    ).json()
    assert first["items"][0]["name"] not in {i["name"] for i in rest["items"]}
    shown = client.get(f"{URL}/local", headers=ada)
    assert shown.status_code == 200 and shown.json()["name"] == "local"
    missing = client.get(f"{URL}/nope", headers=ada)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "nope" in missing.json()["detail"]
    assert "installed: " in missing.json()["detail"] and "local" in missing.json()["detail"]
