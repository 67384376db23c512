"""DP-CVAE and the DP-VAE mixture (tables and images), and DP k-means."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from privsynth.errors import BudgetExceeded
from privsynth.generators import get_generator, load_model
from privsynth.generators.neural import mixture as mixture_module
from privsynth.marginals.images import ImageBackend
from privsynth.measure.cluster import assign, dp_kmeans, kmeans_sigma, partition
from privsynth.privacy.ledger import Ledger
from privsynth.synthesizer import Synthesizer, fit_table

torch.set_num_threads(1)

NAMES = ("dpcvae", "dpvae-mixture")
EPSILON = 2.0
TABLE_PARAMS = {"epochs": 1, "batch_size": 64, "hidden": [32], "latent_dim": 8}
IMAGE_PARAMS = {"epochs": 1, "batch_size": 50, "channels": 4, "latent_dim": 8}
MIXTURE = {"components": 3, "cluster_iters": 3}


def params(name: str, base: dict) -> dict:
    return {**base, **(MIXTURE if name == "dpvae-mixture" else {})}


def fit_adult(name: str, df, schema, seed: int = 0) -> Synthesizer:
    synth, _ = fit_table(
        df,
        schema,
        generator=name,
        epsilon=EPSILON,
        delta=1e-5,
        rng=np.random.default_rng(seed),
        params=params(name, TABLE_PARAMS),
    )
    return synth


@pytest.fixture(scope="module")
def adult_rows(adult_small):
    return adult_small.iloc[:300].reset_index(drop=True)


@pytest.fixture(scope="module", params=NAMES)
def table_fit(request, adult_rows, adult_schema):
    return request.param, fit_adult(request.param, adult_rows, adult_schema)


def image_backend() -> ImageBackend:
    rng = np.random.default_rng(7)
    return ImageBackend(
        rng.integers(0, 256, (200, 28, 28), dtype=np.uint8), rng.integers(0, 3, 200), 3
    )


def fit_images(name: str, seed: int = 0):
    ledger = Ledger(EPSILON, 1e-5, composition="rdp")
    gen = get_generator(name, **params(name, IMAGE_PARAMS))
    return gen.fit(image_backend(), ledger, rng=np.random.default_rng(seed)), ledger


@pytest.fixture(scope="module", params=NAMES)
def image_fit(request):
    return (request.param, *fit_images(request.param))


def check_ledger(name: str, ledger: Ledger) -> None:
    """Budget used fully and never exceeded; the entries say what was bought."""
    assert ledger.epsilon() <= EPSILON
    assert ledger.epsilon() >= EPSILON * (1 - 1e-3)
    # Table fits also buy noisy marginals for the decoder's output layer (zCDP, Gaussian).
    marginals = [e for e in ledger.entries if "marginals" in e.label]
    assert all(e.event.kind == "gaussian" for e in marginals)
    entries = [e for e in ledger.entries if "marginals" not in e.label]
    kinds = [e.event.kind for e in entries]
    labels = [e.label for e in entries]
    assert kinds.count("subsampled_gaussian") == 1 and kinds[-1] == "subsampled_gaussian"
    assert "noisy counts" in labels[0]
    if name == "dpcvae":
        assert kinds == ["gaussian", "subsampled_gaussian"]
        return
    assert kinds == ["gaussian", "gaussian", "gaussian", "subsampled_gaussian"]
    kmeans = entries[1]
    assert "k-means" in kmeans.label and kmeans.event.count == MIXTURE["cluster_iters"]
    assert math.isclose(kmeans.rho, 0.1 * ledger.rho_budget, rel_tol=1e-9)
    assert "histogram" in labels[2]
    assert "parallel composition" in labels[3]


# -- tables ------------------------------------------------------------------------------


def test_table_budget_is_spent_exactly(table_fit):
    name, synth = table_fit
    check_ledger(name, synth.ledger)
    if name == "dpvae-mixture":
        # One-hot rows of the 14 non-label attributes: norm sqrt(14), sensitivity sqrt(15).
        kmeans = next(e for e in synth.ledger.entries if "k-means" in e.label)
        assert math.isclose(kmeans.event.sensitivity, math.sqrt(15))
        assert len(synth.model.decoders) == MIXTURE["components"]
        assert synth.model.class_weights.shape == (MIXTURE["components"], 2)


def test_table_codes_inside_the_domain_and_label_conditioning(table_fit):
    name, synth = table_fit
    model = synth.model
    codes = model.sample(500, rng=np.random.default_rng(0))
    for attr, col in codes.items():
        assert col.min() >= 0 and col.max() < model.domain[attr]
    only = model.sample(200, rng=np.random.default_rng(1), where={"income": [1]})
    assert set(only["income"]) == {1}
    df = synth.sample(50, rng=np.random.default_rng(2), where={"income": [">50K"]})
    assert len(df) == 50 and set(df["income"]) == {">50K"}


def test_table_same_seed_same_samples_other_seed_other(table_fit, adult_rows, adult_schema):
    name, synth = table_fit
    first = synth.sample(100, rng=np.random.default_rng(3))
    again = fit_adult(name, adult_rows, adult_schema, seed=0)
    assert again.sample(100, rng=np.random.default_rng(3)).equals(first)
    other = fit_adult(name, adult_rows, adult_schema, seed=1)
    assert not other.sample(100, rng=np.random.default_rng(3)).equals(first)
    assert not synth.sample(100, rng=np.random.default_rng(4)).equals(first)


def test_table_save_load_round_trip(table_fit, tmp_path):
    name, synth = table_fit
    synth.save(tmp_path / "model")
    loaded = Synthesizer.load(tmp_path / "model")
    a = synth.sample(100, rng=np.random.default_rng(5))
    b = loaded.sample(100, rng=np.random.default_rng(5))
    assert a.equals(b)
    assert loaded.ledger.to_dict() == synth.ledger.to_dict()


# -- images ------------------------------------------------------------------------------


def test_images_budget_sampling_and_round_trip(image_fit):
    name, model, ledger = image_fit
    check_ledger(name, ledger)
    images, labels = model.sample_images(20, rng=np.random.default_rng(0))
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8
    assert labels.min() >= 0 and labels.max() < 3
    _, only = model.sample_images(30, rng=np.random.default_rng(1), labels=[2])
    assert set(only) == {2}
    meta, arrays = model.to_state()
    copy = load_model(meta, {k: np.array(v) for k, v in arrays.items()})
    again, _ = copy.sample_images(20, rng=np.random.default_rng(0))
    assert np.array_equal(images, again)


def test_images_same_seed_same_other_seed_other(image_fit):
    name, model, _ = image_fit
    first, _ = model.sample_images(10, rng=np.random.default_rng(0))
    same, _ = fit_images(name, seed=0)
    assert np.array_equal(same.sample_images(10, rng=np.random.default_rng(0))[0], first)
    other, _ = fit_images(name, seed=1)
    assert not np.array_equal(other.sample_images(10, rng=np.random.default_rng(0))[0], first)


def test_mixture_engines_share_one_calibration(monkeypatch):
    """Parallel composition needs every component at the same (q, steps, clip, noise)."""
    engines = []
    original = mixture_module.DPVAEMixture._engines

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        engines.extend(out)
        return out

    monkeypatch.setattr(mixture_module.DPVAEMixture, "_engines", spy)
    _, ledger = fit_images("dpvae-mixture", seed=2)
    assert len(engines) == MIXTURE["components"]
    for e in engines:
        key = (e.sample_rate, e.steps, e.max_grad_norm, e.scale, e.noise)
        assert key == (engines[0].sample_rate, engines[0].steps, 1.0, engines[0].scale, "gaussian")
        assert e.step_count == e.steps
    (event,) = [e for e in ledger.events if e.kind == "subsampled_gaussian"]
    assert math.isclose(event.noise_multiplier * 1.0, engines[0].scale)
    assert event.count == engines[0].steps and event.sample_rate == engines[0].sample_rate


# -- DP k-means --------------------------------------------------------------------------


def blobs(rng: np.random.Generator, n: int = 600) -> tuple[torch.Tensor, np.ndarray]:
    truth = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    which = rng.integers(0, 3, n)
    x = truth[which] + rng.normal(0, 0.2, (n, 3))
    return torch.from_numpy(x.astype(np.float32)), truth


def test_dp_kmeans_recovers_separated_centres_with_a_large_budget():
    rng = np.random.default_rng(0)
    data, truth = blobs(rng)
    ledger = Ledger(1e4, 1e-6)
    init = np.array([[1.0, 0.2, 0.1], [0.2, 1.0, 0.0], [0.0, 0.1, 1.0]])
    centres, counts = dp_kmeans(data, init, 4, 1e3, ledger, rng, norm_bound=4.0, label="kmeans")
    assert np.abs(centres - truth).max() < 0.1
    exact = np.bincount(assign(data, centres), minlength=3)
    assert np.abs(counts - exact).max() < 5 and exact.sum() == 600
    (entry,) = ledger.entries
    assert entry.event.count == 4 and math.isclose(entry.event.sensitivity, math.sqrt(17))
    assert math.isclose(entry.rho, 1e3, rel_tol=1e-12)
    assert math.isclose(entry.event.sigma, kmeans_sigma(1e3, 4, 4.0))


class Untouchable:
    """A stand-in for private rows: reading anything but the (public) row shape fails."""

    shape = (10, 3)

    def __getattr__(self, name):
        raise AssertionError(f"private rows read ({name}) before the charge")


def test_dp_kmeans_and_partition_charge_before_reading():
    ledger = Ledger(0.1, 1e-6)
    before = ledger.to_dict()
    with pytest.raises(BudgetExceeded):
        dp_kmeans(
            Untouchable(),
            np.eye(3),
            5,
            1.0,
            ledger,
            np.random.default_rng(0),
            norm_bound=1.0,
            label="kmeans",
        )
    with pytest.raises(BudgetExceeded):
        partition(
            (Untouchable(),), np.eye(3), 0, 1.0, ledger, np.random.default_rng(0), label="histogram"
        )
    assert ledger.to_dict() == before


def test_partition_is_disjoint_and_its_histogram_counts_the_parts():
    rng = np.random.default_rng(1)
    data, truth = blobs(rng, 300)
    labels = torch.nn.functional.one_hot(torch.from_numpy(rng.integers(0, 2, 300)), 2).float()
    ledger = Ledger(1e4, 1e-6)
    parts, hist = partition((data, labels), truth, 2, 1e3, ledger, rng, label="histogram")
    assert sum(len(p[0]) for p in parts) == 300 and hist.shape == (3, 2)
    for j, (x, y) in enumerate(parts):
        assert set(assign(x, truth)) <= {j}
        assert np.abs(hist[j] - y.sum(0).numpy()).max() <= 1
    assert ledger.entries[0].event.sensitivity == 1.0


def test_secure_mode_is_not_replayable_from_the_seed():
    data, truth = blobs(np.random.default_rng(2), 200)
    runs = []
    for _ in range(2):
        ledger = Ledger(100.0, 1e-6)
        rng = np.random.default_rng(0)
        centres, _ = dp_kmeans(
            data, truth, 2, 1.0, ledger, rng, norm_bound=4.0, label="kmeans", secure=True
        )
        _, hist = partition((data,), centres, 0, 1.0, ledger, rng, label="hist", secure=True)
        runs.append((centres, hist))
        assert len(ledger.entries) == 2
    assert not np.array_equal(runs[0][0], runs[1][0])
