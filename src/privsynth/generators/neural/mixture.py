"""DP-VAE mixture: DP k-means splits the rows, then one DP-CVAE per cluster.

Budget, in order (every zCDP share is of ``ledger.rho_budget``; DP-SGD gets what is left):

1. ``count_share``: the noisy label histogram / row count (:func:`prepare`);
2. ``cluster_share``: ``cluster_iters`` noisy Lloyd iterations (:func:`dp_kmeans`) from public
   initial centres (random rows of the public domain);
3. ``weight_share``: the noisy (component, class) histogram of the partition by nearest
   public centre (:func:`partition`), which gives the component weights, each component's
   class weights and each component's public expected batch size;
4. the rest: ``components`` DP-CVAEs, each trained by DP-SGD on its own part, charged once.

Why one charge covers every component (parallel composition). The centres are a released,
already-charged output, so given them the partition is a fixed row-wise function: under
add/remove-one neighbours, the added or removed row changes exactly one part, and the other
components see identical inputs. Equivalently, the k engines together are one DP-SGD run on
the block-diagonal model made of all k VAEs: Poisson sampling at the same rate ``q`` on every
part is Poisson sampling of the whole table at ``q``; a row's per-example gradient is non-zero
in its own component's block only and is clipped to ``max_grad_norm`` there, so the summed
gradient of all blocks has sensitivity ``max_grad_norm``; every block gets Gaussian noise of
the same std ``sigma * max_grad_norm``. That is one subsampled Gaussian mechanism per step at
``(q, sigma)``, exactly the event charged. This needs the same ``q``, ``sigma``, ``steps`` and
clipping norm for every component, which this module guarantees; only the *public* batch
normaliser (``q`` times the component's noisy count) differs.

Component 0's engine is opened (and charged) by :func:`open_dpsgd`; the others are its
:meth:`~privsynth.measure.dpsgd.PrivateGradient.sibling` engines, at the same scale and
charged nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from privsynth.generators.neural.common import Prepared, schedule
from privsynth.generators.neural.dpcvae import DPCVAE
from privsynth.generators.neural.model import NeuralModel
from privsynth.measure.cluster import dp_kmeans, partition
from privsynth.measure.dpsgd import PrivateGradient, open_dpsgd
from privsynth.privacy.ledger import Ledger
from privsynth.transforms.neural import SCALAR


def public_centres(prep: Prepared, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` initial centres from the public domain only: random encoded rows (one random
    code per one-hot block, a uniform value per scalar) or uniform random images."""
    if prep.kind == "image":
        return rng.uniform(-1.0, 1.0, (k, math.prod(prep.image_shape)))
    out = np.zeros((k, prep.width))
    for b in prep.encoding.blocks:
        if b.kind == SCALAR:
            out[:, b.start] = rng.uniform(-1.0, 1.0, k)
        else:
            out[np.arange(k), b.start + rng.integers(0, b.size, k)] = 1.0
    return out


def norm_bound(prep: Prepared) -> float:
    """Public bound on an encoded row's L2 norm: 1 per block (one-hot or scalar in [-1, 1]),
    1 per pixel in [-1, 1]."""
    if prep.kind == "image":
        return math.sqrt(math.prod(prep.image_shape))
    return math.sqrt(max(1, len(prep.encoding.blocks)))


@dataclass(frozen=True)
class DPVAEMixture(DPCVAE):
    """A mixture of DP-CVAEs over DP k-means clusters (hyperparameters only).

    ``batch_size`` is the expected batch of an average component (noisy rows / components).
    """

    name: ClassVar[str] = "dpvae-mixture"

    components: int = 4
    cluster_iters: int = 5
    cluster_share: float = 0.1
    weight_share: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.components < 1 or self.cluster_iters < 1:
            raise ValueError("components and cluster_iters must be >= 1")
        shares = (self.count_share, self.cluster_share, self.weight_share)
        if min(shares) <= 0 or sum(shares) + self.marginal_share >= 1:
            raise ValueError(
                "count_share, cluster_share and weight_share must be positive and, with "
                f"marginal_share, sum below 1 (DP-SGD gets the rest), got {shares} and "
                f"{self.marginal_share}"
            )

    def _fit_prepared(self, backend, prep, ledger, rng, progress) -> NeuralModel:  # noqa: ANN001
        """DP k-means, partition, then one DP-CVAE per part (counts already paid)."""
        k = self.components
        centres, _ = dp_kmeans(
            prep.data[0],
            public_centres(prep, k, rng),
            self.cluster_iters,
            self.cluster_share * ledger.rho_budget,
            ledger,
            rng,
            norm_bound=norm_bound(prep),
            label=f"{self.name}: DP k-means ({self.cluster_iters} Lloyd iterations, k={k})",
            secure=self.secure,
        )
        parts, hist = partition(
            prep.data,
            centres,
            prep.n_classes,
            self.weight_share * ledger.rho_budget,
            ledger,
            rng,
            label=f"{self.name}: noisy (component, class) histogram",
            secure=self.secure,
        )
        sizes = np.clip(hist.sum(axis=1), 0.0, None)
        q, steps = schedule(self.batch_size, self.epochs, prep.counts.rows / k)
        vaes, dec_specs = zip(*(self._vae(prep, rng) for _ in range(k)), strict=True)
        engines = self._engines(ledger, parts, sizes, q, steps, rng)
        class_weights = np.clip(hist, 0.0, None) if prep.n_classes else None
        per_vae = [None] * k if class_weights is None else [_normalised(w) for w in class_weights]
        self._train(prep, vaes, engines, per_vae, ledger, rng, progress)
        return NeuralModel(
            backend.domain,
            kind=prep.kind,
            specs=list(dec_specs),
            decoders=[v.decoder for v in vaes],
            latent_dim=self.latent_dim,
            total=prep.counts.total,
            component_weights=sizes,
            class_weights=class_weights,
            encoding=prep.encoding,
            image_shape=prep.image_shape,
        )

    def _engines(
        self,
        ledger: Ledger,
        parts: Sequence[tuple[torch.Tensor, ...]],
        sizes: np.ndarray,
        q: float,
        steps: int,
        rng: np.random.Generator,
    ) -> list[PrivateGradient]:
        """One engine per part, all at the same ``(q, steps, clip, noise scale)``; only the
        first is charged (parallel composition, see the module docstring)."""
        expected = [q * max(1.0, float(s)) for s in sizes]
        first = open_dpsgd(
            ledger,
            parts[0],
            label=(
                f"{self.name}: {len(parts)} DP-CVAEs on disjoint parts ({steps} DP-SGD steps "
                "each, charged once by parallel composition)"
            ),
            sample_rate=q,
            steps=steps,
            max_grad_norm=self.max_grad_norm,
            expected_batch=expected[0],
            rng=rng,
            secure=self.secure,
        )
        others = [
            first.sibling(part, expected_batch=batch, rng=rng)
            for part, batch in zip(parts[1:], expected[1:], strict=True)
        ]
        return [first, *others]


def _normalised(w: np.ndarray) -> np.ndarray:
    return w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
