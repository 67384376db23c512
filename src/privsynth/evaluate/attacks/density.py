"""The density-ratio attack (DOMIAS-style): where does the release put more mass than the population?

A target's score is log p_synthetic(x) - log p_reference(x): a generator that overfits puts
extra density on its training rows, above what the population (estimated from the attacker's
reference rows of the holdout) has there.

Density estimator: a Gaussian kernel density estimate on the embedding of :mod:`.encoding`
(categorical columns one-hot at distance 1 between categories, numeric columns standardised,
missing values a category of their own), chosen because it handles mixed columns and missing
values in one space, and because with a bandwidth of the order of the distance between rows
it resolves single rows, which a product of marginals or a mixture with few components
cannot: a copied row is an exact point mass. One bandwidth serves both densities, so the
Gaussian normalising constants cancel in the ratio. It is chosen by leave-one-out likelihood
cross-validation on the reference rows (at most :data:`CV_ROWS` of them, seeded sample) over
the grid :data:`BANDWIDTHS` (units of the standardised numbers), the Gaussian normalisation
counting the embedding dimensions that vary among those rows; a rule of thumb such as
Scott's factor, made for smooth continuous densities, smooths over single rows in the
high-dimensional one-hot embedding and misses copies.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from privsynth.evaluate.attacks.context import AttackContext, Scored
from privsynth.evaluate.attacks.encoding import Encoded

DESCRIPTION = (
    "DOMIAS-style density ratio: log density of the synthetic rows at the target minus log "
    "density of real reference rows (held out, never targets) there, both by a Gaussian kernel "
    "density estimate on one-hot categorical and standardised numeric columns; a generator "
    "that overfits puts extra density on its training rows"
)
BANDWIDTHS = np.geomspace(0.01, 10.0, 46)
"""Candidate kernel bandwidths, log-spaced."""
CV_ROWS = 2000
"""Most reference rows the bandwidth is cross-validated on."""
# Kernel sums are built in blocks of at most this many cells, to bound memory.
_BLOCK_CELLS = 2_000_000


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a**2).sum(axis=1)[:, None] + (b**2).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.maximum(sq, 0.0)


def log_kde(points: np.ndarray, data: np.ndarray, bandwidth: float) -> np.ndarray:
    """log of the mean Gaussian kernel (without its normalising constant) over ``data``."""
    out = np.empty(len(points))
    per_block = max(1, _BLOCK_CELLS // max(len(data), 1))
    for start in range(0, len(points), per_block):
        part = points[start : start + per_block]
        sq = _squared_distances(part, data)
        out[start : start + len(part)] = logsumexp(-sq / (2 * bandwidth**2), axis=1)
    return out - np.log(len(data))


def cross_validated_bandwidth(reference: np.ndarray) -> float:
    """The bandwidth of :data:`BANDWIDTHS` with the best leave-one-out log-likelihood."""
    dims = int((reference.std(axis=0) > 0).sum())
    sq = _squared_distances(reference, reference)
    np.fill_diagonal(sq, np.inf)
    scores = [
        float(np.mean(logsumexp(-sq / (2 * h**2), axis=1))) - dims * np.log(h) for h in BANDWIDTHS
    ]
    return float(BANDWIDTHS[int(np.argmax(scores))])


def density_attack(ctx: AttackContext) -> Scored:
    """Scores of the member and non-member targets under the density-ratio attack."""
    picked, rows = ctx.synthetic_rows(stream=2)
    synthetic = ctx.synthetic.take(picked)
    syn = ctx.embedding(synthetic)
    ref = ctx.embedding(ctx.reference)
    rng = np.random.default_rng([ctx.seed, 9])
    cv_rows = np.sort(rng.permutation(len(ref))[:CV_ROWS])
    bandwidth = cross_validated_bandwidth(ref[cv_rows])

    def score(targets: Encoded) -> np.ndarray:
        emb = ctx.embedding(targets)
        return log_kde(emb, syn, bandwidth) - log_kde(emb, ref, bandwidth)

    return Scored(
        score(ctx.members),
        score(ctx.nonmembers),
        DESCRIPTION,
        {
            "density_estimator": (
                f"Gaussian kernel density estimate, bandwidth {bandwidth:.4g} chosen by "
                f"leave-one-out likelihood cross-validation on {len(cv_rows)} reference rows, "
                "the same for both densities"
            ),
            "bandwidth": bandwidth,
            "reference_rows": len(ref),
            **rows,
        },
    )
