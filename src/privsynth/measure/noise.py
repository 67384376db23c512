"""Integer-valued noise for integer counts, vectorized over numpy Generators.

Adding integer noise to integer counts releases integers, so the output carries none of the
low-order floating-point structure that breaks textbook Laplace/Gaussian implementations
(Mironov 2012). Discrete Laplace is the difference of two geometric variables; the discrete
Gaussian follows Canonne, Kamath & Steinke (2020, Algorithm 3): discrete-Laplace proposals
accepted with probability exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)). The acceptance step
evaluates that probability in binary64 (relative error below 1e-15), which is the only
approximation; ``secure`` samplers backed by OpenDP's exact arithmetic live in
:mod:`privsynth.measure.secure`.
"""

from __future__ import annotations

import math

import numpy as np


def discrete_laplace(size: int | tuple[int, ...], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Integer noise with P(y) proportional to exp(-|y| / scale)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    p = -math.expm1(-1.0 / scale)
    return (rng.geometric(p, size=size) - rng.geometric(p, size=size)).astype(np.int64)


def discrete_gaussian(size: int | tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Integer noise with P(y) proportional to exp(-y^2 / (2 sigma^2))."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite positive number, got {sigma!r}")
    shape = (size,) if isinstance(size, int) else tuple(size)
    n = int(np.prod(shape))
    t = math.floor(sigma) + 1.0
    sigma2 = sigma * sigma
    out = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        # Acceptance is at least about 0.6 for every sigma, so a small over-draw rarely loops.
        m = int(todo.size * 1.7) + 16
        y = discrete_laplace(m, t, rng)
        accept = rng.random(m) < np.exp(-((np.abs(y) - sigma2 / t) ** 2) / (2.0 * sigma2))
        good = y[accept][: todo.size]
        out[todo[: good.size]] = good
        todo = todo[good.size :]
    return out.reshape(shape)
