"""PATE-GAN and its teacher ensemble: accounting, disjoint teachers, determinism, model files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privsynth.errors import BudgetExceeded, PrivacyError
from privsynth.generators.neural.nets import build, spec
from privsynth.generators.neural.pategan import PATEGAN
from privsynth.marginals.images import ImageBackend
from privsynth.measure.pate import calibrate_votes, default_teachers, open_pate
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger
from privsynth.synthesizer import Synthesizer, fit_table

torch.set_num_threads(1)

EPSILON, DELTA = 3.0, 1e-6
ROWS = 400
FAST = {
    "rounds": 20,
    "teacher_steps": 1,
    "student_steps": 2,
    "batch_size": 32,
    "hidden": [32, 32],
    "latent_dim": 16,
    "teachers": 3,
}
QUERIES = 20 * 2 * 32


def _fit(df, schema, seed: int, progress=None):
    return fit_table(
        df,
        schema,
        generator="pategan",
        epsilon=EPSILON,
        delta=DELTA,
        rng=np.random.default_rng(seed),
        params=FAST,
        progress=progress,
    )[0]


@pytest.fixture(scope="module")
def table(adult_small):
    return adult_small.iloc[:ROWS].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(table, adult_schema):
    messages: list[tuple[str, float]] = []
    synth = _fit(table, adult_schema, 0, progress=lambda m, f: messages.append((m, f)))
    return synth, messages


def test_budget_lands_on_target_and_lists_every_event(fitted):
    synth, _ = fitted
    ledger = synth.ledger
    assert EPSILON * (1 - 1e-3) <= ledger.epsilon() <= EPSILON
    labels = [e.label for e in ledger.entries]
    assert labels[0] == "pategan: noisy counts"
    # Tables also buy noisy label-by-attribute marginals for the generator's output layer.
    assert labels[1] == "pategan: noisy income-by-attribute marginals"
    assert labels[2].startswith("pategan: noisy votes of 3 teachers")
    votes = ledger.entries[2].event
    assert isinstance(votes, GaussianEvent)
    assert votes.sensitivity == 1.0 and votes.count == QUERIES
    assert len(labels) == 3


def test_progress_reports_public_losses_and_epsilon(fitted):
    synth, messages = fitted
    assert messages and messages[-1][1] == 1.0
    last = messages[-1][0]
    assert "student loss" in last and "generator loss" in last
    reported = float(last.rsplit("epsilon so far ", 1)[1])
    assert reported == pytest.approx(synth.ledger.epsilon(), rel=1e-2)
    first = float(messages[0][0].rsplit("epsilon so far ", 1)[1])
    assert first < reported


def test_same_seed_same_samples_different_seed_different(fitted, table, adult_schema):
    synth, _ = fitted
    a = synth.sample(200, rng=np.random.default_rng(7))
    again = _fit(table, adult_schema, 0).sample(200, rng=np.random.default_rng(7))
    assert a.equals(again)
    other = _fit(table, adult_schema, 1).sample(200, rng=np.random.default_rng(7))
    assert not a.equals(other)
    assert list(a.columns) == list(table.columns)


def test_saved_model_holds_only_the_generator_and_loads_back(fitted, tmp_path):
    synth, _ = fitted
    synth.save(tmp_path / "m")
    meta, arrays = synth.model.to_state()
    decoder = {f"decoder0.{k}" for k in synth.model.decoders[0].state_dict()}
    calibration = {f"calibration.{a}" for a in meta["calibration"]["attributes"]}
    assert set(arrays) == decoder | {"component_weights", "class_weights"} | calibration
    assert all(ROWS not in arr.shape for arr in arrays.values())
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "arrays.safetensors",
        "manifest.json",
    ]
    loaded = Synthesizer.load(tmp_path / "m")
    a = synth.sample(150, rng=np.random.default_rng(3))
    b = loaded.sample(150, rng=np.random.default_rng(3))
    assert a.equals(b)
    assert loaded.ledger.to_dict() == synth.ledger.to_dict()


def test_tiny_images():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    images = rng.integers(0, 256, (90, 28, 28)).astype(np.uint8)
    gen = PATEGAN(
        rounds=4, teacher_steps=1, student_steps=1, batch_size=16, channels=4, latent_dim=8
    )

    def fit(seed: int):
        ledger = Ledger(2.0, 1e-5, composition="rdp")
        model = gen.fit(ImageBackend(images, labels, 3), ledger, rng=np.random.default_rng(seed))
        return model, ledger

    model, ledger = fit(0)
    assert 2.0 * (1 - 1e-3) <= ledger.epsilon() <= 2.0
    assert ledger.entries[1].event.count == 4 * 16
    out, classes = model.sample_images(10, rng=np.random.default_rng(1))
    assert out.shape == (10, 28, 28) and out.dtype == np.uint8
    assert set(classes) <= {0, 1, 2}
    again, _ = fit(0)
    other, _ = fit(1)
    same = again.sample_images(10, rng=np.random.default_rng(1))[0]
    assert np.array_equal(out, same)
    assert not np.array_equal(out, other.sample_images(10, rng=np.random.default_rng(1))[0])


def test_refused_spends_change_nothing():
    ledger = Ledger(1.0, DELTA, composition="rdp")
    data = (_structured(50, 0),)
    kw = {"label": "v", "teachers": 2, "factory": _mlp(), "lr": 1e-3}
    ens = open_pate(ledger, data, queries=100, rng=np.random.default_rng(0), **kw)
    assert 1.0 * (1 - 1e-3) <= ledger.epsilon() <= 1.0
    before = ledger.to_dict()
    for sigma in (None, 1e3):
        with pytest.raises(BudgetExceeded):
            open_pate(ledger, data, queries=10, rng=np.random.default_rng(0), sigma=sigma, **kw)
    images = ImageBackend(np.zeros((20, 28, 28), np.uint8), np.zeros(20, np.int64), 2)
    with pytest.raises(BudgetExceeded):
        PATEGAN(rounds=1).fit(images, ledger, rng=np.random.default_rng(0))
    assert ledger.to_dict() == before
    ens.noisy_votes(data[0])
    ens.noisy_votes(data[0])
    with pytest.raises(PrivacyError):
        ens.noisy_votes(data[0][:1])
    assert ens.answered == 100


# -- the teacher ensemble on its own --------------------------------------------------------

WIDTH = 12


def _mlp(width: int = WIDTH):
    return lambda: build(spec("mlp", in_dim=width, out_dim=1, hidden=[32]))


def _structured(n: int, seed: int) -> torch.Tensor:
    """Rows of three one-hot blocks of 4: the second copies the first, the third is fixed."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    x = np.zeros((n, WIDTH), dtype=np.float32)
    x[np.arange(n), a] = 1.0
    x[np.arange(n), 4 + a] = 1.0
    x[:, 8 + 2] = 1.0
    return torch.from_numpy(x)


def _trained(ledger: Ledger, x: torch.Tensor, *, queries: int, sigma=None, steps=150):
    ens = open_pate(
        ledger,
        (x,),
        label="pate: votes",
        teachers=5,
        queries=queries,
        factory=_mlp(),
        lr=2e-3,
        rng=np.random.default_rng(0),
        sigma=sigma,
    )
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        ens.train_step(torch.rand(64, WIDTH, generator=gen))
    return ens


def test_teachers_learn_with_an_enormous_budget():
    x = _structured(1000, 0)
    ledger = Ledger(1e5, DELTA, composition="rdp")
    ens = _trained(ledger, x, queries=1000)
    assert ens.sigma < 0.1
    assert ledger.epsilon() <= 1e5
    on_real = ens.noisy_votes(x[:500])
    on_noise = ens.noisy_votes(torch.rand(500, WIDTH, generator=torch.Generator().manual_seed(9)))
    assert np.mean(on_real > ens.k / 2) > 0.9
    assert np.mean(on_noise > ens.k / 2) < 0.1
    with pytest.raises(PrivacyError):
        ens.noisy_votes(x[:1])
    assert ens.answered == 1000


def test_with_a_tiny_budget_votes_are_noise():
    x = _structured(1000, 0)
    ledger = Ledger(0.01, DELTA, composition="rdp")
    ens = _trained(ledger, x, queries=1000)
    assert 0.01 * (1 - 1e-3) <= ledger.epsilon() <= 0.01
    votes = ens.noisy_votes(x[:1000])
    assert np.std(votes) > 100 * ens.k
    assert 0.4 < np.mean(votes > ens.k / 2) < 0.6
    # The calibration is exact: sigma solves epsilon(votes) = budget for a fresh ledger.
    assert calibrate_votes(Ledger(0.01, DELTA, composition="rdp"), 1000) == ens.sigma


def test_one_record_changes_each_count_by_at_most_one():
    """Neighbours (the last row removed): with the same seed every teacher but one is the same
    network, so each count moves by at most 1 (a shuffled equal-size split would fail)."""
    x = _structured(600, 1)
    x[:, 8:] = torch.rand(600, 4)  # rows differ, so teachers' parts differ
    queries = torch.rand(400, WIDTH, generator=torch.Generator().manual_seed(3))
    votes = []
    for data in (x, x[:-1]):
        ledger = Ledger(1e5, DELTA, composition="rdp")
        ens = _trained(ledger, data, queries=400, sigma=0.3, steps=60)
        votes.append(ens.noisy_votes(queries))
    diff = np.abs(votes[0] - votes[1])
    assert diff.max() <= 1


def test_default_teachers_from_the_noisy_count():
    assert default_teachers(-50.0) == 2
    assert default_teachers(1500.0) == 2
    assert default_teachers(12_345.0) == 12
    assert default_teachers(10**7) == 50


def test_bad_hyperparameters_are_refused_before_any_spend():
    with pytest.raises(ValueError):
        PATEGAN(rounds=0)
    with pytest.raises(ValueError):
        PATEGAN(teachers=0)
    with pytest.raises(ValueError):
        PATEGAN(lr_s=0.0)
    assert PATEGAN().queries == 200 * 2 * 64
