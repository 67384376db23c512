"""The DP release of every neural generator: decoder networks plus noisy weights.

A :class:`NeuralModel` holds one decoder per mixture component (one for a GAN or a VAE), each
mapping latent noise and a one-hot class to encoded rows (or images), the noisy component and
class weights, and the public encoding. Everything here is post-processing of DP outputs; the
model file holds network weights and these weights only (no training row, no pickle).

``where`` on the label is exact conditioning (the decoders are conditional); on other
attributes it is bounded rejection sampling, which reports the acceptance rate when it cannot
fill the request instead of returning fewer rows. A table model fitted with noisy marginals
keeps each drawn row with a probability that moves its frequencies to them
(:mod:`~privsynth.generators.neural.calibrate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.generators.neural.calibrate import Calibration
from privsynth.generators.neural.nets import build
from privsynth.measure.dpsgd import torch_generator
from privsynth.transforms.neural import NeuralEncoding

_BATCH = 4096
# Bounded rejection: stop once the draws needed (projected from the acceptance so far)
# exceed this many per requested row, or when nothing was accepted in this many draws.
# 1000 per row (acceptance down to 0.1 %): a condition holding for 1 % of the real rows that a
# model fitted at epsilon 1 gives half that probability (dpflow, education = 5th-6th on Adult:
# 0.46 %) must still be served; 200 refused it (bench/results/targeted_sampling.md).
_MAX_DRAW_FACTOR = 1000
_ZERO_ACCEPT = 1_000_000


def to_arrays(prefix: str, module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A module's state as named numpy arrays."""
    return {
        f"{prefix}.{k}": v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()
    }


def from_arrays(prefix: str, module: torch.nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Load :func:`to_arrays` output into ``module`` (strict)."""
    state = {
        k[len(prefix) + 1 :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix + ".")
    }
    module.load_state_dict(state, strict=True)


class NeuralModel:
    """Sampler over a table domain (``kind="table"``) or class-conditional images."""

    model_type: ClassVar[str] = "neural"

    def __init__(
        self,
        domain: Domain,
        *,
        kind: str,
        specs: Sequence[dict[str, Any]],
        decoders: Sequence[torch.nn.Module],
        latent_dim: int,
        total: float,
        component_weights: np.ndarray | None = None,
        class_weights: np.ndarray | None = None,
        encoding: NeuralEncoding | None = None,
        image_shape: tuple[int, ...] | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        if kind not in ("table", "image"):
            raise ValueError(f"kind must be 'table' or 'image', got {kind!r}")
        if len(specs) != len(decoders) or not decoders:
            raise ValueError("one spec per decoder, at least one")
        self.domain = domain
        self.kind = kind
        self.specs = [dict(s) for s in specs]
        self.decoders = [d.eval() for d in decoders]
        self.latent_dim = int(latent_dim)
        self.total = float(total)
        k = len(decoders)
        self.component_weights = (
            np.full(k, 1.0 / k) if component_weights is None else _normalised(component_weights)
        )
        self.class_weights = (
            None if class_weights is None else np.atleast_2d(np.asarray(class_weights, float))
        )
        if self.class_weights is not None:
            self.class_weights = np.stack([_normalised(w) for w in self.class_weights])
        self.encoding = encoding
        self.image_shape = image_shape
        self.calibration = calibration

    @property
    def label(self) -> str | None:
        """The attribute decoders condition on (tables), ``"label"`` for images."""
        if self.kind == "image":
            return "label"
        return None if self.encoding is None else self.encoding.label

    def estimated_total(self) -> float:
        """Noisy estimate of the number of training rows."""
        return self.total

    # -- generation -------------------------------------------------------------------

    def _draw(
        self, n: int, rng: np.random.Generator, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` decoder outputs (activated) and their labels."""
        comp = rng.choice(len(self.decoders), size=n, p=self.component_weights)
        labels = None
        if self.class_weights is not None:
            labels = np.empty(n, dtype=np.int64)
            for c in range(len(self.decoders)):
                w = self.class_weights[min(c, len(self.class_weights) - 1)].copy()
                if allowed is not None:
                    w = np.where(allowed, w, 0.0)
                    w = w / w.sum() if w.sum() > 0 else allowed / allowed.sum()
                labels[comp == c] = rng.choice(len(w), size=int((comp == c).sum()), p=w)
        gen = torch_generator(rng)
        outs = []
        with torch.no_grad():
            for c, dec in enumerate(self.decoders):
                idx = np.flatnonzero(comp == c)
                for s in range(0, len(idx), _BATCH):
                    part = idx[s : s + _BATCH]
                    z = torch.randn(len(part), self.latent_dim, generator=gen)
                    cond = None
                    if labels is not None:
                        cond = torch.nn.functional.one_hot(
                            torch.from_numpy(labels[part]), self.class_weights.shape[1]
                        ).float()
                    raw = dec(z, cond)
                    if self.kind == "table":
                        raw = self.encoding.activate(raw)
                    outs.append((part, raw.numpy()))
        shape = (n, *outs[0][1].shape[1:]) if outs else (0,)
        out = np.empty(shape, dtype=np.float32)
        for part, arr in outs:
            out[part] = arr
        return out, labels

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None = None,
    ) -> dict[str, np.ndarray]:
        """``n`` rows of codes; ``where`` conditions exactly on the label, by bounded
        rejection on other attributes."""
        if self.kind != "table":
            images, labels = self.sample_images(n, rng=rng)
            return {"label": labels}
        where = {k: np.asarray(list(v), dtype=np.int64) for k, v in (where or {}).items()}
        for attr in where:
            if attr not in self.domain.attributes:
                raise InputError(f"where: unknown column {attr!r}")
        allowed = None
        if self.label in where:
            allowed = np.zeros(self.domain[self.label], dtype=bool)
            allowed[where[self.label]] = True
        rest = {k: v for k, v in where.items() if k != self.label}
        parts: list[dict[str, np.ndarray]] = []
        have = drawn = 0
        while have < n:
            projected = drawn * n / have if have else (drawn if drawn >= _ZERO_ACCEPT else 0)
            if drawn >= _MAX_DRAW_FACTOR * n or projected > _MAX_DRAW_FACTOR * n:
                rate = have / max(drawn, 1)
                raise InputError(
                    f"where {sorted(rest)}: {have} of {n} rows after {drawn} draws "
                    f"(acceptance rate {rate:.3%}); filling the request would take more than "
                    f"{_MAX_DRAW_FACTOR} draws per row, so the model gives this condition "
                    "too little probability"
                )
            m = min(max(n - have, 256) * (1 if not rest else 4), 200_000)
            encoded, labels = self._draw(m, rng, allowed)
            codes = self.encoding.decode(encoded, rng)
            if self.label is not None:
                codes[self.label] = labels
            keep = np.ones(m, dtype=bool)
            if self.calibration is not None:
                keep &= rng.random(m) < self.calibration.keep_probability(codes, labels)
            for attr, vals in rest.items():
                keep &= np.isin(codes[attr], vals)
            drawn += m
            if keep.any():
                parts.append({a: c[keep] for a, c in codes.items()})
                have += int(keep.sum())
        return {a: np.concatenate([p[a] for p in parts])[:n] for a in self.domain.attributes}

    def sample_images(
        self, n: int, *, rng: np.random.Generator, labels: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` uint8 images ``(n, H, W)`` and their classes (drawn by the noisy class
        weights, or restricted to ``labels``)."""
        if self.kind != "image":
            raise InputError("this model generates table rows, not images")
        allowed = None
        if labels is not None:
            allowed = np.zeros(self.class_weights.shape[1], dtype=bool)
            allowed[np.asarray(list(labels), dtype=np.int64)] = True
        out, drawn_labels = self._draw(n, rng, allowed)
        images = np.clip(np.rint((out[:, 0] + 1.0) * 127.5), 0, 255).astype(np.uint8)
        return images, drawn_labels

    # -- persistence ------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON metadata and arrays (network weights, noisy weights)."""
        arrays: dict[str, np.ndarray] = {"component_weights": self.component_weights}
        if self.class_weights is not None:
            arrays["class_weights"] = self.class_weights
        for i, dec in enumerate(self.decoders):
            arrays.update(to_arrays(f"decoder{i}", dec))
        meta = {
            "model_type": self.model_type,
            "kind": self.kind,
            "domain": self.domain.to_state(),
            "specs": self.specs,
            "latent_dim": self.latent_dim,
            "total": self.total,
            "encoding": None if self.encoding is None else self.encoding.to_dict(),
            "image_shape": None if self.image_shape is None else list(self.image_shape),
        }
        if self.calibration is not None:
            meta["calibration"], extra = self.calibration.to_state()
            arrays.update(extra)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> NeuralModel:
        """Inverse of :meth:`to_state`."""
        domain = Domain.from_state(meta["domain"])
        decoders = []
        for i, s in enumerate(meta["specs"]):
            dec = build(s)
            from_arrays(f"decoder{i}", dec, arrays)
            decoders.append(dec)
        enc = meta.get("encoding")
        encoding = None if enc is None else NeuralEncoding.from_dict(domain, enc)
        calibration = None
        if meta.get("calibration") is not None:
            if encoding is None:
                raise ValueError("a calibration needs a table encoding")
            calibration = Calibration.from_state(meta["calibration"], arrays)
            calibration.check(encoding)
        return cls(
            domain,
            kind=meta["kind"],
            specs=meta["specs"],
            decoders=decoders,
            latent_dim=meta["latent_dim"],
            total=meta["total"],
            component_weights=arrays["component_weights"],
            class_weights=arrays.get("class_weights"),
            encoding=encoding,
            image_shape=None if meta.get("image_shape") is None else tuple(meta["image_shape"]),
            calibration=calibration,
        )


def _normalised(w: np.ndarray) -> np.ndarray:
    w = np.clip(np.asarray(w, dtype=float), 0, None)
    return w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
