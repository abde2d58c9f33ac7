"""Charts drawn on the server as inline SVG, each with the table of its numbers beside it.

No JavaScript, no library: a chart is a small SVG string whose every label is escaped,
and a table (for screen readers, keyboards and people who would rather read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

__all__ = ["Chart", "bar_chart", "line_chart"]

PALETTE = ("#2458a6", "#c2571a", "#2e7d4f", "#8a3fa0", "#a3871c", "#1f7f8c", "#b0324f")
WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 28, 14, 40


@dataclass(frozen=True)
class Chart:
    """One chart: its SVG and the table of the same numbers."""

    title: str
    svg: Markup
    columns: list[str]
    rows: list[list[str]]
    legend: list[tuple[str, str]] = field(default_factory=list)


def _fmt(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(10 * magnitude)


def _frame(title: str, top: float, unit: str, body: list[str]) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)} (the table beside it has the numbers)" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{escape(_fmt(top * i / 4))}</text>"
        )
    if unit:
        parts.append(f'<text x="4" y="{TOP - 2}" class="axis">{escape(unit)}</text>')
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, bars: Sequence[tuple[str, float]], *, unit: str = "") -> Chart:
    """Return a bar chart of labelled values (e.g. cost by team)."""
    top = _nice_max(max((v for _, v in bars), default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    body = []
    for i, (label, value) in enumerate(bars):
        h = plot_h * max(value, 0.0) / top
        x = LEFT + i * slot + slot * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[i % len(PALETTE)]}"><title>'
            f"{escape(label)}: {escape(_fmt(value))}</title></rect>"
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'class="axis">{escape(label[:18])}</text>'
        )
    rows = [[label, _fmt(value)] for label, value in bars]
    return Chart(title, _frame(title, top, unit, body), ["", unit or "value"], rows)


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    unit: str = "",
    area: bool = False,
    reference: tuple[str, float] | None = None,
) -> Chart:
    """Return a line (or stacked-free area) chart of series over the same x labels.

    ``reference`` draws a dashed horizontal line (e.g. a budget) and adds it to the table.
    """
    peak = max((max(v, default=0.0) for v in series.values()), default=0.0)
    top = _nice_max(max(peak, reference[1] if reference else 0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(x_labels), 1)
    step = plot_w / max(n - 1, 1)

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * max(value, 0.0) / top

    body: list[str] = []
    legend = []
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        legend.append((name, color))
        points = [(LEFT + i * step, y_of(v)) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        if area and points:
            base = TOP + plot_h
            body.append(
                f'<polygon points="{LEFT:.1f},{base:.1f} {path} {points[-1][0]:.1f},{base:.1f}" '
                f'fill="{color}" fill-opacity="0.18" stroke="none"/>'
            )
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
    if reference is not None:
        y = y_of(reference[1])
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="reference">'
            f"<title>{escape(reference[0])}</title></line>"
        )
        legend.append((reference[0], "#555"))
    for i, label in enumerate(x_labels):
        if n <= 8 or i % max(n // 6, 1) == 0 or i == n - 1:
            body.append(
                f'<text x="{LEFT + i * step:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'class="axis">{escape(label)}</text>'
            )
    columns = ["", *series.keys()] + ([reference[0]] if reference else [])
    rows = [
        [label, *(_fmt(values[i]) if i < len(values) else "" for values in series.values())]
        + ([_fmt(reference[1])] if reference else [])
        for i, label in enumerate(x_labels)
    ]
    return Chart(title, _frame(title, top, unit, body), columns, rows, legend)
