"""Calibrated sampling: a table decoder's draws reweighted toward its noisy marginals.

A generator trained by DP-SGD reproduces its one-way (or label-by-attribute) frequencies only
roughly: a GAN's rare category may come out at twice its rate, and a rule that moves that
category (``sex == 'Male' -> c1 == '0'``) then moves the error with it. The noisy marginals the
generator bought before training (``marginal_share``) say where the network is off, up to
their noise, so sampling reweights the network's rows:

* after training, a pilot batch of the model's own draws gives the network's count of every
  (class, value) of every one-hot attribute (its frequency times the noisy row count); the
  target moves that count toward the noisy one by as much as they differ *beyond* one noise
  standard deviation (a soft threshold): where the network agrees with the measurement up to
  its noise — the usual case at small ε, where the noisy counts are the worse estimate — it is
  left alone; where it is clearly off it is corrected;
* factors per (class, value), fitted by iterative proportional fitting, give the weighted
  pilot those targets; the factors (not the marginals) go into the model file;
* a drawn row is kept with probability ``min(1, weight / cap)``, ``cap`` the pilot weights'
  99th percentile (a few rows of cells the network nearly never draws are not worth hundreds of
  draws each).

Kept rows are the network's rows, unchanged, so the dependencies it learned stay; only how
often each kind of row appears moves. Everything here is post-processing of DP outputs (the
network, the noisy row count and the noisy marginals); it reads no training row and costs no
budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from privsynth.measure.rows import MarginalLogits
from privsynth.transforms.neural import NeuralEncoding

if TYPE_CHECKING:
    from privsynth.generators.neural.model import NeuralModel

PILOT_ROWS = 200_000
PILOT_CHUNK = 20_000  # pilot draws per batch: decoded rows are wide
_IPF_ROUNDS = 30
_CAP_QUANTILE = 0.99
# How many noise standard deviations of a noisy count the network may differ by, uncorrected.
_NOISE_Z = 1.0


class Calibration:
    """Per-(class, value) factors whose product over a row's attributes is its weight."""

    def __init__(self, factors: Mapping[str, np.ndarray], cap: float) -> None:
        self.factors = {
            a: np.atleast_2d(np.asarray(f, dtype=np.float64)) for a, f in factors.items()
        }
        self.cap = float(cap)

    @classmethod
    def fit(
        cls,
        encoding: NeuralEncoding,
        logits: MarginalLogits,
        codes: Mapping[str, np.ndarray],
        labels: np.ndarray | None,
        total: float,
    ) -> Calibration:
        """Factors that move a pilot batch of decoded ``codes`` (with their ``labels``) to the
        soft-thresholded targets (module docstring) from the noisy marginals of ``logits``
        (one-way, or per class for a conditional model); ``total``: the noisy row count."""
        blocks = [b for b in encoding.blocks if b.kind != "scalar"]
        m = len(next(iter(codes.values())))
        by_class = logits.by_class is not None and labels is not None
        n_classes = logits.by_class.shape[0] if by_class else 1
        cls_idx = labels if by_class else np.zeros(m, dtype=np.int64)
        share = np.bincount(cls_idx, minlength=n_classes) / max(m, 1)
        rows = max(float(total), 1.0) * share[:, None]  # noisy rows per class
        targets = {}
        for b in blocks:
            if by_class:
                noisy = np.exp(np.asarray(logits.by_class[:, b.start : b.stop], float))
            else:
                noisy = np.exp(np.asarray(logits.base[b.start : b.stop], float))[None, :]
            targets[b.attr] = _soft_target(
                noisy * rows, codes[b.attr], cls_idx, rows, logits.sigma_of(b.start)
            )
        return cls(*_ipf(targets, codes, cls_idx))

    @classmethod
    def fit_one_way(
        cls,
        noisy: Mapping[str, np.ndarray],
        sigma: float | Mapping[str, float],
        codes: Mapping[str, np.ndarray],
        total: float,
    ) -> Calibration:
        """Factors that move a pilot batch of ``codes`` toward the soft-thresholded targets
        from noisy one-way counts ``noisy`` (one array per attribute, over its codes, noise
        standard deviation ``sigma``, one for all or one per attribute); ``total``: the noisy
        row count."""
        m = len(next(iter(codes.values())))
        cls_idx = np.zeros(m, dtype=np.int64)
        rows = np.array([[max(float(total), 1.0)]])
        targets = {}
        for attr, counts in noisy.items():
            c = np.clip(np.asarray(counts, dtype=float), 0.0, None)
            freq = c / c.sum() if c.sum() > 0 else np.full(c.size, 1.0 / c.size)
            sd = sigma[attr] if isinstance(sigma, Mapping) else sigma
            targets[attr] = _soft_target(freq[None, :] * rows, codes[attr], cls_idx, rows, sd)
        return cls(*_ipf(targets, codes, cls_idx))

    def keep_probability(
        self, codes: Mapping[str, np.ndarray], labels: np.ndarray | None
    ) -> np.ndarray:
        """Probability of keeping each decoded row: its weight over the cap, at most 1."""
        m = len(next(iter(codes.values())))
        w = np.ones(m)
        for attr, f in self.factors.items():
            cls_idx = labels if f.shape[0] > 1 and labels is not None else np.zeros(m, np.int64)
            w *= f.ravel()[cls_idx * f.shape[1] + codes[attr]]
        return np.minimum(w / max(self.cap, 1e-12), 1.0)

    def check(self, encoding: NeuralEncoding) -> None:
        """ValueError unless the factors fit ``encoding`` (a model file read from disk)."""
        sizes = {b.attr: b.size for b in encoding.blocks if b.kind != "scalar"}
        self.check_sizes(sizes, max(encoding.n_classes, 1))

    def check_sizes(self, sizes: Mapping[str, int], n_classes: int = 1) -> None:
        """ValueError unless every factor table covers an attribute of ``sizes`` (values per
        attribute) with one row, or one per class."""
        if not (np.isfinite(self.cap) and self.cap > 0):
            raise ValueError(f"calibration cap must be positive, got {self.cap!r}")
        for attr, f in self.factors.items():
            rows_ok = f.shape[0] in (1, n_classes)
            if attr not in sizes or not rows_ok or f.shape[1] != sizes[attr]:
                raise ValueError(f"calibration factors of {attr!r} do not fit the model")
            if not np.all(np.isfinite(f) & (f >= 0)):
                raise ValueError(f"calibration factors of {attr!r} must be finite and >= 0")

    def to_state(self) -> tuple[dict[str, object], dict[str, np.ndarray]]:
        """JSON metadata (the cap, the attributes) and the factor arrays."""
        arrays = {f"calibration.{a}": f for a, f in self.factors.items()}
        return {"cap": self.cap, "attributes": list(self.factors)}, arrays

    @classmethod
    def from_state(
        cls, meta: Mapping[str, object], arrays: Mapping[str, np.ndarray]
    ) -> Calibration:
        """Inverse of :meth:`to_state`."""
        attrs = meta["attributes"]
        assert isinstance(attrs, list)
        return cls({a: arrays[f"calibration.{a}"] for a in attrs}, float(meta["cap"]))  # type: ignore[arg-type]


def _soft_target(
    noisy: np.ndarray, drawn: np.ndarray, cls_idx: np.ndarray, rows: np.ndarray, sigma: float
) -> np.ndarray:
    """Target counts per (class, value), in pilot rows: the network's count (``drawn``, the
    pilot's codes of one attribute, scaled to the noisy ``rows`` per class) moved toward
    ``noisy`` by the part of the gap beyond ``_NOISE_Z`` noise standard deviations."""
    n_classes, size = noisy.shape
    m = len(drawn)
    share = np.bincount(cls_idx, minlength=n_classes) / max(m, 1)
    cell = cls_idx * size + drawn
    count = np.bincount(cell, minlength=n_classes * size).reshape(n_classes, size)
    net = count / np.maximum(count.sum(axis=1, keepdims=True), 1) * rows
    gap = noisy - net
    t = np.clip(net + np.sign(gap) * np.maximum(np.abs(gap) - _NOISE_Z * sigma, 0.0), 0.0, None)
    # Per class, in pilot rows: the class sizes stay what the pilot drew.
    return t / np.maximum(t.sum(axis=1, keepdims=True), 1e-12) * (share[:, None] * m)


def _ipf(
    targets: Mapping[str, np.ndarray], codes: Mapping[str, np.ndarray], cls_idx: np.ndarray
) -> tuple[dict[str, np.ndarray], float]:
    """Factors per (class, value) fitted by iterative proportional fitting so the weighted
    pilot meets ``targets``, and the cap (the weights' ``_CAP_QUANTILE``)."""
    m = len(cls_idx)
    factors = {a: np.ones_like(t) for a, t in targets.items()}
    w = np.ones(m)
    for _ in range(_IPF_ROUNDS):
        for attr, t in targets.items():
            cell = cls_idx * t.shape[1] + codes[attr]
            cur = np.bincount(cell, weights=w, minlength=t.size).reshape(t.shape)
            # A cell the pilot never drew keeps factor 1: no weight can create it.
            step = np.where(cur > 0, t / np.maximum(cur, 1e-12), 1.0)
            factors[attr] *= step
            w *= step.ravel()[cell]
    cap = float(np.quantile(w, _CAP_QUANTILE)) if m else 1.0
    return factors, cap


def calibrate(
    model: NeuralModel, logits: MarginalLogits | None, rng: np.random.Generator
) -> NeuralModel:
    """``model`` with a :class:`Calibration` fitted on a pilot of its own draws (tables with
    noisy marginals only; otherwise unchanged)."""
    if model.kind != "table" or logits is None or model.encoding is None:
        return model
    parts, label_parts = [], []
    for start in range(0, PILOT_ROWS, PILOT_CHUNK):
        encoded, labels = model._draw(min(PILOT_CHUNK, PILOT_ROWS - start), rng, None)
        parts.append(model.encoding.decode(encoded, rng))
        label_parts.append(labels)
    codes = {a: np.concatenate([p[a] for p in parts]) for a in parts[0]}
    labels = None if label_parts[0] is None else np.concatenate(label_parts)
    model.calibration = Calibration.fit(model.encoding, logits, codes, labels, model.total)
    return model
