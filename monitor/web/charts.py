"""Server-rendered inline SVG charts: no JavaScript, no CDN, every label escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def line_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    title: str,
    width: int = 760,
    height: int = 240,
) -> Markup:
    """A line chart of one or more series over the same labels (e.g. days), with a legend."""
    left, right, top, bottom = 44, 16, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((max(v) if v else 0) for v in series.values()) if series else 0)
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}"'
        f' width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):
        value = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">{value:g}</text>'
        )
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            x = left + step * i
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="10"'
                f' fill="#555">{escape(str(label)[5:] if len(str(label)) == 10 else str(label))}</text>'
            )
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        if index == 0 and len(series) > 1:
            # The first series (the larger total) as bars, the rest as lines over it: both stay visible.
            width_bar = max(min(step * 0.6, 18), 2)
            for i, v in enumerate(values):
                h = plot_h * (float(v) / peak)
                parts.append(
                    f'<rect x="{left + step * i - width_bar / 2:.1f}" y="{top + plot_h - h:.1f}" width="{width_bar:.1f}"'
                    f' height="{h:.1f}" fill="{colour}" fill-opacity="0.35">'
                    f"<title>{escape(str(labels[i]))}: {escape(name)} {float(v):g}</title></rect>"
                )
        else:
            points = " ".join(
                f"{left + step * i:.1f},{top + plot_h - plot_h * (float(v) / peak):.1f}"
                for i, v in enumerate(values)
            )
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
            for i, v in enumerate(values):
                x, y = left + step * i, top + plot_h - plot_h * (float(v) / peak)
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(str(labels[i]))}: {escape(name)} {float(v):g}</title></circle>"
                )
        lx = left + index * 160
        parts.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="16" font-size="12" fill="#222">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(rows: Sequence[tuple[str, float]], title: str, width: int = 760, bar: int = 22) -> Markup:
    """A horizontal bar chart: one labelled bar per row, the value written at its end."""
    left, right, top = 230, 60, 8
    height = top * 2 + max(len(rows), 1) * (bar + 6)
    plot_w = width - left - right
    peak = _nice_max(max((float(v) for _, v in rows), default=0))
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}"'
        f' width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar + 6)
        w = plot_w * float(value) / peak
        text = str(label)
        short = text if len(text) <= 30 else text[:29] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" font-size="12" fill="#222">'
            f"<title>{escape(text)}</title>{escape(short)}</text>"
        )
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{PALETTE[0]}" rx="2"/>')
        parts.append(
            f'<text x="{left + w + 6:.1f}" y="{y + bar * 0.7:.1f}" font-size="12" fill="#222">{float(value):g}</text>'
        )
    if not rows:
        parts.append(f'<text x="{left}" y="{top + bar * 0.7}" font-size="12" fill="#555">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
