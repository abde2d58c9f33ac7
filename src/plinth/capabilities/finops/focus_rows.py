"""Reading and checking FOCUS CSV rows: the bad-input rules of the FOCUS import.

Row numbers count the header as row 1, as a spreadsheet shows them. ``NULL``
(any case) and empty fields are null; times need a zone unless ``assume_utc``;
money and quantities are decimals kept to 9 places; see :mod:`.focus_import`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from plinth.capabilities.finops.focus_spec import CHARGE_CATEGORIES, COLUMNS, IMPORT_REQUIRED
from plinth.core.errors import Issue, SpecError

__all__ = [
    "LEDGER_REQUIRED",
    "MAX_ERRORS",
    "CheckedRow",
    "FocusImportError",
    "RowError",
    "parse_focus_rows",
    "parse_focus_time",
]

MAX_ERRORS = 100
NANO = Decimal("0.000000001")
MAX_MONEY = Decimal(10) ** 15
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TYPES = {c.name: c for c in COLUMNS}
# Columns without which a row cannot become a ledger row: a null in them is an error.
# Other nulls that FOCUS forbids (e.g. ContractedCost in a few rows of the FinOps
# Foundation's own 1.0 sample) are reported as warnings and imported as null.
LEDGER_REQUIRED = frozenset(
    {"BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd"}
)


@dataclass(frozen=True)
class RowError:
    """One problem in an import: its row (1 is the header), column and what is wrong."""

    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the error as API data."""
        return {"row": self.row, "column": self.column, "message": self.message}


class FocusImportError(SpecError):
    """A FOCUS file was refused; ``errors`` lists each row and column at fault."""

    def __init__(self, errors: Sequence[RowError], *, source: str, total: int) -> None:
        self.errors = list(errors)
        super().__init__(
            [
                Issue(
                    message=e.message,
                    path=f"row {e.row}, {e.column}" if e.column else f"row {e.row}",
                    file=source,
                )
                for e in self.errors
            ]
        )
        self.extra["errors"] = [e.as_dict() for e in self.errors]
        self.extra["error_count"] = total
        if total > len(self.errors):
            self.detail += f"; {total} errors in all, the first {len(self.errors)} listed"


def parse_focus_time(raw: str, *, assume_utc: bool) -> datetime | str:
    """Return an aware UTC datetime, or a message saying why ``raw`` is not a FOCUS time."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return f"not an ISO 8601 date/time: {text!r} (FOCUS wants e.g. 2024-09-01T00:00:00Z)"
    if value.tzinfo is None:
        if not assume_utc:
            return (
                f"{text!r} has no time zone; FOCUS times are UTC, e.g. "
                f"{value.strftime('%Y-%m-%dT%H:%M:%SZ')} (import with assume_utc to read "
                "zone-less times as UTC)"
            )
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _is_null(raw: str) -> bool:
    text = raw.strip()
    return text == "" or text.upper() == "NULL"


def _decimal(raw: str) -> Decimal | str:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        return f"not a decimal number: {raw.strip()!r}"
    if not value.is_finite():
        return f"not a finite number: {raw.strip()!r}"
    if abs(value) >= MAX_MONEY:
        return f"{raw.strip()} is out of range (at most 15 digits before the point)"
    return value.quantize(NANO)


def _json_object(raw: str) -> dict[str, Any] | str:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(value, dict):
        return f"must be a JSON object of key/value pairs, got {type(value).__name__}"
    return value


@dataclass
class CheckedRow:
    """A checked row: its raw cells (nulls as None), parsed values and warnings."""

    number: int
    raw: dict[str, str | None]
    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[RowError] = field(default_factory=list)


def _check_value(name: str, raw: str, *, assume_utc: bool) -> tuple[Any, str | None]:
    """Return (parsed value, error message or None) for one non-null cell."""
    spec = _TYPES.get(name)
    if spec is None:
        return raw, None
    if spec.type == "Decimal":
        number = _decimal(raw)
        return (None, number) if isinstance(number, str) else (number, None)
    if spec.type == "DateTime":
        moment = parse_focus_time(raw, assume_utc=assume_utc)
        return (None, moment) if isinstance(moment, str) else (moment, None)
    if spec.type == "JSON":
        obj = _json_object(raw)
        return (None, obj) if isinstance(obj, str) else (obj, None)
    return raw.strip(), None


def _check_null(row: CheckedRow, name: str) -> RowError | None:
    """Return the error of a null the ledger cannot do without; warn of other forbidden nulls."""
    spec = _TYPES.get(name)
    if name in LEDGER_REQUIRED:
        return RowError(row.number, name, f"{name} must not be null (found NULL or an empty field)")
    if spec is not None and not spec.nullable:
        message = f"{name} is null, which FOCUS does not allow (kept as null)"
        row.warnings.append(RowError(row.number, name, message))
    return None


def _check_row(
    number: int, header: Sequence[str], record: Sequence[str], *, assume_utc: bool
) -> tuple[CheckedRow, list[RowError]]:
    raw = {
        name: None if _is_null(cell) else cell for name, cell in zip(header, record, strict=True)
    }
    row, errors = CheckedRow(number=number, raw=raw), []
    for name, cell in raw.items():
        if cell is None:
            null_error = _check_null(row, name)
            errors.extend([null_error] if null_error else [])
            continue
        value, error = _check_value(name, cell, assume_utc=assume_utc)
        if error:
            errors.append(RowError(number, name, error))
        else:
            row.values[name] = value
    return row, errors + _check_semantics(row)


def _check_semantics(row: CheckedRow) -> list[RowError]:
    """Check allowed values and the order of the charge period."""
    errors = []
    category = row.values.get("ChargeCategory")
    if isinstance(category, str):
        known = {c.lower(): c for c in CHARGE_CATEGORIES}
        if category.lower() in known:
            row.values["ChargeCategory"] = known[category.lower()]
        else:
            allowed = ", ".join(CHARGE_CATEGORIES)
            message = f"{category!r} is not one of {allowed}"
            errors.append(RowError(row.number, "ChargeCategory", message))
    currency = row.values.get("BillingCurrency")
    if isinstance(currency, str) and not _CURRENCY.match(currency):
        message = f"{currency!r} is not a three-letter ISO 4217 currency code"
        errors.append(RowError(row.number, "BillingCurrency", message))
    start, end = row.values.get("ChargePeriodStart"), row.values.get("ChargePeriodEnd")
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        errors.append(RowError(row.number, "ChargePeriodEnd", "is before ChargePeriodStart"))
    return errors


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, fields) of each non-blank CSV record; row 1 is the header."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    number = 0
    try:
        for record in reader:
            number += 1
            if record and any(cell.strip() for cell in record):
                yield number, record
    except csv.Error as exc:
        raise FocusImportError(
            [RowError(number + 1, "", f"not valid CSV: {exc}")], source="", total=1
        ) from exc


def _check_header(header: list[str], source: str) -> list[str]:
    names = [name.strip() for name in header]
    errors: list[RowError] = []
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        errors.append(RowError(1, "", f"columns appear more than once: {', '.join(duplicates)}"))
    missing = [name for name in IMPORT_REQUIRED if name not in names]
    if missing:
        errors.append(
            RowError(
                1, "", f"missing mandatory FOCUS columns: {', '.join(missing)} (FOCUS 1.0 or newer)"
            )
        )
    if errors:
        raise FocusImportError(errors, source=source, total=len(errors))
    return names


def parse_focus_rows(text: str, *, source: str, assume_utc: bool) -> list[CheckedRow]:
    """Check the whole file and return its rows; FocusImportError lists what is wrong."""
    records = _records(text)
    try:
        first = next(records, None)
    except FocusImportError as exc:
        raise FocusImportError(exc.errors, source=source, total=1) from exc
    if first is None:
        raise FocusImportError([RowError(1, "", "the file is empty")], source=source, total=1)
    header = _check_header(first[1], source)
    rows: list[CheckedRow] = []
    errors: list[RowError] = []
    total = 0
    try:
        for number, record in records:
            if len(record) != len(header):
                found = [
                    RowError(number, "", f"has {len(record)} fields, the header {len(header)}")
                ]
            else:
                row, found = _check_row(number, header, record, assume_utc=assume_utc)
                rows.append(row)
            total += len(found)
            errors.extend(found[: max(0, MAX_ERRORS - len(errors))])
    except FocusImportError as exc:
        total += 1
        errors.extend(exc.errors[: max(0, MAX_ERRORS - len(errors))])
    if errors:
        raise FocusImportError(errors, source=source, total=total)
    return rows
