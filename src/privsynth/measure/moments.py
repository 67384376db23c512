"""Noisy moments of norm-bounded private vectors: a principal subspace and per-group Gaussians.

Pixels enter as vectors in ``[0, 1]`` divided by a public ``clip`` and scaled down to L2 norm at
most 1 (:func:`image_vectors`), so under add/remove-one neighbours:

* the Gram matrix ``X^T X`` changes by ``x x^T``, whose upper triangle (the released entries;
  the lower one is its mirror) has L2 norm at most ``||x||^2 <= 1``: :func:`noisy_gram`;
* per group, the count changes by 1, the sum by ``||y|| <= 1`` and the second moment's upper
  triangle by at most ``||y||^2 <= 1``, in one group only, so the released vector of counts,
  sums (and second moments) has L2 sensitivity ``sqrt(2)`` (``sqrt(3)``):
  :func:`noisy_group_moments`. Projecting onto public orthonormal directions keeps ``||y|| <= 1``.

Each function charges its Gaussian event before it reads a row, so a refused spend reads
nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from privsynth.measure.cluster import gaussian_noise
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger


def image_vectors(backend, clip: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Private images as float64 rows ``pixels / 255 / clip`` scaled to L2 norm <= 1, and
    their labels (for the functions of this module only)."""
    if not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a positive number, got {clip!r}")
    images, labels = backend.rows()
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1) / (255.0 * clip)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.maximum(1.0, norms)
    return x, np.asarray(labels, dtype=np.int64)


def _symmetric_noise(
    d: int, sigma: float, rng: np.random.Generator, secure: bool, lead: tuple[int, ...] = ()
) -> np.ndarray:
    upper = np.triu(gaussian_noise(sigma, (*lead, d, d), rng, secure))
    return upper + np.swapaxes(np.triu(upper, 1), -1, -2)


def _check(rho: float) -> None:
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"rho must be a positive number, got {rho!r}")


def noisy_gram(
    x: np.ndarray,
    rho: float,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    label: str,
    secure: bool = False,
) -> tuple[np.ndarray, float]:
    """Charge ``rho`` (zCDP), then release ``x^T x`` for rows of norm <= 1 with symmetric
    Gaussian noise. Returns the noisy ``(d, d)`` matrix and the noise scale."""
    _check(rho)
    sigma = math.sqrt(1.0 / (2.0 * rho))
    ledger.spend(GaussianEvent(sigma=sigma), label=label)
    _check_norms(x)
    return x.T @ x + _symmetric_noise(x.shape[1], sigma, rng, secure), sigma


@dataclass(frozen=True)
class GroupMoments:
    """Noisy per-group counts ``(g,)``, sums ``(g, k)`` and, if asked, second moments
    ``(g, k, k)`` (public), with the noise scale they carry."""

    counts: np.ndarray
    sums: np.ndarray
    seconds: np.ndarray | None
    sigma: float


def moments_sigma(rho: float, second: bool) -> float:
    """Noise scale at which one release of counts, sums (and second moments) costs ``rho``."""
    _check(rho)
    return math.sqrt((3.0 if second else 2.0) / (2.0 * rho))


def noisy_group_moments(
    y: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    rho: float,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    second: bool,
    label: str,
    secure: bool = False,
) -> GroupMoments:
    """Charge ``rho`` (zCDP), then release per-group counts, sums and (``second``) second
    moments of rows ``y`` of norm <= 1, each row in the one group ``groups[i]``."""
    sigma = moments_sigma(rho, second)
    sens = math.sqrt(3.0 if second else 2.0)
    ledger.spend(GaussianEvent(sigma=sigma, sensitivity=sens), label=label)
    _check_norms(y)
    groups = np.asarray(groups, dtype=np.int64)
    k = y.shape[1]
    member = np.zeros((len(y), n_groups))
    member[np.arange(len(y)), groups] = 1.0
    counts = member.sum(axis=0) + gaussian_noise(sigma, (n_groups,), rng, secure)
    sums = member.T @ y + gaussian_noise(sigma, (n_groups, k), rng, secure)
    seconds = None
    if second:
        seconds = np.stack([y[groups == g].T @ y[groups == g] for g in range(n_groups)])
        seconds = seconds + _symmetric_noise(k, sigma, rng, secure, (n_groups,))
    return GroupMoments(counts, sums, seconds, sigma)


def _check_norms(x: np.ndarray) -> None:
    # The sensitivities above hold only for rows inside the unit ball.
    if len(x) and float(np.max(np.einsum("ij,ij->i", x, x))) > 1.0 + 1e-9:
        raise ValueError("rows must have L2 norm at most 1")
