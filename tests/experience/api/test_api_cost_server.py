"""End to end: a real control plane meters a real workload and shows its cost per team.

The control plane runs as its own process on loopback (SQLite, then PostgreSQL)
with a short metering interval. A workload applied by ada (team payments) runs
as a real process; the metering loop samples its CPU and memory, and the cost
shows in the team's report through the API. A sample reported through the API
is visible in its team's cost within 5 seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from tests.support import PlinthServer, start_server, temporary_pg_database, wait_until

from .helpers import plan, score_workload

pytestmark = pytest.mark.slow

DEADLINE_S = 5.0
DEV = {"environment": "dev"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlinthServer]:
    """A control plane metering every half second, on each store."""
    data_dir: Path = tmp_path_factory.mktemp(f"metered-{request.param}") / "data"
    data_dir.mkdir()
    env = {"PLINTH_METERING_INTERVAL": "0.5"}
    if request.param == "sqlite":
        with start_server(data_dir, extra_env=env) as running:
            yield running
        return
    admin_url = os.environ.get("PLINTH_TEST_PG_URL")
    if not admin_url:
        pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    with (
        temporary_pg_database(admin_url) as url,
        start_server(data_dir, extra_env={**env, "PLINTH_DATABASE_URL": url}) as running,
    ):
        yield running


def cost_of(client: httpx.Client, by: str, key: str, **params: str) -> Decimal:
    """Return one group's cost in the last hour (0 when it has none)."""
    report = client.get("/api/v1/cost", params={"by": by, "window": "1h", **params})
    assert report.status_code == 200, report.text
    return sum((Decimal(i["cost"]) for i in report.json()["items"] if i[by] == key), Decimal(0))


def test_a_reported_sample_is_visible_in_the_teams_cost_within_five_seconds(
    server: PlinthServer,
) -> None:
    sample = {
        "at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "period_s": 60,
        "dimension": "cpu",
        "quantity": 30,
        "unit": "vcpu-second",
        "provider": "local",
        "region": "local",
        "team": "ml-research",
        "agent": "batch-scorer",
    }
    with server.client("pat") as pat, server.client("dana") as dana:
        before = cost_of(dana, "agent", "batch-scorer")
        sent = time.monotonic()
        response = pat.post("/api/v1/usage", json={"samples": [sample]})
        assert response.status_code == 200, response.text
        while cost_of(dana, "agent", "batch-scorer") <= before:
            assert time.monotonic() - sent < DEADLINE_S, "the sample never showed up"
            time.sleep(0.05)


def test_a_running_workload_is_metered_and_charged_to_its_team(server: PlinthServer) -> None:
    with server.client("ada") as ada:
        created = plan(ada, score_workload("meter-me"))
        assert created.status_code == 201, created.text
        applied = ada.post(f"/api/v1/plans/{created.json()['digest']}/apply")
        assert applied.status_code == 200, applied.text
        wait_until(
            lambda: ada.get("/api/v1/workloads/meter-me", params=DEV).json()["phase"] == "running",
            timeout=60,
            what="meter-me to run",
        )
        resources = ada.get("/api/v1/workloads/meter-me", params=DEV).json()["resources"]
        service = next(r for r in resources if r["type"] == "service")
        wait_until(
            lambda: cost_of(ada, "resource", service["id"]) > 0,
            timeout=30,
            what="the service's metered cost",
        )
        report = ada.get(
            "/api/v1/cost", params={"by": "resource", "window": "1h", "team": "payments"}
        ).json()
        teams = ada.get("/api/v1/cost", params={"by": "team", "window": "1h"}).json()
        series = ada.get(
            "/api/v1/cost/series", params={"by": "team", "window": "2h", "step": "1h"}
        ).json()
    item = next(i for i in report["items"] if i["resource"] == service["id"])
    assert item["name"] == "meter-me" and Decimal(item["direct"]) > 0
    assert cost_of_items(teams["items"], "payments") > 0
    # The control plane meters itself as shared cost, distributed to the teams that spend.
    assert Decimal(teams["shared"]) > 0
    assert any(s["team"] == "payments" for s in series["series"])


def cost_of_items(items: list[dict[str, str]], team: str) -> Decimal:
    """Return a team's cost in a report's items."""
    return sum((Decimal(i["cost"]) for i in items if i.get("team") == team), Decimal(0))
