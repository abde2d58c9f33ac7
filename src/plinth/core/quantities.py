"""Kubernetes quantities: ``500m`` CPUs, ``256Mi`` of memory, ``1e3`` requests.

A quantity is a signed decimal number with an optional suffix:

- binary SI: ``Ki Mi Gi Ti Pi Ei`` (powers of 1024);
- decimal SI: ``n u m k M G T P E`` (powers of 1000; ``K`` is read as ``k``,
  as Score's memory limits allow it);
- a decimal exponent: ``e3``, ``E-2``, ``e+6``.

Values are exact :class:`~decimal.Decimal` numbers, so ``0.5Gi == 512Mi``.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext

from plinth.core.errors import InvalidInput

__all__ = [
    "compare_quantities",
    "format_quantity",
    "is_quantity",
    "parse_quantity",
]

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "K": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_LENGTH = 64
_MAX_EXPONENT = 64
_PRECISION = 200  # enough digits that no quantity of at most _MAX_LENGTH characters is rounded

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)"
    r"|[eE](?P<exponent>[+-]?\d+)"
    r"|(?P<decimal>[numkKMGTPE]))?"
)


def _invalid(value: object, why: str) -> InvalidInput:
    return InvalidInput(
        f"{value!r} is not a quantity: {why} "
        "(expected a number with an optional suffix such as 500m, 256Mi, 1.5G or 1e3)"
    )


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Return the exact value of a Kubernetes quantity (``"256Mi"`` → ``268435456``)."""
    if isinstance(value, bool):
        raise _invalid(value, "a boolean is not a number")
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        return _parse_text(value)
    else:
        raise _invalid(value, f"a {type(value).__name__} is not a number")
    if not result.is_finite():
        raise _invalid(value, "it is not finite")
    return result


def _parse_text(text: str) -> Decimal:
    if not text:
        raise _invalid(text, "it is empty")
    if len(text) > _MAX_LENGTH:
        raise _invalid(text[:_MAX_LENGTH] + "...", f"it is longer than {_MAX_LENGTH} characters")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise _invalid(text, "unexpected characters or suffix")
    number = Decimal(match["number"])
    exponent = 0
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        if abs(exponent) > _MAX_EXPONENT:
            raise _invalid(text, f"the exponent is beyond ±{_MAX_EXPONENT}")
    elif match["decimal"]:
        exponent = _DECIMAL[match["decimal"]]
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if match["binary"]:
            return number * (Decimal(1024) ** _BINARY[match["binary"]])
        return number.scaleb(exponent)


def is_quantity(value: object) -> bool:
    """Return whether ``value`` is a number or a string that parses as a quantity."""
    if not isinstance(value, str | int | float | Decimal):
        return False
    try:
        parse_quantity(value)
    except InvalidInput:
        return False
    return True


def compare_quantities(a: str | int | float | Decimal, b: str | int | float | Decimal) -> int:
    """Return -1, 0 or 1 as quantity ``a`` is less than, equal to or greater than ``b``."""
    x, y = parse_quantity(a), parse_quantity(b)
    return (x > y) - (x < y)


def format_quantity(value: Decimal | int | str, *, binary: bool = False) -> str:
    """Return the shortest exact suffix form of ``value`` (``binary`` prefers ``Ki``…``Ei``)."""
    number = parse_quantity(value)
    if number == 0:
        return "0"
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _format(number, binary=binary)


def _format(number: Decimal, *, binary: bool) -> str:
    candidates = [_binary_form(number)] if binary else []
    candidates.append(_decimal_form(number))
    return min((c for c in candidates if c), key=len)


def _binary_form(number: Decimal) -> str:
    if number != number.to_integral_value():
        return ""
    for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
        scaled = number / (Decimal(1024) ** power)
        if scaled == scaled.to_integral_value():
            return f"{_plain(scaled)}{suffix}"
    return _plain(number)


def _decimal_form(number: Decimal) -> str:
    integral = number == number.to_integral_value()
    for suffix, exponent in sorted(_DECIMAL.items(), key=lambda item: -item[1]):
        if suffix == "K" or (integral and exponent < 0):
            continue
        scaled = number.scaleb(-exponent)
        if scaled == scaled.to_integral_value():
            return f"{_plain(scaled)}{suffix}"
    if integral:
        return _plain(number)
    sign, digits, exp = number.normalize().as_tuple()
    mantissa = ("-" if sign else "") + "".join(str(d) for d in digits)
    return f"{mantissa}e{exp}"


def _plain(number: Decimal) -> str:
    """Return ``number`` (an integral Decimal) without exponent notation."""
    return f"{number.to_integral_value():f}"
