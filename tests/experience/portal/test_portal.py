"""The portal against a real platform: login, per-persona access, CSRF, escaping, forms."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.experience.portal.conftest import csrf_of, login

from plinth.experience.portal.session import COOKIE
from plinth.orchestration.platform import Platform

HOMES = {"ada": "developer", "pat": "platform", "lee": "leader", "sam": "security", "dana": "ml"}
# Which views each demo user may open (leader: everyone).
ALLOWED = {
    "ada": {"developer", "leader"},
    "pat": {"developer", "platform", "leader", "security", "ml"},
    "lee": {"leader"},
    "sam": {"leader", "security"},
    "dana": {"leader", "ml"},
    "rita": {"developer", "leader"},
}


def test_signed_out_visitors_are_sent_to_login(reader: TestClient) -> None:
    client = reader
    for path in ("/portal", "/portal/developer", "/portal/leader", "/portal/events"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/portal/login?next=")
    assert client.get("/", follow_redirects=False).headers["location"] == "/portal"


@pytest.mark.parametrize("user", sorted(HOMES))
def test_each_persona_lands_on_their_home(reader: TestClient, user: str) -> None:
    client = reader
    login(client, user)
    response = client.get("/portal", follow_redirects=False)
    assert response.headers["location"] == f"/portal/{HOMES[user]}"
    page = client.get(f"/portal/{HOMES[user]}")
    assert page.status_code == 200
    assert 'href="#main"' in page.text  # the skip link


@pytest.mark.parametrize("user", sorted(ALLOWED))
def test_a_user_opens_only_the_views_their_roles_allow(reader: TestClient, user: str) -> None:
    client = reader
    login(client, user)
    for view in ("developer", "platform", "leader", "security", "ml"):
        response = client.get(f"/portal/{view}")
        expected = 200 if view in ALLOWED[user] else 403
        assert response.status_code == expected, (user, view)
        if expected == 403:
            assert "needs one of these roles" in response.text
            assert "Traceback" not in response.text
    menu = client.get("/portal/leader").text
    for view in ("developer", "platform", "security", "ml"):
        assert (f'href="/portal/{view}"' in menu) == (view in ALLOWED[user])


def test_login_by_token_and_logout(client: TestClient, platform: Platform) -> None:
    token = platform.tokens["lee"]  # type: ignore[attr-defined]
    page = client.get("/portal/login")
    bad = client.post("/portal/login", data={"csrf": csrf_of(page.text), "token": "nope"})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = client.post(
        "/portal/login",
        data={"csrf": csrf_of(page.text), "token": token, "next": "/portal/leader"},
        follow_redirects=False,
    )
    assert good.headers["location"] == "/portal/leader"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert token not in cookie
    home = client.get("/portal/leader")
    assert "Lee, engineering leader" in home.text
    out = client.post("/portal/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/portal/leader", follow_redirects=False).status_code == 303


def test_agents_may_not_sign_in(client: TestClient, platform: Platform) -> None:
    page = client.get("/portal/login")
    response = client.post(
        "/portal/login",
        data={"csrf": csrf_of(page.text), "token": platform.tokens["janitor"]},  # type: ignore[attr-defined]
    )
    assert response.status_code == 403 and "agents use the API" in response.text


def test_posts_without_the_session_csrf_token_are_refused(client: TestClient) -> None:
    login(client, "ada")
    page = client.get("/portal/developer/new/web-service")
    data = {"name": "shop", "project": "checkout", "environment": "dev"}
    for csrf in (None, "forged"):
        body = data if csrf is None else {**data, "csrf": csrf}
        response = client.post("/portal/developer/new/web-service", data=body)
        assert response.status_code == 403 and "CSRF" in response.text
    assert client.post("/portal/logout", data={}).status_code == 403
    assert csrf_of(page.text)  # the real token works (see the golden path test)


def test_a_forged_or_tampered_cookie_is_ignored(reader: TestClient) -> None:
    client = reader
    login(client, "lee")
    value = client.cookies[COOKIE]
    payload, mac = value.split(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, payload + "." + mac[::-1])
    assert client.get("/portal/leader", follow_redirects=False).status_code == 303


def test_demo_login_can_be_switched_off(platform: Platform) -> None:
    from plinth.experience.api.app import create_app

    app = create_app(platform)
    app.state.portal.demo_login = False
    with TestClient(app) as client:
        page = client.get("/portal/login")
        assert "As a demo user" not in page.text
        response = client.post(
            "/portal/login/demo", data={"csrf": csrf_of(page.text), "user": "pat"}
        )
        assert response.status_code == 403


def test_demo_login_follows_the_portal_demo_login_setting(platform: Platform) -> None:
    from plinth.experience.api.app import create_app

    platform.settings = platform.settings.model_copy(update={"portal_demo_login": False})
    assert platform.settings.seed_demo
    with TestClient(create_app(platform)) as client:
        page = client.get("/portal/login")
        assert "As a demo user" not in page.text
        response = client.post(
            "/portal/login/demo", data={"csrf": csrf_of(page.text), "user": "pat"}
        )
        assert response.status_code == 403


def _golden(client: TestClient, **fields: str) -> object:
    page = client.get("/portal/developer/new/web-service")
    data = {"csrf": csrf_of(page.text), "project": "checkout", "environment": "dev", **fields}
    return client.post("/portal/developer/new/web-service", data=data)


def test_the_golden_path_form_comes_from_the_template_schema(reader: TestClient) -> None:
    client = reader
    login(client, "ada")
    page = client.get("/portal/developer/new/web-service").text
    assert 'name="param.port"' in page and 'name="param.log_level"' in page
    assert "<option selected>info</option>" in page  # the schema's enum and default


def test_bad_values_are_shown_beside_their_field(client: TestClient) -> None:
    login(client, "ada")
    response = _golden(client, name="Bad Name!", **{"param.port": "abc"})
    assert response.status_code == 422  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert re.search(r'id="f-port"[^>]*aria-invalid="true"', text)
    assert "is not of type" in text and 'id="param-port-err"' in text
    too_big = _golden(client, name="shop", **{"param.port": "70000"})
    assert "70000 is greater than the maximum" in too_big.text  # type: ignore[attr-defined]


def test_plan_then_apply_through_the_portal(client: TestClient) -> None:
    login(client, "ada")
    planned = _golden(client, name="shop", description="the shop", **{"param.port": "8080"})
    text = planned.text  # type: ignore[attr-defined]
    assert "Gate verdicts" in text and "authorization" in text and "USD" in text
    assert 'id="apply"' in text
    digest = re.search(r"/portal/plans/([0-9a-f]{64})/apply", text)
    assert digest
    applied = client.post(f"/portal/plans/{digest.group(1)}/apply", data={"csrf": csrf_of(text)})
    assert applied.status_code == 200 and "applied" in applied.text
    home = client.get("/portal/developer").text
    assert "shop" in home
    logs = client.get("/portal/developer/logs?name=shop&environment=dev&project=checkout")
    assert logs.status_code == 200 and "Logs of shop" in logs.text
    missing = client.get("/portal/developer/logs?name=nope&environment=dev")
    assert missing.status_code == 404


def test_hostile_text_is_escaped_everywhere(client: TestClient) -> None:
    login(client, "ada")
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    planned = _golden(client, name="evil", description=hostile, **{"param.port": "8080"})
    text = planned.text  # type: ignore[attr-defined]
    assert "<script>alert" not in text and "<img src=x" not in text
    refused = _golden(client, name=hostile, **{"param.port": hostile})
    body = refused.text  # type: ignore[attr-defined]
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    login(client, "pat")
    for view in ("developer", "platform", "leader", "security", "ml"):
        assert "<script>alert" not in client.get(f"/portal/{view}").text


def test_errors_are_pages_not_stack_traces(reader: TestClient) -> None:
    client = reader
    login(client, "ada")
    missing = client.get("/portal/plans/" + "0" * 64)
    assert missing.status_code == 404 and "<h1>" in missing.text
    unknown = client.get("/portal/no/such/page")
    assert unknown.status_code == 404 and "Traceback" not in unknown.text
    other = client.get("/portal/developer/new/no-such-template")
    assert other.status_code == 404


def test_logs_of_another_teams_workload_are_refused(client: TestClient, platform: Platform) -> None:
    from plinth.capabilities.identity import service as identity
    from plinth.orchestration.plans import PlanRequest

    with platform.db.read() as session:
        pat = identity.actor_by_name(session, "pat")
    document = (
        "apiVersion: plinth.dev/v1\nkind: Application\nmetadata: {name: ml-lab-svc}\n"
        "spec: {template: web-service}\n"
    )
    plan = platform.plan(
        pat, PlanRequest(environment="dev", project="recommender", documents=document)
    )
    platform.apply(pat, plan["digest"])
    login(client, "ada")
    refused = client.get("/portal/developer/logs?name=ml-lab-svc&environment=dev")
    assert refused.status_code == 403 and "not a project of your teams" in refused.text
    assert "ml-lab-svc" not in client.get("/portal/developer").text.split("Golden paths")[0]
