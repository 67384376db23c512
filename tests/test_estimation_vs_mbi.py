"""Our mirror-descent estimator against the field's reference library, mbi, on identical noisy
measurements: both must reach the same model marginals (they solve the same convex problem)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from privsynth.domain import Domain
from privsynth.estimation import Observation, mirror_descent
from privsynth.marginals import EncodedTable, InMemoryBackend
from privsynth.measure.marginals import measure_marginals
from privsynth.privacy.ledger import Ledger

DOMAIN = Domain(("a", "b", "c", "d", "e"), (3, 4, 2, 5, 3))
CLIQUES = [
    ("a",),
    ("b",),
    ("c",),
    ("d",),
    ("e",),
    ("a", "b"),
    ("b", "c"),
    ("c", "d", "e"),
    ("a", "e"),
]


def _measurements(seed: int, sigma: float):
    rng = np.random.default_rng(seed)
    n = 4000
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(0, 2, n)) % 4
    c = (b > 1).astype(int) ^ (rng.random(n) < 0.2)
    d = (c * 2 + rng.integers(0, 3, n)) % 5
    e = (a + d + rng.integers(0, 2, n)) % 3
    codes = {"a": a, "b": b, "c": c.astype(int), "d": d, "e": e}
    backend = InMemoryBackend(EncodedTable(DOMAIN, codes))
    ledger = Ledger(1e6, 1e-9)
    return measure_marginals(
        backend, CLIQUES, sigma, ledger, np.random.default_rng(seed + 100), label="test"
    )


@pytest.mark.parametrize(("seed", "sigma"), [(0, 5.0), (1, 30.0)])
def test_same_optimum_as_mbi(seed, sigma):
    # mbi checks these settings when it is first imported; set them before.
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    import mbi

    ms = _measurements(seed, sigma)
    ours = mirror_descent(DOMAIN, [Observation.from_measurement(m, DOMAIN) for m in ms], iters=3000)
    ref = mbi.estimation.MirrorDescent().estimate(
        DOMAIN.to_mbi(), [m.to_mbi() for m in ms], iters=3000
    )
    total = float(ref.total)
    assert ours.total == pytest.approx(total, rel=1e-9)
    for clique in CLIQUES + [("a", "d"), ("b", "e")]:
        mine = np.asarray(ours.project(clique)) / ours.total
        theirs = np.asarray(ref.project(clique).datavector(flatten=False)) / total
        # Same convex objective: at convergence the marginals agree to optimisation tolerance.
        assert 0.5 * np.abs(mine - theirs).sum() < 2e-3, clique
