"""The audit chain: appends, verification, and tampering done behind its back with raw SQL."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from plinth.capabilities.audit import service as audit
from plinth.capabilities.audit.models import AuditHead, AuditRecord
from plinth.core.clock import FrozenClock
from plinth.core.digest import canonical_json
from plinth.infrastructure.store.db import Database

RECORDS = 6


def append(database: Database, clock: FrozenClock, n: int, *, actor: str = "ada") -> None:
    """Append ``n`` records, one transaction each, one second apart."""
    for i in range(n):
        clock.advance(1)
        with database.transaction() as session:
            audit.append(
                session,
                actor=actor,
                action="plan.created",
                subject=f"plan/{i}",
                data={"i": i, "changes": [{"kind": "Workload", "name": f"w{i}"}]},
                clock=clock,
            )


def verify(database: Database) -> audit.Verification:
    """Verify the chain in a fresh transaction."""
    with database.transaction() as session:
        return audit.verify(session)


def sql(database: Database, statement: str, **params: object) -> None:
    """Run raw SQL outside the application, as an attacker with database access would."""
    with database.engine.begin() as conn:
        conn.execute(text(statement), params)


def json_param(database: Database) -> str:
    """Return the SQL spelling of a bound JSON value on this backend."""
    return ":data" if database.is_sqlite else "CAST(:data AS JSONB)"


@pytest.fixture
def chain(database: Database, clock: FrozenClock) -> Iterator[Database]:
    """A store holding a valid chain of ``RECORDS`` records."""
    append(database, clock, RECORDS)
    yield database


def test_appends_form_a_chain_that_verifies(chain: Database) -> None:
    with chain.transaction() as session:
        records = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        head = session.get(AuditHead, 1)
    assert [r.seq for r in records] == list(range(1, RECORDS + 1))
    assert records[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert head is not None and (head.seq, head.hash) == (RECORDS, records[-1].hash)
    assert all(r.at.tzinfo is not None for r in records)
    result = verify(chain)
    assert result.ok and result.checked == RECORDS
    assert result.as_dict() == {"ok": True, "checked": RECORDS, "first_bad": None}


def test_empty_chain_verifies(database: Database) -> None:
    assert verify(database).ok


def test_hash_covers_previous_hash_and_content(chain: Database) -> None:
    with chain.transaction() as session:
        record = session.get(AuditRecord, 3)
        assert record is not None
        body = canonical_json(
            {
                "seq": record.seq,
                "at": record.at.isoformat(),
                "actor": record.actor,
                "action": record.action,
                "subject": record.subject,
                "data": record.data,
            }
        )
    assert record.hash == hashlib.sha256((record.prev_hash + body).encode()).hexdigest()


def test_edited_data_is_named(chain: Database) -> None:
    forged = json.dumps({"i": 3, "changes": []})
    sql(chain, f"UPDATE audit_records SET data = {json_param(chain)} WHERE seq = 4", data=forged)
    result = verify(chain)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert result.reason is not None and "edited" in result.reason
    assert result.as_dict()["first_bad"] == {"seq": 4, "reason": result.reason}


@pytest.mark.parametrize(
    ("column", "value"), [("actor", "mallory"), ("action", "plan.rejected"), ("subject", "x")]
)
def test_edited_columns_are_named(chain: Database, column: str, value: str) -> None:
    sql(chain, f"UPDATE audit_records SET {column} = :v WHERE seq = 2", v=value)
    result = verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_edited_time_is_named(chain: Database) -> None:
    with chain.transaction() as session:
        record = session.get(AuditRecord, 5)
        assert record is not None
        record.at = record.at.replace(year=2020)
    result = verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_rehashed_edit_is_still_caught_by_the_next_record(chain: Database) -> None:
    """An attacker who edits a record and fixes its own hash breaks the link to the next one."""
    with chain.transaction() as session:
        record = session.get(AuditRecord, 3)
        assert record is not None
        record.data = {"i": 3, "changes": []}
        body = canonical_json(
            {
                "seq": 3,
                "at": record.at.isoformat(),
                "actor": record.actor,
                "action": record.action,
                "subject": record.subject,
                "data": record.data,
            }
        )
        record.hash = hashlib.sha256((record.prev_hash + body).encode()).hexdigest()
    result = verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert result.reason is not None and "prev_hash" in result.reason


def test_deleted_middle_record_is_named(chain: Database) -> None:
    sql(chain, "DELETE FROM audit_records WHERE seq = 3")
    result = verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.reason == "record 3 is missing"


def test_deleted_first_record_is_named(chain: Database) -> None:
    sql(chain, "DELETE FROM audit_records WHERE seq = 1")
    result = verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 1)


def test_deleted_newest_record_is_detected_by_the_head(chain: Database) -> None:
    sql(chain, "DELETE FROM audit_records WHERE seq = :seq", seq=RECORDS)
    result = verify(chain)
    assert not result.ok
    assert result.first_bad_seq == RECORDS
    assert result.reason is not None and "head" in result.reason


def test_deleting_every_record_is_detected(chain: Database) -> None:
    sql(chain, "DELETE FROM audit_records")
    assert not verify(chain).ok


def test_swapped_records_are_detected(chain: Database) -> None:
    sql(chain, "UPDATE audit_records SET seq = -1 WHERE seq = 3")
    sql(chain, "UPDATE audit_records SET seq = 3 WHERE seq = 4")
    sql(chain, "UPDATE audit_records SET seq = 4 WHERE seq = -1")
    result = verify(chain)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def forge_next(database: Database) -> int:
    """Insert a well-formed record after the newest one without moving the head."""
    with database.transaction() as session:
        last = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert last is not None
        seq, at = last.seq + 1, last.at
        data = {"forged": True}
        body = canonical_json(
            {
                "seq": seq,
                "at": at.isoformat(),
                "actor": "pat",
                "action": "plan.approved",
                "subject": "plan/x",
                "data": data,
            }
        )
        session.add(
            AuditRecord(
                seq=seq,
                at=at,
                actor="pat",
                action="plan.approved",
                subject="plan/x",
                data=data,
                prev_hash=last.hash,
                hash=hashlib.sha256((last.hash + body).encode()).hexdigest(),
            )
        )
    return seq


def test_forged_record_is_detected(chain: Database) -> None:
    forge_next(chain)
    assert not verify(chain).ok


def test_forged_record_is_named(chain: Database) -> None:
    seq = forge_next(chain)
    result = verify(chain)
    assert result.first_bad_seq == seq
    assert result.reason is not None and "removed" not in result.reason


def test_appending_after_tampering_does_not_hide_it(chain: Database, clock: FrozenClock) -> None:
    sql(chain, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 2")
    append(chain, clock, 2)
    assert verify(chain).first_bad_seq == 2


def test_records_page_oldest_first(chain: Database) -> None:
    seen: list[int] = []
    token: str | None = None
    while True:
        with chain.transaction() as session:
            page = audit.list_records(session, limit=4, page_token=token)
        seen.extend(r.seq for r in page.items)
        token = page.next_page_token
        if token is None:
            break
    assert seen == list(range(1, RECORDS + 1))
    assert audit.record_as_dict(page.items[-1])["seq"] == RECORDS


def test_concurrent_appends_keep_one_valid_chain(database: Database, clock: FrozenClock) -> None:
    append(database, clock, 1)  # the head row exists
    threads, per_thread = 8, 10
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            barrier.wait(10)
            for i in range(per_thread):
                with database.transaction() as session:
                    audit.append(
                        session,
                        actor=f"writer-{n}",
                        action="test.append",
                        subject=f"thing/{n}/{i}",
                        data={"n": n, "i": i},
                        clock=clock,
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert errors == []
    total = 1 + threads * per_thread
    with database.transaction() as session:
        seqs = list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)))
        distinct = session.scalar(select(func.count(func.distinct(AuditRecord.seq))))
    assert seqs == list(range(1, total + 1))
    assert distinct == total
    result = verify(database)
    assert result.ok and result.checked == total


def test_append_many_continues_the_same_chain(chain: Database, clock: FrozenClock) -> None:
    entries = [
        audit.Entry(
            at=clock.now(),
            actor="agent-a",
            action="gateway.tool_call",
            subject=f"tool/t{i}",
            data={"i": i, "token": "secret-value"},
        )
        for i in range(5)
    ]
    with chain.transaction() as session:
        written = audit.append_many(session, entries)
        assert audit.append_many(session, []) == []
    assert [seq for seq, _ in written] == list(range(RECORDS + 1, RECORDS + 6))
    append(chain, clock, 1)  # one by one again after the batch
    with chain.transaction() as session:
        records = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        head = session.get(AuditHead, 1)
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert [r.hash for r in records[RECORDS : RECORDS + 5]] == [h for _, h in written]
    assert records[RECORDS].data == {"i": 0, "token": audit.REDACTED}
    assert head is not None and (head.seq, head.hash) == (RECORDS + 6, records[-1].hash)
    result = verify(chain)
    assert result.ok and result.checked == RECORDS + 6


def test_append_many_interleaves_with_appends_in_one_transaction(
    database: Database, clock: FrozenClock
) -> None:
    entry = audit.Entry(at=clock.now(), actor="a", action="x.y", subject="s", data={})
    with database.transaction() as session:
        audit.append(session, actor="a", action="x.y", subject="s", data={}, clock=clock)
        audit.append_many(session, [entry, entry])
        audit.append(session, actor="a", action="x.y", subject="s", data={}, clock=clock)
    result = verify(database)
    assert result.ok and result.checked == 4
