"""Hand-written inline SVG charts: grouped bars, heatmaps and ROC curves.

Inline SVG keeps the report one self-contained file with no plotting dependency; the text in the
charts stays selectable and sharp at any zoom, and each bar or cell carries a ``<title>``
tooltip with its exact value. Sizes are in viewBox units; the page scales charts to its width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from privsynth.report.html import esc, fmt

REAL = "#3b6fb6"
SYNTHETIC = "#e07b39"
PALETTE = ("#3b6fb6", "#e07b39", "#2a9d8f", "#8e5ea2", "#c44e52", "#d4a017", "#6c757d")
AXIS = "#555"
GRID = "#e3e3e3"
MISSING_CELL = "#d9d9d9"


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="{esc(label)}"><title>{esc(label)}</title>{body}</svg>'
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11, extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" {extra}>'
        f"{esc(text)}</text>"
    )


def _clip(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def _legend_rows(names: Sequence[str], width: float) -> list[list[int]]:
    """Indices of ``names`` per legend row, so that no row is wider than ``width``."""
    rows: list[list[int]] = [[]]
    used = 0.0
    for i, name in enumerate(names):
        w = _legend_width(name)
        if rows[-1] and used + w > width:
            rows.append([])
            used = 0.0
        rows[-1].append(i)
        used += w
    return rows


def _legend_width(name: str) -> float:
    return 22 + 6.2 * len(name)


def _legend(names: Sequence[str], colors: Sequence[str], x: float, y: float) -> str:
    parts, offset = [], 0.0
    for name, color in zip(names, colors, strict=True):
        parts.append(
            f'<rect x="{x + offset:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>'
        )
        parts.append(_text(x + offset + 14, y, name, anchor="start"))
        offset += _legend_width(name)
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    percent: bool = True,
    ymax: float | None = None,
    colors: Sequence[str] = PALETTE,
    width: float = 460,
    height: float = 230,
) -> str:
    """Grouped vertical bars: one group per category, one bar per series.

    ``percent`` shows values in [0, 1] as percentages on the axis. Long category lists keep
    every bar but label only every k-th group; every bar has a tooltip with its exact value.
    """
    names = list(series)
    n_cat, n_ser = len(categories), max(1, len(names))
    longest = max((len(_clip(str(c))) for c in categories), default=1)
    rotate = n_cat > 8 or longest * n_cat * 6.5 > width - 60
    left, right = 46.0, 10.0
    colors = [colors[i % len(colors)] for i in range(len(names))]
    beside = width - right - 20 - 7.0 * len(title)
    if sum(_legend_width(n) for n in names) <= beside:
        legend_rows, top = [], 26.0
    else:
        legend_rows = _legend_rows(names, width - left - right)
        top = 26.0 + 16 * len(legend_rows)
    bottom = 24.0 + (5.5 * min(longest, 14) if rotate else 0.0)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for vals in series.values() for v in vals if v is not None and math.isfinite(v)]
    top_value = nice_max(ymax if ymax is not None else max(values, default=1.0))
    group = plot_w / max(1, n_cat)
    bar = group * 0.8 / n_ser
    parts = []
    for i in range(5):
        tick = top_value * i / 4
        y = top + plot_h * (1 - i / 4)
        parts.append(
            f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/>'
        )
        label = f"{tick * 100:.3g}%" if percent else f"{tick:.3g}"
        parts.append(_text(left - 5, y + 4, label, anchor="end", size=10))
    every = max(1, math.ceil(n_cat / 24))
    for c, cat in enumerate(categories):
        x0 = left + c * group + group * 0.1
        for s, name in enumerate(names):
            value = series[name][c]
            if value is None or not math.isfinite(value):
                continue
            h = plot_h * max(0.0, min(value, top_value)) / top_value
            shown = f"{value * 100:.2f}%" if percent else fmt(value)
            parts.append(
                f'<rect x="{x0 + s * bar:.2f}" y="{top + plot_h - h:.2f}" width="{max(bar - 0.6, 0.6):.2f}" '
                f'height="{h:.2f}" fill="{colors[s]}">'
                f"<title>{esc(cat)} — {esc(name)}: {esc(shown)}</title></rect>"
            )
        if c % every == 0:
            cx, cy = left + (c + 0.5) * group, top + plot_h + 12
            label = _clip(str(cat))
            if rotate:
                parts.append(
                    _text(
                        cx,
                        cy,
                        label,
                        anchor="end",
                        size=10,
                        extra=f'transform="rotate(-40 {cx:.1f} {cy:.1f})"',
                    )
                )
            else:
                parts.append(_text(cx, cy + 2, label, size=10))
    parts.append(
        f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{top + plot_h:.1f}" '
        f'y2="{top + plot_h:.1f}" stroke="{AXIS}"/>'
    )
    parts.append(_text(left, 14, title, anchor="start", size=12, extra='font-weight="600"'))
    if legend_rows:
        for r, row in enumerate(legend_rows):
            parts.append(
                _legend([names[i] for i in row], [colors[i] for i in row], left, 32 + 16 * r)
            )
    else:
        legend_w = sum(_legend_width(n) for n in names)
        parts.append(_legend(names, colors, width - right - legend_w, 14))
    return _svg(width, height, title, "".join(parts))


def _blend(value: float) -> str:
    """White to dark blue for ``value`` in [0, 1]."""
    lo, hi = (247, 251, 255), (8, 48, 107)
    t = max(0.0, min(1.0, value))
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(lo, hi, strict=True))


def heatmap(
    labels: Sequence[str],
    matrix: Sequence[Sequence[float | None]],
    *,
    title: str,
    vmax: float = 1.0,
    size: float = 330,
) -> str:
    """A square matrix as coloured cells (0 white, ``vmax`` dark blue; None grey).

    Values are written in the cells while they fit; each cell has a tooltip.
    """
    n = len(labels)
    longest = min(max((len(str(lab)) for lab in labels), default=1), 14)
    margin = 12 + 6 * longest
    top = 24.0
    cell = (size - margin - 8) / max(1, n)
    width = margin + n * cell + 8
    height = top + n * cell + margin + 26
    parts = [_text(0, 14, title, anchor="start", size=12, extra='font-weight="600"')]
    write_values = cell >= 26
    for i in range(n):
        for j in range(n):
            value = matrix[i][j]
            x, y = margin + j * cell, top + i * cell
            fill = MISSING_CELL if value is None else _blend(value / vmax if vmax else 0.0)
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{cell:.2f}" height="{cell:.2f}" '
                f'fill="{fill}" stroke="#fff" stroke-width="0.5"><title>{esc(labels[i])} × '
                f"{esc(labels[j])}: {esc(fmt(value))}</title></rect>"
            )
            if write_values:
                dark = value is not None and vmax and value / vmax > 0.55
                text = "n/a" if value is None else f"{value:.2f}"
                parts.append(
                    _text(
                        x + cell / 2,
                        y + cell / 2 + 3.5,
                        text,
                        size=9,
                        extra=f'fill="{"#fff" if dark else "#222"}"',
                    )
                )
    font = 10 if cell >= 10 else 8
    for i, lab in enumerate(labels):
        y = top + (i + 0.5) * cell + 3.5
        parts.append(_text(margin - 4, y, _clip(str(lab)), anchor="end", size=font))
        x, yb = margin + (i + 0.5) * cell + 3, top + n * cell + 6
        parts.append(
            _text(
                x,
                yb,
                _clip(str(lab)),
                anchor="end",
                size=font,
                extra=f'transform="rotate(-60 {x:.1f} {yb:.1f})"',
            )
        )
    bar_y = height - 14
    for k in range(50):
        parts.append(
            f'<rect x="{margin + k * 2:.1f}" y="{bar_y:.1f}" width="2.1" height="8" '
            f'fill="{_blend(k / 49)}"/>'
        )
    parts.append(_text(margin - 4, bar_y + 8, "0", anchor="end", size=9))
    parts.append(_text(margin + 104, bar_y + 8, f"{vmax:g}", anchor="start", size=9))
    return _svg(width, height, title, "".join(parts))


def _thin(xs: Sequence[float], ys: Sequence[float], limit: int = 400) -> list[tuple[float, float]]:
    points = list(zip(xs, ys, strict=False))
    if len(points) <= limit:
        return points
    step = len(points) / limit
    kept = [points[int(i * step)] for i in range(limit)]
    return [*kept, points[-1]]


def roc_chart(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    dashed: Sequence[str] = (),
    size: float = 360,
) -> str:
    """ROC curves (false-positive rate → true-positive rate) with the chance diagonal.

    Curves named in ``dashed`` are drawn dashed (e.g. similarity measures, not attacks).
    """
    left, top, pad = 44.0, 26.0, 12.0
    plot = size - left - pad
    height = top + plot + 40 + 16 * len(curves)

    def px(fpr: float) -> float:
        return left + plot * fpr

    def py(tpr: float) -> float:
        return top + plot * (1 - tpr)

    parts = [_text(0, 14, title, anchor="start", size=12, extra='font-weight="600"')]
    for i in range(5):
        t = i / 4
        parts.append(
            f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{py(0):.1f}" y2="{py(1):.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<line x1="{px(0):.1f}" x2="{px(1):.1f}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="{GRID}"/>'
        )
        parts.append(_text(px(t), py(0) + 14, f"{t:g}", size=10))
        parts.append(_text(px(0) - 5, py(t) + 4, f"{t:g}", anchor="end", size=10))
    parts.append(
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{plot:.1f}" height="{plot:.1f}" fill="none" '
        f'stroke="{AXIS}"/>'
    )
    parts.append(
        f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(1):.1f}" y2="{py(1):.1f}" '
        f'stroke="#999" stroke-dasharray="4 4"><title>chance (random guessing)</title></line>'
    )
    parts.append(_text(px(0.5), py(0) + 28, "false-positive rate", size=11))
    parts.append(
        _text(
            12,
            py(0.5),
            "true-positive rate",
            size=11,
            extra=f'transform="rotate(-90 12 {py(0.5):.1f})"',
        )
    )
    for k, (name, (fpr, tpr)) in enumerate(curves.items()):
        color = PALETTE[k % len(PALETTE)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in _thin(fpr, tpr))
        dash = ' stroke-dasharray="6 3"' if name in dashed else ""
        parts.append(
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
            f"<title>{esc(name)}</title></polyline>"
        )
        ly = top + plot + 46 + 16 * k
        parts.append(
            f'<line x1="{left:.1f}" x2="{left + 18:.1f}" y1="{ly - 4:.1f}" y2="{ly - 4:.1f}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
        )
        parts.append(_text(left + 24, ly, name, anchor="start"))
    return _svg(size, height, title, "".join(parts))
