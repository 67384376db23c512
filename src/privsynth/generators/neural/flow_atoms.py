"""Point masses ("atoms") of real-valued integer columns, read off the public schema.

A column like capital-gain is 0 for nine rows in ten and spreads over five orders of
magnitude for the rest. A flow has a density: it cannot put 90 % of its mass on one value, so
it smears the spike and distorts the tail it is meant to capture. When the schema's bins give
a value a bin of its own (an integer bin ``[k, k + 1)``), that value is an atom: ``dpflow``
models "which atom, or none" as one more categorical variable of its autoregressive factor
(state 0: the value comes from the flow; state i: the value is the i-th atom) and fits the flow
to the other rows only. Which values are atoms depends on the schema alone, never on the data.
"""

from __future__ import annotations

import math

import numpy as np

from privsynth.marginals.counting import NumericScale


def atom_bins(scale: NumericScale) -> list[int]:
    """Codes of the bins of ``scale`` that hold exactly one representable value (integer
    columns only; the last bin includes the upper bound)."""
    if not scale.integer:
        return []
    edges = np.asarray(scale.edges, dtype=float)
    out = []
    for k in range(len(edges) - 1):
        lo = math.ceil(edges[k])
        last = k == len(edges) - 2
        hi = math.floor(edges[k + 1]) if last else math.ceil(edges[k + 1]) - 1
        lo, hi = max(lo, math.ceil(scale.lower)), min(hi, math.floor(scale.upper))
        if lo == hi:
            out.append(k)
    return out


def atom_values(scale: NumericScale) -> np.ndarray:
    """The value of each atom, in :func:`atom_bins` order."""
    edges = np.asarray(scale.edges, dtype=float)
    return np.array(
        [max(math.ceil(edges[k]), math.ceil(scale.lower)) for k in atom_bins(scale)], dtype=float
    )


def atom_states(codes: np.ndarray, scale: NumericScale) -> np.ndarray:
    """Bin codes to atom states: 0 outside every atom (the missing code included), i for the
    i-th atom's bin."""
    lookup = np.zeros(len(scale.edges), dtype=np.int64)  # bins plus the missing code
    for i, k in enumerate(atom_bins(scale), start=1):
        lookup[k] = i
    return lookup[np.asarray(codes, dtype=np.int64)]


def atom_counts(hist: np.ndarray, scale: NumericScale) -> np.ndarray:
    """A column's (noisy) bin counts regrouped by atom state: present values outside every
    atom, then each atom."""
    h = np.clip(np.asarray(hist, dtype=float)[: len(scale.edges) - 1], 0, None)
    bins = atom_bins(scale)
    rest = np.delete(h, bins).sum()
    return np.concatenate([[rest], h[bins]])


def without_atoms(hist: np.ndarray, scale: NumericScale) -> np.ndarray:
    """The bin counts with the atoms' bins set to zero (what the flow itself must fit)."""
    h = np.asarray(hist, dtype=float)[: len(scale.edges) - 1].copy()
    h[atom_bins(scale)] = 0.0
    return h


__all__ = ["atom_bins", "atom_counts", "atom_states", "atom_values", "without_atoms"]
