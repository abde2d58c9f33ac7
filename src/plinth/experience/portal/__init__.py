"""The portal: a server-rendered home per persona, on the same platform methods as the API.

``mount_portal(app, platform)`` serves it under ``/portal`` (static files under
``/portal/static``); ``/`` redirects there.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse

from plinth.core.errors import NotFound
from plinth.experience.portal import (
    events,
    home_developer,
    home_leader,
    home_ml,
    home_platform,
    home_security,
    routes_auth,
)
from plinth.experience.portal.web import HERE, Portal, PortalRoute
from plinth.orchestration.platform import Platform

__all__ = ["Portal", "mount_portal"]


def mount_portal(app: FastAPI, platform: Platform, *, demo_login: bool | None = None) -> Portal:
    """Serve the portal from ``app``; demo-user login follows ``seed_demo`` unless given."""
    portal = Portal.build(
        platform, demo_login=platform.settings.seed_demo if demo_login is None else demo_login
    )
    app.state.portal = portal
    app.mount("/portal/static", StaticFiles(directory=HERE / "static"), name="portal-static")
    for module in (
        routes_auth,
        home_developer,
        home_platform,
        home_leader,
        home_security,
        home_ml,
        events,
    ):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        """The portal is the front page."""
        return RedirectResponse("/portal", status_code=307)

    def not_found(request: Request, rest: str) -> Response:
        raise NotFound(f"no portal page at /portal/{rest}")

    app.router.add_api_route(
        "/portal/{rest:path}",
        not_found,
        methods=["GET", "POST"],
        route_class_override=PortalRoute,
        include_in_schema=False,
    )
    return portal
