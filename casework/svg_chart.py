"""A stacked bar chart as inline SVG, drawn on the server: no JavaScript, no library.

Accessible: the `<svg>` has role="img" with a `<title>` and a `<desc>` (which points to
the table with the same figures, the accessible alternative), and each bar has a
`<title>` saying what it counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Colours that stay apart for common colour blindness (Okabe–Ito), one per series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")

WIDTH = 720
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 50
LEGEND_ROW = 20


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[int]


def stacked_bars(
    *, chart_id: str, title: str, description: str, columns: Sequence[str], series: Sequence[Series]
) -> str:
    """One stacked bar per column, a segment (class "bar") per series with a count above
    zero; a legend below."""
    shown = [s for s in series if sum(s.values)]
    legend_height = LEGEND_ROW * ((len(shown) + 2) // 3)
    height = HEIGHT + legend_height
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(columns))]
    top = max([*totals, 1])
    step = plot_w / max(len(columns), 1)
    bar_w = max(step * 0.6, 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#444"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, column in enumerate(columns):
        x = LEFT + i * step + (step - bar_w) / 2
        y = float(TOP + plot_h)
        for n, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(s.label)}, '
                f"{escape(column)}: {value}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
            f'font-size="11">{escape(column)}</text>'
        )
    for k, s in enumerate(shown):
        n = list(series).index(s)
        lx = LEFT + (k % 3) * (plot_w / 3)
        ly = HEIGHT - BOTTOM + 30 + (k // 3) * LEGEND_ROW
        parts.append(
            f'<rect class="legend" x="{lx:.1f}" y="{ly}" width="12" height="12" '
            f'fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{lx + 18:.1f}" y="{ly + 11}" font-size="12">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
