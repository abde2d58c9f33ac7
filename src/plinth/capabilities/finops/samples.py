"""Usage samples: what a provider, agent or gateway reports, and how it is checked.

A sample says how much of one dimension something used over one period. It is
a typed dict validated by pydantic, not a model: a batch of 10,000 is checked in
milliseconds. See docs/finops-metering.md for the fields and units.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Required

from pydantic import (
    ConfigDict,
    Field,
    SkipValidation,
    TypeAdapter,
    ValidationError,
    with_config,
)

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from plinth.core.errors import Issue, SpecError

__all__ = ["MAX_ISSUES", "MAX_PERIOD_S", "SAMPLES", "UsageSample", "parse_samples", "timestamp"]

MAX_PERIOD_S = 31 * 86400.0
MAX_ISSUES = 100

_Label = Annotated[str, Field(max_length=63)]


@with_config(ConfigDict(extra="forbid"))
class UsageSample(TypedDict, total=False):
    """How much of one dimension something used over one period starting at ``at``.

    A typed dict validated by pydantic (``SAMPLES``): a batch of 10,000 is checked
    in milliseconds. Required: ``at`` (ISO 8601 with a zone, an aware datetime, or
    epoch seconds; checked once per distinct value when the batch is rated), ``period_s``
    (> 0), ``dimension``, ``quantity`` (>= 0) and ``unit``; the rest are optional
    labels.
    """

    resource_id: Annotated[str, Field(min_length=1, max_length=64)] | None
    resource_name: Annotated[str, Field(max_length=253)]
    # Checked when the batch is rated (``timestamp``), once per distinct value: much
    # cheaper than checking each sample's text here.
    at: Required[SkipValidation[str | datetime]]
    period_s: Required[Annotated[float, Field(gt=0, le=MAX_PERIOD_S, allow_inf_nan=False)]]
    dimension: Required[
        Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9_.:/-]*$")]
    ]
    quantity: Required[Annotated[float, Field(ge=0, allow_inf_nan=False)]]
    unit: Required[Annotated[str, Field(min_length=1, max_length=32)]]
    requested: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
    price_type: Literal["on_demand", "spot", "on_prem"] | None
    team: _Label
    project: _Label
    environment: _Label
    agent: Annotated[str, Field(max_length=100)]
    model: Annotated[str, Field(max_length=200)]
    resource_type: _Label
    provider: _Label
    region: _Label


SAMPLES: TypeAdapter[list[UsageSample]] = TypeAdapter(list[UsageSample])


def parse_samples(data: Any, *, path: str = "$.samples") -> list[UsageSample]:
    """Validate plain data (parsed JSON, or dicts) as samples; SpecError names each bad one."""
    try:
        return SAMPLES.validate_python(data)
    except ValidationError as exc:
        issues = [
            Issue(
                e["msg"],
                path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]),
            )
            for e in exc.errors(include_url=False)[:MAX_ISSUES]
        ]
        raise SpecError(issues) from None


def timestamp(raw: object) -> float | str:
    """Return POSIX seconds of ``at``, or a message saying what is wrong with it.

    ``at`` may be ISO 8601 text with a zone, an aware datetime, or epoch seconds.
    """
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            return f"{raw!r} is not an ISO 8601 timestamp"
    elif isinstance(raw, datetime):
        value = raw
    else:
        return f"{raw!r} is not a timestamp (ISO 8601 text with a zone, or epoch seconds)"
    if value.utcoffset() is None:
        return f"{raw!s} has no time zone (add Z or +00:00)"
    return value.timestamp()
