"""The DP release of ``dppca``: Gaussian components on a principal subspace of the images.

A :class:`PCAMixtureModel` holds an orthonormal basis ``(d, k)`` (eigenvectors of a noisy Gram
matrix), and per component a class, a noisy weight, a mean ``(k,)`` and a covariance factor
``(k, k)``, all post-processing of noisy moments. An image is ``clip * basis @ (mean + factor @
z)`` with ``z ~ N(0, I)``, clamped to ``[0, 1]`` and rounded to 8 bits. The model file holds
these arrays only (no training image, no pickle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from privsynth.domain import Domain
from privsynth.errors import InputError

_BATCH = 8192


class PCAMixtureModel:
    """Class-conditional Gaussian mixture on a DP principal subspace (``kind="image"``)."""

    model_type: ClassVar[str] = "pca-mixture"
    kind: ClassVar[str] = "image"

    def __init__(
        self,
        domain: Domain,
        *,
        basis: np.ndarray,
        means: np.ndarray,
        factors: np.ndarray,
        weights: np.ndarray,
        classes: np.ndarray,
        clip: float,
        total: float,
        image_shape: tuple[int, int],
    ) -> None:
        self.domain = domain
        self.basis = np.asarray(basis, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.factors = np.asarray(factors, dtype=np.float64)
        self.weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
        self.classes = np.asarray(classes, dtype=np.int64)
        self.clip = float(clip)
        self.total = float(total)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        d, k = self.basis.shape
        m = len(self.weights)
        if (
            d != self.image_shape[0] * self.image_shape[1]
            or self.means.shape != (m, k)
            or self.factors.shape != (m, k, k)
            or self.classes.shape != (m,)
            or m < 1
            or self.weights.sum() <= 0
            or self.classes.min() < 0
            or self.classes.max() >= domain.sizes[0]
        ):
            raise ValueError("inconsistent PCA mixture arrays")
        n_classes = domain.sizes[0]
        per_class = np.bincount(self.classes, weights=self.weights, minlength=n_classes)
        self.class_weights = (per_class / per_class.sum())[None, :]

    @property
    def label(self) -> str:
        """Images are conditioned on their class."""
        return "label"

    def estimated_total(self) -> float:
        """Noisy estimate of the number of training images."""
        return self.total

    def sample_images(
        self, n: int, *, rng: np.random.Generator, labels: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` uint8 images ``(n, H, W)`` and their classes (by the noisy class weights, or
        restricted to ``labels``: exact conditioning, components are per class)."""
        w = self.weights.copy()
        if labels is not None:
            w = np.where(np.isin(self.classes, np.asarray(list(labels), dtype=np.int64)), w, 0.0)
            if w.sum() <= 0:
                raise InputError(f"label {sorted(labels)}: the model has no component for it")
        comp = rng.choice(len(w), size=n, p=w / w.sum())
        out = np.empty((n, *self.image_shape), dtype=np.uint8)
        for s in range(0, n, _BATCH):
            part = comp[s : s + _BATCH]
            z = rng.standard_normal((len(part), self.basis.shape[1]))
            coords = self.means[part] + np.einsum("nij,nj->ni", self.factors[part], z)
            pixels = np.clip(coords @ self.basis.T * self.clip, 0.0, 1.0)
            out[s : s + len(part)] = np.rint(pixels * 255.0).reshape(-1, *self.image_shape)
        return out, self.classes[comp]

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None = None,
    ) -> dict[str, np.ndarray]:
        """The class codes of ``n`` images (``where`` may restrict ``label``)."""
        where = dict(where or {})
        unknown = set(where) - {"label"}
        if unknown:
            raise InputError(f"where: unknown column {sorted(unknown)[0]!r}")
        _, labels = self.sample_images(n, rng=rng, labels=where.get("label"))
        return {"label": labels}

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON metadata and the arrays above."""
        meta = {
            "model_type": self.model_type,
            "kind": self.kind,
            "domain": self.domain.to_state(),
            "clip": self.clip,
            "total": self.total,
            "image_shape": list(self.image_shape),
        }
        arrays = {
            "basis": self.basis,
            "means": self.means,
            "factors": self.factors,
            "weights": self.weights,
            "classes": self.classes,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> PCAMixtureModel:
        """Inverse of :meth:`to_state`."""
        domain = Domain.from_state(meta["domain"])
        shape = meta["image_shape"]
        return cls(
            domain,
            basis=arrays["basis"],
            means=arrays["means"],
            factors=arrays["factors"],
            weights=arrays["weights"],
            classes=arrays["classes"],
            clip=meta["clip"],
            total=meta["total"],
            image_shape=(shape[0], shape[1]),
        )
