"""The audit capability: an append-only, hash-chained log of every decision.

Each record's hash is SHA-256 over the previous record's hash and the record's
own canonical content, so editing, deleting, inserting or reordering records
breaks the chain at the first record touched, which ``verify`` names.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from plinth.capabilities.audit.models import AuditHead, AuditRecord
from plinth.core.clock import Clock
from plinth.core.digest import canonical_json
from plinth.core.errors import PlinthError
from plinth.infrastructure.store.pagination import Page, paginate
from plinth.integration.events import outbox

__all__ = [
    "GENESIS",
    "REDACTED",
    "Entry",
    "Verification",
    "append",
    "append_many",
    "get_record",
    "list_records",
    "lock_chain",
    "newest_records",
    "record_as_dict",
    "redact",
    "verify",
]

GENESIS = "0" * 64
REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential", re.I
)
_URL_CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^/\s]*@")


def redact(value: Any) -> Any:
    """Return ``value`` with everything under secret-looking keys and URL credentials replaced."""
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEY.search(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", value)
    return value


def _content_hash(
    prev_hash: str, *, seq: int, at: datetime, actor: str, action: str, subject: str, data: Any
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "data": data,
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def lock_chain(session: Session) -> None:
    """Take the chain's write lock for the rest of the transaction (serialises decisions)."""
    session.execute(select(AuditHead.seq).where(AuditHead.id == 1).with_for_update())


def _ensure_head(session: Session) -> None:
    if session.get(AuditHead, 1) is None:  # the migration creates it
        if session.scalar(select(AuditRecord.seq).limit(1)) is not None:
            raise PlinthError(
                "the audit chain's head row is missing, so the log was tampered with: "
                "run `plinth audit verify`; nothing more is recorded until it is restored"
            )
        session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        session.flush()


def _reserve(session: Session, count: int) -> tuple[int, str]:
    """Advance the head by ``count``; return the sequence number before it and its hash."""
    # The UPDATE takes the row's write lock first, so concurrent appends queue here.
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + count))
    seq, prev_hash = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    return int(seq) - count, str(prev_hash)


def append(
    session: Session, *, actor: str, action: str, subject: str, data: dict[str, Any], clock: Clock
) -> AuditRecord:
    """Append a record to the chain inside the caller's transaction."""
    _ensure_head(session)
    before, prev_hash = _reserve(session, 1)
    seq = before + 1
    at = clock.now()
    clean = json.loads(canonical_json(redact(data)))
    record = AuditRecord(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        data=clean,
        prev_hash=prev_hash,
        hash=_content_hash(
            prev_hash, seq=seq, at=at, actor=actor, action=action, subject=subject, data=clean
        ),
    )
    session.add(record)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=record.hash))
    session.flush()
    # the record's CloudEvent commits (or rolls back) with it: no dual write
    outbox.stage(session, [outbox.Fact(seq, at, actor, action, subject, clean)])
    return record


@dataclass(frozen=True)
class Entry:
    """One record to append with ``append_many``, stamped with its own moment."""

    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


def append_many(session: Session, entries: Sequence[Entry]) -> list[tuple[int, str]]:
    """Append ``entries`` in order inside the caller's transaction; return their (seq, hash).

    The same chain as ``append`` one by one (same hashes, same head lock: the first
    statement updates the head row), in one head update, one multi-row INSERT and one
    head hash update, on the session's connection: for writers that batch many records.
    """
    if not entries:
        return []
    session.flush()  # records added earlier in this transaction come first
    conn = session.connection()
    reserved = conn.execute(_ADVANCE, {"count": len(entries)}).first()
    if reserved is None:  # no head row yet: create it as ``append`` does, then reserve
        _ensure_head(session)
        session.flush()
        reserved = conn.execute(_ADVANCE, {"count": len(entries)}).one()
    seq, prev_hash = int(reserved[0]) - len(entries), str(reserved[1])
    rows: list[dict[str, Any]] = []
    for entry in entries:
        seq += 1
        text = canonical_json(redact(entry.data))
        clean = json.loads(text)
        body = _record_text(seq, entry, text)
        digest = hashlib.sha256((prev_hash + body).encode()).hexdigest()
        rows.append(
            {
                "seq": seq,
                "at": entry.at,
                "actor": entry.actor,
                "action": entry.action,
                "subject": entry.subject,
                "data": clean,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    conn.execute(_INSERT, rows)
    conn.execute(_SET_HASH, {"hash": prev_hash})
    outbox.stage(
        session,
        [
            outbox.Fact(r["seq"], r["at"], r["actor"], r["action"], r["subject"], r["data"])
            for r in rows
        ],
    )
    return [(r["seq"], r["hash"]) for r in rows]


def _record_text(seq: int, entry: Entry, data_text: str) -> str:
    """Return the canonical JSON that ``_content_hash`` hashes, around ready data text."""
    # canonical_json sorts keys: action, actor, at, data, seq, subject.
    head = canonical_json(
        {"action": entry.action, "actor": entry.actor, "at": entry.at.isoformat()}
    )
    tail = canonical_json({"seq": seq, "subject": entry.subject})
    return f'{head[:-1]},"data":{data_text},{tail[1:]}'


_HEAD_TABLE = cast(Table, AuditHead.__table__)
_HEAD = _HEAD_TABLE.c
_ADVANCE = (
    update(_HEAD_TABLE)
    .where(_HEAD.id == 1)
    .values(seq=_HEAD.seq + bindparam("count"))
    .returning(_HEAD.seq, _HEAD.hash)
)
_SET_HASH = update(_HEAD_TABLE).where(_HEAD.id == 1).values(hash=bindparam("hash"))
_INSERT = insert(cast(Table, AuditRecord.__table__))


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the verification as API data."""
        bad = None if self.ok else {"seq": self.first_bad_seq, "reason": self.reason}
        return {"ok": self.ok, "checked": self.checked, "first_bad": bad}


def verify(session: Session, *, batch: int = 1000) -> Verification:
    """Walk the whole chain and report the first record that breaks it."""
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    stmt = select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=batch)
    for record in session.scalars(stmt):
        checked += 1
        if record.seq != expected_seq:
            return Verification(False, checked, expected_seq, f"record {expected_seq} is missing")
        if record.prev_hash != prev_hash:
            return Verification(
                False, checked, record.seq, "prev_hash does not match the record before it"
            )
        actual = _content_hash(
            prev_hash,
            seq=record.seq,
            at=record.at,
            actor=record.actor,
            action=record.action,
            subject=record.subject,
            data=record.data,
        )
        if actual != record.hash:
            return Verification(
                False, checked, record.seq, "content does not match its hash (edited)"
            )
        prev_hash, expected_seq = record.hash, record.seq + 1
    head = session.get(AuditHead, 1)
    last = expected_seq - 1
    if head is None and checked:
        return Verification(
            False, checked, expected_seq, "the chain head is missing: newest records may be removed"
        )
    if head is not None and head.seq < last:
        return Verification(
            False, checked, head.seq + 1, "record is beyond the chain head (inserted)"
        )
    if head is not None and (head.seq != last or head.hash != prev_hash):
        return Verification(
            False,
            checked,
            expected_seq,
            f"the chain head is at {head.seq}: newest records were removed",
        )
    return Verification(True, checked)


def get_record(session: Session, seq: int) -> AuditRecord | None:
    """Return one record by sequence number."""
    return session.get(AuditRecord, seq)


def list_records(session: Session, *, limit: int, page_token: str | None) -> Page[AuditRecord]:
    """Return a page of records, oldest first."""
    return paginate(
        session, select(AuditRecord), AuditRecord.seq, limit=limit, page_token=page_token
    )


def newest_records(
    session: Session, *, count: int, actions: Sequence[str] | None = None
) -> list[AuditRecord]:
    """Return the newest ``count`` records (only these actions when given), newest first."""
    query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(count)
    if actions is not None:
        query = query.where(AuditRecord.action.in_(list(actions)))
    return list(session.scalars(query))


def record_as_dict(record: AuditRecord) -> dict[str, Any]:
    """Return a record as API data."""
    return {
        "seq": record.seq,
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "subject": record.subject,
        "data": record.data,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }
