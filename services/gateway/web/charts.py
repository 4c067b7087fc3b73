"""Server-rendered inline SVG charts (no JavaScript chart library)."""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ("#c0392b", "#d35400", "#2471a3", "#1e8449", "#7d3c98", "#566573")


def bar_chart(rows: list[dict[str, Any]], *, label_key: str, value_key: str,
              title: str, unit: str = "分", highlight: str | None = None,
              highlight_key: str | None = None, chart_id: str = "chart") -> str:
    """Horizontal bars, one per row, largest scale = the largest value. Accessible: the SVG
    has a title and description, and each bar a <title> with its figure."""
    bar_h, gap, left, right, top = 22, 8, 120, 60, 8
    width = 640
    height = top * 2 + max(1, len(rows)) * (bar_h + gap)
    top_value = max([float(r.get(value_key) or 0) for r in rows] + [1.0])
    span = width - left - right
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape("；".join(f"{r.get(label_key)} {r.get(value_key)}{unit}" for r in rows))}</desc>',
    ]
    if not rows:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
                     f'font-size="14">暂无数据</text>')
    for i, row in enumerate(rows):
        value = float(row.get(value_key) or 0)
        y = top + i * (bar_h + gap)
        w = max(0.0, span * value / top_value)
        mine = highlight is not None and highlight_key and row.get(highlight_key) == highlight
        colour = "#c0392b" if mine else "#2471a3"
        name = escape(str(row.get(label_key, "")))
        parts.append(
            f'<g class="bar" data-label="{name}" data-value="{value:g}">'
            f'<title>{name}：{value:g}{escape(unit)}</title>'
            f'<text x="{left - 8}" y="{y + bar_h * 0.7}" text-anchor="end" font-size="13">{name}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" rx="3"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + bar_h * 0.7}" font-size="13">{value:g}</text>'
            f'</g>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_colour_bars(counts: dict[str, dict[str, int]], labels: dict[str, str],
                        title: str) -> str:
    """One horizontal stacked bar per row (unit or category): red, yellow, green, closed."""
    colours = (("red", "#c0392b"), ("yellow", "#d4ac0d"), ("green", "#1e8449"),
               ("closed", "#7f8c8d"))
    colour_zh = {"red": "红·超期", "yellow": "黄·临期", "green": "绿·按期", "closed": "已办结"}
    bar_h, gap, left, right, top = 20, 8, 150, 50, 8
    width = 640
    keys = list(counts)
    height = top * 2 + max(1, len(keys)) * (bar_h + gap)
    top_total = max([sum(v.values()) for v in counts.values()] + [1])
    span = width - left - right
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>']
    for i, key in enumerate(keys):
        y = top + i * (bar_h + gap)
        x = float(left)
        parts.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7}" text-anchor="end" '
                     f'font-size="13">{escape(labels.get(key, key))}</text>')
        for colour, fill in colours:
            n = counts[key].get(colour, 0)
            if not n:
                continue
            w = span * n / top_total
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{fill}"><title>{escape(labels.get(key, key))} {colour_zh[colour]} {n}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar_h * 0.7}" font-size="13">'
                     f'{sum(counts[key].values())}</text>')
    parts.append("</svg>")
    return "".join(parts)
