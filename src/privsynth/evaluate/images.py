"""Scoring synthetic images against real ones with a fixed small CNN (results are NOT private).

* :func:`tstr_accuracy`: "train on synthetic, test on real": a :class:`SmallCNN` is trained on
  the (synthetic) labelled images and its accuracy measured on a real labelled test set.
* :func:`image_fidelity`: mean-image distances and an optional Fréchet distance on the
  penultimate features of a SmallCNN trained on the real images, "FD (SmallCNN features)".
  This is *not* FID: FID is defined on Inception-v3 features, which would need downloaded
  weights; values here are comparable only with other values from this same function.

Every number here is computed from real data and carries no differential-privacy guarantee:
results are for the data owner and must not be published as part of a DP release.

The CNN architecture and training settings are fixed in advance and never tuned on test data.
Training is deterministic for a ``seed`` and a thread count: weights are drawn from an explicit
``torch.Generator`` and the global torch RNG is left untouched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from privsynth.errors import InputError
from privsynth.evaluate.report import PRIVACY

EVAL_BATCH = 1024


class SmallCNN(nn.Module):
    """Fixed CNN for 1-channel images: two conv/ReLU/max-pool blocks, then a 128-unit MLP.

    conv 1->32 3x3, ReLU, max-pool 2 -> conv 32->64 3x3, ReLU, max-pool 2 -> flatten ->
    linear ->128, ReLU -> linear -> ``n_classes``. For 28x28 inputs the flattened size is
    64*5*5. Weights are initialised like PyTorch's defaults but from a generator seeded by
    ``seed``, so construction never reads or advances the global torch RNG.
    """

    def __init__(self, n_classes: int = 10, *, height: int = 28, width: int = 28, seed: int = 0):
        super().__init__()
        if n_classes < 1:
            raise InputError(f"SmallCNN: n_classes must be at least 1, got {n_classes}")
        fh, fw = _flat_side(height), _flat_side(width)
        if fh < 1 or fw < 1:
            raise InputError(f"SmallCNN: images must be at least 10x10, got {height}x{width}")
        # Layer constructors run PyTorch's default init on the global RNG; fork it so the
        # caller's global state is unchanged, then re-draw every weight from our generator.
        with torch.random.fork_rng(devices=[]):
            self.conv1 = nn.Conv2d(1, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.fc1 = nn.Linear(64 * fh * fw, 128)
            self.fc2 = nn.Linear(128, n_classes)
        self.n_classes = n_classes
        self.reset_parameters(torch.Generator().manual_seed(int(seed)))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Re-draw all weights (Kaiming-uniform, PyTorch's default scheme) from ``generator``."""
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.weight[0].numel())
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate 128-dim (post-ReLU) features of ``x``, shape ``(n, 1, H, W)``."""
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return torch.relu(self.fc1(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(n, n_classes)``."""
        return self.fc2(self.features(x))


def train_small_cnn(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    n_classes: int = 10,
    threads: int | None = None,
) -> SmallCNN:
    """Train a :class:`SmallCNN` with Adam on ``uint8`` images ``(n, H, W)`` and int labels.

    ``seed`` fixes the initial weights and the per-epoch shuffles (explicit generators only);
    ``threads``, if given, sets torch's intra-op thread count for the call (then restores it).
    """
    _check_settings(
        "train_small_cnn",
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        n_classes=n_classes,
    )
    x = _images_tensor(images, "train_images")
    y = _labels_tensor(labels, n_classes, len(x), "train_labels")
    with _threads(threads):
        model = SmallCNN(n_classes, height=x.shape[1], width=x.shape[2], seed=seed)
        # Shuffles get their own stream, so they never coincide with another seed's init.
        shuffle_seed = int(np.random.SeedSequence((int(seed), 1)).generate_state(1, np.uint64)[0])
        shuffle = torch.Generator().manual_seed(shuffle_seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=shuffle)
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                loss = nn.functional.cross_entropy(model(_to_input(x[idx])), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    model.eval()
    return model


def predict(model: SmallCNN, images: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Predicted class (``int64``) for each ``uint8`` image, computed in batches."""
    x = _images_tensor(images, "images")
    out = []
    with _threads(threads), torch.inference_mode():
        model.eval()
        for start in range(0, len(x), EVAL_BATCH):
            out.append(model(_to_input(x[start : start + EVAL_BATCH])).argmax(1))
    return torch.cat(out).numpy().astype(np.int64)


def tstr_accuracy(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    seed: int,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    n_classes: int = 10,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train on synthetic, test on real: accuracy of a SmallCNN trained on the train images.

    Trains with :func:`train_small_cnn` on ``train_images`` (typically synthetic, ``uint8``
    ``(n, H, W)``) and ``train_labels``, then scores the real ``test_images``/``test_labels``.
    Deterministic for a ``seed`` at a fixed thread count. NOT private: the score reads the real
    test set and is for the data owner only.

    Returns ``{"accuracy", "per_class_accuracy", "n_train", "n_test", "epochs", "seed",
    "privacy"}``; ``per_class_accuracy[k]`` is ``None`` when class ``k`` is absent from the test
    set.
    """
    # Validate everything before spending time on training.
    _check_settings(
        "tstr", seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, n_classes=n_classes
    )
    train_hw = tuple(_images_tensor(train_images, "train_images").shape[1:])
    x_test = _images_tensor(test_images, "test_images")
    y_test = _labels_tensor(test_labels, n_classes, len(x_test), "test_labels").numpy()
    if train_hw != tuple(x_test.shape[1:]):
        raise InputError(
            f"tstr: train_images are {train_hw} but test_images are "
            f"{tuple(x_test.shape[1:])}; image sizes must match"
        )
    model = train_small_cnn(
        train_images,
        train_labels,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        n_classes=n_classes,
        threads=threads,
    )
    pred = predict(model, x_test.numpy(), threads=threads)
    correct = pred == y_test
    per_class: list[float | None] = []
    for k in range(n_classes):
        mask = y_test == k
        per_class.append(float(correct[mask].mean()) if mask.any() else None)
    return {
        "accuracy": float(correct.mean()),
        "per_class_accuracy": per_class,
        "n_train": int(len(train_labels)),
        "n_test": int(len(y_test)),
        "epochs": int(epochs),
        "seed": int(seed),
        "privacy": PRIVACY,
    }


def image_fidelity(
    real_images: np.ndarray,
    synth_images: np.ndarray,
    *,
    real_labels: np.ndarray | None = None,
    feature_model: SmallCNN | None = None,
    seed: int = 0,
    epochs: int = 2,
    n_classes: int = 10,
    threads: int | None = None,
) -> dict[str, Any]:
    """Cheap fidelity numbers for synthetic images against real ones (NOT private).

    Always computed (pixels scaled to ``[0, 1]``):

    * ``mean_image_l2``: Euclidean distance between the real and synthetic mean images;
    * ``mean_abs_diff``: per-pixel absolute difference of those means, averaged over pixels.

    Optional ``fd_smallcnn``, "FD (SmallCNN features)": the Fréchet distance between Gaussian
    fits of the 128-dim penultimate features of a SmallCNN, on real and on synthetic images.
    The network is ``feature_model`` if given, else one trained on ``real_images`` and
    ``real_labels`` with ``seed`` and ``epochs``; with neither, ``fd_smallcnn`` is ``None``.
    This is not FID (no Inception features); it is biased upwards for small samples, so
    compare only values computed with the same network and sample sizes.

    Everything here reads the real images: results are for the data owner, not for release.
    """
    real = _images_tensor(real_images, "real_images")
    synth = _images_tensor(synth_images, "synth_images")
    if real.shape[1:] != synth.shape[1:]:
        raise InputError(
            f"fidelity: real_images are {tuple(real.shape[1:])} but synth_images are "
            f"{tuple(synth.shape[1:])}; image sizes must match"
        )
    mean_real = _mean_image(real)
    mean_synth = _mean_image(synth)
    diff = mean_real - mean_synth
    fd: float | None = None
    if feature_model is None and real_labels is not None:
        feature_model = train_small_cnn(
            real.numpy(),
            real_labels,
            seed=seed,
            epochs=epochs,
            n_classes=n_classes,
            threads=threads,
        )
    if feature_model is not None:
        if len(real) < 2 or len(synth) < 2:
            raise InputError("fidelity: the Fréchet distance needs at least 2 images per set")
        f_real = _features(feature_model, real, threads)
        f_synth = _features(feature_model, synth, threads)
        fd = frechet_distance(
            f_real.mean(0),
            np.cov(f_real, rowvar=False),
            f_synth.mean(0),
            np.cov(f_synth, rowvar=False),
        )
    return {
        "mean_image_l2": float(np.linalg.norm(diff)),
        "mean_abs_diff": float(np.abs(diff).mean()),
        "fd_smallcnn": fd,
        "n_real": int(len(real)),
        "n_synth": int(len(synth)),
        "privacy": PRIVACY,
    }


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein) distance between Gaussians ``N(mu1, cov1)`` and ``N(mu2, cov2)``.

    ``|mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2)``, computed with
    symmetric eigendecompositions so singular covariances (dead ReLU units) are handled.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    w1, v1 = np.linalg.eigh((cov1 + cov1.T) / 2)
    root1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    middle = root1 @ ((cov2 + cov2.T) / 2) @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * cross)
    # Rounding can leave a tiny negative value for identical inputs.
    return max(value, 0.0)


def _flat_side(side: int) -> int:
    return ((side - 2) // 2 - 2) // 2


def _check_settings(
    who: str, *, seed: int, epochs: int, batch_size: int, lr: float, n_classes: int
) -> None:
    for name, value, low in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("n_classes", n_classes, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InputError(f"{who}: {name} must be an integer >= {low}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"{who}: seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise InputError(f"{who}: lr must be a positive number, got {lr!r}")


def _images_tensor(images: np.ndarray, name: str) -> torch.Tensor:
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise InputError(
            f"{name}: must be a uint8 array of shape (n, H, W), got dtype {arr.dtype} "
            f"shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InputError(f"{name}: no images")
    if _flat_side(arr.shape[1]) < 1 or _flat_side(arr.shape[2]) < 1:
        raise InputError(
            f"{name}: images must be at least 10x10, got {arr.shape[1]}x{arr.shape[2]}"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def _labels_tensor(labels: np.ndarray, n_classes: int, n: int, name: str) -> torch.Tensor:
    arr = np.asarray(labels)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{name}: must be a 1-D integer array, got dtype {arr.dtype} shape {arr.shape}"
        )
    if len(arr) != n:
        raise InputError(f"{name}: {len(arr)} labels for {n} images")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: label {int(arr[i])} at index {i} is outside 0..{n_classes - 1}")
    return torch.from_numpy(arr)


def _to_input(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).div_(255.0).unsqueeze(1)


def _mean_image(x: torch.Tensor) -> np.ndarray:
    total = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, len(x), EVAL_BATCH):
        total += x[start : start + EVAL_BATCH].numpy().sum(0, dtype=np.float64)
    return total / (255.0 * len(x))


def _features(model: SmallCNN, x: torch.Tensor, threads: int | None) -> np.ndarray:
    out = []
    with _threads(threads), torch.inference_mode():
        model.eval()
        for start in range(0, len(x), EVAL_BATCH):
            out.append(model.features(_to_input(x[start : start + EVAL_BATCH])))
    return torch.cat(out).numpy().astype(np.float64)


@contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
