"""The billing API over HTTP: FOCUS export (CSV), import (CSV body, row errors), reconcile."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from tests.experience.api.billing_server import billing_server
from tests.experience.api.helpers import PROBLEM, assert_problem

from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds

FIXTURE = Path(__file__).parents[2] / "capabilities" / "finops" / "fixtures"
SAMPLE = (FIXTURE / "focus-1.0-sample-slice.csv").read_text(encoding="utf-8")
ZONED = re.sub(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})", r"\1T\2Z", SAMPLE)
SEPTEMBER = {"start": "2024-09-01T00:00:00Z", "end": "2024-10-01T00:00:00Z"}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def api(
    settings: Settings, clock: FrozenClock, ids: SequentialIds
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A prepared platform served on loopback, a client for it, and the demo users' tokens."""
    with (
        billing_server(settings, clock=clock, ids=ids) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield client, server.tokens


def auth(tokens: dict[str, str], user: str) -> dict[str, str]:
    """Return the Authorization header of a demo user."""
    return {"Authorization": f"Bearer {tokens[user]}"}


def test_import_export_and_reconcile(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = api
    pat = auth(tokens, "pat")
    response = client.post(
        "/api/v1/cost/import",
        params={"source": "sample", "assume_utc": "true"},
        content=SAMPLE.encode(),
        headers={**pat, **CSV},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["rows"], result["imported"], result["warning_count"]) == (10, 10, 3)
    again = client.post(
        "/api/v1/cost/import",
        params={"source": "sample", "assume_utc": "true"},
        content=SAMPLE.encode(),
        headers={**pat, **CSV},
    )
    assert again.json()["imported"] == 0 and again.json()["duplicates"] == 10

    exported = client.get(
        "/api/v1/cost/export", params={"format": "focus", **SEPTEMBER}, headers=auth(tokens, "lee")
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert len(rows) == 10 and {r["x_PlinthSource"] for r in rows} == {"billing"}
    total = sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))
    assert total == Decimal(result["billed"]["USD"])

    page = client.get(
        "/api/v1/cost/reconcile", params={**SEPTEMBER, "limit": 4}, headers=auth(tokens, "ada")
    ).json()
    assert len(page["items"]) == 4 and page["next_page_token"]
    assert {item["status"] for item in page["items"]} == {"not_metered"}
    with_resource = [r for r in rows if r["ResourceId"]]  # bill lines without one are not matched
    assert page["totals"][0]["currency"] == "USD"
    assert Decimal(page["totals"][0]["billed"]) == sum(
        (Decimal(r["BilledCost"]) for r in with_resource), Decimal(0)
    )
    seen = [i["resource_id"] for i in page["items"]]
    while page["next_page_token"]:
        page = client.get(
            "/api/v1/cost/reconcile",
            params={**SEPTEMBER, "limit": 4, "page_token": page["next_page_token"]},
            headers=auth(tokens, "ada"),
        ).json()
        seen += [i["resource_id"] for i in page["items"]]
    assert len(seen) == len(set(seen)) == len({r["ResourceId"] for r in with_resource})


def test_import_errors_are_problems_with_rows(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = api
    response = client.post(
        "/api/v1/cost/import",
        params={"source": "sample"},
        content=SAMPLE.encode(),
        headers={**auth(tokens, "pat"), **CSV},
    )
    body = assert_problem(response, 422, "invalid-spec")
    assert body["errors"][0]["row"] == 2 and body["errors"][0]["column"] == "BillingPeriodEnd"
    assert "has no time zone" in body["errors"][0]["message"]
    assert body["error_count"] == 40 and len(body["issues"]) == 40
    assert body["issues"][0]["path"] == "row 2, BillingPeriodEnd"
    reconciled = client.get(
        "/api/v1/cost/reconcile", params=SEPTEMBER, headers=auth(tokens, "pat")
    ).json()
    assert reconciled["items"] == []  # nothing half-imported


def test_only_platform_engineers_import(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = api
    for user in ("ada", "lee", "rita"):
        response = client.post(
            "/api/v1/cost/import",
            params={"source": "sample"},
            content=ZONED.encode(),
            headers={**auth(tokens, user), **CSV},
        )
        assert_problem(response, 403, "forbidden")
    anonymous = client.post("/api/v1/cost/import", params={"source": "x"}, content=b"", headers=CSV)
    assert_problem(anonymous, 401, "unauthenticated")


def test_bad_requests(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = api
    pat = auth(tokens, "pat")
    as_json = client.post(
        "/api/v1/cost/import", params={"source": "x"}, json={"rows": []}, headers=pat
    )
    body = assert_problem(as_json, 415, "unsupported-media-type")
    assert "text/csv" in body["detail"]
    latin = client.post(
        "/api/v1/cost/import", params={"source": "x"}, content=b"\xff\xfe", headers={**pat, **CSV}
    )
    assert_problem(latin, 422, "invalid-input")
    no_source = client.post("/api/v1/cost/import", content=ZONED.encode(), headers={**pat, **CSV})
    assert_problem(no_source, 422, "invalid-input")
    naive = client.get("/api/v1/cost/export", params={"start": "2024-09-01T00:00:00"}, headers=pat)
    assert "time zone" in assert_problem(naive, 422, "invalid-input")["detail"]
    backwards = client.get(
        "/api/v1/cost/reconcile",
        params={"start": SEPTEMBER["end"], "end": SEPTEMBER["start"]},
        headers=pat,
    )
    assert_problem(backwards, 422, "invalid-input")
    other_format = client.get("/api/v1/cost/export", params={"format": "xlsx"}, headers=pat)
    assert_problem(other_format, 422, "invalid-input")
    bad_token = client.get("/api/v1/cost/reconcile", params={"page_token": "nope"}, headers=pat)
    assert bad_token.json()["type"] == PROBLEM + "invalid-input"
