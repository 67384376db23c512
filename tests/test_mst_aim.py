"""MST and AIM specifics: private selection, the spanning tree, compression, AIM's budget
schedule and model-size limit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from privsynth.domain import Domain
from privsynth.errors import BudgetExceeded, InputError, PrivacyError
from privsynth.estimation import model_size_mb
from privsynth.generators import get_generator
from privsynth.generators.aim import workload_candidates
from privsynth.marginals.counting import EncodedTable, InMemoryBackend
from privsynth.measure.select import select_exponential
from privsynth.privacy.events import ExponentialEvent
from privsynth.privacy.ledger import Ledger

DOMAIN = Domain(("a", "b", "c", "d", "e", "f"), (3, 4, 3, 2, 30, 2))


def make_table(seed: int = 0, n: int = 4000) -> EncodedTable:
    rng = np.random.default_rng(seed)
    a = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    b = np.where(rng.random(n) < 0.7, a, rng.integers(0, 4, n))
    c = np.where(rng.random(n) < 0.6, (a + 1) % 3, rng.integers(0, 3, n))
    d = np.where(rng.random(n) < 0.8, b % 2, 1 - b % 2)
    # e: mostly codes 0..2, with a long tail of rare codes that MST should merge.
    e = np.where(rng.random(n) < 0.97, rng.integers(0, 3, n), rng.integers(3, 30, n))
    f = (c + d) % 2
    return EncodedTable(DOMAIN, {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f})


class CountingOnly(InMemoryBackend):
    """Records the ledger length at every read."""

    def __init__(self, table: EncodedTable, ledger: Ledger) -> None:
        super().__init__(table)
        self.ledger = ledger
        self.seen: list[int] = []

    def count(self, attrs):
        self.seen.append(len(self.ledger.entries))
        return super().count(attrs)


# --- selection -------------------------------------------------------------------------------


def test_selection_charges_before_reading_and_picks_the_worst_at_high_epsilon():
    table = make_table()
    ledger = Ledger(1000.0, 1e-6)
    backend = CountingOnly(table, ledger)
    cands = [("a", "b"), ("a", "c"), ("c", "d")]
    # Independent estimates: worst for the strongly dependent pair (a, b).
    est = []
    for c in cands:
        p0 = backend.count((c[0],)) / 4000
        p1 = backend.count((c[1],)) / 4000
        est.append(4000 * np.outer(p0, p1))
    backend.seen.clear()
    chosen = select_exponential(
        backend, cands, est, 20.0, 1.0, ledger, np.random.default_rng(0), label="t"
    )
    assert chosen == ("a", "b")
    assert backend.seen and min(backend.seen) == 1  # every read happened after the charge
    assert ledger.entries[-1].event == ExponentialEvent(20.0)
    # Penalties and weights enter the score.
    chosen = select_exponential(
        backend,
        cands,
        est,
        20.0,
        1.0,
        ledger,
        np.random.default_rng(0),
        label="t",
        penalties=[1e9, 0, 0],
    )
    assert chosen != ("a", "b")


def test_selection_is_the_exponential_mechanism():
    table = make_table(1)
    backend = InMemoryBackend(table)
    cands = [("a",), ("b",), ("c",)]
    est = [
        backend.count(c) + np.eye(1, DOMAIN[c[0]]).ravel() * k
        for c, k in zip(cands, (0, 2, 4), strict=True)
    ]
    eps, n = 1.0, 4000
    rng = np.random.default_rng(3)
    ledger = Ledger(1e6, 1e-6)
    picks = [
        select_exponential(backend, cands, est, eps, 1.0, ledger, rng, label="t") for _ in range(n)
    ]
    freq = np.array([picks.count(c) for c in cands]) / n
    p = np.exp(eps / 2 * np.array([0, 2, 4]))
    p /= p.sum()
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_selection_refusals_read_nothing():
    table = make_table()
    ledger = Ledger(1.0, 1e-6)
    backend = CountingOnly(table, ledger)
    est = [np.zeros((3, 4))]
    with pytest.raises(PrivacyError, match="sensitivity"):
        select_exponential(
            backend,
            [("a", "b")],
            est,
            0.1,
            1.0,
            ledger,
            np.random.default_rng(0),
            label="t",
            weights=[2.0],
        )
    with pytest.raises(BudgetExceeded):
        select_exponential(
            backend, [("a", "b")], est, 100.0, 1.0, ledger, np.random.default_rng(0), label="t"
        )
    assert backend.seen == [] and ledger.entries == ()


# --- MST -------------------------------------------------------------------------------------


def fit_mst(epsilon: float, seed: int = 0, **params):
    ledger = Ledger(epsilon, 1e-6)
    backend = CountingOnly(make_table(), ledger)
    model = get_generator("mst", iters=300, **params).fit(
        backend, ledger, rng=np.random.default_rng(seed)
    )
    return model, ledger, backend


def test_mst_measures_a_spanning_tree_with_thirds_of_the_budget():
    model, ledger, backend = fit_mst(1.0)
    pairs = [c for c in model.markov.cliques if len(c) == 2]
    assert len(pairs) == len(DOMAIN) - 1
    parent = {a: a for a in DOMAIN}

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in pairs:
        assert find(a) != find(b)  # no cycle
        parent[find(a)] = find(b)
    labels = [e.label for e in ledger.entries]
    assert labels[0] == "mst: one-way marginals" and labels[-1] == "mst: tree two-way marginals"
    rho = ledger.rho_budget
    assert ledger.entries[0].rho == pytest.approx(rho / 3, rel=1e-6)
    selection = sum(e.rho for e in ledger.entries[1:-1])
    assert selection <= rho / 3 * (1 + 1e-9)
    assert ledger.rho_spent <= rho and ledger.rho_spent == pytest.approx(rho, rel=1e-6)
    assert min(backend.seen) >= 1


def test_mst_compresses_rare_codes_and_still_samples_them():
    model, _, _ = fit_mst(2.0)
    mapping = model.compression.mappings["e"]
    assert mapping.max() < 29  # the rare tail of e was merged
    assert len(set(mapping[3:])) == 1
    codes = model.sample(20_000, rng=np.random.default_rng(0))
    tail = np.bincount(codes["e"], minlength=30)[mapping == mapping[5]]
    assert tail.sum() > 0 and (tail > 0).sum() > 10  # spread over the merged codes
    uncompressed, _, _ = fit_mst(2.0, compress=False)
    assert uncompressed.compression.mappings == {}


# --- AIM -------------------------------------------------------------------------------------


def test_workload_candidates_and_weights():
    cands = workload_candidates([("a", "b", "c"), ("a", "b", "d")])
    assert cands[("a", "b", "c")] == 3 + 2 and cands[("a",)] == 2 and cands[("c",)] == 1
    assert cands[("a", "b")] == 4 and ("c", "d") not in cands
    assert len(cands) == 2 + 5 + 4  # two triples, five pairs, four singles


def fit_aim(epsilon: float, seed: int = 0, **params):
    ledger = Ledger(epsilon, 1e-6)
    backend = CountingOnly(make_table(), ledger)
    params = {"round_iters": 30, "final_iters": 200, **params}
    model = get_generator("aim", **params).fit(backend, ledger, rng=np.random.default_rng(seed))
    return model, ledger, backend


def test_aim_spends_exactly_the_budget_in_select_measure_pairs():
    model, ledger, backend = fit_aim(1.0)
    rho = ledger.rho_budget
    assert ledger.rho_spent <= rho and ledger.rho_spent == pytest.approx(rho, rel=1e-8)
    labels = [e.label for e in ledger.entries]
    assert labels[0] == "aim: one-way marginals"
    rounds = labels[1:]
    assert len(rounds) % 2 == 0 and len(rounds) >= 2
    assert all(
        s.endswith("selection") and m.endswith("measurement")
        for s, m in zip(rounds[::2], rounds[1::2], strict=True)
    )
    # Defaults follow the paper: T = 16 d rounds' worth of budget, alpha = 0.9.
    T, d = 16 * len(DOMAIN), len(DOMAIN)
    sigma0 = math.sqrt(T / (2 * 0.9 * rho))
    assert ledger.entries[0].event.sigma == pytest.approx(sigma0)
    assert ledger.entries[0].rho == pytest.approx(d / (2 * sigma0**2))
    assert ledger.entries[1].event.epsilon == pytest.approx(math.sqrt(8 * 0.1 * rho / T))
    # The last round uses what is left, split alpha : 1 - alpha.
    last_sel, last_meas = ledger.entries[-2], ledger.entries[-1]
    assert last_meas.rho == pytest.approx(9 * last_sel.rho, rel=1e-6)
    assert min(backend.seen) >= 1


def test_aim_respects_the_model_size_limit_and_workload():
    model, ledger, _ = fit_aim(
        5.0, max_model_size=0.0005, workload=[["a", "b", "e"], ["c", "d", "f"]]
    )
    cands = workload_candidates([("a", "b", "e"), ("c", "d", "f")])
    for clique in model.markov.cliques:
        assert clique in cands
    idx = [tuple(DOMAIN.attributes.index(a) for a in c) for c in model.markov.cliques]
    assert model_size_mb(DOMAIN.sizes, idx) <= 0.0005
    with pytest.raises(InputError, match="unknown columns"):
        fit_aim(1.0, workload=[["a", "zz"]])


def test_aim_is_accurate_on_its_workload_with_a_large_budget():
    model, _, _ = fit_aim(20.0, degree=2, final_iters=1000)
    exact = InMemoryBackend(make_table())
    errors = []
    for attrs in itertools.combinations(DOMAIN.attributes, 2):
        p, q = model.project(attrs), exact.count(attrs) / 4000
        errors.append(0.5 * np.abs(p - q).sum())
    assert np.mean(errors) < 0.03
