"""REST API v1 for billing: FOCUS export and import, and reconciliation against bills."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from plinth.core.errors import InvalidInput
from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep
from plinth.experience.api.problems import problem
from plinth.orchestration.billing import Billing

__all__ = ["CSV_TYPES", "router"]

router = APIRouter(prefix="/api/v1", tags=["billing"])
CSV_TYPES = ("text/csv", "application/csv")

StartQuery = Annotated[
    datetime | None,
    Query(description="window start, with a zone (default: 30 days before end)"),
]
EndQuery = Annotated[datetime | None, Query(description="window end, with a zone (default: now)")]


def get_billing(platform: PlatformDep) -> Billing:
    """Return the platform's billing facade."""
    billing: Billing = platform.billing
    return billing


BillingDep = Annotated[Billing, Depends(get_billing)]


@router.get(
    "/cost/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "a FOCUS 1.2 CSV dataset"}},
)
def export_cost(
    billing: BillingDep,
    actor: ActorDep,
    start: StartQuery = None,
    end: EndQuery = None,
    export_format: Annotated[Literal["focus"], Query(alias="format")] = "focus",
    source: Annotated[
        list[Literal["meter", "billing", "estimate"]] | None,
        Query(description="ledger sources to include (default: meter and billing)"),
    ] = None,
) -> Response:
    """The ledger of a window as a FOCUS 1.2 cost and usage dataset (CSV)."""
    sources = source or ["meter", "billing"]
    text = billing.export_focus(actor, start=start, end=end, sources=sources)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="focus.csv"'},
    )


@router.post(
    "/cost/import",
    response_model=None,
    openapi_extra={"requestBody": {"content": {"text/csv": {}}, "required": True}},
)
async def import_cost(
    request: Request,
    billing: BillingDep,
    actor: ActorDep,
    source: Annotated[
        str, Query(min_length=1, max_length=200, description="name of the bill, for idempotency")
    ],
    assume_utc: Annotated[
        bool, Query(description="read times without a zone as UTC (else they are refused)")
    ] = False,
) -> Response:
    """Import a FOCUS 1.0+ billing export (CSV body); platform engineers only; all or nothing."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CSV_TYPES:
        return problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the FOCUS file as text/csv, not {media or 'no content type'}",
        )
    body = await request.body()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text (byte {exc.start})") from exc
    result = await run_in_threadpool(
        billing.import_focus, actor, text, source=source, assume_utc=assume_utc
    )
    return JSONResponse(jsonable_encoder(result))


@router.get("/cost/reconcile")
def reconcile_cost(
    billing: BillingDep,
    actor: ActorDep,
    start: StartQuery = None,
    end: EndQuery = None,
    limit: LimitDep = 50,
    page_token: TokenDep = None,
) -> dict[str, Any]:
    """Per resource: what the platform metered (or estimated) against what was billed."""
    return billing.reconcile(actor, start=start, end=end, limit=limit, page_token=page_token)
