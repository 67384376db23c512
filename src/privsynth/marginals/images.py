"""Private image data behind the same backend protocol as tables.

An :class:`ImageBackend` counts its class labels (domain: one attribute ``label``) like any
:class:`~privsynth.marginals.counting.CountingBackend`, and hands the pixels to
:mod:`privsynth.measure` (DP-SGD) through :meth:`rows`, nobody else.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privsynth.domain import Domain
from privsynth.marginals.counting import contingency

LABEL = "label"


class ImageBackend:
    """Grayscale images (uint8, ``(n, H, W)``) with integer class labels in ``0..n_classes-1``."""

    label = LABEL
    numeric: tuple[str, ...] = ()

    def __init__(self, images: np.ndarray, labels: np.ndarray, n_classes: int) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError("images must be a uint8 array of shape (n, H, W)")
        if labels.shape != (len(images),):
            raise ValueError("labels must be one integer per image")
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"labels must lie in 0..{n_classes - 1}")
        self.domain = Domain((LABEL,), (int(n_classes),))
        self.image_shape = tuple(int(s) for s in images.shape[1:])
        self._images = images
        self._labels = labels

    def count(self, attrs: Sequence[str]) -> np.ndarray:
        """Exact count of all images (``()``) or per class (``("label",)``)."""
        attrs = tuple(attrs)
        if not attrs:
            return np.array(len(self._labels), dtype=np.int64)
        if attrs != (LABEL,):
            raise KeyError(f"image data has only the attribute {LABEL!r}, not {attrs}")
        return contingency([self._labels], self.domain.shape(attrs))

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The private pixels and labels (for DP-SGD in :mod:`privsynth.measure` only)."""
        return self._images, self._labels
