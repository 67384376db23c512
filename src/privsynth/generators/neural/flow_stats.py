"""Location, scale and tail index of a number from its *noisy* histogram on public bins.

Everything here is post-processing of a charged measurement (a one-way marginal over the
schema's bins plus discrete Gaussian noise of public scale ``sigma``); nothing reads rows.

* quantiles interpolate the noisy CDF linearly inside each bin;
* the scale is the median of three quantile ranges (50 %, 90 %, 98 %), each divided by the
  same range of the flow's base (Gaussian, or Student-t at the estimated degrees of freedom),
  so a column with a point mass (capital-gain: mostly 0, IQR near 0) still gets the scale of
  its spread, and a heavy tail is not counted twice (once in the scale, once in the base);
* the tail index is a log-log regression of the noisy survival function on the distance to
  the median, over the public bin edges beyond the 90 % (10 %) quantile whose survival count is
  clearly above the noise (5 sigma), on each side; the heavier side is kept. This is the
  regression form of the Hill estimator (Kratz & Resnick 1996) on a public grid. For a
  Student-t tail it estimates the degrees of freedom; for light tails it grows, capped at
  ``DF_MAX``.
"""

from __future__ import annotations

import numpy as np

DF_MAX = 30.0
DF_FLOOR = 0.5
_TAIL = 0.1
_NOISE_SIGMAS = 5.0


def quantiles(edges: np.ndarray, counts: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles ``qs`` of a histogram (negative noisy counts clipped to 0)."""
    c = np.clip(np.asarray(counts, dtype=float), 0, None)
    if c.sum() <= 0:
        c = np.ones_like(c)
    cdf = np.concatenate([[0.0], np.cumsum(c) / c.sum()])
    return np.interp(np.asarray(qs, dtype=float), cdf, np.asarray(edges, dtype=float))


def location_scale(
    edges: np.ndarray,
    counts: np.ndarray,
    lower: float,
    upper: float,
    df: float | None = None,
) -> tuple[float, float]:
    """Median and a robust scale in units of the base (Gaussian, or Student-t with ``df``):
    the median of three quantile ranges each divided by the base's own range (see the module
    docstring); at least 1e-6 of the declared range."""
    from scipy import stats

    base = stats.norm if df is None else stats.t(df)
    probs = np.array([0.25, 0.05, 0.01])
    q = quantiles(edges, counts, np.concatenate([[0.5], probs, 1.0 - probs]))
    spans = (q[4:] - q[1:4]) / (base.ppf(1.0 - probs) - base.ppf(probs))
    floor = max(upper - lower, 1.0) * 1e-6
    return float(q[0]), float(max(np.median(spans), floor))


def tail_index(edges: np.ndarray, counts: np.ndarray, sigma: float, centre: float) -> float | None:
    """Estimated tail index (the heavier side), or None when no side has 3 usable points."""
    e = np.asarray(edges, dtype=float)
    c = np.clip(np.asarray(counts, dtype=float), 0, None)
    total = c.sum()
    if total <= 0:
        return None
    upper_surv = np.concatenate([np.cumsum(c[::-1])[::-1], [0.0]])  # count >= edge k
    lower_surv = np.concatenate([[0.0], np.cumsum(c)])  # count < edge k
    alphas = []
    for surv, dist in ((upper_surv, e - centre), (lower_surv, centre - e)):
        # surv > 0: without noise (sigma 0) an empty outer edge would enter as log(0).
        ok = (surv <= _TAIL * total) & (surv >= _NOISE_SIGMAS * sigma) & (surv > 0) & (dist > 0)
        if ok.sum() < 3:
            continue
        slope = np.polyfit(np.log(dist[ok]), np.log(surv[ok] / total), 1)[0]
        if slope < 0:
            alphas.append(-slope)
    if not alphas:
        return None
    return float(np.clip(min(alphas), DF_FLOOR, DF_MAX))


__all__ = ["DF_MAX", "location_scale", "quantiles", "tail_index"]
