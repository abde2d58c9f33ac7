"""The cost API over real HTTP: usage in, showback and anomalies out, bad input refused.

The app is built around a real platform (store on SQLite, then PostgreSQL; the
seeded organisation and its on-prem price book; a fake provider, so nothing is
started) and served by uvicorn on loopback in this process, so tests can also
write to its store directly. test_api_cost_server.py runs the real process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import PG_URL
from tests.fakes.provider import registry_with_fake
from tests.support import free_port, temporary_pg_database
from typer.testing import CliRunner

from plinth.capabilities.inventory import service as inventory
from plinth.core.config import Settings
from plinth.experience.api.app import create_app
from plinth.experience.cli.context import CliState
from plinth.experience.cli.cost import cost_app
from plinth.orchestration.platform import Platform

from .helpers import assert_problem

DEADLINE_S = 5.0


@dataclass
class CostApi:
    """A platform served on loopback, with its demo tokens."""

    url: str
    tokens: dict[str, str]
    platform: Platform

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=30
        )


def _serve(platform: Platform) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    app = create_app(platform)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CostApi]:
    """A seeded platform on each store, served on loopback."""
    data_dir: Path = tmp_path_factory.mktemp(f"cost-{request.param}")
    if request.param == "sqlite":
        yield from _running(data_dir, f"sqlite:///{data_dir / 'plinth.db'}")
        return
    if not PG_URL:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with temporary_pg_database(PG_URL) as url:
        yield from _running(data_dir, url)


def _running(data_dir: Path, url: str) -> Iterator[CostApi]:
    settings = Settings(data_dir=data_dir, database_url=url, max_body_bytes=8 * 1024**2)
    registry, _ = registry_with_fake()
    platform = Platform(settings, registry=registry)
    tokens = platform.prepare()
    server, thread, base = _serve(platform)
    try:
        yield CostApi(base, tokens, platform)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        platform.stop()


def usage(team: str = "", **fields: Any) -> dict[str, Any]:
    """Return one minute of one core on the local provider, as JSON."""
    at = datetime.now(UTC) - timedelta(minutes=2)
    base: dict[str, Any] = {
        "at": at.isoformat(),
        "period_s": 60,
        "dimension": "cpu",
        "quantity": 60,
        "unit": "vcpu-second",
        "provider": "local",
        "region": "local",
    }
    if team:
        base["team"] = team
    return base | fields


def team_cost(client: httpx.Client, team: str) -> Decimal:
    report = client.get("/api/v1/cost", params={"by": "team", "window": "1h"})
    assert report.status_code == 200, report.text
    costs = {i["team"]: Decimal(i["cost"]) for i in report.json()["items"]}
    return costs.get(team, Decimal(0))


def test_a_sample_is_visible_in_the_teams_cost_within_five_seconds(api: CostApi) -> None:
    with api.client("pat") as pat, api.client("ada") as ada:
        before = team_cost(ada, "payments")
        sent = time.monotonic()
        response = pat.post("/api/v1/usage", json={"samples": [usage("payments")]})
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
        while team_cost(ada, "payments") <= before:
            assert time.monotonic() - sent < DEADLINE_S, "the sample never showed up"
            time.sleep(0.05)


def test_known_resources_are_attributed_to_their_owner_and_the_rest_shown(api: CostApi) -> None:
    with api.platform.db.transaction() as session:
        record = inventory.put_desired(
            session,
            environment="dev",
            project="recommender",
            name="trainer",
            type="service",
            provider="local",
            workload="trainer",
            spec={"resources": {"cpu": "2"}},
            depends_on=[],
            refs=["trainer"],
            ids=api.platform.ids,
            clock=api.platform.clock,
        )
        resource_id = record.id
    samples = [
        usage(resource_id=resource_id, team="payments"),  # the label cannot move it
        usage(resource_name="mystery-box"),  # no team at all: unattributed
    ]
    with api.client("pat") as pat:
        assert pat.post("/api/v1/usage", json={"samples": samples}).status_code == 200
        report = pat.get(
            "/api/v1/cost", params={"by": "resource", "window": "1h", "shared": "separate"}
        ).json()
        by_project = pat.get("/api/v1/cost", params={"by": "project", "window": "1h"}).json()
    items = {i["resource"]: i for i in report["items"]}
    assert items[resource_id]["name"] == "trainer"
    # Two cores requested for a minute, one used: charged two vCPU-minutes.
    assert Decimal(items[resource_id]["cost"]) > 0
    assert Decimal(report["unattributed"]) > 0 and report["currency"] == "USD"
    assert "recommender" in {i["project"] for i in by_project["items"]}
    total = sum(Decimal(i["cost"]) for i in report["items"])
    assert total == Decimal(report["total"])


def test_only_platform_engineers_and_machines_report_usage(api: CostApi) -> None:
    with api.client("ada") as ada:
        body = assert_problem(
            ada.post("/api/v1/usage", json={"samples": [{"bad": True}]}), 403, "forbidden"
        )
    assert "platform-engineer" in body["detail"]


def test_bad_samples_are_refused_with_their_position(api: CostApi) -> None:
    with api.client("pat") as pat:
        naive = usage("payments", at="2026-11-28T10:00:00")
        body = assert_problem(
            pat.post("/api/v1/usage", json={"samples": [usage("payments"), naive]}),
            422,
            "invalid-spec",
        )
        assert body["issues"][0]["path"] == "$.samples[1].at"
        unpriced = usage("payments", provider="aws", region="mars-1")
        body = assert_problem(
            pat.post("/api/v1/usage", json={"samples": [unpriced]}), 422, "invalid-spec"
        )
        assert body["issues"][0]["path"] == "$.samples[0]" and "mars-1" in body["detail"]
        assert_problem(
            pat.post(
                "/api/v1/usage", content=b"{not json", headers={"content-type": "application/json"}
            ),
            422,
            "invalid-spec",
        )
        before = team_cost(pat, "nobody-wrote-this")
    assert before == 0


def test_more_than_ten_thousand_samples_is_too_large(api: CostApi) -> None:
    one = usage("payments")
    with api.client("pat") as pat:
        body = assert_problem(
            pat.post("/api/v1/usage", json={"samples": [one] * 10_001}), 413, "too-large"
        )
    assert "10000" in body["detail"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": "P1M"}, "years and months"),
        ({"window": "forever"}, "is not a duration"),
        ({"by": "colour"}, "cannot group cost by 'colour'"),
        ({"start": "2026-11-01T00:00:00"}, "no time zone"),
    ],
)
def test_bad_report_queries_are_explained(
    api: CostApi, params: dict[str, str], message: str
) -> None:
    with api.client("ada") as ada:
        body = assert_problem(ada.get("/api/v1/cost", params=params), 422, "invalid-input")
    assert message in body["detail"]


def test_series_and_anomalies(api: CostApi) -> None:
    with api.client("pat") as pat, api.client("ada") as ada:
        pat.post("/api/v1/usage", json={"samples": [usage("ml-research")]})
        series = ada.get(
            "/api/v1/cost/series", params={"by": "team", "window": "3h", "step": "1h"}
        ).json()
        assert len(series["buckets"]) in (3, 4) and series["step_s"] == 3600
        lines = {s["team"]: s for s in series["series"]}
        assert Decimal(lines["ml-research"]["total"]) > 0
        assert_problem(
            ada.get("/api/v1/cost/series", params={"window": "30d", "step": "1m"}),
            422,
            "invalid-input",
        )
        assert pat.post("/api/v1/cost/anomalies/scan").status_code == 200
        assert_problem(ada.post("/api/v1/cost/anomalies/scan"), 403, "forbidden")
        listed = ada.get("/api/v1/cost/anomalies", params={"window": "7d"}).json()
        assert listed["items"] == [] and listed["rule"]["baseline_days"] == 14


def test_cli_reports_as_table_json_and_csv(api: CostApi) -> None:
    with api.client("pat") as pat:
        pat.post("/api/v1/usage", json={"samples": [usage("platform")]})
    runner = CliRunner()

    def run(*args: str) -> str:
        state = CliState(url=api.url, token=api.tokens["ada"])
        result = runner.invoke(cost_app, list(args), obj=state)
        assert result.exit_code == 0, result.output
        return result.output

    csv_out = run("report", "--by", "team", "--window", "1h", "-o", "csv")
    assert csv_out.splitlines()[0] == "team,cost,direct,shared,currency"
    assert any(line.startswith("platform,") for line in csv_out.splitlines())
    assert '"by": "team"' in run("report", "-o", "json")
    assert "Total" in run("report", "--window", "1h")
    assert run("series", "--window", "2h", "--step", "1h", "-o", "csv").startswith("at,team,cost")
    assert "No anomalies." in run("anomalies")
    state = CliState(url=api.url, token=api.tokens["ada"])
    bad = runner.invoke(cost_app, ["report", "--window", "P1Y"], obj=state)
    assert bad.exit_code == 2 and "years and months" in bad.output
