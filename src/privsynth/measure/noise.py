"""Integer-valued noise for integer counts, vectorized over numpy Generators.

Adding integer noise to integer counts releases integers, so the output carries none of the
low-order floating-point structure that breaks textbook Laplace/Gaussian implementations
(Mironov 2012). Discrete Laplace is the difference of two i.i.d. geometric variables; the
discrete Gaussian follows Canonne, Kamath & Steinke (2020, Algorithm 3): discrete-Laplace
proposals of scale t = floor(sigma) + 1 accepted with probability
exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)). The acceptance step evaluates that probability in
binary64 (relative error below 1e-15), which is the only approximation; exact samplers backed
by OpenDP live in :mod:`privsynth.measure.secure`, and :func:`noise_sampler` picks either.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

#: ``(size, scale, rng) -> int64 array``: discrete Gaussian (scale = sigma) or discrete
#: Laplace noise. Secure samplers ignore ``rng`` (they draw from the operating system).
NoiseSampler = Callable[[int | Sequence[int], float, np.random.Generator], np.ndarray]


def _shape(size: int | Sequence[int]) -> tuple[int, ...]:
    try:
        shape = (operator.index(size),)  # type: ignore[arg-type]
    except TypeError:
        shape = tuple(operator.index(s) for s in size)  # type: ignore[union-attr]
    if any(s < 0 for s in shape):
        raise ValueError(f"size must not be negative, got {size!r}")
    return shape


def _check_scale(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    out = float(value)
    if not (math.isfinite(out) and out > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return out


def discrete_laplace(
    size: int | Sequence[int], scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Integer noise with P(y) proportional to exp(-|y| / scale), as an int64 array of ``size``.

    Adding it to a count of L1 sensitivity 1 is (1/scale)-DP.
    """
    scale = _check_scale("scale", scale)
    shape = _shape(size)
    # P(G = k) = (1-p)^(k-1) p on k >= 1; the difference of two has P(y) ~ (1-p)^|y|.
    p = -math.expm1(-1.0 / scale)
    return (rng.geometric(p, size=shape) - rng.geometric(p, size=shape)).astype(np.int64)


def discrete_gaussian(
    size: int | Sequence[int], sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Integer noise with P(y) proportional to exp(-y^2 / (2 sigma^2)), int64 array of ``size``.

    Adding it to a query of L2 sensitivity 1 is 1/(2 sigma^2)-zCDP. Its variance is slightly
    below sigma^2 (see :func:`discrete_gaussian_variance`).
    """
    sigma = _check_scale("sigma", sigma)
    shape = _shape(size)
    n = math.prod(shape)
    t = math.floor(sigma) + 1.0
    sigma2 = sigma * sigma
    out = np.empty(n, dtype=np.int64)
    filled = 0
    # Acceptance is between about 0.46 (sigma -> 0) and 0.76 (sigma -> infinity); start with
    # a typical rate and, for later rounds, use the rate actually observed.
    rate = 0.7
    while filled < n:
        need = n - filled
        m = int(need / rate * 1.05) + 64
        y = discrete_laplace(m, t, rng)
        accept = rng.random(m) < np.exp(-((np.abs(y) - sigma2 / t) ** 2) / (2.0 * sigma2))
        good = y[accept]
        rate = max(0.2, good.size / m)
        good = good[:need]
        out[filled : filled + good.size] = good
        filled += good.size
    return out.reshape(shape)


# Above this sigma the Poisson-summation corrections to the continuous normaliser and
# variance are below exp(-2 pi^2 sigma^2) < 1e-500, i.e. exactly zero in binary64.
_CONTINUUM_SIGMA = 8.0


def _discrete_gaussian_terms(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    half = int(math.ceil(40.0 * sigma)) + 2  # exp(-800) is below binary64's smallest normal
    k = np.arange(-half, half + 1).astype(np.float64)
    return k, np.exp(-(k**2) / (2.0 * sigma * sigma))


def discrete_gaussian_pmf(values: np.ndarray | Sequence[int] | int, sigma: float) -> np.ndarray:
    """Probability of each integer in ``values`` under the discrete Gaussian of ``sigma``.

    The normaliser sum_k exp(-k^2 / (2 sigma^2)) is summed term by term (or, for large
    sigma, equals sigma * sqrt(2 pi) to binary64 precision).
    """
    sigma = _check_scale("sigma", sigma)
    if sigma > _CONTINUUM_SIGMA:
        norm = sigma * math.sqrt(2.0 * math.pi)
    else:
        norm = math.fsum(_discrete_gaussian_terms(sigma)[1])
    v = np.asarray(values, dtype=np.float64)
    return np.exp(-(v**2) / (2.0 * sigma * sigma)) / norm


def discrete_gaussian_variance(sigma: float) -> float:
    """Variance of the discrete Gaussian of scale ``sigma``, by summing its pmf.

    It is below sigma^2 (far below for sigma < 1, equal to it in binary64 above sigma = 8),
    so it is the right noise variance to give an estimator when sigma is small.
    """
    sigma = _check_scale("sigma", sigma)
    if sigma > _CONTINUUM_SIGMA:
        return sigma * sigma
    k, w = _discrete_gaussian_terms(sigma)
    return math.fsum(w * k**2) / math.fsum(w)


def discrete_laplace_variance(scale: float) -> float:
    """Variance of the discrete Laplace of ``scale``: 2 q / (1 - q)^2 with q = exp(-1/scale)."""
    scale = _check_scale("scale", scale)
    q = math.exp(-1.0 / scale)
    return 2.0 * q / (-math.expm1(-1.0 / scale)) ** 2


def noise_sampler(
    secure: bool = False, kind: Literal["gaussian", "laplace"] = "gaussian"
) -> NoiseSampler:
    """The sampler to use for ``kind`` noise: the fast numpy one, or OpenDP's exact one.

    Both have the signature ``(size, scale, rng) -> int64 array``; the secure sampler ignores
    ``rng`` because OpenDP draws from the operating system, so its output is not
    reproducible from a seed.
    """
    if kind not in ("gaussian", "laplace"):
        raise ValueError(f"kind must be 'gaussian' or 'laplace', got {kind!r}")
    if not secure:
        return discrete_gaussian if kind == "gaussian" else discrete_laplace
    from privsynth.measure import secure as secure_module

    fn = (
        secure_module.secure_discrete_gaussian
        if kind == "gaussian"
        else secure_module.secure_discrete_laplace
    )

    def sample(size: int | Sequence[int], scale: float, rng: np.random.Generator) -> np.ndarray:
        del rng  # OpenDP takes its randomness from the operating system.
        return fn(size, scale)

    sample.__name__ = fn.__name__
    sample.__doc__ = fn.__doc__
    return sample
