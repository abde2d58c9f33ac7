"""``plinth import backstage`` and ``plinth export backstage`` against a real control plane."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from tests.support import PlinthServer, start_server
from typer.testing import CliRunner, Result

from plinth.experience.cli.main import app
from plinth.integration.importers.backstage import load_catalog

pytestmark = pytest.mark.slow

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-orders, description: Orders team}
spec: {type: team, children: [], members: [bob]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {memberOf: [team-orders]}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: orders}
spec: {owner: team-orders}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-api
  annotations: {plinth.dev/score-file: api.score.yaml}
spec: {type: service, lifecycle: production, owner: team-orders, system: orders}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: orders-ui}
spec: {type: website, lifecycle: experimental, owner: team-orders, system: orders}
"""
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: api}
containers:
  main: {image: "py:http.server"}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlinthServer]:
    """One control plane for the module."""
    with start_server(tmp_path_factory.mktemp("backstage-server")) as running:
        yield running


def plinth(server: PlinthServer, *args: str, user: str = "pat") -> Result:
    """Run the CLI in-process against the server, as ``user``."""
    env = {"PLINTH_URL": server.url, "PLINTH_TOKEN": server.tokens[user], "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def names(server: PlinthServer, kind: str) -> set[str]:
    """Return the names of teams or projects on the server."""
    with server.client() as client:
        items = client.get(f"/api/v1/{kind}", params={"limit": 500}).json()["items"]
    return {item["name"] for item in items}


def services(server: PlinthServer) -> set[tuple[str, str]]:
    """Return ``(system, component)`` of every exported Component."""
    with server.client() as client:
        page = client.get("/api/v1/backstage/entities", params={"limit": 500}).json()
    return {
        (e["spec"]["system"], e["metadata"]["name"])
        for e in page["items"]
        if e["kind"] == "Component"
    }


def write_catalog(directory: Path) -> str:
    """Write the catalog and its Score file; return the catalog's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "api.score.yaml").write_text(SCORE)
    (directory / "catalog-info.yaml").write_text(CATALOG)
    return str(directory / "catalog-info.yaml")


def test_import_checks_everything_then_plans_and_applies(
    server: PlinthServer, tmp_path: Path
) -> None:
    catalog = write_catalog(tmp_path)
    dry = plinth(server, "import", "backstage", catalog, "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True
    assert "team-orders" not in names(server, "teams")
    done = plinth(server, "import", "backstage", catalog, "-o", "json")
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "applied" and len(report["applied"]) == 2
    assert report["imported"]["workloads"] == ["orders/orders-api"]
    assert "team-orders" in names(server, "teams") and "orders" in names(server, "projects")
    assert {("orders", "orders-api"), ("orders", "orders-ui")} <= services(server)


def test_an_invalid_catalog_changes_nothing(server: PlinthServer, tmp_path: Path) -> None:
    bad = CATALOG.replace(
        "owner: team-orders}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component",
        "owner: ghosts}\n---\napiVersion: backstage.io/v1alpha1\nkind: Component",
        1,
    )
    bad = bad.replace("name: team-orders", "name: team-invalid", 1)
    (tmp_path / "catalog-info.yaml").write_text(bad)
    result = plinth(server, "import", "backstage", str(tmp_path / "catalog-info.yaml"))
    assert result.exit_code == 2
    assert "document 2" in result.stderr and "$.spec.owner" in result.stderr
    assert "group:default/ghosts is not defined" in result.stderr
    assert "team-invalid" not in names(server, "teams")


def test_export_writes_a_directory_without_orphans(server: PlinthServer, tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    out.mkdir()
    marker = "# written by plinth export backstage\n"
    (out / "component-gone.yaml").write_text(marker + "kind: Component\n")
    (out / "mine.yaml").write_text("kept: true\n")
    result = plinth(server, "export", "backstage", "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.stderr
    written = json.loads(result.stdout)["files"]
    assert "group-payments.yaml" in written and "system-checkout.yaml" in written
    assert not (out / "component-gone.yaml").exists() and (out / "mine.yaml").exists()
    location = yaml.safe_load((out / "catalog-info.yaml").read_text())
    assert location["kind"] == "Location" and "./group-payments.yaml" in location["spec"]["targets"]
    texts = [(n, (out / n).read_text()) for n in written]
    catalog = load_catalog(texts)
    assert any(e.kind == "System" for e in catalog.entities.values())


def test_catalog_info_yaml_is_served_for_a_url_location(server: PlinthServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/backstage/catalog-info.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    entities = list(yaml.safe_load_all(response.text))
    system = next(e for e in entities if e["kind"] == "System")
    location = system["metadata"]["annotations"]["backstage.io/managed-by-location"]
    assert location.endswith("/api/v1/backstage/catalog-info.yaml")
    groups = {e["metadata"]["name"]: e for e in entities if e["kind"] == "Group"}
    assert "ada" in groups["payments"]["spec"]["members"]  # live memberships, not only documents
    assert {"ada"} <= {e["metadata"]["name"] for e in entities if e["kind"] == "User"}
    assert httpx.get(server.url + "/api/v1/backstage/entities").status_code == 401


def test_export_then_import_into_a_fresh_org_round_trips(
    server: PlinthServer, tmp_path: Path
) -> None:
    write_catalog(tmp_path / "in")
    assert (
        plinth(server, "import", "backstage", str(tmp_path / "in" / "catalog-info.yaml")).exit_code
        == 0
    )
    exported = tmp_path / "export.yaml"
    assert plinth(server, "export", "backstage", "--out", str(exported)).exit_code == 0
    with start_server(tmp_path / "fresh") as fresh:
        result = plinth(fresh, "import", "backstage", str(exported), "-o", "json")
        assert result.exit_code == 0, result.stderr
        assert names(fresh, "teams") == names(server, "teams")
        assert names(fresh, "projects") == names(server, "projects")
        assert services(fresh) == services(server)
