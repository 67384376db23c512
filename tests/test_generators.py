"""Conformance suite run over every registered generator, plus privacy canaries."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from privsynth.domain import Domain
from privsynth.errors import BudgetExceeded, InputError
from privsynth.generators import REGISTRY, get_generator, load_model, register
from privsynth.marginals.counting import EncodedTable, InMemoryBackend
from privsynth.privacy.ledger import Ledger

DOMAIN = Domain(("a", "b", "c", "d", "e"), (3, 4, 3, 2, 5))
# Keep the suite fast: fewer estimation steps than the defaults (the algorithms are unchanged).
FAST = {"mst": {"iters": 300}, "aim": {"round_iters": 30, "final_iters": 300}}
# Marginal (zCDP) generators; the DP-SGD ones have their own suite (test_neural_conformance).
NAMES = sorted(n for n, entry in REGISTRY.items() if not isinstance(entry, str))


def make_table(seed: int = 0, n: int = 3000) -> EncodedTable:
    """Tree-structured data: b and c depend on a, d on b; e is independent with a rare code."""
    rng = np.random.default_rng(seed)
    a = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, 4, n))
    c = np.where(rng.random(n) < 0.6, (a + 1) % 3, rng.integers(0, 3, n))
    d = np.where(rng.random(n) < 0.8, b % 2, 1 - b % 2)
    e = rng.choice(5, n, p=[0.4, 0.3, 0.2, 0.1, 0.0])
    return EncodedTable(DOMAIN, {"a": a, "b": b, "c": c, "d": d, "e": e})


class GuardedBackend(InMemoryBackend):
    """Counts like InMemoryBackend, and checks that every read comes from privsynth.measure."""

    def __init__(self, table: EncodedTable) -> None:
        super().__init__(table)
        self.reads = 0

    def count(self, attrs):
        for frame in inspect.stack()[1:]:
            path = Path(frame.filename).as_posix()
            if path.endswith(("estimation/compression.py", "marginals/counting.py")):
                continue
            assert "/privsynth/measure/" in path, f"count read from {path}"
            break
        self.reads += 1
        return super().count(attrs)


def fit(name: str, seed: int = 0, *, epsilon: float = 1.0, table: EncodedTable | None = None):
    ledger = Ledger(epsilon, 1e-6)
    backend = GuardedBackend(table if table is not None else make_table())
    model = get_generator(name, **FAST.get(name, {})).fit(
        backend, ledger, rng=np.random.default_rng(seed)
    )
    return model, ledger, backend


@pytest.fixture(scope="module", params=NAMES)
def fitted(request):
    return (request.param, *fit(request.param))


def tvd(p, q) -> float:
    p, q = np.asarray(p, float), np.asarray(q, float)
    return 0.5 * float(np.abs(p / p.sum() - q / q.sum()).sum())


def freq(codes, attrs) -> np.ndarray:
    shape = DOMAIN.shape(attrs)
    flat = np.ravel_multi_index([codes[a] for a in attrs], shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)


def test_registry():
    assert {"independent", "mst", "aim"} <= set(REGISTRY)
    with pytest.raises(ValueError, match="already registered"):
        register("mst", dict)
    with pytest.raises(InputError, match="unknown generator 'nope'; choose one of: aim, "):
        get_generator("nope")
    with pytest.raises(InputError, match="bad parameters"):
        get_generator("mst", bogus=1)
    for name in NAMES:
        cfg = get_generator(name).config()
        assert json.loads(json.dumps(cfg)) == cfg
        assert get_generator(name, **cfg) == get_generator(name)


def test_samples_have_shape_and_domain(fitted):
    name, model, ledger, backend = fitted
    assert model.domain == DOMAIN
    codes = model.sample(1000, rng=np.random.default_rng(0))
    assert list(codes) == list(DOMAIN.attributes)
    for a, col in codes.items():
        assert col.shape == (1000,) and np.issubdtype(col.dtype, np.integer)
        assert col.min() >= 0 and col.max() < DOMAIN[a]
    assert abs(model.estimated_total() - 3000) < 300


def test_budget_is_respected(fitted):
    name, model, ledger, backend = fitted
    assert ledger.rho_spent <= ledger.rho_budget
    assert ledger.rho_spent >= 0.999 * ledger.rho_budget  # the budget is used, not wasted
    assert ledger.epsilon(1e-6) <= 1.0 + 1e-9
    assert backend.reads > 0


def test_same_seed_same_model_and_samples(fitted):
    name, model, ledger, backend = fitted
    again, _, _ = fit(name, seed=0)
    meta1, arrays1 = model.to_state()
    meta2, arrays2 = again.to_state()
    assert meta1 == meta2 and arrays1.keys() == arrays2.keys()
    assert all(np.array_equal(arrays1[k], arrays2[k]) for k in arrays1)
    s1 = model.sample(200, rng=np.random.default_rng(5))
    s2 = again.sample(200, rng=np.random.default_rng(5))
    assert all(np.array_equal(s1[a], s2[a]) for a in DOMAIN)
    other, _, _ = fit(name, seed=1)
    s3 = other.sample(200, rng=np.random.default_rng(5))
    assert any(not np.array_equal(s1[a], s3[a]) for a in DOMAIN)
    s4 = model.sample(200, rng=np.random.default_rng(6))
    assert any(not np.array_equal(s1[a], s4[a]) for a in DOMAIN)


def test_sampling_from_saved_state_without_the_data(name=None):
    for name in NAMES:
        table = make_table(3)
        model, _, _ = fit(name, table=table)
        meta, arrays = model.to_state()
        text = json.dumps(meta, allow_nan=False)
        arrays = {k: np.array(v) for k, v in arrays.items()}
        del table, model
        copy = load_model(json.loads(text), arrays)
        codes = copy.sample(100, rng=np.random.default_rng(0), where={"a": [1]})
        assert set(codes["a"]) == {1}
        original = load_model(json.loads(text), arrays)
        again = original.sample(100, rng=np.random.default_rng(0), where={"a": [1]})
        assert all(np.array_equal(codes[a], again[a]) for a in DOMAIN)


def test_where_matches_the_model_conditional(fitted):
    name, model, ledger, backend = fitted
    where = {"a": [0, 2], "d": [1]}
    n = 20_000
    codes = model.sample(n, rng=np.random.default_rng(3), where=where)
    assert set(np.unique(codes["a"])) <= {0, 2} and set(np.unique(codes["d"])) == {1}
    for attrs in [("b",), ("a", "c"), ("c", "e")]:
        exact = model.project(attrs, where)
        bound = 0.5 * 5 * np.sqrt(exact * (1 - exact) / n).sum()
        assert tvd(freq(codes, attrs), exact) < bound, (name, attrs)


def test_refused_spend_changes_nothing():
    for name in NAMES:
        ledger = Ledger(1.0, 1e-6)
        backend = GuardedBackend(make_table())
        get_generator(name, **FAST.get(name, {})).fit(backend, ledger, rng=np.random.default_rng(0))
        before = ledger.to_dict()
        reads = backend.reads
        with pytest.raises(BudgetExceeded):
            get_generator(name).fit(backend, ledger, rng=np.random.default_rng(0))
        assert ledger.to_dict() == before and backend.reads == reads


@pytest.mark.parametrize("name", NAMES)
def test_noiseless_limit_reproduces_measured_marginals(name):
    table = make_table(2)
    exact = InMemoryBackend(table)
    model, ledger, _ = fit(name, epsilon=1e6, table=table)
    for a in DOMAIN:
        assert tvd(model.project((a,)), exact.count((a,))) < 0.01, a
    if name == "independent":
        return
    # MST measures a spanning tree and the data is tree-structured; AIM measures the workload.
    pairs = [("a", "b"), ("a", "c"), ("b", "d")]
    triples = [("a", "b", "c"), ("a", "b", "d")] if name == "aim" else []
    for attrs in pairs + triples:
        assert tvd(model.project(attrs), exact.count(attrs)) < 0.02, attrs


def test_canary_changes_the_model_only_through_noise():
    """One extra row with a value no one else has: the public parts (domain, compression for
    codes whose noisy count is far from the threshold) do not move, and with the same noise the
    released one-way marginal moves by exactly the canary's own count."""
    base = make_table(4)
    codes = {a: np.append(v, 4 if a == "e" else 0) for a, v in base.codes.items()}
    canary = EncodedTable(DOMAIN, codes)
    assert base.codes["e"].max() < 4
    m0, _, _ = fit("independent", table=base, epsilon=0.5)
    m1, _, _ = fit("independent", table=canary, epsilon=0.5)
    assert m0.domain == m1.domain
    for name in ("mst", "aim"):
        r0, _, _ = fit(name, table=base, epsilon=0.5)
        r1, _, _ = fit(name, table=canary, epsilon=0.5)
        assert r0.domain == r1.domain == DOMAIN
        assert r0.to_state()[0]["compression"].keys() == r1.to_state()[0]["compression"].keys()
    # Same rng -> same noise: the noisy count of e=4 differs by exactly one, so the estimated
    # totals differ by the inverse-variance weighted one-row difference.
    assert m1.estimated_total() - m0.estimated_total() == pytest.approx(1.0)
