"""Forward sampling from a calibrated junction tree with an explicit numpy Generator.

Attributes are drawn in reverse elimination order; each one from its exact conditional
distribution given its already-drawn elimination neighbours (all in one maximal clique). Every
row gets its own uniform number, so rows are i.i.d.: in particular two attributes sharing a
parent are drawn independently given that parent, never as copies of each other.
"""

from __future__ import annotations

import numpy as np

from privsynth.estimation.inference import Calibrated
from privsynth.estimation.tables import sum_to


def _conditional_cdf(joint: np.ndarray) -> np.ndarray:
    """Per-parent-configuration CDFs over the last axis of ``joint`` (rows of zeros -> uniform)."""
    mass = joint.sum(axis=-1, keepdims=True)
    k = joint.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(mass > 0, joint / mass, 1.0 / k)
    cdf = np.cumsum(cond, axis=-1)
    cdf[..., -1] = 1.0
    return cdf


def draw_codes(cdf: np.ndarray, parent_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draw of one code per row from table ``cdf[parent_index[row]]``.

    The per-row searches are vectorised by shifting configuration ``p``'s CDF to ``[p, p+1]``,
    which makes the flattened table increasing, so one ``searchsorted`` serves all rows.
    """
    configs, k = cdf.shape
    u = rng.random(parent_index.shape[0])
    shifted = (cdf + np.arange(configs)[:, None]).ravel()
    flat = np.searchsorted(shifted, parent_index + u, side="right")
    codes = flat - parent_index * k
    return np.clip(codes, 0, k - 1)


def sample_codes(calibrated: Calibrated, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` i.i.d. rows from the model, as an (n, d) int64 matrix of codes."""
    tree = calibrated.tree
    d = len(tree.sizes)
    out = np.zeros((n, d), dtype=np.int64)
    for v in reversed(tree.order):
        parents = tree.parents[v]
        home = tree.home[v]
        family = tuple(sorted((*parents, v)))
        joint = sum_to(calibrated.marginals[home], tree.cliques[home], family)
        # Move v's axis last so rows of the table are parent configurations.
        joint = np.moveaxis(joint, family.index(v), -1)
        cdf = _conditional_cdf(joint.reshape(-1, tree.sizes[v]))
        if parents:
            shape = tuple(tree.sizes[p] for p in parents)
            parent_index = np.ravel_multi_index(tuple(out[:, p] for p in parents), shape)
        else:
            parent_index = np.zeros(n, dtype=np.int64)
        out[:, v] = draw_codes(cdf, parent_index, rng)
    return out
