"""Targeted sampling: rows from the model's top ``q`` of a numeric column.

The region is defined by the *model*, never by the private data: its threshold is the model's
own upper ``q``-quantile of the column (among present values), so targeted sampling is
post-processing and costs no budget. Methods, by model family:

- graphical models (``independent``, ``mst``, ``aim``): **exact**. The threshold comes from the
  model's own marginal of the column, decoded as the decoder draws values (uniform inside
  each bin; integers uniform over the bin's integers). Rows are drawn by exact conditioning on
  the bins at or above the threshold's bin; rows in that boundary bin are kept with the
  probability that their value lies above the threshold and given a value uniform over the
  part above it. The result follows the model restricted to the region exactly.
- flows (``dpflow``): the model's own ``sample_tail`` (its quantile from its own draws, then
  bounded rejection).
- other models (DP-SGD networks): the threshold is the quantile of 200 000 of the model's own
  decoded draws, then bounded rejection against it: at most ``max(200 n, 20 n / q)`` draws,
  never more than 2e7, beyond which an InputError gives the acceptance rate.

Schema rules are enforced on top by :func:`privsynth.enforce.sample_respecting`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from privsynth.errors import InputError
from privsynth.schema.columns import NumericColumn

QUANTILE_DRAWS = 200_000
_MAX_DRAWS = 20_000_000
_DRAW_FACTOR = 200
_BATCH = 100_000


@dataclass(frozen=True)
class Targeted:
    """Rows from the region, the region's threshold, and how they were drawn."""

    rows: pd.DataFrame
    column: str
    q: float
    threshold: float
    method: str
    seconds: float

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{len(self.rows)} rows with {self.column} >= {self.threshold:.6g} (the model's top "
            f"{self.q:.4g}); method: {self.method}; {self.seconds:.2f} s"
        )


def _check(synth, column: str, q: float, n: int) -> NumericColumn:  # noqa: ANN001
    if column not in synth.schema.names:
        raise InputError(f"--top: column {column!r} is not in the schema")
    col = synth.schema[column]
    if not isinstance(col, NumericColumn):
        raise InputError(f"--top: column {column!r} is {col.kind}; the top takes a numeric column")
    if not (isinstance(q, float | int) and 1e-4 <= q <= 0.5):
        raise InputError(f"--top: the share must lie in [0.0001, 0.5], got {q!r}")
    if not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"-n: number of rows must be a positive integer, got {n!r}")
    return col


def _graphical(synth, col: NumericColumn, q: float, code_where, rng):  # noqa: ANN001, ANN202
    """Exact threshold and an exact draw for a graphical model."""
    model, disc = synth.model, synth.discretizer
    edges = col.bin_edges()
    n_bins = len(edges) - 1
    p = np.asarray(model.project((col.name,), where=code_where), dtype=float)[:n_bins]
    if p.sum() <= 0:
        raise InputError(f"--top: the model gives {col.name!r} no present value here")
    p = p / p.sum()
    lo, hi = edges[:-1].astype(float), edges[1:].astype(float)
    if col.kind == "integer":
        lo = np.maximum(np.ceil(lo), col.lower)
        hi = np.minimum(np.where(hi == edges[-1], np.floor(hi), np.ceil(hi) - 1), col.upper)
        hi = np.maximum(hi, lo)
    above = 0.0
    b = n_bins - 1
    while b > 0 and above + p[b] < q:
        above += p[b]
        b -= 1
    share = min(1.0, (q - above) / p[b]) if p[b] > 0 else 1.0
    if col.kind == "integer":
        width = hi[b] - lo[b] + 1
        keep_values = max(1, math.ceil(share * width))  # the smallest region holding >= q
        threshold = float(hi[b] - keep_values + 1)
        keep = keep_values / width
    else:
        threshold = float(hi[b] - share * (hi[b] - lo[b]))
        keep = share
    allowed = {**(code_where or {}), col.name: list(range(b, n_bins))}

    def draw(m: int) -> pd.DataFrame:
        parts, have = [], 0
        while have < m:
            codes = model.sample(max(m - have, 64), rng=rng, where=allowed)
            boundary = codes[col.name] == b
            take = ~boundary | (rng.random(len(boundary)) < keep)
            codes = {a: c[take] for a, c in codes.items()}
            df = disc.decode(codes, rng)
            inside = np.flatnonzero(codes[col.name] == b)
            if len(inside):
                if col.kind == "integer":
                    vals = rng.integers(int(threshold), int(hi[b]) + 1, len(inside))
                else:
                    vals = threshold + (hi[b] - threshold) * rng.random(len(inside))
                series = df[col.name].copy()
                series.iloc[inside] = vals
                df[col.name] = series
            parts.append(df)
            have += len(df)
        return pd.concat(parts, ignore_index=True).iloc[:m]

    method = (
        "exact: the model's own quantile from its marginal; exact conditioning on the bins at or "
        "above it, the boundary bin thinned to the region"
    )
    return threshold, draw, method


def _rejection(synth, col: NumericColumn, q: float, where, rng, draws: int):  # noqa: ANN001, ANN202
    """Threshold from the model's own draws, then bounded rejection."""

    def plain(m: int) -> pd.DataFrame:
        return synth.sample(m, rng=rng, where=where, rules=False)

    values = pd.to_numeric(plain(draws)[col.name], errors="coerce").to_numpy(float)
    values = values[~np.isnan(values)]
    if not len(values):
        raise InputError(f"--top: the model draws no present value of {col.name!r}")
    threshold = float(np.quantile(values, 1.0 - q))

    def draw(m: int) -> pd.DataFrame:
        limit = min(max(_DRAW_FACTOR * m, math.ceil(20 * m / q)), _MAX_DRAWS)
        parts, have, drawn = [], 0, 0
        while have < m:
            if drawn >= limit:
                raise InputError(
                    f"--top: {have} of {m} rows with {col.name} >= {threshold:.6g} after "
                    f"{drawn} draws (acceptance {have / max(drawn, 1):.3%}); stopping at the "
                    f"limit of {limit} draws"
                )
            batch = plain(min(_BATCH, max(64, math.ceil(1.2 * (m - have) / q))))
            drawn += len(batch)
            v = pd.to_numeric(batch[col.name], errors="coerce").to_numpy(float)
            hit = batch[~np.isnan(v) & (v >= threshold)]
            parts.append(hit)
            have += len(hit)
        return pd.concat(parts, ignore_index=True).iloc[:m]

    method = (
        f"rejection: the model's own quantile from {draws} of its draws, then rows "
        "drawn and kept above it (bounded)"
    )
    return threshold, draw, method


def _flow(synth, col: NumericColumn, q: float, code_where, rng):  # noqa: ANN001, ANN202
    model, disc = synth.model, synth.discretizer
    threshold = float(model.tail_threshold(col.name, q, rng))

    def draw(m: int) -> pd.DataFrame:
        # The region is fixed once: every batch (rule rejection draws several) uses it.
        codes, values, _ = model.sample_tail(
            col.name, q, m, rng=rng, where=code_where, threshold=threshold
        )
        return disc.decode(codes, rng, values=values)

    method = "flow: the model's own quantile from its draws, then bounded rejection (sample_tail)"
    return threshold, draw, method


def sample_top(
    synth,  # noqa: ANN001 - a privsynth.synthesizer.Synthesizer
    column: str,
    q: float,
    n: int,
    *,
    rng: np.random.Generator,
    where: Mapping[str, Sequence[str]] | None = None,
    quantile_draws: int = QUANTILE_DRAWS,
) -> Targeted:
    """``n`` rows from the model's top ``q`` of numeric ``column`` (see the module doc);
    ``quantile_draws`` is how many of its own rows a model without an exact marginal
    estimates its quantile from."""
    from privsynth.enforce import RuleChecker, sample_respecting
    from privsynth.estimation import GraphicalModel

    col = _check(synth, column, q, n)
    started = time.perf_counter()
    disc = synth.discretizer
    code_where = {c: disc.codes_for(c, list(v)) for c, v in where.items()} if where else None
    if isinstance(synth.model, GraphicalModel):
        threshold, draw, method = _graphical(synth, col, q, code_where, rng)
    elif hasattr(synth.model, "sample_tail"):
        threshold, draw, method = _flow(synth, col, q, code_where, rng)
    else:
        threshold, draw, method = _rejection(synth, col, q, where, rng, quantile_draws)
    if synth.schema.rules:
        rows = sample_respecting(draw, int(n), RuleChecker(synth.schema), rng)
    else:
        rows = draw(int(n))
    return Targeted(rows, column, q, threshold, method, time.perf_counter() - started)
