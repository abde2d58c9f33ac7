"""How a plan looks to a person: one line per change, field diffs, gate verdicts, next step."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from plinth.experience.cli.output import out_console, verdict_style, verdicts_table

__all__ = ["ACTION_SYMBOLS", "cost_line", "field_diff", "flatten", "print_plan", "summary_line"]

ACTION_SYMBOLS: dict[str, tuple[str, str]] = {
    "create": ("+", "green"),
    "delete": ("-", "red"),
    "update": ("~", "yellow"),
    "replace": ("±", "magenta"),
    "no-op": ("=", "dim"),
}
_ORDER = ("create", "update", "replace", "delete", "no-op")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Return the leaves of nested maps and lists keyed by dotted path (``spec.a[0].b``)."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "$": value}


def field_diff(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """Return ``(path, old, new)`` for every leaf that differs; a missing side is ``...``."""
    old, new = flatten(before or {}), flatten(after or {})
    changed = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path, ...), new.get(path, ...)
        if a != b:
            changed.append((path, a, b))
    return changed


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _print_change(console: Console, change: Mapping[str, Any]) -> None:
    action = str(change.get("action", "no-op"))
    symbol, style = ACTION_SYMBOLS.get(action, ("?", ""))
    kind = str(change.get("kind") or "")
    what = f"{kind}/{change['type']}" if change.get("type") else kind
    console.print(
        Text.assemble(
            (f"  {symbol} ", style),
            (f"{action:<8}", style),
            (str(change.get("name", "")), "bold"),
            (f"  ({what})" if what else "", "dim"),
            (_change_cost(change), "cyan"),
        ),
        soft_wrap=True,
    )
    for reason in change.get("reasons") or []:
        console.print(Text(f"      because {reason}", style="dim"), soft_wrap=True)
    if action not in ("update", "replace"):
        return
    for path, old, new in field_diff(change.get("before"), change.get("after")):
        line = Text(f"      {path}: ")
        if old is ...:
            line.append(f"+ {_show(new)}", style="green")
        elif new is ...:
            line.append(f"- {_show(old)}", style="red")
        else:
            line.append(_show(old), style="red")
            line.append(" → ")
            line.append(_show(new), style="green")
        console.print(line, soft_wrap=True)


def _money(amount: Any, currency: str, *, sign: bool = False) -> str:
    value = Decimal(str(amount))
    return f"{currency} {value:+,.2f}" if sign else f"{currency} {value:,.2f}"


def _change_cost(change: Mapping[str, Any]) -> str:
    """Return ``  USD 12.34/month`` (or ``before → after``) for a priced change."""
    cost = change.get("cost")
    if not cost:
        return ""
    currency = str(cost.get("currency", ""))
    after = _money(cost["monthly"], currency)
    before = change.get("cost_before")
    if before and Decimal(str(before["monthly"])) != Decimal(str(cost["monthly"])):
        return f"  {_money(before['monthly'], currency)} → {after}/month"
    return f"  {after}/month"


def cost_line(cost: Mapping[str, Any]) -> str:
    """Return the plan's monthly cost change, before and after."""
    currency = str(cost.get("currency", ""))
    return (
        f"Cost: {_money(cost['monthly_delta'], currency, sign=True)}/month "
        f"({_money(cost['monthly_before'], currency)} → "
        f"{_money(cost['monthly_after'], currency)}; price book {cost.get('price_book', '?')})"
    )


def _alternatives(console: Console, plan: Mapping[str, Any]) -> None:
    """Print the cheaper alternatives when the cost gate did not simply allow the plan."""
    cost = plan.get("cost") or {}
    verdicts = [v for v in plan.get("verdicts") or [] if v.get("gate") == "cost"]
    if not cost.get("alternatives") or all(v.get("verdict") == "allow" for v in verdicts):
        return
    table = Table(title="Cheaper alternatives", title_justify="left", header_style="bold")
    for column in ("KIND", "RESOURCE", "WHAT", "SAVES/MONTH"):
        table.add_column(column, overflow="fold")
    currency = str(cost.get("currency", ""))
    for alt in cost["alternatives"]:
        table.add_row(
            str(alt["kind"]),
            str(alt["resource"]),
            str(alt["summary"]),
            _money(alt["monthly_savings"], currency),
        )
    console.print(table)


def summary_line(changes: list[Mapping[str, Any]]) -> str:
    """Return ``N to create, N to update, ...`` for a list of changes."""
    counts = {action: 0 for action in _ORDER}
    for change in changes:
        action = str(change.get("action", "no-op"))
        counts[action] = counts.get(action, 0) + 1
    words = {"no-op": "unchanged"}
    parts = [f"{n} {words.get(a, 'to ' + a)}" for a, n in counts.items() if n]
    return ", ".join(parts) if parts else "no changes"


def _next_step(console: Console, plan: Mapping[str, Any]) -> None:
    digest = str(plan.get("digest", ""))
    outcome = str(plan.get("outcome", ""))
    if outcome == "deny":
        console.print(Text("This plan is denied and cannot be applied.", style="bold red"))
    elif outcome == "needs_approval" or plan.get("status") == "needs_approval":
        console.print(f"Needs approval. Request it with: plinth apply --plan {digest}")
        console.print(f"An approver runs: plinth approvals approve {digest} --apply")
    else:
        console.print(f"Apply it with: plinth apply --plan {digest}")


def print_plan(plan: Mapping[str, Any], *, next_step: bool = True) -> None:
    """Print a plan: header, changes with field diffs, gate verdicts, digest and next step."""
    console = out_console()
    where = str(plan.get("environment", ""))
    if plan.get("project"):
        where += f" / project {plan['project']}"
    console.print(Text.assemble(("Plan for ", "bold"), (where, "bold cyan")))
    changes = list(plan.get("changes") or [])
    changes.sort(key=lambda c: _ORDER.index(c["action"]) if c.get("action") in _ORDER else 9)
    for change in changes:
        _print_change(console, change)
    console.print(Text(f"Plan: {summary_line(changes)}.", style="bold"))
    if plan.get("cost"):
        console.print(Text(cost_line(plan["cost"]), style="bold cyan"), soft_wrap=True)
    if plan.get("verdicts"):
        console.print(verdicts_table(plan["verdicts"]))
    _alternatives(console, plan)
    for conflict in plan.get("conflicts") or []:
        console.print(Text(f"  conflict: {_show(conflict)}", style="yellow"), soft_wrap=True)
    outcome = str(plan.get("outcome", ""))
    console.print(
        Text.assemble(
            "Outcome: ",
            (outcome, f"bold {verdict_style(outcome)}"),
            f"   status: {plan.get('status', '')}",
        )
    )
    console.print(Text.assemble("Digest: ", (str(plan.get("digest", "")), "bold")))
    if next_step:
        _next_step(console, plan)
