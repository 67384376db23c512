"""dppca: DP Gaussian mixture on a DP principal subspace (images).

Ground truth: images made from three known class Gaussians in a low-dimensional subspace, so
a high-budget fit must recover the class means, and rows sampled from a model must reproduce
the model's own moments (tolerances from the sample sizes).
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from privsynth.cli.main import app
from privsynth.errors import BudgetExceeded, InputError
from privsynth.generators import get_generator
from privsynth.generators.pca_mixture import clusters_per_class, components_above_noise
from privsynth.images.synthesizer import ImageSynthesizer
from privsynth.marginals.images import ImageBackend
from privsynth.measure.cluster import assign, dp_kmeans
from privsynth.measure.moments import image_vectors, noisy_gram, noisy_group_moments
from privsynth.privacy.ledger import Ledger

DELTA = 1e-6
N_PER_CLASS = 2000
PIXEL_SD = 0.06  # per-direction std of the class Gaussians, in [0, 1] pixel units


def _truth(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class means (3, 784) and images from 3 Gaussians, each in its own 3-d subspace."""
    rng = np.random.default_rng(seed)
    means = 0.5 + 0.2 * (rng.random((3, 784)) - 0.5)
    images, labels = [], []
    for c in range(3):
        axes, _ = np.linalg.qr(rng.standard_normal((784, 3)))
        # Directions of unit norm spread over 784 pixels: a pixel moves by about sd/sqrt(784/3).
        z = rng.standard_normal((N_PER_CLASS, 3)) * PIXEL_SD * math.sqrt(784 / 3)
        x = means[c] + z @ axes.T
        images.append(np.clip(np.rint(x * 255), 0, 255).astype(np.uint8))
        labels.append(np.full(N_PER_CLASS, c))
    return means, np.concatenate(images).reshape(-1, 28, 28), np.concatenate(labels)


@pytest.fixture(scope="module")
def truth():
    return _truth()


class GuardedImages(ImageBackend):
    """Pixels only for privsynth.measure; counts the reads."""

    reads = 0

    def rows(self):
        caller = Path(inspect.stack()[1].filename).as_posix()
        assert "/privsynth/measure/" in caller, f"private pixels read from {caller}"
        self.reads += 1
        return super().rows()


def _fit(truth, epsilon: float, seed: int = 0, **params):
    # These images have L2 norm about 14.5 (pixels near 0.5): a clip above it keeps them whole.
    params.setdefault("clip", 20.0)
    _, images, labels = truth
    ledger = Ledger(epsilon, DELTA, composition="zcdp")
    backend = GuardedImages(images, labels, 3)
    model = get_generator("dppca", **params).fit(backend, ledger, rng=np.random.default_rng(seed))
    return model, ledger, backend


@pytest.fixture(scope="module")
def rich(truth):
    """A fit with plenty of budget (the noise is small next to the sampling error)."""
    return _fit(truth, 1e4)


def test_spends_the_budget_in_gaussian_releases_read_only_in_measure(rich):
    model, ledger, backend = rich
    assert backend.reads == 1
    assert ledger.epsilon() <= 1e4 and ledger.epsilon() >= 1e4 * (1 - 1e-6)
    kinds = [e.event.kind for e in ledger.entries]
    assert set(kinds) == {"gaussian"} and len(kinds) == 4  # Gram, class sums, k-means, moments
    # rho recomputed from each event's noise scale and sensitivity equals the budget's rho.
    rho = sum(
        e.event.count * (e.event.sensitivity / e.event.sigma) ** 2 / 2 for e in ledger.entries
    )
    assert rho == pytest.approx(ledger.rho_budget, rel=1e-6)


def test_high_budget_recovers_the_class_means(truth, rich):
    means, _, _ = truth
    model, _, _ = rich
    pixel = model.means @ model.basis.T * model.clip  # (clusters, 784)
    for c in range(3):
        w = model.weights * (model.classes == c)
        fitted = (w / w.sum()) @ pixel
        # Per-pixel sampling error of a class mean: sd/sqrt(n) per direction, 3 directions
        # spread over 784 pixels, plus 8-bit rounding (uniform, sd 1/255/sqrt(12)).
        se = math.sqrt(PIXEL_SD**2 * 3 / 784 * 784 / 3 / N_PER_CLASS + 1 / (255**2 * 12 * 2000))
        assert np.max(np.abs(fitted - means[c])) < 6 * se + 2e-3


def test_samples_reproduce_the_models_own_moments(rich):
    model, _, _ = rich
    n = 30_000
    images, labels = model.sample_images(n, rng=np.random.default_rng(3))
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    freq = np.bincount(labels, minlength=3) / n
    want = model.class_weights[0]
    assert np.all(np.abs(freq - want) < 5 * np.sqrt(want * (1 - want) / n))
    pixel_means = model.means @ model.basis.T * model.clip
    covs = np.einsum("cij,ckj->cik", model.factors, model.factors)
    for c in range(3):
        rows = images[labels == c].reshape(-1, 784) / 255.0
        w = model.weights * (model.classes == c)
        w = w / w.sum()
        mean = w @ pixel_means
        # Pixel variance of the mixture: within-cluster plus between-cluster, plus rounding.
        within = np.einsum("c,cij->ij", w, covs)
        var = np.einsum("pi,ij,pj->p", model.basis, within, model.basis) * model.clip**2
        var += w @ (pixel_means - mean) ** 2 + 1 / (255**2 * 12)
        se = np.sqrt(var / len(rows))
        assert np.all(np.abs(rows.mean(axis=0) - mean) < 5.5 * se + 1e-9)


def test_labels_condition_exactly_and_round_trip(tmp_path, rich):
    model, ledger, _ = rich
    syn = ImageSynthesizer("dppca", {}, ledger, model, 3, (28, 28))
    only = syn.sample(200, rng=np.random.default_rng(0), labels=[2])
    assert set(only.labels.tolist()) == {2}
    syn.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["arrays.safetensors", "manifest.json"]
    again = ImageSynthesizer.load(tmp_path / "m")
    a = syn.sample(300, rng=np.random.default_rng(1))
    b = again.sample(300, rng=np.random.default_rng(1))
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_model_holds_no_training_image(truth, rich):
    _, images, _ = truth
    model, _, _ = rich
    meta, arrays = model.to_state()
    json.dumps(meta, allow_nan=False)
    train = {row.tobytes() for row in images.reshape(len(images), -1)}
    for name, arr in arrays.items():
        assert len(images) not in arr.shape, name
        flat = np.asarray(arr)
        if flat.ndim >= 1 and flat.shape[-1] == 784:
            as_pixels = np.clip(np.rint(flat.reshape(-1, 784) * 255), 0, 255).astype(np.uint8)
            assert not any(r.tobytes() in train for r in as_pixels)
    # The basis directions: none of them is (a multiple of) a training image.
    x = images.reshape(len(images), -1).astype(float)
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ model.basis
    assert np.max(np.abs(cos)) < 0.999


def test_seeds_fresh_noise_and_determinism(truth):
    a, _, _ = _fit(truth, 2.0, seed=0)
    b, _, _ = _fit(truth, 2.0, seed=0)
    c, _, _ = _fit(truth, 2.0, seed=1)
    assert np.array_equal(a.means, b.means) and np.array_equal(a.basis, b.basis)
    assert not np.allclose(a.means, c.means)


def test_small_budget_keeps_one_gaussian_per_class_and_skips_kmeans(truth):
    model, ledger, _ = _fit(truth, 0.5)
    labels = [e.label for e in ledger.entries]
    assert not any("k-means" in label for label in labels)
    assert len(labels) == 3
    assert len(model.weights) <= 3
    assert ledger.epsilon() >= 0.5 * (1 - 1e-6)


def test_refused_spend_reads_nothing(truth):
    _, ledger, backend = _fit(truth, 1.0)
    before, reads = ledger.to_dict(), backend.reads
    with pytest.raises(BudgetExceeded):
        get_generator("dppca").fit(backend, ledger, rng=np.random.default_rng(0))
    assert ledger.to_dict() == before and backend.reads == reads


def test_noise_has_the_charged_scale():
    """Released entries of an all-zero input are pure noise: their spread is the charged sigma
    (tolerance: 5 standard errors of a sample standard deviation)."""
    rng = np.random.default_rng(0)
    ledger = Ledger(10.0, DELTA, composition="zcdp")
    x = np.zeros((10, 300))
    gram, sigma = noisy_gram(x, 0.01, ledger, rng, label="gram")
    assert np.array_equal(gram, gram.T)
    upper = gram[np.triu_indices(300)]
    assert abs(upper.std() / sigma - 1) < 5 / math.sqrt(2 * len(upper))
    assert ledger.entries[-1].event.sigma == sigma
    y = np.zeros((10, 40))
    m = noisy_group_moments(
        y, np.zeros(10, int), 50, 0.02, ledger, rng, second=True, label="moments"
    )
    event = ledger.entries[-1].event
    assert event.sensitivity == pytest.approx(math.sqrt(3))
    assert event.rho == pytest.approx(0.02)
    upper = m.seconds[:, *np.triu_indices(40)].ravel()
    assert abs(upper.std() / m.sigma - 1) < 5 / math.sqrt(2 * len(upper))
    assert abs(m.sums.std() / m.sigma - 1) < 5 / math.sqrt(2 * m.sums.size)
    with pytest.raises(ValueError, match="norm at most 1"):
        noisy_gram(np.ones((2, 4)), 0.01, ledger, rng, label="too long")


def test_image_vectors_are_clipped_to_the_unit_ball(truth):
    _, images, labels = truth
    x, y = image_vectors(ImageBackend(images, labels, 3), 10.0)
    assert np.max(np.linalg.norm(x, axis=1)) <= 1 + 1e-12
    assert np.array_equal(y, labels)
    small = image_vectors(ImageBackend(images[:5] // 50, labels[:5], 3), 1e6)[0]
    assert np.allclose(small * 255 * 1e6, images[:5].reshape(5, -1) // 50)


def test_noise_rules_for_directions_and_clusters():
    values = np.array([500.0, 200.0, 90.0, 10.0] + [0.0] * 96)  # d = 100, threshold 2*4*10
    assert components_above_noise(values, 4.0, 40) == 3
    assert components_above_noise(values, 4.0, 2) == 2
    assert components_above_noise(np.zeros(100), 4.0, 40) == 1
    got = clusters_per_class(np.array([-5.0, 100.0, 6000.0]), 1.0, 25, 10.0, 4)
    assert got.tolist() == [1, 1, 4]  # need 10 * 2 * 1 * 5 = 100 rows per cluster


def test_grouped_kmeans_keeps_rows_in_their_group():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2)) * 0.1
    groups = np.repeat([0, 1], 200)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.1, 0.1]])
    owner = np.array([1, 0, 1])
    got = assign(torch.from_numpy(x), centres, groups=groups, centre_groups=owner)
    assert np.all(owner[got] == groups)
    assert set(got[groups == 0]) == {1}
    ledger = Ledger(10.0, DELTA, composition="zcdp")
    out, _ = dp_kmeans(
        torch.from_numpy(x),
        centres,
        2,
        1.0,
        ledger,
        rng,
        norm_bound=1.0,
        label="k",
        groups=groups,
        centre_groups=owner,
    )
    assert out.shape == centres.shape
    with pytest.raises(ValueError, match="go together"):
        assign(torch.from_numpy(x), centres, groups=groups)
    with pytest.raises(ValueError, match="at least one centre"):
        assign(torch.from_numpy(x), centres, groups=groups, centre_groups=np.array([1, 1, 1]))


def test_tables_are_refused_before_any_spend(tmp_path):
    import pandas as pd

    from privsynth.schema.io import schema_from_dict
    from privsynth.synthesizer import fit_table

    schema = schema_from_dict(
        {"columns": [{"name": "a", "type": "categorical", "values": ["x", "y"]}]}
    )
    with pytest.raises(InputError, match="fits images only"):
        fit_table(
            pd.DataFrame({"a": ["x", "y"] * 50}),
            schema,
            generator="dppca",
            epsilon=1.0,
            delta=1e-4,
            rng=np.random.default_rng(0),
        )


def test_cli_fit_and_sample(tmp_path, truth):
    _, images, labels = truth
    data = tmp_path / "digits.npz"
    np.savez(data, images=images[::10], labels=labels[::10])
    runner = CliRunner()
    model = tmp_path / "model"
    result = runner.invoke(
        app,
        [
            str(a)
            for a in (
                "fit",
                data,
                "-o",
                model,
                "--generator",
                "dppca",
                "--epsilon",
                3,
                "--delta",
                1e-5,
                "--seed",
                0,
            )
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "s.npz"
    result = runner.invoke(
        app,
        ["sample", str(model), "-n", "50", "-o", str(out), "--seed", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as got:
        assert got["images"].shape == (50, 28, 28)


def test_samples_reproduce_the_cluster_covariance(truth):
    """One Gaussian per class: the samples' covariance in the basis is the model's
    (tolerance: 6 standard errors of a sample covariance entry)."""
    model, _, _ = _fit(truth, 1e4, max_clusters=1)
    assert model.basis.shape[1] > 3 and len(model.weights) == 3
    c = int(model.classes[0])
    images, _ = model.sample_images(20_000, rng=np.random.default_rng(4), labels=[c])
    coords = images.reshape(len(images), -1) / 255.0 / model.clip @ model.basis
    got = np.cov(coords, rowvar=False)
    want = model.factors[0] @ model.factors[0].T
    d = np.sqrt(np.diag(want)) + 1e-12
    se = np.sqrt((np.outer(d**2, d**2) + want**2) / len(coords))
    # 8-bit rounding adds about (1/255)^2/12 per pixel, i.e. per basis direction.
    assert np.all(np.abs(got - want) < 6 * se + 2 / (255**2 * 12 * model.clip**2))


def test_too_little_data_for_the_budget_still_gives_a_model(truth):
    """40 images at epsilon 0.05: every cluster is inside the noise; the spent budget still
    buys a (poor) model with one component instead of an error."""
    _, images, labels = truth
    ledger = Ledger(0.05, 1e-3, composition="zcdp")
    messages = []
    model = get_generator("dppca", clip=20.0).fit(
        ImageBackend(images[::150], labels[::150], 3),
        ledger,
        rng=np.random.default_rng(0),
        progress=lambda m, f: messages.append(m),
    )
    assert len(model.weights) == 1
    assert any("kept the largest" in m for m in messages)
    images_out, _ = model.sample_images(10, rng=np.random.default_rng(0))
    assert images_out.shape == (10, 28, 28)


def test_secure_mode_noise_is_not_replayable_from_the_seed(truth):
    a, _, _ = _fit(truth, 2.0, seed=0, secure=True)
    b, _, _ = _fit(truth, 2.0, seed=0, secure=True)
    # Fresh noise may even keep a different number of components (the fit drops those whose
    # noisy weight is too small): that too is a different, not a replayed, release.
    assert a.means.shape != b.means.shape or not np.allclose(a.means, b.means)
