"""The released graphical model: a Markov random field over a (possibly compressed) domain.

This is what every marginal-based generator returns. It holds only post-processed values
(log-potentials fitted to noisy measurements, a row-count estimate, the compression mapping),
samples with an explicit rng, and conditions exactly: ``where`` becomes an indicator factor in
the model, the marginals are recomputed, and rows are drawn from the conditional distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.estimation.compression import Compression
from privsynth.estimation.markov import MarkovModel

Where = Mapping[str, Sequence[int]]


class GraphicalModel:
    """A fitted model over ``domain`` (the full, uncompressed domain)."""

    model_type: ClassVar[str] = "graphical"

    def __init__(self, markov: MarkovModel, compression: Compression | None = None) -> None:
        if compression is None:
            compression = Compression(markov.domain)
        if compression.compressed_domain != markov.domain:
            raise ValueError("the Markov model's domain is not the compressed domain")
        self.markov = markov
        self.compression = compression
        self.domain: Domain = compression.domain

    def estimated_total(self) -> float:
        """Noisy estimate of the number of training rows."""
        return self.markov.total

    def _check_where(self, where: Where | None) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for attr, codes in (where or {}).items():
            if attr not in self.domain:
                raise InputError(f"where: unknown column {attr!r}")
            values = [int(c) for c in codes]
            bad = [c for c in values if not 0 <= c < self.domain[attr]]
            if bad:
                raise InputError(
                    f"where: column {attr!r} has codes 0..{self.domain[attr] - 1}, got {bad[:5]}"
                )
            if not values:
                raise InputError(f"where: column {attr!r} allows no value")
            out[attr] = sorted(set(values))
        return out

    def conditioned(self, where: Where | None) -> MarkovModel:
        """The Markov model restricted to ``where`` (unnormalised: the rows keep ``total``)."""
        allowed = self._check_where(where)
        if not allowed:
            return self.markov
        extra = {(a,): self.compression.log_weights(a, codes) for a, codes in allowed.items()}
        model = self.markov.with_factors(extra)
        if not np.isfinite(model.log_partition()):
            shown = ", ".join(f"{a} in {c[:5]}" for a, c in allowed.items())
            raise InputError(f"where: the model gives zero probability to {shown}")
        return model

    def sample(
        self, n: int, *, rng: np.random.Generator, where: Where | None = None
    ) -> dict[str, np.ndarray]:
        """``n`` rows of integer codes per attribute, drawn exactly from P(x | where)."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise InputError(f"number of rows must be a non-negative integer, got {n!r}")
        allowed = self._check_where(where)
        codes = self.conditioned(allowed).sample(int(n), rng)
        return {
            a: self.compression.decompress(a, codes[:, i], rng, allowed.get(a))
            for i, a in enumerate(self.domain.attributes)
        }

    def project(self, attrs: Sequence[str], where: Where | None = None) -> np.ndarray:
        """Model probabilities over ``attrs`` in the full domain (optionally given ``where``)."""
        allowed = self._check_where(where)
        table = self.conditioned(allowed).project(attrs)
        table = table / table.sum()
        for axis, attr in enumerate(attrs):
            if attr in self.compression.mappings:
                mapping = self.compression.mappings[attr]
                if attr in allowed:
                    keep = np.zeros(mapping.size, dtype=bool)
                    keep[allowed[attr]] = True
                else:
                    keep = np.ones(mapping.size, dtype=bool)
                group = np.bincount(mapping[keep], minlength=int(mapping.max()) + 1)
                spread = np.where(keep, 1.0 / np.maximum(group[mapping], 1), 0.0)
                shape = [1] * table.ndim
                shape[axis] = mapping.size
                table = np.take(table, mapping, axis=axis) * spread.reshape(shape)
        return table

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and named arrays (log-potentials); no pickle, no raw counts."""
        cliques = self.markov.cliques
        meta = {
            "model_type": self.model_type,
            "domain": self.domain.to_dict(),
            "cliques": [list(c) for c in cliques],
            "total": self.markov.total,
            "compression": self.compression.to_meta(),
        }
        arrays = {f"potential_{i}": self.markov.potentials[c] for i, c in enumerate(cliques)}
        return meta, arrays

    @classmethod
    def from_state(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> GraphicalModel:
        """Rebuild a model from :meth:`to_state` output (raises ValueError if inconsistent)."""
        if meta.get("model_type") != cls.model_type:
            raise ValueError(f"not a graphical model: {meta.get('model_type')!r}")
        domain = Domain.from_dict(dict(meta["domain"]))
        compression = Compression.from_meta(domain, meta.get("compression", {}))
        small = compression.compressed_domain
        potentials = {}
        for i, clique in enumerate(meta["cliques"]):
            potentials[tuple(str(a) for a in clique)] = np.asarray(arrays[f"potential_{i}"])
        total = float(meta["total"])
        if not (np.isfinite(total) and total > 0):
            raise ValueError(f"invalid total {total!r}")
        return cls(MarkovModel(small, potentials, total), compression)
