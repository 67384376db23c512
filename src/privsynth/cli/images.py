"""Image data behind ``privsynth fit``, ``sample`` and ``evaluate``: a ``.npz`` input is images.

Fit reads the ``train`` split of an MNIST-layout file (or the ``images``/``labels`` of a generic
one), shows training epochs live and as lines, and writes an image model folder. Sampling writes
an ``.npz`` of images and labels plus a PNG grid beside it. Evaluation trains the fixed SmallCNN
on the synthetic images and tests it on real held-out images (TSTR) and adds cheap fidelity
numbers; like every evaluation, its results read real data and are NOT private.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privsynth.cli.common import make_rng, out_console, progress_bar, write_atomic
from privsynth.errors import InputError
from privsynth.images.data import ImageData, load_images, save_images_npz
from privsynth.images.synthesizer import ImageSynthesizer, fit_images
from privsynth.privacy.ledger import BudgetStore

DEFAULT_CLASSES = 10
GRID_COLUMNS = 10  # images per class row of the PNG grid
GRID_ROWS = 10  # at most this many rows, so at most 100 images
_EPOCH = re.compile(r"\bepoch \d+")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` names image data (a ``.npz`` file) rather than a CSV table."""
    return path.suffix.lower() == ".npz"


def is_epoch_message(message: str) -> bool:
    """Whether a generator's progress message reports a finished training epoch."""
    return bool(_EPOCH.search(message))


def fit_image_file(
    data: Path,
    output: Path,
    *,
    generator: str,
    epsilon: float,
    delta: float,
    params: dict[str, object],
    seed: int | None,
    store: BudgetStore | None,
    dataset: str | None,
    n_classes: int,
) -> ImageSynthesizer:
    """Fit ``generator`` on the images in ``data``, write the model folder, print a summary."""
    images = load_images(data, "train", n_classes=n_classes)
    with progress_bar(echo=is_epoch_message) as progress:
        synth = fit_images(
            images,
            generator=generator,
            epsilon=epsilon,
            delta=delta,
            rng=make_rng(seed),
            params=params,
            source=data,
            store=store,
            dataset=dataset,
            progress=progress,
        )
    synth.save(output)
    led = synth.ledger
    h, w = synth.image_shape
    out_console.print(
        f"fitted {generator} on {data} ({len(images)} images {h}x{w}, {n_classes} classes): "
        f"spent epsilon={led.epsilon():.6g} of {led.epsilon_budget:g} at delta={led.delta:g} "
        f"({led.composition} accounting); model in {output}",
        highlight=False,
    )
    return synth


def sample_paths(output: Path) -> tuple[Path, Path]:
    """The ``.npz`` and ``.png`` paths for ``-o OUTPUT`` (either suffix names the pair)."""
    suffix = output.suffix.lower()
    if suffix == ".png":
        return output.with_suffix(".npz"), output
    if suffix == ".npz":
        return output, output.with_suffix(".png")
    raise InputError(
        f"{output}: image samples are written as .npz (with a .png grid beside it); "
        "choose a path ending in .npz or .png"
    )


def grid_cells(images: np.ndarray, labels: np.ndarray, *, blank: int = 128) -> np.ndarray:
    """At most 100 images for the PNG grid: one row of 10 per class (several rows per class
    when fewer than 10 classes are present), short rows filled with ``blank`` cells."""
    classes = np.unique(labels)[:GRID_ROWS]
    rows_each = max(1, GRID_ROWS // max(1, len(classes)))
    cells = []
    for c in classes:
        picked = images[labels == c][: rows_each * GRID_COLUMNS]
        rows = math.ceil(len(picked) / GRID_COLUMNS)
        fill = np.full((rows * GRID_COLUMNS - len(picked), *images.shape[1:]), blank, np.uint8)
        cells += [picked, fill]
    return np.concatenate(cells)


def sample_image_model(
    synth: ImageSynthesizer,
    output: Path,
    *,
    n: int | None,
    labels: list[int] | None,
    seed: int | None,
) -> tuple[Path, Path, int]:
    """Sample images, write the ``.npz`` and the PNG grid; returns both paths and the count."""
    from privsynth.images.png import write_grid

    npz, png = sample_paths(output)
    if labels is not None:
        synth.check_labels(labels)
    data = synth.sample(n, rng=make_rng(seed), labels=labels)
    save_images_npz(npz, data.images, data.labels)
    try:
        write_grid(grid_cells(data.images, data.labels), png, ncol=GRID_COLUMNS)
    except BaseException:
        npz.unlink(missing_ok=True)
        raise
    return npz, png, len(data)


@dataclass(frozen=True)
class ImageEvaluation:
    """TSTR accuracy and fidelity numbers of synthetic images (computed on real data)."""

    seed: int
    inputs: dict[str, str]
    tstr: dict[str, Any]
    fidelity: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data, labelled as not private."""
        from privsynth.evaluate.report import PRIVACY

        return {
            "privacy": PRIVACY,
            "data_kind": "images",
            "seed": self.seed,
            "inputs": dict(self.inputs),
            "images": {
                "real": self.fidelity["n_real"],
                "synthetic": self.fidelity["n_synth"],
                "test": self.tstr["n_test"],
            },
            "tstr": self.tstr,
            "fidelity": self.fidelity,
            "notes": [
                "tstr: the fixed SmallCNN trained on the synthetic images, accuracy on the real "
                "test images",
                "fd_smallcnn: Fréchet distance on features of a SmallCNN trained on the real "
                "images; not FID, comparable only with values from the same settings",
            ],
        }

    def to_rich(self) -> Any:
        """A rich renderable for terminals."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        from privsynth.evaluate.report import PRIVACY

        def num(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        table = Table(title="Synthetic images", title_justify="left")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("TSTR accuracy (SmallCNN, real test set)", num(self.tstr["accuracy"]))
        for k, acc in enumerate(self.tstr["per_class_accuracy"]):
            table.add_row(f"  class {k}", num(acc))
        table.add_row("mean image L2 distance", num(self.fidelity["mean_image_l2"]))
        table.add_row("mean image abs. difference", num(self.fidelity["mean_abs_diff"]))
        table.add_row("FD (SmallCNN features, not FID)", num(self.fidelity["fd_smallcnn"]))
        d = self.to_dict()["images"]
        header = (
            f"images: real {d['real']}, synthetic {d['synthetic']}, test {d['test']}; "
            f"seed {self.seed}"
        )
        return Group(
            Text(f"Evaluation — {PRIVACY}", style="bold yellow"),
            Text(header, style="dim"),
            table,
        )


def _test_set(real: Path, test: Path | None, n_classes: int) -> tuple[ImageData, str]:
    if test is not None:
        if not is_image_file(test):
            raise InputError(f"{test}: --test for image data must be a .npz file")
        return load_images(test, "test", n_classes=n_classes), str(test)
    with np.load(real, allow_pickle=False) as npz:
        keys = set(npz.files)
    if {"x_test", "y_test"} <= keys:
        return load_images(real, "test", n_classes=n_classes), f"{real} (x_test, y_test)"
    raise InputError(
        f"{real}: no real test images (keys 'x_test' and 'y_test' absent, found "
        f"{sorted(keys)}); pass --test REAL_TEST.npz"
    )


def _check_sizes(sets: dict[Path | str, ImageData]) -> None:
    (first, ref), *rest = sets.items()
    h, w = ref.images.shape[1:]
    for path, data in sets.items():
        if min(data.images.shape[1:]) < 10:
            raise InputError(f"{path}: images must be at least 10x10 for the SmallCNN")
        if data.images.shape[1:] != (h, w):
            hh, ww = data.images.shape[1:]
            raise InputError(f"{path}: images are {hh}x{ww} but {first} has {h}x{w}")
        if len(data) < 2:
            raise InputError(f"{path}: at least 2 images are needed, found {len(data)}")


def evaluate_image_files(
    real: Path,
    synthetic: Path,
    *,
    test: Path | None,
    output: Path | None,
    seed: int,
    n_classes: int,
) -> ImageEvaluation:
    """TSTR and fidelity of ``synthetic`` against ``real``; JSON to ``output`` if given."""
    from privsynth.evaluate.images import image_fidelity, tstr_accuracy

    for path in (real, synthetic):
        if not is_image_file(path):
            raise InputError(f"{path}: image evaluation needs .npz files for both data sets")
    real_data = load_images(real, "train", n_classes=n_classes)
    synth_data = load_images(synthetic, "train", n_classes=n_classes)
    test_data, test_name = _test_set(real, test, n_classes)
    _check_sizes({real: real_data, synthetic: synth_data, test_name: test_data})
    with progress_bar() as progress:
        progress("training the SmallCNN on the synthetic images (TSTR)", 0.0)
        tstr = tstr_accuracy(
            synth_data.images,
            synth_data.labels,
            test_data.images,
            test_data.labels,
            seed=seed,
            n_classes=n_classes,
        )
        progress("training the SmallCNN on the real images (fidelity features)", 0.6)
        fidelity = image_fidelity(
            real_data.images,
            synth_data.images,
            real_labels=real_data.labels,
            seed=seed,
            n_classes=n_classes,
        )
        progress("done", 1.0)
    result = ImageEvaluation(
        seed, {"real": str(real), "synthetic": str(synthetic), "test": test_name}, tstr, fidelity
    )
    if output:
        text = json.dumps(result.to_dict(), indent=2, allow_nan=False)
        write_atomic(output, lambda p: p.write_text(text + "\n", encoding="utf-8"))
    return result
