"""Gower-like distances between encoded rows, computed in blocks.

The distance between two rows is the mean over columns of: for a categorical column, 0 when the
codes agree and 1 otherwise; for a numeric column, the absolute difference of the values scaled
to [0, 1] by the schema's public bounds, 0 when both are missing and 1 when exactly one is.
It lies in [0, 1]; 0 means the two rows agree on every column.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from privsynth.evaluate.attacks.encoding import Encoded

# Distance matrices are built in blocks of at most this many cells, to bound memory.
_BLOCK_CELLS = 2_000_000


def _blocks(query: Encoded, pool: Encoded) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows of ``query``, their Gower distances to every row of ``pool``), block by block."""
    pool_hot = pool.one_hot()
    n_cat = len(pool.cat_names)
    per_block = max(1, _BLOCK_CELLS // max(pool.n_rows, 1))
    for start in range(0, query.n_rows, per_block):
        rows = slice(start, min(start + per_block, query.n_rows))
        part = query.take(np.arange(rows.start, rows.stop))
        # Agreeing categorical codes are counted by one matrix product of the one-hot codes.
        dist = n_cat - part.one_hot() @ pool_hot.T
        for j in range(part.numeric.shape[1]):
            a, b = part.numeric[:, j][:, None], pool.numeric[:, j][None, :]
            diff = np.abs(a - b)
            gap = np.isnan(diff)
            if gap.any():
                one_missing = np.isnan(a) != np.isnan(b)
                diff[gap] = one_missing[gap]
            dist += diff
        yield rows, dist / max(query.n_columns, 1)


def nearest(query: Encoded, pool: Encoded, k: int = 1) -> np.ndarray:
    """Distances from each ``query`` row to its ``k`` nearest ``pool`` rows (n x k, ascending)."""
    k = min(k, pool.n_rows)
    out = np.empty((query.n_rows, k))
    for rows, dist in _blocks(query, pool):
        part = np.partition(dist, k - 1, axis=1)[:, :k] if k < pool.n_rows else dist
        out[rows] = np.sort(part, axis=1)
    return out


def neighbourhood(
    query: Encoded, pool: Encoded, k: int, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest distances (n x k) and the number of ``pool`` rows within ``radius``."""
    k = min(k, pool.n_rows)
    near = np.empty((query.n_rows, k))
    within = np.empty(query.n_rows)
    for rows, dist in _blocks(query, pool):
        part = np.partition(dist, k - 1, axis=1)[:, :k] if k < pool.n_rows else dist
        near[rows] = np.sort(part, axis=1)
        within[rows] = (dist <= radius).sum(axis=1)
    return near, within
