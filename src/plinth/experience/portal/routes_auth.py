"""Signing in (an API token, or a demo user when the setting allows it) and out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from plinth.core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from plinth.experience.portal.access import VIEWS, allowed_views, home_view
from plinth.experience.portal.session import PortalSession
from plinth.experience.portal.web import (
    PortalRoute,
    checked_form,
    portal_of,
    render,
    session_of,
    set_session,
    viewer,
)
from plinth.orchestration.seed import DEMO_USERS

__all__ = ["router"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def _safe_next(target: object) -> str:
    """Return a local portal path to go to after login (never another site)."""
    if isinstance(target, str) and target.startswith("/portal") and "//" not in target:
        return target
    return "/portal"


def _demo_users() -> list[tuple[str, str]]:
    return [(name, display) for name, (display, _, _) in DEMO_USERS.items()]


def _login_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    portal = portal_of(request)
    return render(
        request,
        "login.html",
        {
            "error": error,
            "demo_users": _demo_users() if portal.demo_login else [],
            "next": _safe_next(request.query_params.get("next")),
        },
        status=status,
    )


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login page: paste an API token, or pick a demo user."""
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in with an API token (the token itself is not kept)."""
    form = await checked_form(request)
    token = str(form.get("token") or "").strip()
    platform = portal_of(request).platform
    try:
        actor = platform.authenticate(token)
    except Unauthenticated as exc:
        return _login_page(request, error=exc.detail, status=401)
    if actor.kind != "human":
        return _login_page(
            request, error="agents use the API and MCP; the portal is for people", status=403
        )
    set_session(request, session_of(request).signed_in(actor.name))
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


@router.post("/login/demo")
async def login_demo(request: Request) -> Response:
    """Sign in as a seeded demo user (only where demo login is allowed)."""
    form = await checked_form(request)
    if not portal_of(request).demo_login:
        raise Forbidden("demo login is off on this server: sign in with an API token")
    name = str(form.get("user") or "")
    if name not in DEMO_USERS:
        raise InvalidInput(f"{name!r} is not a demo user")
    platform = portal_of(request).platform
    try:
        platform.actor(name)
    except NotFound:
        return _login_page(request, error=f"demo user {name!r} is not in this store", status=404)
    set_session(request, session_of(request).signed_in(name))
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session is replaced by an anonymous one."""
    await checked_form(request)
    set_session(request, PortalSession.anonymous())
    return RedirectResponse("/portal/login", status_code=303)


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    """Go to the signed-in person's home view."""
    who = viewer(request)
    return RedirectResponse(f"/portal/{home_view(who.actor)}", status_code=303)


@router.get("/me")
def me(request: Request) -> Response:
    """Who I am, my roles and the views I may open."""
    who = viewer(request)
    return render(
        request,
        "me.html",
        {"allowed": allowed_views(who.actor), "all_views": list(VIEWS.values())},
    )
