"""Public encoding of discretized rows for neural networks.

Built from the public domain only (never from data): every attribute is a one-hot block over
its declared codes (categories, "other", missing, or the schema's bins of a number), except
numeric attributes in ``"scalar"`` mode, which become one value in [-1, 1] scaled from their
public bin grid (code / (size - 1), the bins themselves coming from declared bounds or from DP
quantiles charged when the schema was inferred). The label column, when the model conditions
on it, is left out of the features and given as a one-hot condition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privsynth.domain import Domain

ONEHOT = "onehot"
SCALAR = "scalar"


@dataclass(frozen=True)
class Block:
    """Columns ``start:stop`` of the encoded matrix hold ``attr`` as ``kind``."""

    attr: str
    start: int
    stop: int
    kind: str
    size: int


class NeuralEncoding:
    """One-hot / scalar layout of a domain's attributes (the label kept apart)."""

    def __init__(
        self,
        domain: Domain,
        *,
        label: str | None = None,
        scalar: Sequence[str] = (),
    ) -> None:
        if label is not None and label not in domain.attributes:
            raise ValueError(f"label {label!r} is not an attribute of the domain")
        unknown = set(scalar) - set(domain.attributes)
        if unknown:
            raise ValueError(f"scalar attributes {sorted(unknown)} are not in the domain")
        self.domain = domain
        self.label = label
        self.scalar = tuple(a for a in domain.attributes if a in set(scalar) and a != label)
        blocks, start = [], 0
        for attr in domain.attributes:
            if attr == label:
                continue
            size = domain[attr]
            kind = SCALAR if attr in self.scalar and size > 1 else ONEHOT
            width = 1 if kind == SCALAR else size
            blocks.append(Block(attr, start, start + width, kind, size))
            start += width
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self.width = start
        self.n_classes = domain[label] if label is not None else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (rebuilt with :meth:`from_dict` and the domain)."""
        return {"label": self.label, "scalar": list(self.scalar)}

    @classmethod
    def from_dict(cls, domain: Domain, data: Mapping[str, Any]) -> NeuralEncoding:
        """Inverse of :meth:`to_dict`."""
        return cls(domain, label=data.get("label"), scalar=data.get("scalar", ()))

    def encode(self, codes: Mapping[str, np.ndarray]) -> np.ndarray:
        """Rows of integer codes to a float32 matrix ``(n, width)``."""
        n = len(next(iter(codes.values()))) if codes else 0
        out = np.zeros((n, self.width), dtype=np.float32)
        rows = np.arange(n)
        for b in self.blocks:
            col = np.asarray(codes[b.attr], dtype=np.int64)
            if b.kind == SCALAR:
                out[:, b.start] = 2.0 * col / (b.size - 1) - 1.0
            else:
                out[rows, b.start + col] = 1.0
        return out

    def encode_label(self, labels: np.ndarray) -> np.ndarray:
        """Label codes to a float32 one-hot ``(n, n_classes)``."""
        labels = np.asarray(labels, dtype=np.int64)
        out = np.zeros((len(labels), self.n_classes), dtype=np.float32)
        out[np.arange(len(labels)), labels] = 1.0
        return out

    def activate(
        self, raw: Any, *, hard: bool = False, tau: float = 1.0, gumbel: Any = None
    ) -> Any:
        """Network outputs (torch, ``(n, width)``) to encoded space: softmax per one-hot block
        (straight-through one-hot when ``hard``; ``gumbel`` noise of the same shape, if given,
        is added to the logits first: a Gumbel-softmax draw), tanh for scalars."""
        import torch

        parts = []
        for b in self.blocks:
            x = raw[:, b.start : b.stop]
            if b.kind == SCALAR:
                parts.append(torch.tanh(x))
            else:
                if gumbel is not None:
                    x = x + gumbel[:, b.start : b.stop]
                soft = torch.softmax(x / tau, dim=1)
                if hard:
                    idx = soft.argmax(dim=1, keepdim=True)
                    one = torch.zeros_like(soft).scatter_(1, idx, 1.0)
                    soft = one - soft.detach() + soft
                parts.append(soft)
        return torch.cat(parts, dim=1) if parts else raw

    def decode(self, encoded: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Encoded rows (probabilities per one-hot block, scalars) to integer codes.

        One-hot blocks are sampled from their probabilities (not argmax, which would erase
        every minority value); scalars are rounded to the nearest code.
        """
        encoded = np.asarray(encoded, dtype=np.float64)
        out: dict[str, np.ndarray] = {}
        for b in self.blocks:
            x = encoded[:, b.start : b.stop]
            if b.kind == SCALAR:
                code = np.rint((np.clip(x[:, 0], -1, 1) + 1.0) / 2.0 * (b.size - 1))
                out[b.attr] = code.astype(np.int64)
            else:
                p = np.clip(x, 0, None) + 1e-12
                p /= p.sum(axis=1, keepdims=True)
                u = rng.random((len(p), 1))
                out[b.attr] = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), b.size - 1)
        return out
