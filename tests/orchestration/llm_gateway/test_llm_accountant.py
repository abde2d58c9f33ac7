"""Budgets: held before the call, settled after, never overrun, durable through the writer."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.finops.models import CostEntry
from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.accountant import Accountant, BudgetExceeded, Limit
from plinth.orchestration.llm_gateway.models import LlmRequest, LlmSpend
from plinth.orchestration.llm_gateway.writer import Inference, LlmWriter

AT = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
LIMIT = Limit("key:k1", "2026-11", Decimal("1.00"))


def test_twenty_threads_never_hold_more_than_the_budget(database: Database) -> None:
    accountant = Accountant(database)
    accountant.prepare([LIMIT])
    admitted: list[int] = []
    start = threading.Barrier(20)

    def request(n: int) -> None:
        start.wait()
        try:
            hold = accountant.reserve([LIMIT], Decimal("0.30"))
        except BudgetExceeded:
            return
        admitted.append(n)
        accountant.settle(hold, Decimal("0.25"))

    threads = [threading.Thread(target=request, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = Decimal(accountant.snapshot()[0]["spent"])
    assert spent <= LIMIT.amount
    assert spent == Decimal("0.25") * len(admitted)
    assert len(admitted) == 3  # three holds fit; settled spend then leaves too little


def test_settle_is_once_and_a_refusal_holds_nothing(database: Database) -> None:
    accountant = Accountant(database)
    accountant.prepare([LIMIT])
    hold = accountant.reserve([LIMIT], Decimal("0.90"))
    with pytest.raises(BudgetExceeded):
        accountant.reserve([LIMIT], Decimal("0.20"))
    accountant.settle(hold, Decimal("0.10"))
    accountant.settle(hold, Decimal("0.10"))
    assert accountant.snapshot()[0] == {
        "scope": "key:k1",
        "period": "2026-11",
        "spent": "0.10",
        "held": "0.00",
    }


def test_the_writer_makes_spend_ledger_and_audit_agree(database: Database) -> None:
    writer = LlmWriter(database, now=lambda: AT)
    writer.start()
    accountant = Accountant(database)
    accountant.prepare([LIMIT])

    def committed(items: list[Inference]) -> None:
        for item in items:
            accountant.committed(item.scopes, item.cost)

    writer.on_committed = committed
    for n in range(3):
        hold = accountant.reserve([LIMIT], Decimal("0.2"))
        cost = Decimal("0.0000135")
        accountant.settle(hold, cost)
        writer.submit(
            Inference(
                request_id=f"r{n}",
                at=AT,
                actor="key/a",
                team="payments",
                endpoint="chat",
                outcome="ok" if n else "cut",
                status=200,
                model="gpt-4o-mini",
                provider="p",
                tokens_in=10,
                tokens_out=20,
                cost=cost,
                input_price=Decimal("0.00000015"),
                output_price=Decimal("0.0000006"),
                scopes=hold.keys,
            )
        )
    writer.submit(
        Inference(
            request_id="r9",
            at=AT,
            actor="key/a",
            team="payments",
            endpoint="chat",
            outcome="refused",
            status=403,
            model="gpt-4o",
        )
    )
    writer.close()
    with database.read() as session:
        spend = session.scalar(select(LlmSpend))
        assert spend is not None
        spent, count = spend.spent, spend.requests
        rows = [
            (r.dimension, r.quantity, r.cost, r.team, r.resource_type, r.extra)
            for r in session.scalars(select(CostEntry).order_by(CostEntry.dimension))
        ]
        requests = session.scalar(select(func.count()).select_from(LlmRequest))
        actions = list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))
    assert spent == Decimal("0.0000405") and count == 3
    assert [r[:3] for r in rows] == [
        ("tokens_input", Decimal(30), Decimal("0.0000045")),
        ("tokens_output", Decimal(60), Decimal("0.000036")),
    ]
    assert rows[0][3:] == ("payments", "llm", {"requests": 3, "cut": 1})
    assert requests == 4
    assert actions[-4:] == ["llm.inference"] * 3 + ["llm.refused"]
    again = Accountant(database)  # a restarted process starts from the stored spend
    again.prepare([LIMIT])
    assert Decimal(again.snapshot()[0]["spent"]) == Decimal("0.0000405")
