"""Calibrated sampling of table decoders: rows kept in proportion to weights that move the
network's frequencies to the noisy marginals; free, stored in the model file, optional."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_generators import DOMAIN, make_table

from privsynth.domain import Domain
from privsynth.generators import get_generator
from privsynth.generators.neural.calibrate import Calibration
from privsynth.generators.neural.model import NeuralModel
from privsynth.marginals.counting import InMemoryBackend
from privsynth.measure.rows import MarginalLogits
from privsynth.privacy.ledger import Ledger
from privsynth.transforms.neural import NeuralEncoding

torch.set_num_threads(1)

# Two attributes drawn independently (the "network"), targets that differ from them.
DRAWN = {"x": [0.5, 0.3, 0.2], "y": [0.7, 0.3]}
TARGET = {"x": [0.2, 0.3, 0.5], "y": [0.5, 0.5]}


def _draw(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {a: rng.choice(len(p), n, p=p) for a, p in DRAWN.items()}


def _encoding() -> NeuralEncoding:
    return NeuralEncoding(Domain(("x", "y"), (3, 2)))


def _logits(enc: NeuralEncoding, sigma: float = 0.0) -> MarginalLogits:
    base = np.zeros(enc.width)
    for b in enc.blocks:
        base[b.start : b.stop] = np.log(TARGET[b.attr])
    return MarginalLogits(base, None, sigma)


def test_kept_rows_have_the_target_frequencies():
    """Fitted on one batch, applied to a fresh one: the kept rows' frequencies are the
    targets within 5 standard errors (of the kept sample and of the pilot); the drawn rows'
    are far from them (so the test fails without the weights)."""
    enc = _encoding()
    pilot, n_pilot = _draw(200_000, np.random.default_rng(0)), 200_000
    cal = Calibration.fit(enc, _logits(enc), pilot, None, total=n_pilot)
    rng = np.random.default_rng(1)
    fresh = _draw(200_000, rng)
    keep = rng.random(200_000) < cal.keep_probability(fresh, None)
    kept = int(keep.sum())
    # Weights are products of x's and y's factors: the largest (x=2, y=1) holds 6 % of the
    # rows, so the 99 % cap truncates nothing and acceptance is the mean weight over the max.
    assert 0.2 < kept / 200_000 < 0.5
    for attr, target in TARGET.items():
        got = np.bincount(fresh[attr][keep], minlength=len(target)) / kept
        t = np.asarray(target)
        se = np.sqrt(t * (1 - t) * (1 / kept + 1 / n_pilot))
        assert np.all(np.abs(got - t) < 5 * se), (attr, got, t)
        raw = np.bincount(fresh[attr], minlength=len(t)) / len(fresh[attr])
        assert np.max(np.abs(raw - t)) > 20 * se.max()


def test_per_class_targets_are_met_within_each_class():
    """A conditional model: factors per (class, value), fitted to label-by-attribute targets."""
    enc = NeuralEncoding(Domain(("c", "x"), (2, 3)), label="c")
    target = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
    by_class = np.log(target)
    logits = MarginalLogits(np.log(target.mean(axis=0)), by_class)
    rng = np.random.default_rng(2)

    def draw(n):
        labels = rng.choice(2, n, p=[0.4, 0.6])
        return {"x": rng.choice(3, n, p=[1 / 3] * 3)}, labels

    codes, labels = draw(200_000)
    cal = Calibration.fit(enc, logits, codes, labels, total=len(labels))
    codes, labels = draw(200_000)
    keep = rng.random(len(labels)) < cal.keep_probability(codes, labels)
    for k in range(2):
        sel = keep & (labels == k)
        got = np.bincount(codes["x"][sel], minlength=3) / sel.sum()
        se = np.sqrt(target[k] * (1 - target[k]) * 2 / sel.sum())
        assert np.all(np.abs(got - target[k]) < 5 * se), (k, got)


def test_only_departures_beyond_the_noise_are_corrected():
    """Noisy rows 1000, noise sd 100 per count: x is drawn 500 / 300 / 200 and measured
    200 / 300 / 500, so the targets are 300 / 300 / 400 (each gap shrunk by one sd); y's gap
    (700 / 300 against 500 / 500) shrinks to 600 / 400. With sd 1000 nothing moves."""
    enc = _encoding()
    pilot = _draw(200_000, np.random.default_rng(3))
    rng = np.random.default_rng(4)
    fresh = _draw(200_000, rng)
    cal = Calibration.fit(enc, _logits(enc, sigma=100.0), pilot, None, total=1000)
    keep = rng.random(200_000) < cal.keep_probability(fresh, None)
    kept = int(keep.sum())
    for attr, want in (("x", [0.3, 0.3, 0.4]), ("y", [0.6, 0.4])):
        got = np.bincount(fresh[attr][keep], minlength=len(want)) / kept
        t = np.asarray(want)
        se = np.sqrt(t * (1 - t) * (1 / kept + 1 / 200_000))
        assert np.all(np.abs(got - t) < 5 * se), (attr, got, t)
    quiet = Calibration.fit(enc, _logits(enc, sigma=1000.0), pilot, None, total=1000)
    assert np.allclose(quiet.keep_probability(fresh, None), 1.0)


def _fit(calibrate: bool, seed: int = 0):
    table = make_table(n=2000)
    backend = InMemoryBackend(table, label="a")
    ledger = Ledger(5.0, 1e-6, composition="rdp")
    gen = get_generator(
        "dpgan",
        epochs=1,
        batch_size=128,
        hidden=[32],
        latent_dim=8,
        calibrate=calibrate,
    )
    return gen.fit(backend, ledger, rng=np.random.default_rng(seed)), ledger


def test_calibration_is_free_optional_and_survives_the_model_file():
    model, ledger = _fit(True)
    plain, plain_ledger = _fit(False)
    assert model.calibration is not None and plain.calibration is None
    # Post-processing: the same charges, nothing added for the calibration.
    assert [e.label for e in ledger.entries] == [e.label for e in plain_ledger.entries]
    assert ledger.rho_spent == plain_ledger.rho_spent
    meta, arrays = model.to_state()
    assert set(meta["calibration"]["attributes"]) == {"b", "c", "d", "e"}
    again = NeuralModel.from_state(meta, arrays)
    for attr, f in model.calibration.factors.items():
        assert np.array_equal(again.calibration.factors[attr], f)
    a = model.sample(500, rng=np.random.default_rng(5))
    b = again.sample(500, rng=np.random.default_rng(5))
    assert all(np.array_equal(a[k], b[k]) for k in DOMAIN.attributes)


def test_factors_that_do_not_fit_the_encoding_are_refused():
    model, _ = _fit(True)
    meta, arrays = model.to_state()
    bad = dict(arrays)
    bad["calibration.b"] = np.ones((3, 7))  # b has 4 codes
    with pytest.raises(ValueError, match="do not fit"):
        NeuralModel.from_state(meta, bad)
    bad["calibration.b"] = -np.ones_like(arrays["calibration.b"])
    with pytest.raises(ValueError, match="finite"):
        NeuralModel.from_state(meta, bad)


def test_where_still_holds_with_calibration():
    model, _ = _fit(True)
    out = model.sample(300, rng=np.random.default_rng(6), where={"e": [1]})
    assert len(out["e"]) == 300 and np.all(out["e"] == 1)


def test_one_way_calibration_from_noisy_counts():
    """The flow's form: noisy one-way counts per attribute (one noise sd for all). With no
    noise the kept rows meet the counts' frequencies; with an sd far above every gap nothing
    moves; a cell the pilot never drew keeps factor 1."""
    pilot = _draw(200_000, np.random.default_rng(7))
    counts = {a: 1000.0 * np.asarray(t) for a, t in TARGET.items()}
    counts["x"] = counts["x"] + np.array([0.0, -3.0, 3.0])  # noise; negatives are clipped
    cal = Calibration.fit_one_way(counts, 0.0, pilot, total=1000)
    rng = np.random.default_rng(8)
    fresh = _draw(200_000, rng)
    keep = rng.random(200_000) < cal.keep_probability(fresh, None)
    kept = int(keep.sum())
    for attr, c in counts.items():
        t = c / c.sum()
        got = np.bincount(fresh[attr][keep], minlength=len(t)) / kept
        se = np.sqrt(t * (1 - t) * (1 / kept + 1 / 200_000))
        assert np.all(np.abs(got - t) < 5 * se), (attr, got, t)
    quiet = Calibration.fit_one_way(counts, 1000.0, pilot, total=1000)
    assert np.allclose(quiet.keep_probability(fresh, None), 1.0)
    unseen = {"x": np.zeros(200_000, dtype=np.int64), "y": pilot["y"]}
    cal = Calibration.fit_one_way({"x": counts["x"]}, 0.0, unseen, total=1000)
    assert np.allclose(cal.factors["x"][0, 1:], 1.0)
