"""``dppca``: a class-conditional Gaussian mixture on a DP principal subspace, for images.

Four releases, every one charged to the ledger before it reads a pixel (zCDP, Gaussian noise;
see :mod:`privsynth.measure.moments` for the sensitivities):

1. ``pca_share``: the noisy Gram matrix of the images (pixels / 255 / ``clip``, norm-clipped
   to 1). Its top eigenvectors are the basis; how many is read off the noisy eigenvalues
   (post-processing): those above the noise's expected spectral norm ``2 sigma sqrt(d)``, at
   most ``max_components``. More budget, more directions survive the noise.
2. ``mean_share``: noisy per-class counts and sums in that basis.
3. ``kmeans_share`` (only if some class gets more than one cluster): ``kmeans_iters`` noisy
   Lloyd iterations per class, run jointly (a row joins only its class's centres). The
   number of clusters per class is a function of the noisy counts and of the final noise:
   a cluster needs ``rows_per_noise`` times the spectral norm of the noise on its covariance
   (``2 sigma sqrt(k)``), at most ``max_clusters``. At small budgets every class keeps one
   Gaussian and this release is skipped (its share goes to step 4).
4. the rest: noisy count, sum and second moment per cluster, hence a mean and a covariance
   (projected to positive semi-definite) per cluster; clusters whose noisy count is under
   ``max(3 sigma, k + 1)`` are dropped (if that is all of them, the largest is kept).

Sampling draws a class by the noisy class weights, a cluster by its noisy weight, a Gaussian
point in the subspace and maps it back to pixels: all post-processing. Why this exists next
to the DP-SGD generators: its whole privacy cost is four Gaussian releases, so it fits MNIST
in seconds on a CPU, and (bench/results/mnist_dppca.md) a small CNN trained on its samples is
far more accurate than one trained on the DP-SGD generators' samples at the same budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.generators.base import Progress, remaining_budget, report
from privsynth.generators.pca_model import PCAMixtureModel
from privsynth.measure.cluster import assign, dp_kmeans
from privsynth.measure.moments import (
    image_vectors,
    moments_sigma,
    noisy_gram,
    noisy_group_moments,
)
from privsynth.privacy.ledger import Ledger


def components_above_noise(eigenvalues: np.ndarray, sigma: float, cap: int) -> int:
    """How many leading noisy eigenvalues exceed ``2 sigma sqrt(d)`` (the spectral norm of a
    symmetric ``d x d`` Gaussian noise matrix of scale ``sigma``), between 1 and ``cap``."""
    d = len(eigenvalues)
    above = int(np.sum(np.asarray(eigenvalues) > 2.0 * sigma * math.sqrt(d)))
    return int(min(max(above, 1), cap))


def clusters_per_class(
    counts: np.ndarray, sigma: float, k: int, rows_per_noise: float, cap: int
) -> np.ndarray:
    """Clusters per class: as many as keep ``rows_per_noise * 2 sigma sqrt(k)`` noisy rows
    each, between 1 and ``cap``."""
    need = rows_per_noise * 2.0 * sigma * math.sqrt(k)
    return np.clip(np.floor(np.clip(counts, 0, None) / need), 1, cap).astype(np.int64)


@dataclass(frozen=True)
class DPPCAMixture:
    """Gaussian mixture per class on a DP principal subspace (hyperparameters only).

    ``clip`` bounds an image's L2 norm in pixels of ``[0, 1]`` (larger ones are scaled down);
    it is declared, not read from the data. The shares split the budget as described in the
    module docstring; the last release gets what is left.
    """

    name: ClassVar[str] = "dppca"
    composition: ClassVar[str] = "zcdp"
    supports_images: ClassVar[bool] = True
    supports_tables: ClassVar[bool] = False

    clip: float = 10.0
    max_components: int = 40
    max_clusters: int = 10
    kmeans_iters: int = 3
    rows_per_noise: float = 80.0
    pca_share: float = 0.3
    mean_share: float = 0.05
    kmeans_share: float = 0.15
    secure: bool = False

    def __post_init__(self) -> None:
        shares = (self.pca_share, self.mean_share, self.kmeans_share)
        if min(shares) <= 0 or sum(shares) >= 1:
            raise ValueError(
                f"pca_share, mean_share and kmeans_share must be positive and sum below 1 "
                f"(the final moments get the rest), got {shares}"
            )
        for key in ("max_components", "max_clusters", "kmeans_iters"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        for key in ("clip", "rows_per_noise"):
            value = getattr(self, key)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a positive number, got {value!r}")

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        return asdict(self)

    def fit(
        self,
        backend,  # noqa: ANN001
        ledger: Ledger,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> PCAMixtureModel:
        """Spend the ledger's remaining budget on the four releases; return the mixture."""
        return self.fit_rho(
            backend, ledger, remaining_budget(ledger, self.name), rng=rng, progress=progress
        )

    def fit_rho(
        self,
        backend,  # noqa: ANN001
        ledger: Ledger,
        rho: float,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> PCAMixtureModel:
        """The same releases on ``rho`` (zCDP) of the ledger's budget only (e.g. as the DP
        warm start of another generator)."""
        shape = getattr(backend, "image_shape", None)
        if shape is None or len(shape) != 2:
            raise InputError(f"generator {self.name!r} fits images only")
        start = ledger.rho_spent
        domain: Domain = backend.domain
        n_classes = int(domain.sizes[0])
        x, labels = image_vectors(backend, float(self.clip))

        report(progress, "noisy Gram matrix (principal subspace)", 0.0)
        gram, sigma = noisy_gram(
            x,
            self.pca_share * rho,
            ledger,
            rng,
            label=f"{self.name}: noisy Gram matrix",
            secure=self.secure,
        )
        values, vectors = np.linalg.eigh(gram)
        values, vectors = values[::-1], vectors[:, ::-1]
        k = components_above_noise(values, sigma, self.max_components)
        basis = np.ascontiguousarray(vectors[:, :k])
        y = x @ basis

        report(progress, f"{k} directions; noisy class counts and means", 0.3)
        first = noisy_group_moments(
            y,
            labels,
            n_classes,
            self.mean_share * rho,
            ledger,
            rng,
            second=False,
            label=f"{self.name}: noisy class counts and sums",
            secure=self.secure,
        )
        final_rho = (1.0 - self.pca_share - self.mean_share - self.kmeans_share) * rho
        clusters = clusters_per_class(
            first.counts,
            moments_sigma(final_rho, True),
            k,
            self.rows_per_noise,
            self.max_clusters,
        )
        if clusters.max() > 1:
            comp, centre_classes = self._clusters(
                y, labels, first, clusters, values[:k], ledger, rho, rng, progress
            )
        else:
            comp, centre_classes = labels, np.arange(n_classes)

        report(progress, f"noisy moments of {len(centre_classes)} clusters", 0.8)
        final = noisy_group_moments(
            y,
            comp,
            len(centre_classes),
            rho - (ledger.rho_spent - start),
            ledger,
            rng,
            second=True,
            label=f"{self.name}: noisy cluster counts, sums and second moments",
            secure=self.secure,
        )
        model = _mixture(domain, basis, final, centre_classes, self.clip, tuple(shape), k)
        if len(model.weights) == 1 and not final.counts.max() > _enough(final.sigma, k):
            report(progress, "no cluster stands above the noise: kept the largest only", 1.0)
        report(progress, "done", 1.0)
        return model

    def _clusters(self, y, labels, first, clusters, top, ledger, rho, rng, progress):  # noqa: ANN001, ANN202
        """Joint per-class DP k-means from public starts around the noisy class means."""
        report(progress, f"DP k-means per class ({int(clusters.sum())} clusters)", 0.5)
        means = first.sums / np.maximum(first.counts, 1.0)[:, None]
        # Starts: the noisy class mean plus half the noisy per-direction spread, random signs;
        # all post-processing of releases 1 and 2.
        spread = np.sqrt(np.clip(top, 0, None) / max(float(first.counts.sum()), 1.0))
        centre_classes = np.repeat(np.arange(len(clusters)), clusters)
        init = means[centre_classes] + 0.5 * spread * rng.standard_normal(
            (len(centre_classes), len(spread))
        )
        data = torch.from_numpy(y)
        centres, _ = dp_kmeans(
            data,
            init,
            self.kmeans_iters,
            self.kmeans_share * rho,
            ledger,
            rng,
            norm_bound=1.0,
            label=f"{self.name}: DP k-means ({self.kmeans_iters} iterations)",
            secure=self.secure,
            groups=labels,
            centre_groups=centre_classes,
        )
        comp = assign(data, centres, groups=labels, centre_groups=centre_classes)
        return comp, centre_classes


def _enough(sigma: float, k: int) -> float:
    """Noisy rows a cluster needs to be kept: three noise stds, and more than its dimension."""
    return max(3.0 * sigma, k + 1.0)


def _mixture(domain, basis, final, centre_classes, clip, shape, k) -> PCAMixtureModel:  # noqa: ANN001
    """Means and PSD covariance factors of the clusters with enough noisy rows.

    When none has (too little data for the budget), the largest is kept: the budget is spent by
    now, and a poor release is still a release, where an error would waste it.
    """
    keep = final.counts > _enough(final.sigma, k)
    if not keep.any():
        keep = np.arange(len(final.counts)) == int(np.argmax(final.counts))
    counts = np.maximum(final.counts[keep], 1.0)
    means = final.sums[keep] / counts[:, None]
    covs = final.seconds[keep] / counts[:, None, None] - np.einsum("ci,cj->cij", means, means)
    vals, vecs = np.linalg.eigh(covs)
    factors = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]
    return PCAMixtureModel(
        domain,
        basis=basis,
        means=means,
        factors=factors,
        weights=counts,
        classes=centre_classes[keep],
        clip=clip,
        total=float(np.clip(final.counts, 0, None).sum()),
        image_shape=shape,
    )
