"""Conformance suite run over every registered DP-SGD (neural) generator."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import fast_params
from test_generators import DOMAIN, make_table

from privsynth.errors import BudgetExceeded, InputError
from privsynth.generators import REGISTRY, generator_class, get_generator, load_model
from privsynth.generators.neural import model as model_module
from privsynth.marginals.counting import EncodedTable, InMemoryBackend
from privsynth.privacy.ledger import Ledger

torch.set_num_threads(1)

# Every generator registered from privsynth.generators.neural (imported lazily by path).
NEURAL = sorted(
    n for n, entry in REGISTRY.items() if str(entry).startswith("privsynth.generators.neural.")
)
EPSILON, DELTA = 3.0, 1e-6


class GuardedBackend(InMemoryBackend):
    """Rows and counts only for privsynth.measure; counts how often each is read."""

    def __init__(self, table: EncodedTable) -> None:
        super().__init__(table, label="a")
        self.reads = 0

    @staticmethod
    def _check() -> None:
        for frame in inspect.stack()[2:]:
            path = Path(frame.filename).as_posix()
            if path.endswith("marginals/counting.py"):
                continue
            assert "/privsynth/measure/" in path, f"private data read from {path}"
            break

    def count(self, attrs):
        self._check()
        self.reads += 1
        return super().count(attrs)

    def rows(self):
        self._check()
        self.reads += 1
        return super().rows()


def fit(name: str, seed: int = 0, *, table: EncodedTable | None = None, epsilon=EPSILON):
    ledger = Ledger(epsilon, DELTA, composition="rdp")
    backend = GuardedBackend(table if table is not None else make_table(n=1500))
    model = get_generator(name, **fast_params(name)).fit(
        backend, ledger, rng=np.random.default_rng(seed)
    )
    return model, ledger, backend


@pytest.fixture(scope="module", params=NEURAL)
def fitted(request):
    return (request.param, *fit(request.param))


def test_every_generator_family_is_registered():
    assert {"dpgan", "dpgan-laplace", "dpcvae", "dpvae-mixture", "pategan"} <= set(NEURAL)
    for name in NEURAL:
        assert generator_class(name).composition == "rdp"


def test_samples_have_shape_and_domain(fitted):
    name, model, ledger, backend = fitted
    assert model.domain == DOMAIN
    codes = model.sample(500, rng=np.random.default_rng(0))
    assert list(codes) == list(DOMAIN.attributes)
    for a, col in codes.items():
        assert col.shape == (500,) and np.issubdtype(col.dtype, np.integer)
        assert col.min() >= 0 and col.max() < DOMAIN[a]
    # The noisy row count costs a small share of the budget: within a few hundred rows.
    assert abs(model.estimated_total() - 1500) < 300


def test_budget_is_used_and_never_exceeded(fitted):
    name, model, ledger, backend = fitted
    assert ledger.epsilon() <= EPSILON
    assert ledger.epsilon() >= EPSILON * (1 - 1e-3)
    assert backend.reads > 0
    kinds = [e.event.kind for e in ledger.entries]
    assert "gaussian" in kinds  # the noisy counts


def test_same_seed_same_model_different_seed_different(fitted):
    name, model, ledger, backend = fitted
    again, _, _ = fit(name, seed=0)
    s1 = model.sample(200, rng=np.random.default_rng(5))
    s2 = again.sample(200, rng=np.random.default_rng(5))
    assert all(np.array_equal(s1[a], s2[a]) for a in DOMAIN)
    other, _, _ = fit(name, seed=1)
    s3 = other.sample(200, rng=np.random.default_rng(5))
    assert any(not np.array_equal(s1[a], s3[a]) for a in DOMAIN)
    s4 = model.sample(200, rng=np.random.default_rng(6))
    assert any(not np.array_equal(s1[a], s4[a]) for a in DOMAIN)


def test_sampling_from_saved_state_without_the_data(fitted):
    name, model, ledger, backend = fitted
    meta, arrays = model.to_state()
    text = json.dumps(meta, allow_nan=False)
    copy = load_model(json.loads(text), {k: np.array(v) for k, v in arrays.items()})
    a = model.sample(100, rng=np.random.default_rng(0))
    b = copy.sample(100, rng=np.random.default_rng(0))
    assert all(np.array_equal(a[k], b[k]) for k in DOMAIN)
    for arr in arrays.values():
        assert 1500 not in arr.shape


def test_where_on_the_label_is_exact_and_on_others_by_rejection(fitted):
    name, model, ledger, backend = fitted
    codes = model.sample(300, rng=np.random.default_rng(1), where={"a": [2]})
    assert set(codes["a"]) == {2}
    codes = model.sample(200, rng=np.random.default_rng(1), where={"a": [0, 1], "d": [1]})
    assert set(codes["a"]) <= {0, 1} and set(codes["d"]) == {1}
    assert len(codes["d"]) == 200


def test_refused_spend_changes_nothing():
    for name in NEURAL:
        ledger = Ledger(1.0, DELTA, composition="rdp")
        backend = GuardedBackend(make_table(n=600))
        get_generator(name, **fast_params(name)).fit(backend, ledger, rng=np.random.default_rng(0))
        before, reads = ledger.to_dict(), backend.reads
        with pytest.raises(BudgetExceeded):
            get_generator(name, **fast_params(name)).fit(
                backend, ledger, rng=np.random.default_rng(0)
            )
        assert ledger.to_dict() == before and backend.reads == reads, name


def test_unique_category_does_not_enter_the_encoding():
    """A record with a code no one else has: the encoding (public, from the domain) and the
    model's layout are identical with and without it."""
    base = make_table(4, n=600)
    assert base.codes["e"].max() < 4
    codes = {a: np.append(v, 4 if a == "e" else 0) for a, v in base.codes.items()}
    canary = EncodedTable(DOMAIN, codes)
    for name in NEURAL:
        m0, _, _ = fit(name, table=base)
        m1, _, _ = fit(name, table=canary)
        meta0, arrays0 = m0.to_state()
        meta1, arrays1 = m1.to_state()
        # Noisy outputs (the row count, the calibration's cap) differ; the layout may not.
        for meta in (meta0, meta1):
            meta.pop("total")
            meta.get("calibration", {}).pop("cap", None)
        assert meta0 == meta1, name
        assert {k: v.shape for k, v in arrays0.items()} == {k: v.shape for k, v in arrays1.items()}


def test_where_that_cannot_be_met_says_why(fitted, monkeypatch):
    name, model, ledger, backend = fitted
    # With the rejection bound lowered to 2 draws per row, a condition of probability well
    # under one half cannot be filled: the model must say so rather than return fewer rows.
    monkeypatch.setattr(model_module, "_MAX_DRAW_FACTOR", 2)
    with pytest.raises(InputError, match="acceptance rate"):
        model.sample(1000, rng=np.random.default_rng(0), where={"e": [4], "b": [3]})


def test_secure_mode_noisy_counts_are_not_replayable_from_the_seed():
    """With secure=True every noise draw, the noisy counts included, comes from OS entropy."""

    def class_weights(secure: bool) -> np.ndarray:
        ledger = Ledger(EPSILON, DELTA, composition="rdp")
        params = {**fast_params("dpcvae"), "secure": secure}
        model = get_generator("dpcvae", **params).fit(
            GuardedBackend(make_table(n=600)), ledger, rng=np.random.default_rng(0)
        )
        return model.class_weights

    assert np.array_equal(class_weights(False), class_weights(False))
    # Three noisy class counts with sigma near 18 all repeating by chance: probability < 1e-4.
    assert not np.array_equal(class_weights(True), class_weights(True))
