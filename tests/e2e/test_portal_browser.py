"""The portal in a real browser (Debian's chromium, headless) against a real ``plinth up``.

Each persona signs in as a demo user and does their main task end to end. With
``PLINTH_SCREENSHOTS=1`` the server holds what ``plinth demo`` seeds (weeks of history and
inferences through the AI gateway, with the local upstream; a minute or two to seed) and
each home is saved under docs/screenshots/<persona>.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO, PlinthServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = os.environ.get("PLINTH_SCREENSHOTS") == "1"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlinthServer]:
    """A control plane with the demo organisation, some spend and an agent token."""
    data_dir = tmp_path_factory.mktemp("portal") / "data"
    if SCREENSHOTS:
        from plinth.core.config import Settings
        from plinth.experience.api.server import write_tokens
        from plinth.experience.cli.demo import llm_upstream
        from plinth.orchestration.demo import seed_demo_organisation

        data_dir.mkdir(parents=True)
        with llm_upstream(data_dir) as url:  # the story's inferences go through the gateway
            settings = Settings(data_dir=data_dir, llm_upstream_url=url or None)
            seeded = seed_demo_organisation(settings)
        write_tokens(data_dir, seeded.tokens)
    with start_server(data_dir) as running:
        at = datetime.now(UTC) - timedelta(hours=1)
        samples = [
            {
                "at": (at - timedelta(days=d)).isoformat(),
                "period_s": 3600,
                "dimension": "cpu",
                "quantity": 3600 * (4 + d % 3),
                "unit": "vcpu-second",
                "provider": "local",
                "region": "local",
                "team": team,
            }
            for d in range(10)
            for team in ("payments", "ml-research")
        ]
        with running.client("pat") as pat:
            assert pat.post("/api/v1/usage", json={"samples": samples}).status_code == 200
        yield running


@pytest.fixture(scope="module")
def browser(server: PlinthServer) -> Iterator[Any]:
    """One headless chromium for the module (after the server: seeding runs an event loop)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        launched = play.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: PlinthServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) with a laptop-sized window."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=server.url)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, display: str) -> None:
    """Sign in as a demo user by their button on the login page."""
    page.goto("/portal")
    page.get_by_role("button", name=display).click()
    page.wait_for_load_state()


def shoot(page: Any, persona: str) -> None:
    """Save a screenshot of a home when PLINTH_SCREENSHOTS=1."""
    if SCREENSHOTS:
        target = REPO / "docs" / "screenshots" / f"{persona}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), full_page=True)


def test_developer_plans_and_applies_from_a_golden_path(page: Any) -> None:
    sign_in(page, "Ada, app developer")
    assert page.url.endswith("/portal/developer")
    page.get_by_role("link", name="web-service").click()
    page.get_by_label("Name", exact=True).fill("Shop!")
    page.get_by_label("port").fill("80")
    page.get_by_role("button", name="Plan").click()
    assert page.locator("#f-port[aria-invalid=true]").count() == 1
    assert page.locator("#param-port-err").inner_text()
    page.get_by_label("Name", exact=True).fill("shop-e2e")
    page.get_by_label("port").fill("8080")
    page.get_by_label("Description").fill("<script>alert(1)</script>")
    page.get_by_role("button", name="Plan").click()
    assert "USD" in page.locator("#plan-cost").inner_text()
    assert page.locator("#verdicts tbody tr").count() >= 3
    page.get_by_role("button", name="Apply").click()
    assert page.locator("#plan-message").inner_text() == "applied"
    page.goto("/portal/developer")
    assert page.get_by_role("cell", name="shop-e2e", exact=True).count() >= 1
    shoot(page, "developer")


def test_platform_engineer_sees_a_request_arrive_live_and_approves_it(
    page: Any, server: PlinthServer
) -> None:
    sign_in(page, "Pat, platform engineer")
    assert page.url.endswith("/portal/platform")
    page.wait_for_timeout(500)  # the event stream is open
    with server.client("pat") as pat:
        issued = pat.post("/api/v1/agents/deploy-bot/tokens", json={"audience": "plinth-api"})
        token = issued.json()["token"]
    document = (
        "apiVersion: plinth.dev/v1\nkind: Application\nmetadata: {name: bot-shop}\n"
        "spec: {template: web-service}\n"
    )
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as bot:
        plan = bot.post(
            "/api/v1/plans",
            json={"environment": "prod", "project": "checkout", "documents": document},
        ).json()
    assert plan["status"] == "needs_approval", plan
    row = page.locator(f'tr[data-digest="{plan["digest"]}"]')
    row.wait_for()  # appears without a reload
    shoot(page, "platform")
    row.get_by_role("textbox").fill("reviewed in the portal")
    row.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    with server.client("pat") as pat:
        decided = pat.get(f"/api/v1/approvals/{plan['digest']}").json()
    assert decided["status"] in ("approved", "applied")


def test_leader_reads_cost_by_team(page: Any) -> None:
    sign_in(page, "Lee, engineering leader")
    assert page.url.endswith("/portal/leader")
    chart = page.locator('figure[aria-labelledby="cost-by-team-t"]')
    assert chart.locator("svg.chart").count() == 1
    teams = chart.locator("tbody th").all_inner_texts()
    assert {"payments", "ml-research"} <= set(teams)
    assert page.locator("#kpi-forecast").inner_text().startswith("USD")
    assert page.locator("#readiness tbody tr").count() >= 3
    shoot(page, "leader")


def test_security_verifies_the_audit_log(page: Any) -> None:
    sign_in(page, "Sam, security and compliance")
    assert page.url.endswith("/portal/security")
    page.get_by_role("button", name="Verify the audit log").click()
    assert "verified" in page.locator("#verify-result").inner_text()
    shoot(page, "security")


def test_ml_engineer_sees_quota_and_models(page: Any) -> None:
    sign_in(page, "Dana, ML engineer")
    assert page.url.endswith("/portal/ml")
    assert "ml-research" in page.locator("#quota").inner_text()
    assert page.get_by_role("heading", name="Model registry").count() == 1
    assert page.get_by_role("heading", name="Accelerator queue").count() == 1
    shoot(page, "ml")


def test_keyboard_reaches_the_skip_link_first(page: Any) -> None:
    sign_in(page, "Lee, engineering leader")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
