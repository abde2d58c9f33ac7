"""The store: aware UTC times, keyset pagination and optimistic concurrency."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.models import TeamRow
from plinth.capabilities.inventory.models import ResourceRecord
from plinth.core.clock import FrozenClock
from plinth.core.errors import Conflict, InvalidInput
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.infrastructure.store.pagination import MAX_LIMIT
from tests.infrastructure.store import reuse

# One database per backend for this module, emptied before each test (see reuse.py).
shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url


def team(name: str, at: datetime) -> TeamRow:
    """Return a new team row created at ``at``."""
    return TeamRow(id=f"team_{name}", name=name, description="", created_at=at)


def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), database.transaction() as s:
        s.add(team("naive", datetime(2026, 1, 1, 12, 0)))
    with database.transaction() as session:
        assert session.get(TeamRow, "team_naive") is None


def test_times_come_back_aware_and_in_utc(database: Database) -> None:
    plus_two = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with database.transaction() as session:
        session.add(team("aware", plus_two))
    with database.transaction() as session:
        row = session.scalars(select(TeamRow).where(TeamRow.name == "aware")).one()
    assert row.created_at == plus_two
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.created_at.tzinfo is not None
    assert row.created_at.replace(tzinfo=None) == datetime(2026, 6, 1, 12, 30, 15, 123456)


def make_teams(database: Database, names: list[str]) -> None:
    """Create teams with these names."""
    with database.transaction() as session:
        for name in names:
            session.add(team(name, datetime(2026, 1, 1, tzinfo=UTC)))


def pages(database: Database, limit: int) -> list[list[str]]:
    """Return every page of team names."""
    result: list[list[str]] = []
    token: str | None = None
    while True:
        with database.transaction() as session:
            page = identity.list_teams(session, limit=limit, page_token=token)
        result.append([t.name for t in page.items])
        token = page.next_page_token
        if token is None:
            return result


def test_pages_cover_everything_once_in_order(database: Database) -> None:
    names = [f"team-{c}" for c in "gfedcba"]
    make_teams(database, names)
    assert pages(database, 3) == [
        ["team-a", "team-b", "team-c"],
        ["team-d", "team-e", "team-f"],
        ["team-g"],
    ]
    assert pages(database, 7) == [sorted(names)]  # an exact fit has no next page
    assert pages(database, MAX_LIMIT) == [sorted(names)]


def test_empty_list_is_one_empty_page(database: Database) -> None:
    assert pages(database, 10) == [[]]


def test_a_page_token_survives_inserts_before_it(database: Database) -> None:
    make_teams(database, ["b", "d", "f"])
    with database.transaction() as session:
        first = identity.list_teams(session, limit=2, page_token=None)
    make_teams(database, ["a", "c", "e"])
    with database.transaction() as session:
        second = identity.list_teams(session, limit=10, page_token=first.next_page_token)
    assert [t.name for t in first.items] == ["b", "d"]
    assert [t.name for t in second.items] == ["e", "f"]


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_limits_out_of_bounds_are_invalid(database: Database, limit: int) -> None:
    with database.transaction() as session, pytest.raises(InvalidInput, match="limit"):
        identity.list_teams(session, limit=limit, page_token=None)


def token_of(value: Any) -> str:
    """Return a page token that carries ``value`` as the position."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    ["not a token", "%%%", token_of([1]), token_of("x"), token_of({"before": "a"})],
)
def test_tokens_not_issued_here_are_invalid(database: Database, token: str) -> None:
    make_teams(database, ["a"])
    with database.transaction() as session, pytest.raises(InvalidInput, match="page_token"):
        identity.list_teams(session, limit=10, page_token=token)


@pytest.mark.parametrize("after", [5, [1], {"a": 1}])
def test_forged_token_with_a_wrong_typed_position_is_invalid(
    database: Database, after: Any
) -> None:
    make_teams(database, ["a"])
    with database.transaction() as session, pytest.raises(InvalidInput, match="page_token"):
        identity.list_teams(session, limit=10, page_token=token_of({"after": after}))


def add_resource(database: Database, clock: FrozenClock, ids: SequentialIds) -> str:
    """Create one resource row; return its id."""
    now = clock.now()
    with database.transaction() as session:
        record = ResourceRecord(
            id=ids.new("res"),
            environment="dev",
            project="checkout",
            name="db",
            type="postgres",
            provider="fake",
            desired={},
            desired_digest="d",
            created_at=now,
            updated_at=now,
        )
        session.add(record)
        return record.id


def test_two_open_transactions_updating_one_row_conflict(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite takes the write lock at BEGIN: two writers never overlap")
    res_id = add_resource(database, clock, ids)
    with pytest.raises(Conflict, match="changed by someone else"), database.transaction() as one:
        mine = one.get(ResourceRecord, res_id)
        assert mine is not None
        with database.transaction() as two:
            theirs = two.get(ResourceRecord, res_id)
            assert theirs is not None
            theirs.message = "theirs"
        mine.message = "mine"
    with database.transaction() as session:
        stored = session.get(ResourceRecord, res_id)
        assert stored is not None and (stored.message, stored.version) == ("theirs", 2)


def test_concurrent_read_modify_write_loses_nothing(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    """Many threads add one each; conflicts are retried, so every addition is counted."""
    res_id = add_resource(database, clock, ids)
    threads, per_thread = 6, 5
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(per_thread):
                while True:
                    try:
                        with database.transaction() as session:
                            record = session.get(ResourceRecord, res_id)
                            assert record is not None
                            record.failures += 1
                        break
                    except Conflict:
                        conflicts.append(1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert errors == []
    with database.transaction() as session:
        stored = session.get(ResourceRecord, res_id)
        assert stored is not None
        assert stored.failures == threads * per_thread
        assert stored.version == 1 + threads * per_thread
