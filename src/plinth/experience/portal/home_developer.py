"""The app developer's home: my services and their health, golden paths, my approvals, logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from plinth.core.errors import Forbidden, GateDenied, PlinthError, SpecError
from plinth.experience.portal.access import require_view
from plinth.experience.portal.golden import (
    application_yaml,
    coerce,
    fields_of,
    place_issues,
    precheck,
)
from plinth.experience.portal.org import org_of, sorted_by_time
from plinth.experience.portal.security_panels import exceptions_of
from plinth.experience.portal.web import PortalRoute, checked_form, portal_of, render, viewer
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["router"]

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


def _mine(platform: Platform, projects: list[str], kind: str) -> list[dict[str, Any]]:
    items = platform.list_workloads(
        kind=kind, environment=None, project=None, limit=500, page_token=None
    ).items
    return [i for i in items if i["project"] in projects]


def _my_approvals(platform: Platform, name: str, projects: list[str]) -> list[dict[str, Any]]:
    items = platform.approvals(status="pending", limit=200, page_token=None).items
    return sorted_by_time([a for a in items if a["actor"] == name or a["project"] in projects])


@router.get("/developer")
def developer_home(request: Request) -> Response:
    """My services, golden paths, my approvals and pending requests."""
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "developer")
    projects = org_of(platform).projects_of(who.actor)
    approvals = _my_approvals(platform, who.actor.name, projects)
    return render(
        request,
        "developer.html",
        {
            "title": "My services",
            "projects": projects,
            "workloads": _mine(platform, projects, "Workload"),
            "applications": _mine(platform, projects, "Application"),
            "templates": platform.templates(),
            "pending": approvals,
            "exceptions": exceptions_of(platform, owners={who.actor.name, *who.actor.teams}),
            "live": ["approvals", "status"],
        },
    )


def _form_page(
    request: Request,
    template_name: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    status: int = 200,
) -> Response:
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "developer")
    template = platform.template(template_name, None)
    org = org_of(platform)
    return render(
        request,
        "golden_form.html",
        {
            "title": f"New {template['name']}",
            "template": template,
            "fields": fields_of(template["parameters_schema"] or {}),
            "environments": org.environments,
            "projects": org.projects_of(who.actor),
            "values": values or {},
            "errors": errors or {},
            "general": general or [],
        },
        status=status,
    )


@router.get("/developer/new/{template_name}")
def golden_form(request: Request, template_name: str) -> Response:
    """A form generated from the template's parameters schema."""
    return _form_page(request, template_name)


@router.post("/developer/new/{template_name}")
async def golden_plan(request: Request, template_name: str) -> Response:
    """Plan the application the form describes: show its plan, cost and verdicts (or errors)."""
    form = await checked_form(request)
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "developer")
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    template = platform.template(template_name, None)
    errors: dict[str, list[str]] = {}
    for key in ("name", "environment", "project"):
        if not values.get(key, "").strip():
            errors[key] = ["required"]
    if errors:
        return _form_page(request, template_name, values=values, errors=errors, status=422)
    document = application_yaml(
        name=values["name"].strip(),
        template=template["name"],
        version=template["version"],
        parameters=coerce(fields_of(template["parameters_schema"] or {}), values),
        description=values.get("description", "").strip(),
    )
    found = precheck(template["raw"], document)
    if found:
        errors, general = place_issues(found)
        return _form_page(
            request, template_name, values=values, errors=errors, general=general, status=422
        )
    request_ = PlanRequest(
        environment=values["environment"], project=values["project"], documents=document
    )
    try:
        plan = platform.plan(who.actor, request_)
    except SpecError as exc:
        errors, general = place_issues(exc.issues)
        return _form_page(
            request, template_name, values=values, errors=errors, general=general, status=422
        )
    except PlinthError as exc:
        return _form_page(
            request, template_name, values=values, general=[exc.detail], status=exc.status
        )
    return RedirectResponse(f"/portal/plans/{plan['digest']}", status_code=303)


@router.get("/plans/{digest}")
def plan_page(request: Request, digest: str) -> Response:
    """One plan: its changes, cost and gate verdicts, and Apply when it may go ahead."""
    who = viewer(request)
    platform = portal_of(request).platform
    plan = platform.get_plan(digest)
    return render(
        request,
        "plan.html",
        {
            "title": f"Plan {digest[:12]}",
            "plan": plan,
            "mine": plan["actor"] == who.actor.name,
            "message": request.query_params.get("message", ""),
            "live": ["approvals"],
        },
    )


@router.post("/plans/{digest}/apply")
async def apply_plan(request: Request, digest: str) -> Response:
    """Apply a plan through the gates (denials are shown on the plan page)."""
    await checked_form(request)
    who = viewer(request)
    platform = portal_of(request).platform
    try:
        result = platform.apply(who.actor, digest)
    except GateDenied as exc:
        plan = platform.get_plan(digest)
        return render(
            request,
            "plan.html",
            {"title": "Denied", "plan": plan, "mine": True, "error": exc.detail},
            status=403,
        )
    return RedirectResponse(f"/portal/plans/{digest}?message={result['status']}", status_code=303)


@router.get("/developer/logs")
def logs_page(request: Request) -> Response:
    """The last lines of one workload's logs."""
    who = viewer(request)
    platform = portal_of(request).platform
    require_view(platform, who.actor, "developer")
    q = request.query_params
    name, environment = q.get("name", ""), q.get("environment", "")
    project = q.get("project") or None
    found = platform.workload(name, environment=environment, project=project)
    mine = org_of(platform).projects_of(who.actor)
    if found["project"] not in mine and not who.actor.has_role("platform-engineer"):
        raise Forbidden(f"{found['project']!r} is not a project of your teams")
    lines = platform.logs(name, environment=environment, project=project, tail=300)
    return render(
        request,
        "logs.html",
        {"title": f"Logs of {name}", "name": name, "environment": environment, "lines": lines},
    )
