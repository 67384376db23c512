"""The numbers behind the report's plots, from a :class:`Prepared` evaluation (NOT private).

Distributions are shares of rows per public bin of the schema; associations are Cramér's V
between the binned codes of every pair of columns, so numeric, datetime and categorical
columns are compared the same way. Both read the real data: they are for the data owner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from privsynth.evaluate.inputs import Prepared
from privsynth.schema.columns import CategoricalColumn, Column, DatetimeColumn, NumericColumn

# Above this many bins a chart shows the largest ones and pools the rest into one bar.
MAX_BARS = 40


def bin_labels(col: Column, size: int) -> list[str]:
    """Display names of the ``size`` codes of ``col`` (its public bins, then other, missing)."""
    if isinstance(col, CategoricalColumn):
        labels = list(col.values)
        if col.on_unknown == "other":
            labels.append(col.other_label)
    else:
        num = col.numeric() if isinstance(col, DatetimeColumn) else col
        edges = num.bin_edges()
        labels = [_interval(col, lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels += ["(missing)"] * (size - len(labels))
    return labels[:size]


def _interval(col: Column, lo: float, hi: float) -> str:
    if isinstance(col, DatetimeColumn):
        return pd.Timestamp(lo, unit="s").strftime("%Y-%m-%d")
    if isinstance(col, NumericColumn) and col.kind == "integer" and hi - lo == 1.0:
        # A one-value bin: edges at v ± 0.5 (per-value bins) or [v, v + 1) (declared edges).
        return f"{math.ceil(lo):g}"
    return f"{lo:.4g}–{hi:.4g}"


def _shares(codes: np.ndarray, size: int) -> np.ndarray:
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=size)[:size]
    return counts / max(1, counts.sum())


def column_distributions(prepared: Prepared) -> dict[str, dict[str, Any]]:
    """Per column: bin labels and the share of real and of synthetic rows in each bin.

    Numeric bins keep their order; a categorical column with more than :data:`MAX_BARS`
    values keeps its largest values (by the larger of the two shares) and pools the rest.
    """
    real, synth = prepared.tables["real"], prepared.tables["synthetic"]
    out: dict[str, dict[str, Any]] = {}
    for col in prepared.schema.columns:
        size = prepared.domain[col.name]
        labels = bin_labels(col, size)
        r, s = _shares(real.codes[col.name], size), _shares(synth.codes[col.name], size)
        pooled = 0
        if isinstance(col, CategoricalColumn) and size > MAX_BARS:
            keep = np.sort(np.argsort(-np.maximum(r, s), kind="stable")[: MAX_BARS - 1])
            rest = np.setdiff1d(np.arange(size), keep)
            pooled = len(rest)
            labels = [labels[i] for i in keep] + [f"({pooled} other values)"]
            r = np.append(r[keep], r[rest].sum())
            s = np.append(s[keep], s[rest].sum())
        out[col.name] = {
            "kind": col.kind,
            "bins": labels,
            "real": [float(v) for v in r],
            "synthetic": [float(v) for v in s],
            "pooled_bins": pooled,
        }
    return out


def cramers_v(a: np.ndarray, b: np.ndarray, size_a: int, size_b: int) -> float | None:
    """Cramér's V of two code arrays (None when a column takes a single value)."""
    table = np.bincount(a * size_b + b, minlength=size_a * size_b).reshape(size_a, size_b)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    k = min(table.shape) - 1
    n = table.sum()
    if k < 1 or n == 0:
        return None
    expected = np.outer(table.sum(1), table.sum(0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(min(1.0, math.sqrt(chi2 / (n * k))))


def association_matrix(
    codes: Mapping[str, np.ndarray], sizes: Mapping[str, int]
) -> list[list[float | None]]:
    """Cramér's V between every pair of columns (the diagonal is 1; None where undefined)."""
    names = list(sizes)
    arrays = {c: np.asarray(codes[c], dtype=np.int64) for c in names}
    out: list[list[float | None]] = [[None] * len(names) for _ in names]
    for i, x in enumerate(names):
        out[i][i] = 1.0 if len(np.unique(arrays[x])) > 1 else None
        for j in range(i + 1, len(names)):
            y = names[j]
            v = cramers_v(arrays[x], arrays[y], sizes[x], sizes[y])
            out[i][j] = out[j][i] = v
    return out


def associations(prepared: Prepared) -> dict[str, Any]:
    """Real and synthetic association matrices over all columns, and their absolute difference."""
    sizes = prepared.domain.to_dict()
    real = association_matrix(prepared.tables["real"].codes, sizes)
    synth = association_matrix(prepared.tables["synthetic"].codes, sizes)
    diff = [
        [None if a is None or b is None else abs(a - b) for a, b in zip(ra, rb, strict=True)]
        for ra, rb in zip(real, synth, strict=True)
    ]
    return {
        "measure": "Cramér's V between the public-bin codes of each pair of columns",
        "columns": list(sizes),
        "real": real,
        "synthetic": synth,
        "abs_difference": diff,
    }
