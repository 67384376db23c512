"""HTML building blocks of the report: escaping, number formatting, tables, generic values.

Everything returns HTML text; nothing here knows what a section means. Text that comes from the
input (column names, labels, descriptions) is always escaped, so a hostile value cannot inject
markup or a script into the page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

NOT_PRIVATE = "Not private — for the data owner"
"""The label every section computed on real data carries."""

# Generic rendering stops nesting here and shows the rest as compact JSON-like text.
MAX_DEPTH = 4
# Long lists (e.g. the points of a curve) are shown in part; report.json holds them whole.
MAX_LIST = 20


def esc(value: object) -> str:
    """``str(value)`` escaped for HTML text and attribute values."""
    return escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A number or value as short display text (not escaped)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value == 0:
            return "0"
        if 1e-3 <= abs(value) < 1e5:
            return f"{value:.4f}"
        return f"{value:.3g}"
    return str(value)


def fmt_ci(value: Any, ci: Any) -> str:
    """``value [low, high]`` when ``ci`` is a pair of numbers, else just ``value``."""
    if isinstance(ci, Sequence) and not isinstance(ci, str) and len(ci) == 2:
        return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"
    return fmt(value)


def is_scalar(value: Any) -> bool:
    """Whether ``value`` is shown as one cell (not a nested table)."""
    return value is None or isinstance(value, str | int | float | bool)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric_from: int = 1,
    numeric_to: int | None = None,
    caption: str | None = None,
    cls: str = "",
) -> str:
    """A table; cells are HTML already (escape text with :func:`esc` first).

    Columns ``numeric_from`` up to (not including) ``numeric_to`` are right-aligned.
    """
    end = len(headers) if numeric_to is None else numeric_to

    def align(i: int) -> str:
        return "num" if numeric_from <= i < end else ""

    head = "".join(f'<th class="{align(i)}">{h}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{align(i)}">{cell}</td>' for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table class="{cls}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def badge(text: str, kind: str = "warn") -> str:
    """A small inline label."""
    return f'<span class="badge badge-{kind}">{esc(text)}</span>'


def not_private_badge() -> str:
    """The label of a section or figure computed on real data."""
    return badge(NOT_PRIVATE, "private")


def note(text: str) -> str:
    """A muted explanatory paragraph (``text`` is escaped)."""
    return f'<p class="note">{esc(text)}</p>'


def explain(text: str) -> str:
    """The plain-language explanation that opens a section (``text`` is escaped)."""
    return f'<p class="explain">{esc(text)}</p>'


def callout(html: str, kind: str = "info") -> str:
    """A highlighted box; ``kind`` is ``info``, ``good`` or ``bad``."""
    return f'<div class="callout callout-{kind}">{html}</div>'


def figure(svg: str, caption: str) -> str:
    """A figure with an escaped caption."""
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def value_html(value: Any, depth: int = 0) -> str:
    """Any JSON-like value as HTML: scalars as text, mappings and lists as tables.

    Never raises on an unexpected shape: unknown objects are shown by ``str``.
    """
    if is_scalar(value):
        return esc(fmt(value))
    if depth >= MAX_DEPTH:
        return f"<code>{esc(_short(value))}</code>"
    if isinstance(value, Mapping):
        return mapping_table(value, depth)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return _sequence_html(list(value), depth)
    return esc(str(value))


def mapping_table(data: Mapping[Any, Any], depth: int = 0) -> str:
    """A two-column key/value table of a mapping (nested values become nested tables).

    A mapping whose values are all flat records (mappings of scalars, short lists of scalars
    or one more level of such mappings) is shown as one wide table, one row per key (e.g.
    ``{"attack A": {"auc": ..}, "attack B": {..}}``).
    """
    if not data:
        return '<span class="muted">(empty)</span>'
    flat = _records(list(data.values()))
    if flat is not None and len(data) > 1:
        columns, records = flat
        rows = [
            [esc(k)] + [esc(_cell(r.get(c))) for c in columns]
            for k, r in zip(data, records, strict=True)
        ]
        return table(["", *(esc(c) for c in columns)], rows, cls="kv")
    rows = [[esc(k), value_html(v, depth + 1)] for k, v in data.items()]
    return table(["key", "value"], rows, numeric_from=99, cls="kv")


def _sequence_html(items: list[Any], depth: int) -> str:
    if not items:
        return '<span class="muted">(none)</span>'
    if all(is_scalar(v) for v in items):
        shown = ", ".join(fmt(v) for v in items[:MAX_LIST])
        more = f" … ({len(items)} values in all; see report.json)" if len(items) > MAX_LIST else ""
        return esc(shown + more)
    flat = _records(items)
    if flat is not None:
        columns, records = flat
        rows = [[esc(_cell(r.get(c))) for c in columns] for r in records]
        return table([esc(c) for c in columns], rows, numeric_from=99, cls="kv")
    rows = [[esc(i), value_html(v, depth + 1)] for i, v in enumerate(items)]
    return table(["#", "value"], rows, numeric_from=99, cls="kv")


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return fmt(value)


def _flat_value(value: Any) -> bool:
    if is_scalar(value):
        return True
    return isinstance(value, list) and len(value) <= 6 and all(is_scalar(v) for v in value)


def _flatten(item: Mapping[Any, Any]) -> dict[str, Any] | None:
    """``{"a": 1, "b": {"c": 2}}`` as ``{"a": 1, "b.c": 2}``; None when deeper or not flat."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, Mapping):
            if not all(_flat_value(v) for v in value.values()):
                return None
            out.update({f"{key}.{k}": v for k, v in value.items()})
        elif _flat_value(value):
            out[str(key)] = value
        else:
            return None
    return out


def _records(items: list[Any]) -> tuple[list[str], list[dict[str, Any]]] | None:
    """Column names and flattened rows when every item is a flat record, else None."""
    if not items or not all(isinstance(v, Mapping) for v in items):
        return None
    records = [_flatten(item) for item in items]
    if any(r is None for r in records):
        return None
    columns: dict[str, None] = {}
    for r in records:
        columns.update(dict.fromkeys(r))
    return (list(columns), records) if 0 < len(columns) <= 12 else None


def _short(value: Any, limit: int = 300) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= limit else text[:limit] + " …"


@dataclass(frozen=True)
class Section:
    """One section of the page.

    ``real_data`` marks a section computed on the real data: it carries the not-private label.
    """

    id: str
    title: str
    body: str
    real_data: bool = True

    def html(self) -> str:
        """The section element with its heading and label."""
        label = not_private_badge() if self.real_data else ""
        cls = "section real" if self.real_data else "section"
        return (
            f'<section id="{esc(self.id)}" class="{cls}"><h2>{esc(self.title)} {label}</h2>'
            f"{self.body}</section>"
        )
