"""The image section: grids of synthetic (and real) images embedded as base64 PNG."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from privsynth.errors import InputError
from privsynth.images.data import from_unit
from privsynth.images.png import grid_array
from privsynth.report.html import Section, esc, explain, not_private_badge

PER_CLASS = 10
MAX_IMAGES = 100

EXPLANATION = (
    "Synthetic images are drawn from the private model after training; like everything the "
    "model produces they are covered by its privacy guarantee."
)
REAL_NOTE = " Real images are shown only so the data owner can compare them by eye."


def as_images(value: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``uint8`` images ``(n, H, W)`` and labels (or None) from an :class:`ImageData`, a
    mapping with ``images`` (and ``labels``), or an array (floats in [0, 1] are scaled)."""
    if isinstance(value, Mapping):
        images, labels = value.get("images"), value.get("labels")
    else:
        images, labels = getattr(value, "images", value), getattr(value, "labels", None)
    arr = np.asarray(images)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise InputError(f"images[{name!r}]: expected images of shape (n, H, W), got {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"images[{name!r}]: expected uint8 or float images, got {arr.dtype}")
        arr = from_unit(arr)
    lab = None if labels is None else np.asarray(labels).reshape(-1)
    if lab is not None and len(lab) != len(arr):
        raise InputError(f"images[{name!r}]: {len(lab)} labels for {len(arr)} images")
    return arr, lab


def pick(images: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """At most 100 images: up to 10 per class (first 10 classes), or the first 100."""
    if labels is None:
        return images[:MAX_IMAGES], None
    index = np.concatenate(
        [np.flatnonzero(labels == c)[:PER_CLASS] for c in np.unique(labels)[:PER_CLASS]]
    )
    return images[index], labels[index]


def png_base64(images: np.ndarray) -> str:
    """A 10-column PNG grid of ``images`` as base64 text."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(grid_array(images, 10, 2)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _grid_html(images: np.ndarray, title: str, real: bool) -> str:
    h, w = images.shape[1:]
    label = f" {not_private_badge()}" if real else ""
    # Three display pixels per image pixel, kept sharp by CSS image-rendering: pixelated.
    width = (min(len(images), 10) * (w + 2) + 2) * 3
    return (
        f'<figure class="images"><img alt="{esc(title)}" width="{width}" '
        f'src="data:image/png;base64,{png_base64(images)}">'
        f"<figcaption>{esc(title)}{label}</figcaption></figure>"
    )


def images_section(images: Mapping[str, Any]) -> tuple[Section, dict[str, Any]]:
    """The grids and, for report.json, how many images each grid shows and of which classes."""
    parts: list[str] = []
    summary: dict[str, Any] = {}
    for name, title, real in (
        ("synthetic", "Synthetic samples", False),
        ("real", "Real images", True),
    ):
        if images.get(name) is None:
            continue
        arr, labels = as_images(images[name], name)
        shown, shown_labels = pick(arr, labels)
        parts.append(_grid_html(shown, f"{title}: {len(shown)} of {len(arr)}", real))
        summary[name] = {
            "n_images": int(len(arr)),
            "shape": [int(s) for s in arr.shape[1:]],
            "n_shown": int(len(shown)),
            "shown_labels": None if shown_labels is None else shown_labels.tolist(),
        }
    text = EXPLANATION + (REAL_NOTE if "real" in summary else "")
    body = explain(text) + f'<div class="grid">{"".join(parts)}</div>'
    return Section("images", "Images", body, real_data="real" in summary), summary
