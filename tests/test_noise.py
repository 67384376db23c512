"""Statistical and API tests of the integer noise samplers.

Every statistical check uses a fixed seed and a tolerance of 5 standard errors derived from
the sample size and the exact distribution (moments and pmf computed by summing the pmf), so
a correct sampler fails with probability well below 1e-5 per check, and being deterministic,
never flakes.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.measure.noise import (
    discrete_gaussian,
    discrete_gaussian_pmf,
    discrete_gaussian_variance,
    discrete_laplace,
    discrete_laplace_variance,
    noise_sampler,
)
from privsynth.measure.secure import secure_discrete_gaussian, secure_discrete_laplace

N = 400_000
Z = 5.0


def exact_pmf(kind: str, scale: float, support: np.ndarray) -> np.ndarray:
    """Exact pmf on ``support`` by brute-force normalisation over a wide range."""
    half = int(60 * scale) + 60
    k = np.arange(-half, half + 1, dtype=np.float64)
    if kind == "gaussian":
        w = np.exp(-(k**2) / (2 * scale**2))
        return np.exp(-(support.astype(float) ** 2) / (2 * scale**2)) / math.fsum(w)
    w = np.exp(-np.abs(k) / scale)
    return np.exp(-np.abs(support.astype(float)) / scale) / math.fsum(w)


def exact_moments(kind: str, scale: float) -> tuple[float, float]:
    """Variance and fourth central moment, summed over the pmf."""
    half = int(60 * scale) + 60
    k = np.arange(-half, half + 1)
    p = exact_pmf(kind, scale, k)
    kf = k.astype(np.float64)
    return math.fsum(p * kf**2), math.fsum(p * kf**4)


SAMPLERS = {"gaussian": discrete_gaussian, "laplace": discrete_laplace}
CASES = [
    ("gaussian", 0.4),
    ("gaussian", 1.0),
    ("gaussian", 1.7),
    ("gaussian", 10.0),
    ("gaussian", 1000.0),
    ("laplace", 0.4),
    ("laplace", 1.0),
    ("laplace", 10.0),
    ("laplace", 1000.0),
]


@pytest.fixture(scope="module")
def samples() -> dict[tuple[str, float], np.ndarray]:
    """One large sample per case, each from its own fixed seed."""
    out = {}
    for i, (kind, scale) in enumerate(CASES):
        out[(kind, scale)] = SAMPLERS[kind](N, scale, np.random.default_rng(1000 + i))
    return out


@pytest.mark.parametrize(("kind", "scale"), CASES)
def test_mean_and_variance(samples, kind: str, scale: float) -> None:
    x = samples[(kind, scale)].astype(np.float64)
    var, m4 = exact_moments(kind, scale)
    assert abs(x.mean()) <= Z * math.sqrt(var / N)
    # Standard error of the sample variance (mean known to be 0): sqrt((m4 - var^2) / n).
    assert abs(np.mean(x**2) - var) <= Z * math.sqrt((m4 - var**2) / N)


@pytest.mark.parametrize(("kind", "scale"), [c for c in CASES if c[1] <= 10])
def test_pmf_per_cell(samples, kind: str, scale: float) -> None:
    x = samples[(kind, scale)]
    support = np.arange(-int(3 * scale) - 2, int(3 * scale) + 3)
    p = exact_pmf(kind, scale, support)
    keep = p * N >= 20
    support, p = support[keep], p[keep]
    counts = np.array([(x == k).sum() for k in support])
    z = (counts - N * p) / np.sqrt(N * p * (1 - p))
    assert np.all(np.abs(z) < Z), dict(zip(support.tolist(), z.round(2).tolist(), strict=True))
    # Pearson chi-square over the same cells plus the tail, against a 5-sigma-ish bound.
    tail = N - counts.sum()
    exp_tail = N * (1 - p.sum())
    obs = np.append(counts, tail)
    exp = np.append(N * p, exp_tail)
    mask = exp > 0
    chi2 = float((((obs - exp) ** 2)[mask] / exp[mask]).sum())
    dof = int(mask.sum()) - 1
    assert chi2 < dof + Z * math.sqrt(2 * dof) + 10


@pytest.mark.parametrize(("kind", "scale"), [c for c in CASES if c[1] <= 10])
def test_symmetry(samples, kind: str, scale: float) -> None:
    x = samples[(kind, scale)]
    for k in range(1, int(2 * scale) + 2):
        pos, neg = int((x == k).sum()), int((x == -k).sum())
        if pos + neg < 50:
            continue
        # Given pos + neg, pos is Binomial(pos + neg, 1/2) under symmetry.
        assert abs(pos - neg) <= Z * math.sqrt(pos + neg), (k, pos, neg)
    pos_total, neg_total = int((x > 0).sum()), int((x < 0).sum())
    assert abs(pos_total - neg_total) <= Z * math.sqrt(pos_total + neg_total)


def test_tiny_sigma_is_almost_always_zero() -> None:
    x = discrete_gaussian(100_000, 0.05, np.random.default_rng(3))
    assert np.all(x == 0)  # P(y != 0) is about 2 exp(-200)


@pytest.mark.parametrize("fn", [discrete_gaussian, discrete_laplace])
def test_dtype_shapes_and_seeding(fn) -> None:
    rng = np.random.default_rng(7)
    assert fn(5, 2.0, rng).shape == (5,)
    assert fn((3, 4), 2.0, rng).shape == (3, 4)
    assert fn((2, 0, 3), 2.0, rng).shape == (2, 0, 3)
    assert fn(0, 2.0, rng).shape == (0,)
    assert fn(np.int64(6), 2.0, rng).shape == (6,)
    assert fn((np.int32(2), 3), 2.0, rng).shape == (2, 3)
    assert fn((4,), 3, rng).dtype == np.int64
    a = fn((50, 20), 3.5, np.random.default_rng(11))
    b = fn((50, 20), 3.5, np.random.default_rng(11))
    c = fn((50, 20), 3.5, np.random.default_rng(12))
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fn", [discrete_gaussian, discrete_laplace])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "2"])
def test_bad_scale(fn, bad) -> None:
    with pytest.raises(ValueError):
        fn(3, bad, np.random.default_rng(0))


@pytest.mark.parametrize("fn", [discrete_gaussian, discrete_laplace])
def test_negative_size(fn) -> None:
    with pytest.raises(ValueError):
        fn(-1, 1.0, np.random.default_rng(0))


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=3),
    sigma=st.floats(0.01, 1e4),
    seed=st.integers(0, 2**32 - 1),
)
def test_shape_and_reproducibility_property(shape: list[int], sigma: float, seed: int) -> None:
    a = discrete_gaussian(tuple(shape), sigma, np.random.default_rng(seed))
    b = discrete_gaussian(tuple(shape), sigma, np.random.default_rng(seed))
    assert a.shape == tuple(shape) and a.dtype == np.int64
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5, 7.9, 8.1, 50.0])
def test_helper_moments_match_brute_force(sigma: float) -> None:
    var, _ = exact_moments("gaussian", sigma)
    assert discrete_gaussian_variance(sigma) == pytest.approx(var, rel=1e-12)
    k = np.arange(-5, 6)
    np.testing.assert_allclose(
        discrete_gaussian_pmf(k, sigma), exact_pmf("gaussian", sigma, k), rtol=1e-12
    )
    lap_var, _ = exact_moments("laplace", sigma)
    assert discrete_laplace_variance(sigma) == pytest.approx(lap_var, rel=1e-9)


@pytest.mark.parametrize("fn", [discrete_gaussian, discrete_laplace])
@pytest.mark.parametrize("scale", [1.0, 10.0, 1000.0])
def test_million_cells_well_under_a_second(fn, scale: float) -> None:
    rng = np.random.default_rng(0)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        fn(1_000_000, scale, rng)
        best = min(best, time.perf_counter() - start)
    assert best < 0.5


@pytest.mark.parametrize(
    ("fn", "kind", "scale"),
    [
        (secure_discrete_gaussian, "gaussian", 3.0),
        (secure_discrete_gaussian, "gaussian", 0.7),
        (secure_discrete_laplace, "laplace", 2.0),
    ],
)
def test_secure_samplers(fn, kind: str, scale: float) -> None:
    n = 20_000
    x = fn((100, n // 100), scale)
    assert x.shape == (100, n // 100) and x.dtype == np.int64
    var, m4 = exact_moments(kind, scale)
    x = x.astype(np.float64).ravel()
    assert abs(x.mean()) <= Z * math.sqrt(var / n)
    assert abs(np.mean(x**2) - var) <= Z * math.sqrt((m4 - var**2) / n)
    assert fn(0, scale).shape == (0,)
    with pytest.raises(ValueError):
        fn(3, -1.0)


def test_noise_sampler_picks() -> None:
    rng = np.random.default_rng(0)
    assert noise_sampler() is discrete_gaussian
    assert noise_sampler(False, "laplace") is discrete_laplace
    secure = noise_sampler(True)
    out = secure((4, 5), 2.0, rng)
    assert out.shape == (4, 5) and out.dtype == np.int64
    assert noise_sampler(True, "laplace")(3, 2.0, rng).shape == (3,)
    with pytest.raises(ValueError):
        noise_sampler(False, "cauchy")  # type: ignore[arg-type]
