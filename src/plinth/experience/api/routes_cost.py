"""The cost API: usage in (``POST /usage``), showback out (``GET /cost``...).

Thin adapters over ``platform.costing`` (orchestration/showback.py). Usage
batches are parsed straight from the raw body (one fast pass, no intermediate
JSON tree); a batch of more than 10,000 samples is refused with 413, a bad
sample with 422 naming it (``$.samples[3].at``). Money is returned as decimal
strings.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from plinth.capabilities.finops.metering import UsageSample
from plinth.core.errors import Issue, SpecError
from plinth.experience.api.deps import ActorDep
from plinth.experience.api.problems import error_path, problem
from plinth.orchestration.showback import MAX_BATCH, Costing

__all__ = ["UsageBatch", "router"]

router = APIRouter(prefix="/api/v1", tags=["cost"])


class UsageBatch(BaseModel):
    """A batch of usage samples, at most 10,000."""

    model_config = ConfigDict(extra="forbid")
    samples: list[UsageSample] = Field(max_length=MAX_BATCH)


_BATCH = TypeAdapter(UsageBatch)


def get_costing(request: Request) -> Costing:
    """Return the platform's costing service."""
    costing: Costing = request.app.state.platform.costing
    return costing


CostingDep = Annotated[Costing, Depends(get_costing)]
ByQuery = Annotated[
    str, Query(description="team, project, environment, agent, model, resource_type, ...")
]
WindowQuery = Annotated[
    str | None, Query(description="30d, 24h, P7D, or START/END (ISO 8601 with a zone)")
]
InstantQuery = Annotated[str | None, Query(description="ISO 8601 timestamp with a zone")]
FilterQuery = Annotated[str | None, Query(max_length=200, description="only this value")]


def _parse(body: bytes) -> UsageBatch | JSONResponse:
    """Return the batch, or the problem response for a too large or invalid one."""
    try:
        return _BATCH.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "too_long" and tuple(e["loc"]) == ("samples",) for e in errors):
            return problem(
                413,
                "too-large",
                "Too many samples",
                f"a batch holds at most {MAX_BATCH} samples; split it",
            )
        raise SpecError([Issue(e["msg"], error_path(e["loc"])) for e in errors[:100]]) from None


@router.post("/usage")
async def report_usage(request: Request, costing: CostingDep, actor: ActorDep) -> Any:
    """Record usage samples: priced, attributed, visible in cost reports at once."""
    costing.check_ingest(actor)
    batch = _parse(await request.body())
    if isinstance(batch, JSONResponse):
        return batch
    return await run_in_threadpool(costing.ingest, actor, batch.samples)


def _filters(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


@router.get("/cost")
def cost_report(
    costing: CostingDep,
    actor: ActorDep,
    by: ByQuery = "team",
    window: WindowQuery = None,
    start: InstantQuery = None,
    end: InstantQuery = None,
    currency: Annotated[str, Query(min_length=3, max_length=3)] = "USD",
    shared: Literal["allocate", "separate"] = "allocate",
    team: FilterQuery = None,
    project: FilterQuery = None,
    environment: FilterQuery = None,
    agent: FilterQuery = None,
    model: FilterQuery = None,
    resource_type: FilterQuery = None,
) -> dict[str, Any]:
    """Cost per group over a window (default 30d), with total, unattributed and shared."""
    filters = _filters(
        team=team,
        project=project,
        environment=environment,
        agent=agent,
        model=model,
        resource_type=resource_type,
    )
    return costing.report(
        actor,
        by=by,
        window=window,
        start=start,
        end=end,
        currency=currency.upper(),
        filters=filters,
        shared=shared,
    )


@router.get("/cost/series")
def cost_series(
    costing: CostingDep,
    actor: ActorDep,
    by: ByQuery = "team",
    window: WindowQuery = None,
    step: Annotated[str, Query(description="1h, 1d, PT15M ... (at least 1 minute)")] = "1d",
    start: InstantQuery = None,
    end: InstantQuery = None,
    currency: Annotated[str, Query(min_length=3, max_length=3)] = "USD",
    team: FilterQuery = None,
    project: FilterQuery = None,
    environment: FilterQuery = None,
) -> dict[str, Any]:
    """Cost per group per step (default daily over 7d)."""
    return costing.series(
        actor,
        by=by,
        window=window if window or start else "7d",
        step=step,
        start=start,
        end=end,
        currency=currency.upper(),
        filters=_filters(team=team, project=project, environment=environment),
    )


@router.get("/cost/anomalies")
def cost_anomalies(
    costing: CostingDep,
    actor: ActorDep,
    window: WindowQuery = "30d",
    team: FilterQuery = None,
) -> dict[str, Any]:
    """Spend anomalies recorded for teams (their events), newest first."""
    return costing.anomalies(actor, window=window, team=team)


@router.post("/cost/anomalies/scan")
def scan_anomalies(
    costing: CostingDep,
    actor: ActorDep,
    days: Annotated[int, Query(ge=1, le=31, description="days to examine, today included")] = 1,
) -> dict[str, Any]:
    """Look for anomalies now (the metering loop also does every few minutes)."""
    return costing.scan(actor, days=days)
