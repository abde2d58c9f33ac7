"""Kubernetes quantities: parsing, formatting and comparing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plinth.core.errors import InvalidInput
from plinth.core.quantities import (
    compare_quantities,
    format_quantity,
    is_quantity,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal(0)),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("+3", Decimal(3)),
        ("-1Ki", Decimal(-1024)),
        ("500m", Decimal("0.5")),
        ("100n", Decimal("0.0000001")),
        ("250u", Decimal("0.00025")),
        ("1k", Decimal(1000)),
        ("1K", Decimal(1000)),
        ("125M", Decimal(125_000_000)),
        ("1G", Decimal(10**9)),
        ("2T", Decimal(2 * 10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("256Mi", Decimal(256 * 2**20)),
        ("0.5Gi", Decimal(2**29)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("2.5e+2", Decimal(250)),
    ],
)
def test_parses_kubernetes_quantities(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


def test_accepts_numbers() -> None:
    assert parse_quantity(3) == 3
    assert parse_quantity(0.25) == Decimal("0.25")
    assert parse_quantity(Decimal("1.5")) == Decimal("1.5")


@pytest.mark.parametrize(
    "bad", ["", " 1", "1 ", "abc", "1Mb", "1mi", "1.2.3", "Mi", "1e", "1e999", "--1", "1x"]
)
def test_rejects_what_is_not_a_quantity(bad: str) -> None:
    with pytest.raises(InvalidInput, match="is not a quantity"):
        parse_quantity(bad)
    assert not is_quantity(bad)


@pytest.mark.parametrize("bad", [True, None, float("nan"), float("inf"), [1]])
def test_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(InvalidInput):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_compares_across_suffixes() -> None:
    assert compare_quantities("0.5Gi", "512Mi") == 0
    assert compare_quantities("1Gi", "1G") == 1
    assert compare_quantities("100m", "0.2") == -1
    assert compare_quantities(2, "2000m") == 0


@pytest.mark.parametrize(
    ("value", "binary", "expected"),
    [
        ("268435456", True, "256Mi"),
        ("268435456", False, "268435456"),
        ("0.5", False, "500m"),
        ("1500", False, "1500"),
        ("2000", False, "2k"),
        ("1E", True, "1E"),
        ("0", True, "0"),
        ("-1024", True, "-1Ki"),
        ("1e-12", False, "1e-12"),
    ],
)
def test_formats_in_shortest_exact_form(value: str, binary: bool, expected: str) -> None:
    assert format_quantity(value, binary=binary) == expected


_SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(_SUFFIXES),
)
def test_text_form_round_trips(mantissa: int, decimals: int, suffix: str) -> None:
    number = Decimal(mantissa).scaleb(-decimals)
    text = f"{number:f}{suffix}"
    value = parse_quantity(text)
    for binary in (False, True):
        assert parse_quantity(format_quantity(value, binary=binary)) == value


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=9, min_value=-(10**9), max_value=10**9
    )
)
def test_format_round_trips_and_orders(value: Decimal) -> None:
    formatted = format_quantity(value)
    assert parse_quantity(formatted) == value
    assert compare_quantities(formatted, value) == 0
    assert compare_quantities(format_quantity(value + 1), value) == 1
