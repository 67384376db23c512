"""Estimation: exact inference against brute force, i.i.d. sampling, exact conditioning,
mirror descent's noiseless limit, compression and state round trips."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.estimation import (
    Compression,
    GraphicalModel,
    MarkovModel,
    Observation,
    mirror_descent,
    model_size_mb,
)
from privsynth.estimation.junction import build_junction_tree
from privsynth.marginals.counting import EncodedTable, InMemoryBackend

DOMAIN = Domain(("a", "b", "c", "d", "e", "f"), (3, 2, 4, 3, 2, 3))
# A cycle (a-b-c-a plus c-d-e-c), a dangling pair and an isolated attribute's singleton.
CLIQUES = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("d", "e"), ("c", "e"), ("f",)]


def random_model(seed: int = 0, cliques=CLIQUES, domain=DOMAIN, scale: float = 1.5) -> MarkovModel:
    rng = np.random.default_rng(seed)
    pots = {c: scale * rng.normal(size=domain.shape(c)) for c in cliques}
    return MarkovModel(domain, pots, total=1000.0)


def brute_joint(model: MarkovModel) -> np.ndarray:
    """The full joint as an array over all attributes (domain order), summing to one."""
    dom = model.domain
    logp = np.zeros(dom.sizes)
    for clique, values in model.potentials.items():
        shape = [dom[a] if a in clique else 1 for a in dom.attributes]
        logp = logp + values.reshape(shape)
    p = np.exp(logp - logp.max())
    return p / p.sum()


def brute_marginal(joint: np.ndarray, domain: Domain, attrs) -> np.ndarray:
    axes = tuple(i for i, a in enumerate(domain.attributes) if a not in attrs)
    kept = [a for a in domain.attributes if a in attrs]
    table = joint.sum(axis=axes)
    return np.transpose(table, [kept.index(a) for a in attrs])


def tvd(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p / p.sum() - q / q.sum()).sum())


def frequencies(codes: dict[str, np.ndarray], domain: Domain, attrs) -> np.ndarray:
    shape = domain.shape(attrs)
    flat = np.ravel_multi_index([codes[a] for a in attrs], shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)


def test_every_marginal_matches_brute_force():
    model = random_model()
    joint = brute_joint(model)
    for k in (1, 2, 3, 4):
        for attrs in itertools.combinations(DOMAIN.attributes, k):
            got = model.project(attrs) / model.total
            np.testing.assert_allclose(got, brute_marginal(joint, DOMAIN, attrs), atol=1e-12)
    # Attribute order of the query is respected.
    np.testing.assert_allclose(
        model.project(("d", "a")) / model.total,
        brute_marginal(joint, DOMAIN, ("d", "a")),
        atol=1e-12,
    )


def test_junction_tree_has_running_intersection():
    tree = build_junction_tree(
        DOMAIN.sizes, [tuple(DOMAIN.attributes.index(a) for a in c) for c in CLIQUES]
    )
    for attr in range(len(DOMAIN)):
        holders = [i for i, c in enumerate(tree.cliques) if attr in c]
        # Holders of an attribute form a connected subtree.
        seen, stack = {holders[0]}, [holders[0]]
        while stack:
            node = stack.pop()
            for nb in tree.neighbors[node]:
                if nb in holders and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        assert seen == set(holders)
        family = set(tree.parents[attr]) | {attr}
        assert family <= set(tree.cliques[tree.home[attr]])
    assert model_size_mb(DOMAIN.sizes, [(0, 1), (1, 2)]) == pytest.approx(
        (6 + 8 + 3 + 2 + 3) * 8 / 2**20
    )


def test_samples_reproduce_model_marginals_including_siblings():
    # A star: b, c and d all share parent a, with strong dependence on it.
    dom = Domain(("a", "b", "c", "d"), (4, 3, 3, 5))
    rng = np.random.default_rng(1)
    pots = {c: 3 * rng.normal(size=dom.shape(c)) for c in [("a", "b"), ("a", "c"), ("a", "d")]}
    model = GraphicalModel(MarkovModel(dom, pots, 1.0))
    n = 40_000
    codes = model.sample(n, rng=np.random.default_rng(7))
    assert set(codes) == set(dom.attributes)
    for attrs in [(a,) for a in dom.attributes] + list(itertools.combinations(dom.attributes, 2)):
        exact = model.project(attrs)
        # 5 standard errors of each cell frequency, summed over cells, bounds the TVD.
        bound = 0.5 * 5 * np.sqrt(exact * (1 - exact) / n).sum()
        assert tvd(frequencies(codes, dom, attrs), exact) < bound, attrs


def test_sampling_is_reproducible_and_seed_dependent():
    model = GraphicalModel(random_model(3))
    one = model.sample(500, rng=np.random.default_rng(11))
    two = model.sample(500, rng=np.random.default_rng(11))
    three = model.sample(500, rng=np.random.default_rng(12))
    assert all(np.array_equal(one[a], two[a]) for a in DOMAIN)
    assert any(not np.array_equal(one[a], three[a]) for a in DOMAIN)
    assert all(v.shape == (500,) and v.min() >= 0 and v.max() < DOMAIN[a] for a, v in one.items())


def test_conditioning_matches_brute_force():
    markov = random_model(5)
    model = GraphicalModel(markov)
    joint = brute_joint(markov)
    where = {"a": [0, 2], "e": [1]}
    mask = np.zeros(DOMAIN.sizes, dtype=bool)
    mask[np.ix_([0, 2], range(2), range(4), range(3), [1], range(3))] = True
    cond = np.where(mask, joint, 0.0)
    cond /= cond.sum()
    for attrs in [("a",), ("c",), ("a", "d"), ("b", "f"), ("c", "d", "e")]:
        np.testing.assert_allclose(
            model.project(attrs, where), brute_marginal(cond, DOMAIN, attrs), atol=1e-12
        )
    n = 30_000
    codes = model.sample(n, rng=np.random.default_rng(2), where=where)
    assert set(np.unique(codes["a"])) <= {0, 2} and set(np.unique(codes["e"])) == {1}
    for attrs in [("c",), ("a", "d"), ("b", "c")]:
        exact = brute_marginal(cond, DOMAIN, attrs)
        bound = 0.5 * 5 * np.sqrt(exact * (1 - exact) / n).sum()
        assert tvd(frequencies(codes, DOMAIN, attrs), exact) < bound


def test_zero_probability_condition_is_refused():
    dom = Domain(("x", "y"), (3, 2))
    with np.errstate(divide="ignore"):
        pots = {("x",): np.log(np.array([0.5, 0.5, 0.0]))}
    model = GraphicalModel(MarkovModel(dom, pots, 10.0))
    with pytest.raises(InputError, match="zero probability"):
        model.sample(5, rng=np.random.default_rng(0), where={"x": [2]})
    with pytest.raises(InputError, match="unknown column"):
        model.sample(5, rng=np.random.default_rng(0), where={"zz": [0]})
    with pytest.raises(InputError, match="codes 0..2"):
        model.sample(5, rng=np.random.default_rng(0), where={"x": [7]})
    assert set(model.sample(50, rng=np.random.default_rng(0), where={"x": [1, 2]})["x"]) == {1}


def _table(rng: np.random.Generator, n: int) -> EncodedTable:
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(0, 2, n)) % 4
    c = np.where(rng.random(n) < 0.8, b % 3, rng.integers(0, 3, n))
    d = rng.integers(0, 2, n)
    dom = Domain(("a", "b", "c", "d"), (3, 4, 3, 2))
    return EncodedTable(dom, {"a": a, "b": b, "c": c, "d": d})


def test_mirror_descent_reproduces_exact_marginals():
    table = _table(np.random.default_rng(0), 5000)
    backend = InMemoryBackend(table)
    dom = table.domain
    cliques = [("a", "b"), ("b", "c"), ("d",)]
    obs = [
        Observation(c, backend.count(c).astype(float), np.full(dom.shape(c), 1e-3)) for c in cliques
    ]
    model = mirror_descent(dom, obs, iters=2000)
    assert model.total == pytest.approx(5000, rel=1e-9)
    for c in cliques + [("a",), ("c",)]:
        assert tvd(model.project(c), backend.count(c).astype(float)) < 1e-3, c


def test_warm_start_continues_from_the_previous_model():
    table = _table(np.random.default_rng(1), 3000)
    backend = InMemoryBackend(table)
    dom = table.domain
    obs = [
        Observation(c, backend.count(c).astype(float), np.full(dom.shape(c), 1.0))
        for c in [("a", "b")]
    ]
    first = mirror_descent(dom, obs, iters=300)
    more = obs + [
        Observation(("b", "c"), backend.count(("b", "c")).astype(float), np.full((4, 3), 1.0))
    ]
    cold = mirror_descent(dom, more, iters=20)
    warm = mirror_descent(dom, more, iters=20, warm_start=first)
    exact = backend.count(("a", "b")).astype(float)
    assert tvd(warm.project(("a", "b")), exact) < tvd(cold.project(("a", "b")), exact)


def test_compression_merges_rare_codes_and_decompresses_uniformly():
    dom = Domain(("x", "y"), (5, 3))
    comp = Compression.from_noisy_counts(
        dom,
        {"x": np.array([50.0, 1.0, 40.0, -2.0, 0.5]), "y": np.array([9.0, 9.0, 0.0])},
        {"x": 3.0, "y": 3.0},
    )
    assert comp.compressed_domain == Domain(("x", "y"), (3, 3))  # y has one rare code: left alone
    assert comp.mappings["x"].tolist() == [0, 2, 1, 2, 2]
    table = np.arange(15.0).reshape(5, 3)
    np.testing.assert_allclose(
        comp.compress_table(table, ("x", "y")),
        [[0, 1, 2], [6, 7, 8], [3 + 9 + 12, 4 + 10 + 13, 5 + 11 + 14]],
    )
    obs = comp.observation(Observation(("x",), np.ones(5), np.full(5, 2.0)))
    np.testing.assert_allclose(obs.stddev, [2.0, 2.0, 2.0 * np.sqrt(3)])
    codes = comp.decompress("x", np.full(30_000, 2), np.random.default_rng(0))
    counts = np.bincount(codes, minlength=5)
    assert counts[[0, 2]].sum() == 0 and np.all(
        np.abs(counts[[1, 3, 4]] - 10_000) < 5 * np.sqrt(10_000 * 2 / 9)
    )
    restricted = comp.decompress("x", np.full(100, 2), np.random.default_rng(0), allowed=[3])
    assert set(restricted) == {3}
    np.testing.assert_allclose(np.exp(comp.log_weights("x", [0, 3, 4])), [1.0, 0.0, 2 / 3])
    rows = EncodedTable(dom, {"x": np.array([0, 1, 3, 3, 4]), "y": np.array([0, 1, 2, 2, 0])})
    full = InMemoryBackend(rows)
    np.testing.assert_array_equal(
        comp.backend(full).count(("y", "x")),
        comp.compress_table(full.count(("y", "x")), ("y", "x")),
    )


def test_state_round_trip_samples_identically():
    dom = Domain(("x", "y", "z"), (5, 3, 2))
    comp = Compression(dom, {"x": np.array([0, 2, 1, 2, 2])})
    rng = np.random.default_rng(4)
    small = comp.compressed_domain
    pots = {
        ("x", "y"): rng.normal(size=small.shape(("x", "y"))),
        ("y", "z"): rng.normal(size=(3, 2)),
    }
    model = GraphicalModel(MarkovModel(small, pots, 77.0), comp)
    meta, arrays = model.to_state()
    meta = json.loads(json.dumps(meta))
    copy = GraphicalModel.from_state(meta, {k: np.array(v) for k, v in arrays.items()})
    assert copy.domain == dom and copy.estimated_total() == 77.0
    a = model.sample(300, rng=np.random.default_rng(9), where={"x": [1, 3]})
    b = copy.sample(300, rng=np.random.default_rng(9), where={"x": [1, 3]})
    assert all(np.array_equal(a[k], b[k]) for k in dom)
    full = model.project(("x", "y"))
    assert full.shape == (5, 3) and full.sum() == pytest.approx(1.0)
    # Mass of a merged code is spread evenly over its original codes.
    np.testing.assert_allclose(full[1], full[3])
    with pytest.raises(ValueError):
        GraphicalModel.from_state({**meta, "model_type": "other"}, arrays)
