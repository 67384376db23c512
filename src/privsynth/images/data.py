"""Image data sets: loading and validating ``.npz`` files, unit-range conversion, saving.

An image set is ``n`` single-channel images of ``H x W`` pixels stored as ``uint8`` (0..255)
with one integer class label each. Two ``.npz`` layouts are read:

* MNIST layout: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (``split`` picks the pair);
* generic layout: ``images`` and ``labels`` (one set; ``split`` does not apply).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privsynth.errors import InputError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageData:
    """Labelled grayscale images.

    Attributes:
        images: ``uint8`` array of shape ``(n, H, W)``.
        labels: ``int64`` array of shape ``(n,)`` with values in ``0..n_classes-1``.
        n_classes: number of classes the labels are drawn from (some may be absent).
    """

    images: np.ndarray
    labels: np.ndarray
    n_classes: int

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_images(path: str | Path, split: str = "train", *, n_classes: int = 10) -> ImageData:
    """Read labelled images from an ``.npz`` file (MNIST or generic layout, see module doc).

    Float images must lie in ``[0, 1]`` and are converted to ``uint8`` by rounding ``x * 255``.
    Raises :class:`~privsynth.errors.InputError` naming the file and the offending key or value
    when the file is missing or unreadable, a key is absent, or shapes, dtypes or labels are bad.
    """
    path = Path(path)
    if split not in SPLITS:
        raise InputError(f"{path}: split must be one of {SPLITS}, got {split!r}")
    _check_n_classes(n_classes, path)
    if not path.is_file():
        raise InputError(f"{path}: image file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if {"images", "labels"} & keys:
                ikey, lkey = "images", "labels"
            elif {"x_train", "y_train", "x_test", "y_test"} & keys:
                ikey, lkey = f"x_{split}", f"y_{split}"
            else:
                raise InputError(
                    f"{path}: expected keys 'images' and 'labels' or 'x_{split}' and "
                    f"'y_{split}', found {sorted(keys)}"
                )
            for key in (ikey, lkey):
                if key not in keys:
                    raise InputError(f"{path}: missing key {key!r} (found {sorted(keys)})")
            raw_images = npz[ikey]
            raw_labels = npz[lkey]
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        # np.load raises ValueError for pickled (object) arrays and non-npz content.
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    images = _as_uint8_images(raw_images, f"{path}: key {ikey!r}")
    labels = _as_labels(raw_labels, n_classes, f"{path}: key {lkey!r}")
    if labels.shape[0] != images.shape[0]:
        raise InputError(
            f"{path}: key {lkey!r} has {labels.shape[0]} labels but key {ikey!r} has "
            f"{images.shape[0]} images"
        )
    return ImageData(images=images, labels=labels, n_classes=n_classes)


def to_unit(images: np.ndarray) -> np.ndarray:
    """``uint8`` images (0..255) -> ``float32`` in ``[0, 1]``, same shape."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise InputError(f"to_unit: images must be uint8, got dtype {arr.dtype}")
    return arr.astype(np.float32) / np.float32(255.0)


def from_unit(x: np.ndarray) -> np.ndarray:
    """Values in ``[0, 1]`` -> ``uint8`` by rounding ``x * 255``; values outside are clipped.

    Clipping (rather than refusing) lets generator outputs such as a slightly overshooting
    sigmoid or tanh rescale be stored; non-finite values are refused.
    """
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError("from_unit: values contain NaN or infinity")
    return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_images_npz(path: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``images`` (``uint8``, ``(n, H, W)``) and ``labels`` (``int64``) to ``path``.

    Uses ``np.savez_compressed`` in the generic layout that :func:`load_images` reads; the
    file is written to a temporary sibling and renamed, so a failure leaves no partial file.
    """
    path = Path(path)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise InputError(f"{path}: key 'images' must be uint8, got dtype {images.dtype}")
    if images.ndim != 3:
        raise InputError(f"{path}: key 'images' must be 3-D (n, H, W), got shape {images.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"{path}: key 'labels' must be a 1-D integer array, got dtype {labels.dtype} "
            f"shape {labels.shape}"
        )
    if labels.shape[0] != images.shape[0]:
        raise InputError(
            f"{path}: key 'labels' has {labels.shape[0]} labels but key 'images' has "
            f"{images.shape[0]} images"
        )
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, labels=labels.astype(np.int64))
    write_atomic(path, buf.getvalue())
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_n_classes(n_classes: int, where: Path) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise InputError(f"{where}: n_classes must be a positive integer, got {n_classes!r}")


def _as_uint8_images(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim != 3:
        raise InputError(f"{where}: images must be 3-D (n, H, W), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise InputError(f"{where}: no images (shape {arr.shape})")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{where}: float images contain NaN or infinity")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"{where}: float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]"
            )
        return np.rint(arr.astype(np.float64) * 255.0).astype(np.uint8)
    raise InputError(f"{where}: images must be uint8 or float in [0, 1], got dtype {arr.dtype}")


def _as_labels(arr: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    if arr.ndim != 1:
        raise InputError(f"{where}: labels must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{where}: labels must be integers, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where}: label {int(labels[i])} at index {i} is outside 0..{n_classes - 1} "
            f"(n_classes={n_classes})"
        )
    return labels
