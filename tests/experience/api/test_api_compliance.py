"""Continuous compliance over real HTTP and the real CLI, against a control plane process."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest
from tests.experience.api.helpers import PROBLEM, plan, score_workload
from tests.support import PlinthServer, wait_until
from typer.testing import CliRunner, Result

from plinth.experience.cli.main import app

pytestmark = pytest.mark.slow

POLICY = """
apiVersion: plinth.dev/v1
kind: Policy
metadata: {name: demo-images}
spec:
  version: "1.0.0"
  description: the demo web app image is on its way out
  modules:
    main.rego: |
      package acme.images

      import rego.v1

      warn contains f if {
        some r in input.resources
        r.type == "service"
        some _, c in r.spec.containers
        c.image == "py:plinth_demo.webapp"
        f := {"rule": "demo-image", "resource": r.name, "severity": "low",
              "msg": "the demo web app image is deprecated", "fix": "build your own image"}
      }
"""


def _running(client: httpx.Client, name: str) -> bool:
    page = client.get("/api/v1/resources", params={"environment": "dev", "limit": 500}).json()
    return any(r["name"] == name and r["phase"] == "running" for r in page["items"])


def _apply(client: httpx.Client, documents: str) -> None:
    made = plan(client, documents)
    assert made.status_code in (200, 201), made.text
    applied = client.post(f"/api/v1/plans/{made.json()['digest']}/apply")
    assert applied.status_code == 200, applied.text


def _demo_findings(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/compliance/findings", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [f for f in response.json()["items"] if f["rule"] == "demo-image"]


@pytest.fixture(scope="module")
def flagged(server: PlinthServer) -> dict[str, Any]:
    """A running workload that a Policy applied afterwards flags, after one scan."""
    with server.client("ada") as ada, server.client("pat") as pat, server.client("sam") as sam:
        _apply(ada, score_workload("shop"))
        wait_until(lambda: _running(ada, "shop"), timeout=90, what="shop to run")
        _apply(pat, POLICY)
        scanned = sam.post("/api/v1/compliance/scan")
        assert scanned.status_code == 200, scanned.text
        [found] = _demo_findings(sam)
        return found


def test_a_new_policy_flags_a_running_workload(
    server: PlinthServer, flagged: dict[str, Any]
) -> None:
    assert flagged["state"] == "open" and flagged["resource"] == "shop"
    assert flagged["owner"] == "payments" and flagged["pack"] == "demo-images"
    assert flagged["level"] == "warn" and flagged["fix"] == "build your own image"
    with server.client("sam") as sam:
        drift = sam.get("/api/v1/compliance/findings", params={"resource": "shop"}).json()
        assert not [f for f in drift["items"] if f["rule"] == "drift"]  # nothing drifted
        one = sam.get(f"/api/v1/compliance/findings/{flagged['id']}")
        assert one.status_code == 200 and one.json()["id"] == flagged["id"]


def test_who_sees_and_who_scans(server: PlinthServer, flagged: dict[str, Any]) -> None:
    with server.client("ada") as ada, server.client("dana") as dana:
        assert [f["id"] for f in _demo_findings(ada)] == [flagged["id"]]
        assert _demo_findings(dana) == []
        refused = ada.post("/api/v1/compliance/scan")
        assert refused.status_code == 403 and refused.json()["type"] == PROBLEM + "forbidden"
        other = dana.get("/api/v1/compliance/report", params={"team": "payments"})
        assert other.status_code == 403
    bad = httpx.get(f"{server.url}/api/v1/compliance/findings")
    assert bad.status_code == 401


def test_acknowledge_is_for_the_owners(server: PlinthServer, flagged: dict[str, Any]) -> None:
    path = f"/api/v1/compliance/findings/{flagged['id']}/acknowledge"
    with server.client("lee") as lee, server.client("ada") as ada, server.client("sam") as sam:
        assert lee.post(path, json={"note": "seen"}).status_code == 403
        done = ada.post(path, json={"note": "moving off the demo image"})
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "acknowledged"
        assert "moving off the demo image" in done.json()["notes"]
        sam.post("/api/v1/compliance/scan")
        assert _demo_findings(sam)[0]["state"] == "acknowledged"
        too_long = ada.post(path, json={"note": "x" * 3000})
        assert too_long.status_code == 422
        audit = sam.get("/api/v1/audit", params={"limit": 500}).json()["items"]
        assert "compliance.finding.acknowledged" in {r["action"] for r in audit}


def test_report_as_json_and_csv(server: PlinthServer, flagged: dict[str, Any]) -> None:
    with server.client("sam") as sam:
        data = sam.get(
            "/api/v1/compliance/report", params={"team": "payments", "environment": "dev"}
        ).json()
        assert data["team"] == "payments" and data["environment"] == "dev"
        assert data["counts"]["by_severity"]["low"] >= 1
        assert any(f["id"] == flagged["id"] for f in data["findings"])
        response = sam.get(
            "/api/v1/compliance/report", params={"team": "payments", "format": "csv"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        [row] = [r for r in rows if r["id"] == flagged["id"]]
        assert row["team"] == "payments" and row["rule"] == "demo-image"
        assert row["severity"] == "low" and row["resource"] == "shop"
        bad = sam.get("/api/v1/compliance/report", params={"format": "xml"})
        assert bad.status_code == 422


def _cli(server: PlinthServer, user: str, *args: str) -> Result:
    """Run ``plinth compliance ...`` in process, over real HTTP to the server, as ``user``."""
    env = {"PLINTH_URL": server.url, "PLINTH_TOKEN": server.tokens[user], "COLUMNS": "250"}
    return CliRunner(env=env).invoke(app, ["compliance", *args])


def test_the_cli(server: PlinthServer, flagged: dict[str, Any], tmp_path: Any) -> None:
    listed = _cli(server, "ada", "findings", "-o", "json", "--all")
    assert listed.exit_code == 0, listed.output
    assert flagged["id"] in {f["id"] for f in json.loads(listed.stdout)["items"]}
    table = _cli(server, "sam", "findings", "--team", "payments")
    assert table.exit_code == 0 and "demo-image" in table.stdout
    assert _cli(server, "ada", "scan").exit_code == 3
    scanned = _cli(server, "sam", "scan")
    assert scanned.exit_code == 0 and "Scanned" in scanned.stdout, scanned.output
    out = tmp_path / "report.csv"
    saved = _cli(
        server, "sam", "report", "--team", "payments", "--format", "csv", "--file", str(out)
    )
    assert saved.exit_code == 0, saved.output
    assert any(r["id"] == flagged["id"] for r in csv.DictReader(io.StringIO(out.read_text())))
    printed = _cli(server, "sam", "report", "--format", "csv")
    assert printed.stdout.startswith("id,team,environment")
    shown = _cli(server, "sam", "report", "--env", "dev")
    assert shown.exit_code == 0 and "Compliance report: dev" in shown.stdout
    raw = _cli(server, "sam", "report", "-o", "json")
    assert json.loads(raw.stdout)["counts"]["total"] >= 1
    acked = _cli(server, "ada", "ack", flagged["id"], "-m", "again")
    assert acked.exit_code == 0 and "Acknowledged" in acked.stdout, acked.output
