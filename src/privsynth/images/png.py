"""Grayscale PNG grids of images, for looking at samples (Pillow; no other dependency)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from privsynth.errors import InputError
from privsynth.images.data import write_atomic


def grid_array(images: np.ndarray, ncol: int, pad: int, *, pad_value: int = 128) -> np.ndarray:
    """Tile ``uint8`` images ``(n, H, W)`` into one ``uint8`` array, row by row.

    The grid has ``min(ncol, n)`` columns and ``ceil(n / columns)`` rows, with ``pad`` pixels of
    ``pad_value`` between cells and around the border; unused cells in the last row are filled
    with ``pad_value``. Shape: ``(rows * (H + pad) + pad, columns * (W + pad) + pad)``.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise InputError(
            f"grid: images must be a uint8 array of shape (n, H, W), got dtype {arr.dtype} "
            f"shape {arr.shape}"
        )
    n, h, w = arr.shape
    if n == 0:
        raise InputError("grid: no images to tile")
    if isinstance(ncol, bool) or not isinstance(ncol, int | np.integer) or ncol < 1:
        raise InputError(f"grid: ncol must be a positive integer, got {ncol!r}")
    if isinstance(pad, bool) or not isinstance(pad, int | np.integer) or pad < 0:
        raise InputError(f"grid: pad must be a non-negative integer, got {pad!r}")
    if not 0 <= pad_value <= 255:
        raise InputError(f"grid: pad_value must lie in 0..255, got {pad_value!r}")
    cols = min(int(ncol), n)
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top : top + h, left : left + w] = arr[i]
    return out


def write_grid(
    images: np.ndarray,
    path: str | Path,
    *,
    labels: np.ndarray | None = None,
    ncol: int = 10,
    pad: int = 2,
) -> Path:
    """Write ``uint8`` images ``(n, H, W)`` as one grayscale PNG grid at ``path``; returns it.

    With ``labels``, images are first sorted by label (stable, so the order within a class is
    kept); the tiling is :func:`grid_array`. The PNG is written to a temporary sibling and
    renamed, so a failure leaves no partial file.
    """
    from PIL import Image

    path = Path(path)
    arr = np.asarray(images)
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim != 1 or lab.shape[0] != arr.shape[0]:
            raise InputError(
                f"{path}: labels must be 1-D with one label per image, got shape {lab.shape} "
                f"for images of shape {arr.shape}"
            )
        arr = arr[np.argsort(lab, kind="stable")]
    grid = grid_array(arr, ncol, pad)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())
    return path


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG as a 2-D ``uint8`` grayscale array (colour images are converted to ``L``)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: PNG file not found")
    try:
        with Image.open(path) as img:
            if img.mode != "L":
                img = img.convert("L")
            return np.array(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None
