"""Keyset pagination shared by every list in the API."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from plinth.core.errors import InvalidInput

__all__ = ["MAX_LIMIT", "Page", "paginate"]

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the token for the next one (None at the end)."""

    items: list[T]
    next_page_token: str | None


def _encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": value}).encode()).decode()


def _decode(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("page_token is not a token this server issued") from exc


def paginate(
    session: Session,
    stmt: Select[Any],
    key: InstrumentedAttribute[Any],
    *,
    limit: int = 50,
    page_token: str | None = None,
) -> Page[T]:
    """Return the page of ``stmt`` ordered by the unique ``key`` after ``page_token``."""
    if limit < 1 or limit > MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if page_token:
        after = _decode(page_token)
        expected = key.type.python_type
        out_of_range = isinstance(after, int) and not -(2**63) <= after < 2**63
        if not isinstance(after, expected) or isinstance(after, bool) or out_of_range:
            raise InvalidInput("page_token is not a token this server issued for this list")
        stmt = stmt.where(key > after)
    rows: list[T] = list(session.scalars(stmt.order_by(key).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    token = _encode(getattr(rows[-1], key.key)) if more and rows else None
    return Page(items=rows, next_page_token=token)
