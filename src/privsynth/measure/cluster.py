"""DP clustering of private rows, and the disjoint partition a mixture of generators trains on.

:func:`dp_kmeans` runs Lloyd's iterations where each iteration releases, per cluster, a noisy
count and a noisy sum of the (norm-bounded) rows assigned to it; the new centres are noisy sum
over noisy count. Under add/remove-one neighbours one row changes exactly one cluster's count
by 1 and that cluster's sum by at most ``norm_bound`` (rows are clipped to it), so each
iteration's released vector (all counts and sums) has L2 sensitivity ``sqrt(1 + norm_bound^2)``
and Gaussian noise of scale ``sigma`` on it costs ``(1 + norm_bound^2) / (2 sigma^2)`` in zCDP.
All iterations are charged as one event before any row is read, so a refused spend reads
nothing. Initial centres are public (the caller draws them from the public domain).

:func:`partition` splits the rows by nearest public centre (row-wise, so each row lands in
exactly one part: what lets a mixture train its components under parallel composition) and
releases the noisy (component, class) histogram, charged first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from privsynth.measure.noise import noise_sampler
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger

# A centre moves only when its noisy count exceeds this many noise stds: below it the noisy
# mean is mostly noise, and keeping the previous (public) centre is free post-processing.
_MIN_COUNT_SIGMAS = 2.0


def _rows(data: torch.Tensor) -> np.ndarray:
    """Private rows flattened to float64 vectors."""
    return data.detach().reshape(data.shape[0], -1).to(torch.float64).numpy()


def _nearest(
    x: np.ndarray,
    centres: np.ndarray,
    groups: np.ndarray | None = None,
    centre_groups: np.ndarray | None = None,
) -> np.ndarray:
    # ||x||^2 is the same for every centre, so it is left out of the comparison.
    scores = (centres**2).sum(axis=1)[None, :] - 2.0 * (x @ centres.T)
    if groups is not None:
        # A row may only join a centre of its own group (its class): one k-means per class,
        # run jointly so that one row still touches one cluster of one release.
        scores = np.where(groups[:, None] == centre_groups[None, :], scores, np.inf)
    return scores.argmin(axis=1)


def gaussian_noise(
    sigma: float, shape: tuple[int, ...], rng: np.random.Generator, secure: bool
) -> np.ndarray:
    """Continuous Gaussian noise of scale ``sigma``: from ``rng``, or from OS entropy when
    ``secure`` (not reproducible)."""
    if not secure:
        return rng.normal(0.0, sigma, shape)
    # As the DP-SGD engine's secure mode: OS entropy, and four draws halved (same variance),
    # which blunts floating-point attacks on a single Gaussian draw.
    fresh = np.random.default_rng()
    return fresh.normal(0.0, sigma, (4, *shape)).sum(axis=0) / 2.0


def assign(
    data: torch.Tensor,
    centres: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    centre_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Index of each row's nearest centre in L2 (ties go to the lower index); with ``groups``
    (one per row) and ``centre_groups`` (one per centre), the nearest centre of its group."""
    groups, centre_groups = _check_groups(len(data), len(centres), groups, centre_groups)
    return _nearest(_rows(data), np.asarray(centres, dtype=np.float64), groups, centre_groups)


def _check_groups(
    n: int | None, k: int, groups: np.ndarray | None, centre_groups: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if (groups is None) != (centre_groups is None):
        raise ValueError("groups and centre_groups go together")
    if groups is None:
        return None, None
    groups = np.asarray(groups, dtype=np.int64)
    centre_groups = np.asarray(centre_groups, dtype=np.int64)
    if groups.shape != (n,) or centre_groups.shape != (k,):
        raise ValueError("groups needs one entry per row and centre_groups one per centre")
    if not np.isin(groups, centre_groups).all():
        raise ValueError("every row's group needs at least one centre")
    return groups, centre_groups


def kmeans_sigma(rho: float, iters: int, norm_bound: float) -> float:
    """Noise scale at which ``iters`` Lloyd iterations with rows of norm at most
    ``norm_bound`` cost ``rho`` in zCDP."""
    return math.sqrt(iters * (1.0 + norm_bound**2) / (2.0 * rho))


def dp_kmeans(
    data: torch.Tensor,
    init: np.ndarray,
    iters: int,
    rho: float,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    norm_bound: float,
    label: str,
    secure: bool = False,
    groups: np.ndarray | None = None,
    centre_groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Charge ``rho`` (zCDP) for ``iters`` noisy Lloyd iterations from the public centres
    ``init`` ``(k, d)``, then run them on ``data`` (rows flattened to ``d`` values, clipped to
    L2 norm ``norm_bound``).

    With ``groups`` (private, one per row) and ``centre_groups`` (public, one per centre) each
    row joins only the centres of its group: a separate k-means per group at the cost of one,
    since a row still changes one cluster's count and sum.

    Returns the public centres ``(k, d)`` and the noisy per-cluster counts of the last
    iteration (float, may be negative or zero: clip before using them as weights).
    ``secure`` draws the noise from OS entropy (not reproducible), as the DP-SGD engine does.
    """
    init = np.array(init, dtype=np.float64)
    if init.ndim != 2 or len(init) < 1:
        raise ValueError("init must be a (k, d) array of public centres, k >= 1")
    if init.shape[1] != math.prod(data.shape[1:]):
        raise ValueError(f"init has {init.shape[1]} columns but rows have {data.shape[1:]}")
    if iters < 1 or not (rho > 0 and math.isfinite(rho)) or not norm_bound > 0:
        raise ValueError(f"dp-kmeans: need iters >= 1, rho > 0, norm_bound > 0; got {iters}, {rho}")
    # The groups are checked against the rows only once the rows are read (after the charge).
    n = None if groups is None else len(groups)
    groups, centre_groups = _check_groups(n, len(init), groups, centre_groups)
    sensitivity = math.sqrt(1.0 + norm_bound**2)
    sigma = kmeans_sigma(rho, iters, norm_bound)
    ledger.spend(GaussianEvent(sigma=sigma, sensitivity=sensitivity, count=iters), label=label)

    x = _rows(data)
    if groups is not None and len(groups) != len(x):
        raise ValueError("groups needs one entry per row")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x * np.minimum(1.0, norm_bound / np.maximum(norms, 1e-300))
    k = len(init)
    centres = init
    noisy_counts = np.zeros(k)
    for _ in range(iters):
        member = np.zeros((len(x), k))
        member[np.arange(len(x)), _nearest(x, centres, groups, centre_groups)] = 1.0
        noisy_counts = member.sum(axis=0) + gaussian_noise(sigma, (k,), rng, secure)
        noisy_sums = member.T @ x + gaussian_noise(sigma, centres.shape, rng, secure)
        moved = noisy_counts > max(1.0, _MIN_COUNT_SIGMAS * sigma)
        means = noisy_sums[moved] / noisy_counts[moved, None]
        # A mean of rows inside the ball lies inside it: projecting back only removes noise.
        scale = np.minimum(1.0, norm_bound / np.maximum(np.linalg.norm(means, axis=1), 1e-300))
        centres = centres.copy()
        centres[moved] = means * scale[:, None]
    return centres, noisy_counts


def partition(
    data: Sequence[torch.Tensor],
    centres: np.ndarray,
    n_classes: int,
    rho: float,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    label: str,
    secure: bool = False,
) -> tuple[list[tuple[torch.Tensor, ...]], np.ndarray]:
    """Charge ``rho`` (zCDP) for one histogram, then split ``data`` (``(x,)`` or
    ``(x, one_hot_label)``) by each row's nearest public centre.

    Returns the parts (private, for DP-SGD only) and the noisy ``(k, max(1, n_classes))``
    histogram of (component, class): each row is in one cell, so it has L2 sensitivity 1.
    Discrete Gaussian noise, OpenDP's exact sampler when ``secure``.
    """
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"partition: rho must be positive, got {rho!r}")
    k, cells = len(centres), max(1, n_classes)
    sigma = math.sqrt(1.0 / (2.0 * rho))
    ledger.spend(GaussianEvent(sigma=sigma), label=label)

    comp = assign(data[0], centres)
    classes = data[1].argmax(dim=1).numpy() if n_classes else np.zeros(len(comp), dtype=np.int64)
    counts = np.bincount(comp * cells + classes, minlength=k * cells).reshape(k, cells)
    noisy = (counts + noise_sampler(secure)(counts.shape, sigma, rng)).astype(np.float64)
    index = torch.from_numpy(comp)
    parts = [tuple(t[index == j] for t in data) for j in range(k)]
    return parts, noisy
