"""Total variation distance between real and synthetic k-way marginals, for every k-subset.

The marginals are counted over the schema's public discretization, so both tables are binned
identically. All subsets of up to ``max_order`` columns are scored in one depth-first walk over
column combinations: the raveled cell index of a (k+1)-way marginal extends the k-way index of
its prefix by one multiply-add, and each marginal costs one ``bincount`` per table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privsynth.domain import Domain

# Above this many cells a dense bincount wastes memory on empty cells; the index is then
# renumbered over the cells that occur (a sort), which also keeps it far from int64 overflow.
_DENSE_CELLS = 1 << 20


@dataclass(frozen=True)
class MarginalTVD:
    """The total variation distance of one marginal (the set of ``columns``)."""

    columns: tuple[str, ...]
    tvd: float


def tvd_counts(real: np.ndarray, synth: np.ndarray) -> float:
    """Total variation distance ``0.5 * sum |p - q|`` between two count vectors."""
    p = real / max(real.sum(), 1)
    q = synth / max(synth.sum(), 1)
    return float(0.5 * np.abs(p - q).sum())


def _compact(real: np.ndarray, synth: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    cells, inverse = np.unique(np.concatenate([real, synth]), return_inverse=True)
    return inverse[: len(real)], inverse[len(real) :], len(cells)


def _walk(
    real: Sequence[np.ndarray],
    synth: Sequence[np.ndarray],
    sizes: Sequence[int],
    max_order: int,
) -> Iterator[tuple[tuple[int, ...], float]]:
    def visit(
        prefix: tuple[int, ...], key_r: np.ndarray, key_s: np.ndarray, cells: int
    ) -> Iterator[tuple[tuple[int, ...], float]]:
        if prefix:
            r, s, n = (key_r, key_s, cells) if cells <= _DENSE_CELLS else _compact(key_r, key_s)
            yield prefix, tvd_counts(np.bincount(r, minlength=n), np.bincount(s, minlength=n))
        if len(prefix) == max_order:
            return
        start = prefix[-1] + 1 if prefix else 0
        if cells * max(sizes[start:], default=1) > _DENSE_CELLS:
            key_r, key_s, cells = _compact(key_r, key_s)
        for j in range(start, len(sizes)):
            yield from visit(
                (*prefix, j),
                key_r * sizes[j] + real[j],
                key_s * sizes[j] + synth[j],
                cells * sizes[j],
            )

    yield from visit((), np.zeros(len(real[0]), np.int64), np.zeros(len(synth[0]), np.int64), 1)


def marginal_tvds(
    real: Mapping[str, np.ndarray],
    synth: Mapping[str, np.ndarray],
    domain: Domain,
    max_order: int = 3,
) -> list[MarginalTVD]:
    """TVD of every marginal of 1 to ``max_order`` columns, ordered by order then columns."""
    attrs = list(domain.attributes)
    sizes = list(domain.sizes)
    r = [np.asarray(real[a], dtype=np.int64) for a in attrs]
    s = [np.asarray(synth[a], dtype=np.int64) for a in attrs]
    found = [
        MarginalTVD(tuple(attrs[i] for i in idx), tvd) for idx, tvd in _walk(r, s, sizes, max_order)
    ]
    found.sort(key=lambda m: (len(m.columns), [attrs.index(c) for c in m.columns]))
    return found


@dataclass(frozen=True)
class MarginalFidelity:
    """Every k-way marginal TVD for k = 1..max_order, with summaries per order."""

    scores: tuple[MarginalTVD, ...]
    max_order: int
    n_columns: int

    def of_order(self, k: int) -> tuple[MarginalTVD, ...]:
        """The scores of the k-way marginals."""
        return tuple(m for m in self.scores if len(m.columns) == k)

    def mean(self, k: int | None = None) -> float | None:
        """Mean TVD over the k-way marginals (all orders when ``k`` is None); None if none."""
        chosen = self.scores if k is None else self.of_order(k)
        return float(np.mean([m.tvd for m in chosen])) if chosen else None

    def worst(self, k: int) -> MarginalTVD | None:
        """The k-way marginal with the largest TVD (first in column order on ties)."""
        chosen = self.of_order(k)
        return max(chosen, key=lambda m: m.tvd) if chosen else None

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """Per-order mean, median and worst marginal; every marginal too when ``full``."""
        orders: dict[str, Any] = {}
        for k in range(1, self.max_order + 1):
            chosen = self.of_order(k)
            if not chosen:
                orders[str(k)] = {
                    "n_marginals": 0,
                    "mean_tvd": None,
                    "reason": f"the schema has only {self.n_columns} columns",
                }
                continue
            worst = self.worst(k)
            entry: dict[str, Any] = {
                "n_marginals": len(chosen),
                "mean_tvd": self.mean(k),
                "median_tvd": float(np.median([m.tvd for m in chosen])),
                "worst": {"columns": list(worst.columns), "tvd": worst.tvd},
            }
            if full:
                entry["all"] = [{"columns": list(m.columns), "tvd": m.tvd} for m in chosen]
            orders[str(k)] = entry
        return {
            "note": (
                "total variation distance 0.5*sum|p-q| between the real and synthetic marginal "
                "distributions over the schema's public bins (missing values are a bin of their "
                "own); 0 = identical, 1 = disjoint; every marginal of each order, no sampling"
            ),
            "orders": orders,
            "all_orders": {"n_marginals": len(self.scores), "mean_tvd": self.mean()},
        }


def marginal_fidelity(
    real: Mapping[str, np.ndarray],
    synth: Mapping[str, np.ndarray],
    domain: Domain,
    max_order: int = 3,
) -> MarginalFidelity:
    """Score every marginal of 1 to ``max_order`` columns of the encoded tables."""
    scores = marginal_tvds(real, synth, domain, max_order)
    return MarginalFidelity(tuple(scores), max_order, len(domain))
