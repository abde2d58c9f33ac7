"""Importing FOCUS billing exports: the FinOps Foundation sample, every bad input, idempotency."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from plinth.capabilities.finops.focus import FocusImportError, import_focus
from plinth.capabilities.finops.focus_import import MAX_ERRORS
from plinth.capabilities.finops.models import CostEntry
from plinth.core.clock import FrozenClock
from plinth.core.errors import InvalidInput
from plinth.infrastructure.store.db import Database

FIXTURE = Path(__file__).parent / "fixtures" / "focus-1.0-sample-slice.csv"
ZONELESS = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})")


def sample() -> str:
    """The fixture as it is: NULL strings and times without a zone."""
    return FIXTURE.read_text(encoding="utf-8")


def zoned(text: str) -> str:
    """The fixture with every time written in FOCUS form (``...T...Z``)."""
    return ZONELESS.sub(r"\1T\2Z", text)


def table(text: str) -> list[list[str]]:
    """Parse CSV text."""
    return list(csv.reader(io.StringIO(text, newline="")))


def render(rows: list[list[str]]) -> str:
    """Write rows as CSV text."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def edit(text: str, *, row: int, column: str, value: str) -> str:
    """Return ``text`` with one cell changed (row 1 is the header, as in error messages)."""
    rows = table(text)
    rows[row - 1][rows[0].index(column)] = value
    return render(rows)


def drop_columns(text: str, *names: str) -> str:
    """Return ``text`` without the named columns."""
    rows = table(text)
    keep = [i for i, name in enumerate(rows[0]) if name not in names]
    return render([[r[i] for i in keep] for r in rows])


def count(database: Database) -> int:
    """Return how many ledger rows exist."""
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(CostEntry)) or 0)


def entries(database: Database) -> list[CostEntry]:
    """Return every ledger row, oldest first."""
    with database.read() as session:
        rows = list(session.scalars(select(CostEntry).order_by(CostEntry.at, CostEntry.id)))
        session.expunge_all()
        return rows


def run_import(
    database: Database,
    clock: FrozenClock,
    text: str,
    *,
    source: str = "bill.csv",
    assume_utc: bool = False,
) -> dict[str, object]:
    """Import in one transaction, as the platform does, and return the result as data."""
    with database.transaction() as session:
        result = import_focus(session, text, source_name=source, clock=clock, assume_utc=assume_utc)
        return result.as_dict()


def refusal(
    database: Database, clock: FrozenClock, text: str, *, assume_utc: bool = False
) -> FocusImportError:
    """Import ``text``, expect a refusal, check nothing was written, and return the error."""
    before = count(database)
    with pytest.raises(FocusImportError) as caught:
        run_import(database, clock, text, assume_utc=assume_utc)
    assert count(database) == before
    return caught.value


def test_sample_with_zoneless_times_is_refused_naming_each_row(
    database: Database, clock: FrozenClock
) -> None:
    error = refusal(database, clock, sample())
    first = error.errors[0]
    assert (first.row, first.column) == (2, "BillingPeriodEnd")
    assert "'2024-10-01 00:00:00' has no time zone" in first.message
    assert "assume_utc" in first.message
    rows_named = {e.row for e in error.errors}
    assert rows_named == set(range(2, 12))  # every data row of the slice
    assert {e.column for e in error.errors} == {
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargePeriodEnd",
        "ChargePeriodStart",
    }
    assert error.extra["error_count"] == 40
    assert error.extra["errors"][0] == {
        "row": 2,
        "column": "BillingPeriodEnd",
        "message": first.message,
    }
    assert error.issues[0].file == "bill.csv" and error.issues[0].path == "row 2, BillingPeriodEnd"


def test_sample_imports_with_assume_utc(database: Database, clock: FrozenClock) -> None:
    result = run_import(database, clock, sample(), assume_utc=True)
    raw = list(csv.DictReader(io.StringIO(sample(), newline="")))
    nano = Decimal("0.000000001")  # the ledger keeps money to 9 decimal places
    billed = sum((Decimal(r["BilledCost"]).quantize(nano) for r in raw), Decimal(0))
    assert result["rows"] == result["imported"] == 10
    assert result["duplicates"] == 0
    assert Decimal(str(result["billed"]["USD"])) == billed  # type: ignore[index]
    # The Oracle rows (8, 10, 11 here) have an empty ContractedCost: kept, with a warning each.
    message = "ContractedCost is null, which FOCUS does not allow (kept as null)"
    assert result["warnings"] == [
        {"row": row, "column": "ContractedCost", "message": message} for row in (8, 10, 11)
    ]
    assert result["warning_count"] == 3
    rows = entries(database)
    assert len(rows) == 10 and {r.source for r in rows} == {"billing"}
    assert sum((r.cost for r in rows), Decimal(0)) == billed
    assert all(r.at.tzinfo is not None and r.at.utcoffset() is not None for r in rows)
    assert result["unattributed"] == sum(1 for r in rows if not r.team)


def test_import_attributes_by_tags_and_keeps_the_bill(
    database: Database, clock: FrozenClock
) -> None:
    run_import(database, clock, sample(), assume_utc=True)
    by_row = {r.extra["import"]["row"]: r for r in entries(database)}
    elb = by_row[3]  # {"application": ..., "environment": "dev", "business_unit": ...}
    assert (elb.team, elb.project, elb.environment) == ("ViennaAI", "BrightLensMatrix", "dev")
    azure = by_row[9]  # {"env": "prod", "Project": ..., " org": ...}: keys are case-insensitive
    assert azure.environment == "prod" and azure.project and azure.team == ""
    sqs = by_row[2]  # Tags NULL: unattributed, never dropped
    assert (sqs.team, sqs.project, sqs.environment) == ("", "", "")
    assert sqs.cost == Decimal("0.0000008")
    # NULL strings are nulls: absent from the kept columns, never the text "NULL".
    assert "ChargeClass" not in sqs.extra["focus"]
    assert all(v != "NULL" for r in by_row.values() for v in r.extra["focus"].values())
    # Times are kept in FOCUS form, in UTC.
    assert sqs.extra["focus"]["ChargePeriodStart"] == "2024-09-18T22:00:00Z"
    assert sqs.period_s == 3600
    # Resource ids: kept whole; ids longer than the ledger column are shortened, full in extra.
    long_id = elb.extra["resource_id"]
    assert long_id.startswith("arn:") and len(long_id) > 64
    assert len(elb.resource_id) == 64 and elb.resource_id.startswith(long_id[:47])
    assert elb.extra["focus"]["ResourceId"] == long_id
    credit = by_row[7]
    assert credit.dimension == "credit" and credit.cost < 0


def test_reimporting_the_same_file_adds_nothing(database: Database, clock: FrozenClock) -> None:
    first = run_import(database, clock, sample(), assume_utc=True)
    again = run_import(database, clock, sample(), assume_utc=True)
    assert first["imported"] == 10
    assert again["imported"] == 0 and again["duplicates"] == 10 and again["billed"] == {}
    assert count(database) == 10
    keys = {r.extra["import"]["key"] for r in entries(database)}
    assert len(keys) == 10


def test_a_bill_under_another_source_name_is_a_different_bill(
    database: Database, clock: FrozenClock
) -> None:
    run_import(database, clock, sample(), assume_utc=True, source="aws-2024-09")
    other = run_import(database, clock, sample(), assume_utc=True, source="aws-2024-09-copy")
    assert other["imported"] == 10 and count(database) == 20


def test_identical_rows_in_one_file_are_both_kept_once(
    database: Database, clock: FrozenClock
) -> None:
    rows = table(zoned(sample()))
    doubled = render([*rows, rows[1]])
    assert run_import(database, clock, doubled)["imported"] == 11
    assert run_import(database, clock, doubled)["imported"] == 0
    assert count(database) == 11


def test_missing_mandatory_columns_are_one_error_listing_them(
    database: Database, clock: FrozenClock
) -> None:
    text = drop_columns(zoned(sample()), "BilledCost", "ChargePeriodStart", "ServiceName")
    error = refusal(database, clock, text)
    assert len(error.errors) == 1
    only = error.errors[0]
    assert only.row == 1
    assert only.message.startswith(
        "missing mandatory FOCUS columns: BilledCost, ChargePeriodStart, ServiceName"
    )


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        (4, "BilledCost", "NULL", "BilledCost must not be null"),
        (5, "ChargePeriodStart", "", "ChargePeriodStart must not be null"),
        (6, "ListCost", "12,50", "not a decimal number: '12,50'"),
        (7, "EffectiveCost", "NaN", "not a finite number: 'NaN'"),
        (3, "BilledCost", "1e30", "out of range"),
        (9, "ChargePeriodEnd", "yesterday", "not an ISO 8601 date/time: 'yesterday'"),
        (8, "ChargePeriodEnd", "2024-09-21T16:00:00Z", "is before ChargePeriodStart"),
        (10, "ChargeCategory", "Refund", "'Refund' is not one of Usage, Purchase"),
        (11, "BillingCurrency", "usd", "not a three-letter ISO 4217 currency code"),
        (2, "Tags", "{team: payments}", "not valid JSON"),
        (3, "Tags", '["payments"]', "must be a JSON object"),
    ],
)
def test_a_bad_cell_is_refused_with_its_row_and_column(
    database: Database, clock: FrozenClock, row: int, column: str, value: str, message: str
) -> None:
    text = edit(zoned(sample()), row=row, column=column, value=value)
    error = refusal(database, clock, text)
    assert [(e.row, e.column) for e in error.errors] == [(row, column)]
    assert message in error.errors[0].message
    assert f"row {row}, {column}" in error.detail


def test_a_bad_row_at_the_end_imports_nothing(database: Database, clock: FrozenClock) -> None:
    text = edit(zoned(sample()), row=11, column="BilledCost", value="twelve")
    error = refusal(database, clock, text)
    assert [(e.row, e.column) for e in error.errors] == [(11, "BilledCost")]
    assert count(database) == 0


def test_rows_with_the_wrong_number_of_fields(database: Database, clock: FrozenClock) -> None:
    rows = table(zoned(sample()))
    rows[4] = rows[4][:-3]
    error = refusal(database, clock, render(rows))
    assert [(e.row, e.message) for e in error.errors] == [(5, "has 41 fields, the header 44")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ('"BilledCost\n1', "not valid CSV"),
    ],
)
def test_empty_or_broken_files(
    database: Database, clock: FrozenClock, text: str, message: str
) -> None:
    error = refusal(database, clock, text)
    assert message in error.errors[0].message


def test_duplicate_header_columns(database: Database, clock: FrozenClock) -> None:
    rows = table(zoned(sample()))
    rows[0][0] = "BilledCost"  # AvailabilityZone renamed to a column that exists
    error = refusal(database, clock, render(rows))
    assert error.errors[0].row == 1
    assert "columns appear more than once: BilledCost" in error.errors[0].message


def test_errors_are_capped_but_counted(database: Database, clock: FrozenClock) -> None:
    rows = table(zoned(sample()))
    bad = [list(rows[2]) for _ in range(60)]
    for r in bad:
        r[rows[0].index("BilledCost")] = "x"
        r[rows[0].index("ListCost")] = "y"
    error = refusal(database, clock, render([rows[0], *bad]))
    assert len(error.errors) == MAX_ERRORS
    assert error.extra["error_count"] == 120
    assert "120 errors in all, the first 100 listed" in error.detail


def test_zone_offsets_are_converted_to_utc(database: Database, clock: FrozenClock) -> None:
    text = edit(
        zoned(sample()), row=2, column="ChargePeriodStart", value="2024-09-19T00:00:00+02:00"
    )
    run_import(database, clock, text)
    first = next(r for r in entries(database) if r.extra["import"]["row"] == 2)
    assert first.extra["focus"]["ChargePeriodStart"] == "2024-09-18T22:00:00Z"


def test_the_source_name_is_required(database: Database, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput, match="source name"):
        run_import(database, clock, zoned(sample()), source="  ")


def test_tags_are_kept_as_json(database: Database, clock: FrozenClock) -> None:
    run_import(database, clock, zoned(sample()))
    tagged = [r for r in entries(database) if "Tags" in r.extra["focus"]]
    assert tagged and all(isinstance(json.loads(r.extra["focus"]["Tags"]), dict) for r in tagged)
