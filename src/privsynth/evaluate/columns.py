"""Per-column fidelity: TVD of every column's bins, and the KS statistic of numeric values.

The Kolmogorov-Smirnov statistic is computed on the parsed values, not on bins, so it sees
differences inside a bin. Missing values cannot enter a distribution function: they are left
out of the KS statistic on both sides and counted next to it (and they do enter the TVD, where
"missing" is a bin of its own).

:func:`column_wasserstein` adds the Wasserstein-1 distance of numeric and datetime columns, on
the parsed values clipped to the public bounds and divided by the public range (upper - lower):
a distance in the column's own units would not be comparable across columns, while a share of
the declared range is (0 = identical, 1 = all mass moved from one bound to the other). Missing
values are left out and counted, as for KS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from privsynth.domain import Domain
from privsynth.evaluate.inputs import PreparedTable
from privsynth.evaluate.marginals import tvd_counts
from privsynth.marginals.counting import contingency
from privsynth.schema.columns import CategoricalColumn, DatetimeColumn, NumericColumn, Schema


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``sup_x |F_a(x) - F_b(x)|`` (non-empty inputs)."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    # Both step functions only jump at sample points, so the supremum is attained at one.
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


@dataclass(frozen=True)
class ColumnScore:
    """Fidelity of one column; ``ks`` is None (with ``ks_reason``) where it cannot be computed."""

    name: str
    kind: str
    tvd: float
    ks: float | None
    ks_reason: str | None
    missing_real: int
    missing_synthetic: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        out: dict[str, Any] = {"kind": self.kind, "tvd": self.tvd}
        if self.kind != "categorical":
            out["ks"] = self.ks
            if self.ks_reason:
                out["ks_reason"] = self.ks_reason
        out["missing"] = {"real": self.missing_real, "synthetic": self.missing_synthetic}
        return out


@dataclass(frozen=True)
class ColumnFidelity:
    """The scores of every column in schema order."""

    scores: tuple[ColumnScore, ...]

    def mean_tvd(self) -> float:
        """Mean TVD over all columns."""
        return float(np.mean([s.tvd for s in self.scores]))

    def mean_ks(self) -> float | None:
        """Mean KS statistic over the numeric columns where it is defined (None if none)."""
        values = [s.ks for s in self.scores if s.ks is not None]
        return float(np.mean(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        """Means and the per-column scores."""
        n_numeric = sum(s.kind != "categorical" for s in self.scores)
        n_ks = sum(s.ks is not None for s in self.scores)
        return {
            "note": (
                "tvd: total variation distance of each column's public bins (missing is a bin); "
                "ks: two-sample Kolmogorov-Smirnov statistic on the parsed values of numeric and "
                "datetime columns, missing values left out on both sides and counted under "
                "'missing'"
            ),
            "mean_tvd": self.mean_tvd(),
            "mean_ks": self.mean_ks(),
            "ks_columns": {"numeric": n_numeric, "with_ks": n_ks},
            "per_column": {s.name: s.to_dict() for s in self.scores},
        }


def _ks(name: str, real: PreparedTable, synth: PreparedTable) -> tuple[float | None, str | None]:
    a, b = real.values[name], synth.values[name]
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        which = "real" if len(a) == 0 else "synthetic"
        return None, f"every {which} value is missing"
    return ks_statistic(a, b), None


def column_fidelity(
    schema: Schema, domain: Domain, real: PreparedTable, synth: PreparedTable
) -> ColumnFidelity:
    """Score every column of ``schema`` (real against synthetic)."""
    scores = []
    for col in schema.columns:
        shape = (domain[col.name],)
        tvd = tvd_counts(
            contingency([real.codes[col.name]], shape), contingency([synth.codes[col.name]], shape)
        )
        categorical = isinstance(col, CategoricalColumn)
        ks, reason = (None, None) if categorical else _ks(col.name, real, synth)
        scores.append(
            ColumnScore(
                col.name, col.kind, tvd, ks, reason, real.missing[col.name], synth.missing[col.name]
            )
        )
    return ColumnFidelity(tuple(scores))


# --- Wasserstein-1 distance of numeric columns, on the scale of the public range -------------

WASSERSTEIN_NOTE = (
    "wasserstein: Wasserstein-1 (earth mover's) distance between the real and synthetic values "
    "of each numeric and datetime column, on the parsed values clipped to the schema's public "
    "bounds (as the encoding clips them) and divided by the public range (upper - lower), so "
    "0 = identical and 1 = all mass moved across the whole range; comparable across columns. "
    "Missing values are left out on both sides and counted under 'missing'"
)


def wasserstein_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance ``integral |F_a(x) - F_b(x)| dx`` of two samples (non-empty)."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    points = np.sort(np.concatenate([a, b]))
    # Both distribution functions are constant between consecutive sample points.
    cdf_a = np.searchsorted(a, points[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, points[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(points)))


@dataclass(frozen=True)
class WassersteinScore:
    """Normalised W1 of one numeric column; None (with ``reason``) where it cannot be computed."""

    name: str
    kind: str
    wasserstein: float | None
    reason: str | None
    public_range: float
    missing_real: int
    missing_synthetic: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "wasserstein": self.wasserstein,
            "public_range": self.public_range,
        }
        if self.reason:
            out["reason"] = self.reason
        out["missing"] = {"real": self.missing_real, "synthetic": self.missing_synthetic}
        return out


@dataclass(frozen=True)
class ColumnWasserstein:
    """Range-normalised Wasserstein-1 distances of the numeric and datetime columns."""

    scores: tuple[WassersteinScore, ...]

    def mean(self) -> float | None:
        """Mean over the columns where it is defined (None if none)."""
        values = [s.wasserstein for s in self.scores if s.wasserstein is not None]
        return float(np.mean(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        """The mean, how many columns it covers, and the per-column scores."""
        return {
            "note": WASSERSTEIN_NOTE,
            "mean_wasserstein": self.mean(),
            "columns": {
                "numeric": len(self.scores),
                "with_wasserstein": sum(s.wasserstein is not None for s in self.scores),
            },
            "per_column": {s.name: s.to_dict() for s in self.scores},
        }


def _bounds(col: NumericColumn | DatetimeColumn) -> tuple[float, float]:
    num = col.numeric() if isinstance(col, DatetimeColumn) else col
    return float(num.lower), float(num.upper)


def column_wasserstein(
    schema: Schema, real: PreparedTable, synth: PreparedTable
) -> ColumnWasserstein:
    """Range-normalised W1 of every numeric and datetime column of ``schema`` (real vs synth)."""
    scores = []
    for col in schema.columns:
        if isinstance(col, CategoricalColumn):
            continue
        lower, upper = _bounds(col)
        width = upper - lower
        a, b = real.values[col.name], synth.values[col.name]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        value, reason = None, None
        if len(a) == 0 or len(b) == 0:
            reason = f"every {'real' if len(a) == 0 else 'synthetic'} value is missing"
        elif width <= 0:
            reason = "the public range has zero width, so there is no scale to divide by"
        else:
            value = wasserstein_distance(np.clip(a, lower, upper), np.clip(b, lower, upper)) / width
        scores.append(
            WassersteinScore(
                col.name,
                col.kind,
                value,
                reason,
                width,
                real.missing[col.name],
                synth.missing[col.name],
            )
        )
    return ColumnWasserstein(tuple(scores))
