"""The front door for image data: fit a DP image generator under a budget, sample, save, load.

:func:`fit_images` mirrors :func:`privsynth.synthesizer.fit_table`: every check on the input
(budget, ``delta < 1/n``, generator name, image support, hyperparameters, image size) happens
before the ledger exists, so bad input costs no budget. The returned :class:`ImageSynthesizer`
holds only the DP release: the generator config, the ledger and the fitted network weights.

Model folders are the same format as table models (``manifest.json`` + ``arrays.safetensors``,
no pickle) with ``"data_kind": "images"`` in the manifest; :func:`load_synthesizer` opens
either kind.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from privsynth.errors import InputError, ModelFileError
from privsynth.images.data import ImageData
from privsynth.models.release import read_release, save_release
from privsynth.models.store import MANIFEST
from privsynth.privacy.ledger import BudgetStore, Ledger, validate_budget
from privsynth.synthesizer import open_fit_ledger

if TYPE_CHECKING:
    from privsynth.synthesizer import Synthesizer

Progress = Callable[[str, float], None]

DATA_KIND = "images"
# The convolutional generator and critic (privsynth.generators.neural.nets) are built for
# 28 x 28 single-channel images; other sizes are refused before any budget is spent.
IMAGE_SHAPE = (28, 28)
# Hyperparameters shared by the neural generators that must be positive, checked before any
# spend (the generators check their training schedule when built; this adds network sizes and
# learning rates, and names the offending parameter for the CLI).
_POSITIVE_INTS = ("batch_size", "latent_dim", "channels")
_POSITIVE_NUMBERS = ("epochs", "max_grad_norm")


@dataclass
class ImageSynthesizer:
    """A fitted DP image model: class-conditional generator weights plus its ledger."""

    generator: str
    config: dict[str, Any]
    ledger: Ledger
    model: Any  # a privsynth.generators.neural.model.NeuralModel with kind="image"
    n_classes: int
    image_shape: tuple[int, int]

    def sample(
        self,
        n: int | None = None,
        *,
        rng: np.random.Generator,
        labels: Sequence[int] | None = None,
    ) -> ImageData:
        """Draw ``n`` synthetic images (default: the model's noisy image count).

        Classes follow the model's noisy class weights; ``labels`` restricts them to the given
        classes (exact conditioning: the generator is conditional on the class).
        """
        if n is None:
            n = max(1, round(float(self.model.estimated_total())))
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise InputError(f"-n: number of images must be a positive integer, got {n!r}")
        allowed = None if labels is None else self.check_labels(labels)
        images, drawn = self.model.sample_images(int(n), rng=rng, labels=allowed)
        return ImageData(
            images=images, labels=np.asarray(drawn, dtype=np.int64), n_classes=self.n_classes
        )

    def check_labels(self, labels: Sequence[int]) -> list[int]:
        """``labels`` as a sorted list of distinct classes, or InputError naming the bad one."""
        out = []
        for value in labels:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError(f"--label: class must be an integer, got {value!r}")
            if not 0 <= int(value) < self.n_classes:
                raise InputError(
                    f"--label: class {int(value)} is outside 0..{self.n_classes - 1} "
                    f"(the model has {self.n_classes} classes)"
                )
            out.append(int(value))
        if not out:
            raise InputError("--label: no class given")
        return sorted(set(out))

    def save(self, path: str | Path) -> None:
        """Write the model folder (manifest + network weights; no pickle, no training image)."""
        save_release(
            path,
            data_kind=DATA_KIND,
            generator=self.generator,
            config=self.config,
            ledger=self.ledger,
            model=self.model,
            images={"n_classes": self.n_classes, "image_shape": list(self.image_shape)},
        )

    @classmethod
    def load(cls, path: str | Path) -> ImageSynthesizer:
        """Read and verify an image model folder (a table model folder is refused)."""
        return read_release(path, DATA_KIND, cls._rebuild)

    @classmethod
    def _rebuild(
        cls, manifest: dict[str, Any], arrays: dict[str, np.ndarray], where: str
    ) -> ImageSynthesizer:
        from privsynth.generators import load_model

        info = manifest["images"]
        n_classes = int(info["n_classes"])
        shape = tuple(int(s) for s in info["image_shape"])
        ledger = Ledger.from_dict(manifest["ledger"])
        gen = manifest["generator"]
        model = load_model(manifest["model"], arrays)
        if getattr(model, "kind", None) != "image" or model.class_weights is None:
            raise ModelFileError(f"{where}: model is not a class-conditional image model")
        if (
            tuple(model.domain.sizes) != (n_classes,)
            or model.class_weights.shape[1] != n_classes
            or tuple(model.image_shape or ()) != shape
            or len(shape) != 2
        ):
            raise ModelFileError(f"{where}: model does not match its 'images' section")
        return cls(
            gen["name"], gen.get("config", {}), ledger, model, n_classes, (shape[0], shape[1])
        )


def data_kind(path: str | Path) -> str:
    """``"images"`` or ``"table"`` from a model folder's manifest (no verification).

    A folder whose manifest cannot be read is reported as ``"table"``, so the table loader
    gives its usual one-line error about it.
    """
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return "table"
    kind = manifest.get("data_kind", "table") if isinstance(manifest, dict) else "table"
    if kind not in ("table", DATA_KIND):
        raise ModelFileError(f"{Path(path) / MANIFEST}: unknown data_kind {kind!r}")
    return kind


def load_synthesizer(path: str | Path) -> Synthesizer | ImageSynthesizer:
    """Open a model folder of either kind (table models have no or a ``"table"`` data_kind)."""
    if data_kind(path) == DATA_KIND:
        return ImageSynthesizer.load(path)
    from privsynth.synthesizer import Synthesizer

    return Synthesizer.load(path)


def supports_images(cls: type) -> bool:
    """Whether generator class ``cls`` can fit an :class:`ImageBackend`.

    A class may say so with a ``supports_images`` class attribute; otherwise the DP-SGD
    generators (``composition = "rdp"``, the neural ones) do and the marginal ones do not.
    """
    explicit = getattr(cls, "supports_images", None)
    if explicit is not None:
        return bool(explicit)
    return getattr(cls, "composition", "zcdp") == "rdp"


def image_generators() -> list[str]:
    """Names of the registered generators that fit images (importing each one's module)."""
    from privsynth.generators import REGISTRY, generator_class

    names = []
    for name in sorted(REGISTRY):
        try:
            if supports_images(generator_class(name)):
                names.append(name)
        except ImportError:
            continue
    return names


def fit_images(
    data: ImageData,
    *,
    generator: str,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    params: Mapping[str, Any] | None = None,
    source: str | Path = "data",
    store: BudgetStore | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> ImageSynthesizer:
    """Fit ``generator`` on labelled images under an (epsilon, delta) budget.

    Every check happens before any privacy cost: budget validity, generator name and image
    support, hyperparameters, image size and ``delta < 1/n``. As in ``fit_table``, the
    ``delta < 1/n`` check reads the exact image count; it only refuses, never changes a release.
    """
    from privsynth.generators import generator_class, get_generator
    from privsynth.marginals.images import ImageBackend

    validate_budget(epsilon, delta)
    try:
        cls = generator_class(generator)
    except ImportError as exc:
        raise InputError(f"generator {generator!r} is not available here ({exc})") from None
    if not supports_images(cls):
        raise InputError(
            f"{source}: generator {generator!r} fits tables only (it measures marginals of "
            f"columns); for images use one of: {', '.join(image_generators())}"
        )
    gen = get_generator(generator, **dict(params or {}))
    _check_hyperparameters(generator, gen)
    n = len(data)
    shape = tuple(int(s) for s in data.images.shape[1:])
    if shape != IMAGE_SHAPE:
        raise InputError(
            f"{source}: images are {shape[0]}x{shape[1]}; the image generators need "
            f"{IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}"
        )
    ledger = open_fit_ledger(
        gen,
        epsilon,
        delta,
        n=n,
        what=("images", "an image"),
        source=source,
        store=store,
        dataset=dataset,
    )
    backend = ImageBackend(data.images, data.labels, data.n_classes)
    model = gen.fit(backend, ledger, rng=rng, progress=progress)
    return ImageSynthesizer(
        generator, gen.config(), ledger, model, int(data.n_classes), (shape[0], shape[1])
    )


def _check_hyperparameters(name: str, gen: Any) -> None:
    """Refuse parameter values of the wrong type or sign before the generator spends."""
    if not dataclasses.is_dataclass(gen):
        return
    where = f"generator {name!r}: parameter"
    for field in dataclasses.fields(gen):
        value = getattr(gen, field.name)
        default = field.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InputError(f"{where} {field.name!r} must be true or false, got {value!r}")
        elif isinstance(default, int | float) and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise InputError(f"{where} {field.name!r} must be a number, got {value!r}")
    for key in _POSITIVE_INTS:
        value = getattr(gen, key, None)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InputError(f"{where} {key!r} must be a positive integer, got {value!r}")
    keys = (
        *_POSITIVE_NUMBERS,
        *(f.name for f in dataclasses.fields(gen) if f.name.startswith("lr")),
    )
    for key in keys:
        value = getattr(gen, key, None)
        if isinstance(value, int | float) and not (math.isfinite(value) and value > 0):
            raise InputError(f"{where} {key!r} must be a positive number, got {value!r}")
    if getattr(gen, "conditional", True) is not True:
        raise InputError(
            f"{where} 'conditional' must stay true for images: every synthetic image carries "
            "its class"
        )
    share = getattr(gen, "count_share", None)
    if share is not None and not 0 < share < 1:
        raise InputError(f"{where} 'count_share' must lie in (0, 1), got {share!r}")
