"""Exact integer noise from OpenDP, for users who cannot accept any floating-point step.

OpenDP (>= 0.12, checked against 0.16) samples the discrete Gaussian and discrete Laplace
with exact rational/big-integer arithmetic and draws its bits from the operating system's
CSPRNG, so these functions take no ``rng`` and cannot be seeded. On integer vector domains
OpenDP's ``make_gaussian(scale=s)`` adds noise with P(y) proportional to
exp(-y^2 / (2 s^2)) (its zCDP map gives rho = d^2 / (2 s^2) for L2 distance d), and
``make_laplace(scale=b)`` adds noise with P(y) proportional to exp(-|y| / b); both are the
same parametrisation as :func:`privsynth.measure.noise.discrete_gaussian` and
:func:`~privsynth.measure.noise.discrete_laplace`. They are two to three orders of magnitude
slower: about 10 s per million cells (see ``bench/results/noise_speed.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from privsynth.errors import PrivsynthError
from privsynth.measure.noise import _check_scale, _shape


def _opendp() -> Any:
    try:
        import opendp.prelude as dp
    except ImportError as exc:  # pragma: no cover - opendp is a declared dependency
        raise PrivsynthError(
            "secure noise needs the opendp package (pip install 'opendp>=0.12')"
        ) from exc
    dp.enable_features("contrib")
    return dp


@cache
def _mechanism(kind: str, scale: float) -> Callable[[list[int]], Any]:
    dp = _opendp()
    domain = dp.vector_domain(dp.atom_domain(T="i64"))
    if kind == "gaussian":
        return dp.m.make_gaussian(domain, dp.l2_distance(T="i64"), scale=scale)
    return dp.m.make_laplace(domain, dp.l1_distance(T="i64"), scale=scale)


def _sample(kind: str, size: int | Sequence[int], scale: float) -> np.ndarray:
    scale = _check_scale("sigma" if kind == "gaussian" else "scale", scale)
    shape = _shape(size)
    n = math.prod(shape)
    if n == 0:
        return np.zeros(shape, dtype=np.int64)
    # Noise added to a vector of zeros is the noise itself.
    noise = _mechanism(kind, scale)([0] * n)
    return np.asarray(noise, dtype=np.int64).reshape(shape)


def secure_discrete_gaussian(size: int | Sequence[int], sigma: float) -> np.ndarray:
    """Exact discrete Gaussian noise, P(y) proportional to exp(-y^2 / (2 sigma^2)).

    Returns an int64 array of shape ``size``, drawn by OpenDP from operating-system
    randomness (no seed). Same distribution as
    :func:`privsynth.measure.noise.discrete_gaussian`.
    """
    return _sample("gaussian", size, sigma)


def secure_discrete_laplace(size: int | Sequence[int], scale: float) -> np.ndarray:
    """Exact discrete Laplace noise, P(y) proportional to exp(-|y| / scale).

    Returns an int64 array of shape ``size``, drawn by OpenDP from operating-system
    randomness (no seed). Same distribution as
    :func:`privsynth.measure.noise.discrete_laplace`.
    """
    return _sample("laplace", size, scale)
