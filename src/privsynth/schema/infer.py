"""Building a schema from data, in exactly one of two declared ways.

* :func:`infer_public` reads the data freely. Only for data that is already public.
* :func:`infer_dp` spends a stated budget through a :class:`~privsynth.privacy.Ledger`:
  column types from noisy counts (every column nullable), category sets by a thresholded noisy
  histogram (a value held by a few people stays out of the domain except with probability
  below the reserved delta), numeric bounds from a noisy histogram over a fixed public
  power-of-two grid, and bin edges from noisy quantiles. Every charge precedes its read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from privsynth.measure.noise import discrete_gaussian
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger
from privsynth.schema.columns import CategoricalColumn, Column, NumericColumn, Schema

# Budget shares of the DP inference (fixed in advance, never tuned on the data).
TYPE_SHARE, CATEGORY_SHARE, NUMERIC_SHARE = 0.1, 0.45, 0.45
# Share of the delta budget reserved for the thresholded category histogram.
CATEGORY_DELTA_SHARE = 0.5
# The fixed public grid for DP bounds: 0 and +-2^k for k in this range.
_POW_MIN, _POW_MAX = -8, 52
_FINE_BUCKETS = 256


def _missing_mask(col: pd.Series, missing_values: Sequence[str]) -> np.ndarray:
    return (col.isna() | col.isin(list(missing_values))).to_numpy()


def _parse(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col, errors="coerce")


def infer_public(
    df: pd.DataFrame,
    *,
    label: str | None = None,
    missing_values: Sequence[str] = ("",),
    bins: int = 16,
    name: str | None = None,
) -> Schema:
    """Describe public data exactly: observed category sets, min/max bounds, equal-width bins."""
    columns: list[Column] = []
    for cname in df.columns:
        raw = df[cname]
        miss = _missing_mask(raw, missing_values)
        present = raw[~miss]
        parsed = _parse(present)
        nullable = bool(miss.any())
        if cname != label and len(present) and not parsed.isna().any():
            integral = bool(np.all(np.mod(parsed.to_numpy(float), 1) == 0))
            lo, hi = float(parsed.min()), float(parsed.max())
            kind = "integer" if integral else "continuous"
            columns.append(
                NumericColumn(
                    cname,
                    kind,
                    _int_if(lo, integral),
                    _int_if(hi, integral),
                    bins=bins,
                    nullable=nullable,
                )
            )
        else:
            values = tuple(sorted(present.astype(str).unique()))
            columns.append(CategoricalColumn(cname, values or ("",), nullable=nullable))
    return Schema(
        tuple(columns),
        label=label,
        missing_values=tuple(missing_values),
        name=name,
        provenance={"how": "public", "note": "read freely from data declared public"},
    )


def _int_if(value: float, integral: bool) -> float:
    return int(value) if integral else value


def dp_inference_ledger(epsilon: float, delta: float, **kwargs) -> Ledger:
    """A ledger for :func:`infer_dp`, reserving its share of delta for category discovery."""
    return Ledger(
        epsilon,
        delta,
        reserve_delta=delta * CATEGORY_DELTA_SHARE,
        label="schema inference",
        **kwargs,
    )


def infer_dp(
    df: pd.DataFrame,
    ledger: Ledger,
    *,
    rng: np.random.Generator,
    label: str | None = None,
    missing_values: Sequence[str] = ("",),
    bins: int = 16,
    name: str | None = None,
    source: str = "data",
) -> Schema:
    """Infer a schema with DP, spending ``ledger``'s whole budget in three charged steps.

    ``ledger`` must come from :func:`dp_inference_ledger` (it reserves the delta that the
    thresholded category histogram needs).
    """
    names = list(df.columns)
    d = len(names)
    delta_cat = ledger.delta_reserved
    if delta_cat <= 0:
        raise ValueError("infer_dp needs a ledger with reserved delta; use dp_inference_ledger()")
    rho = ledger.remaining_rho()

    # 1. types: per column, a noisy count of non-numeric cells, and a noisy row count.
    # Every column is declared nullable: a missing-value code costs nothing, while deciding
    # nullability from noisy counts would miss rare missing values and make fit refuse the data.
    sigma_t = math.sqrt((d + 1) / (2 * TYPE_SHARE * rho))
    ledger.spend(GaussianEvent(sigma_t, sensitivity=math.sqrt(d + 1)), label="schema: column types")
    stats = []
    for cname in names:
        raw = df[cname]
        miss = _missing_mask(raw, missing_values)
        stats.append(int(_parse(raw[~miss]).isna().sum()))
    stats.append(len(df))
    noisy = np.asarray(stats) + discrete_gaussian(len(stats), sigma_t, rng)
    noisy_n = max(1.0, float(noisy[-1]))
    is_numeric = {}
    nullable = dict.fromkeys(names, True)
    for i, cname in enumerate(names):
        # Majority vote: robust to the type-detection noise even on small tables; a column with
        # a few stray texts is declared numeric and fit refuses those cells, naming them.
        is_numeric[cname] = cname != label and noisy[i] < 0.5 * noisy_n

    cats = [c for c in names if not is_numeric[c]]
    nums = [c for c in names if is_numeric[c]]
    found = _dp_categories(df, cats, ledger, rng, missing_values, delta_cat, rho) if cats else {}
    bounds = _dp_numeric(df, nums, ledger, rng, missing_values, bins, rho) if nums else {}

    columns: list[Column] = []
    for cname in names:
        if cname in found:
            values = found[cname]
            columns.append(
                CategoricalColumn(
                    cname, values or ("__none__",), nullable=nullable[cname], on_unknown="other"
                )
            )
        else:
            lo, hi, edges, integral = bounds[cname]
            columns.append(
                NumericColumn(
                    cname,
                    "integer" if integral else "continuous",
                    lo,
                    hi,
                    bins=max(1, len(edges) - 1),
                    edges=tuple(edges),
                    nullable=nullable[cname],
                )
            )
    return Schema(
        tuple(columns),
        label=label,
        missing_values=tuple(missing_values),
        name=name,
        provenance={"how": "dp", "source": source, "ledger": ledger.to_dict()},
    )


def _dp_categories(df, cats, ledger, rng, missing_values, delta_cat, rho):  # noqa: ANN001, ANN202
    """Thresholded noisy histogram per categorical column (a DP set union over rows)."""
    k = len(cats)
    sigma = math.sqrt(k / (2 * CATEGORY_SHARE * rho))
    # A value only one row holds has true count 1; it passes with probability delta_cat / k.
    threshold = 1.0 + sigma * float(norm.isf(delta_cat / k))
    ledger.spend(GaussianEvent(sigma, sensitivity=math.sqrt(k)), label="schema: category discovery")
    found = {}
    for cname in cats:
        raw = df[cname]
        present = raw[~_missing_mask(raw, missing_values)].astype(str)
        counts = present.value_counts()
        noisy = counts.to_numpy() + discrete_gaussian(len(counts), sigma, rng)
        keep = sorted(str(v) for v, c in zip(counts.index, noisy, strict=True) if c > threshold)
        found[cname] = tuple(keep)
    return found


def _grid() -> np.ndarray:
    pos = 2.0 ** np.arange(_POW_MIN, _POW_MAX + 1)
    return np.concatenate([-pos[::-1], [0.0], pos])


def _dp_numeric(df, nums, ledger, rng, missing_values, bins, rho):  # noqa: ANN001, ANN202
    """Bounds from a noisy histogram on a public power-of-two grid, then noisy quantile edges."""
    k = len(nums)
    sigma = math.sqrt(2 * k / (2 * NUMERIC_SHARE * rho))
    ledger.spend(
        GaussianEvent(sigma, sensitivity=math.sqrt(2 * k)), label="schema: numeric bounds and bins"
    )
    grid = _grid()
    out = {}
    for cname in nums:
        raw = df[cname]
        values = _parse(raw[~_missing_mask(raw, missing_values)]).dropna().to_numpy(float)
        # One histogram for the bounds over the public grid (outside values fall in end buckets).
        idx = np.clip(np.searchsorted(grid, values, side="right") - 1, 0, len(grid) - 2)
        noisy = np.bincount(idx, minlength=len(grid) - 1) + discrete_gaussian(
            len(grid) - 1, sigma, rng
        )
        # Threshold so that any of the ~120 empty buckets passes with probability <= 1e-3 in all:
        # a false "busy" bucket would stretch the bounds by orders of magnitude.
        busy = np.flatnonzero(noisy > sigma * float(norm.isf(1e-3 / (len(grid) - 1))))
        if busy.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(grid[busy[0]]), float(grid[busy[-1] + 1])
        # A second histogram, inside [lo, hi], on a fine grid whose shape is fixed by lo and hi only.
        span = hi - lo
        fine = lo + span * np.linspace(0.0, 1.0, _FINE_BUCKETS + 1) ** (
            3 if hi > 0 and lo >= 0 and hi / max(1.0, abs(lo)) > 100 else 1
        )
        clipped = np.clip(values, lo, hi)
        fidx = np.clip(np.searchsorted(fine, clipped, side="right") - 1, 0, _FINE_BUCKETS - 1)
        counts = np.bincount(fidx, minlength=_FINE_BUCKETS) + discrete_gaussian(
            _FINE_BUCKETS, sigma, rng
        )
        cdf = np.cumsum(np.maximum(counts, 0).astype(float))
        integral = bool(values.size) and bool(np.all(np.mod(values, 1) == 0))
        if cdf[-1] <= 0:
            inner = np.array([])
        else:
            targets = cdf[-1] * np.arange(1, bins) / bins
            inner = fine[1:][np.searchsorted(cdf, targets)]
        edges = np.unique(np.concatenate([[lo], inner, [hi]]))
        if integral:
            edges = np.unique(np.round(edges))
            lo, hi = float(edges[0]), float(edges[-1])
        if len(edges) < 2:
            edges = np.array([lo, lo + 1.0])
            hi = lo + 1.0
        out[cname] = (
            _int_if(lo, integral),
            _int_if(hi, integral),
            [float(e) for e in edges],
            integral,
        )
    return out


__all__ = ["infer_dp", "infer_public"]
