"""The portal's plumbing: its context, page rendering, sessions, CSRF and error pages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse

from plinth import __version__
from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import Forbidden, NotFound, PlinthError
from plinth.experience.portal.access import allowed_views
from plinth.experience.portal.cache import TtlCache
from plinth.experience.portal.session import COOKIE, PortalSession, SessionSigner
from plinth.orchestration.platform import Platform

__all__ = [
    "LoginRequired",
    "Portal",
    "PortalRoute",
    "Viewer",
    "checked_form",
    "portal_of",
    "render",
    "session_of",
    "viewer",
]

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


class LoginRequired(Exception):
    """Nobody is signed in: the route answers with a redirect to the login page."""


@dataclass
class Portal:
    """What every portal request needs: the platform, the signer, the templates, the settings."""

    platform: Platform
    signer: SessionSigner
    env: Environment
    demo_login: bool
    events_max_s: float = 20.0  # short: a server waits for open streams when it stops
    events_interval_s: float = 1.5
    cache: TtlCache = field(default_factory=TtlCache)
    aggregates_ttl_s: float = 30.0

    @classmethod
    def build(cls, platform: Platform, *, demo_login: bool) -> Portal:
        """Return the portal of a platform."""
        env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.globals["version"] = __version__
        return cls(platform, SessionSigner(platform.secret_key), env, demo_login)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person of a request, with their session."""

    actor: Actor
    session: PortalSession


def portal_of(request: Request) -> Portal:
    """Return the portal the app was built with."""
    portal: Portal = request.app.state.portal
    return portal


def session_of(request: Request) -> PortalSession:
    """Return the request's session (a new anonymous one, set on the response, if none)."""
    found: PortalSession | None = getattr(request.state, "portal_session", None)
    if found is not None:
        return found
    session = portal_of(request).signer.loads(request.cookies.get(COOKIE))
    if session is None:
        session = PortalSession.anonymous()
        request.state.portal_set = session
    request.state.portal_session = session
    return session


def set_session(request: Request, session: PortalSession) -> None:
    """Replace the request's session; the response carries the new cookie."""
    request.state.portal_session = session
    request.state.portal_set = session


def viewer(request: Request) -> Viewer:
    """Return the signed-in person, or raise LoginRequired."""
    session = session_of(request)
    if session.user is None:
        raise LoginRequired
    platform = portal_of(request).platform
    try:
        actor = platform.actor(session.user)
    except NotFound:
        raise LoginRequired from None
    if actor.kind != "human":
        raise LoginRequired
    who = Viewer(actor, session)
    request.state.portal_viewer = who
    return who


async def checked_form(request: Request) -> FormData:
    """Return a POSTed form after checking its CSRF token against the session (403 if wrong)."""
    form = await request.form()
    token = form.get("csrf")
    if not session_of(request).csrf_ok(token if isinstance(token, str) else None):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page and retry")
    return form


def render(
    request: Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> HTMLResponse:
    """Render a page with the common context (who, their views, the CSRF token)."""
    portal = portal_of(request)
    session = session_of(request)
    who: Viewer | None = getattr(request.state, "portal_viewer", None)
    page = portal.env.get_template(template).render(
        {
            "csrf": session.csrf,
            "me": who.actor if who else None,
            "views": allowed_views(who.actor) if who else [],
            "path": request.url.path,
            **context,
        }
    )
    return HTMLResponse(page, status_code=status)


def _error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def _finish(request: Request, response: Response) -> Response:
    new: PortalSession | None = getattr(request.state, "portal_set", None)
    if new is not None:
        response.set_cookie(
            COOKIE,
            portal_of(request).signer.dumps(new),
            max_age=portal_of(request).signer.max_age_s,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/portal",
        )
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'",
    )
    return response


class PortalRoute(APIRoute):
    """A route whose errors become HTML pages (never a stack trace) and whose session is saved."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the route's handler."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = quote(request.url.path, safe="/")
                response = RedirectResponse(f"/portal/login?next={target}", status_code=303)
            except PlinthError as exc:
                response = _error_page(request, exc.status, exc.title, exc.detail)
            except RequestValidationError:
                response = _error_page(request, 422, "Invalid input", "the request is malformed")
            except Exception:
                log.exception("portal page %s failed", request.url.path)
                response = _error_page(
                    request, 500, "Something went wrong", "the error is in the server's log"
                )
            return _finish(request, response)

        return route
