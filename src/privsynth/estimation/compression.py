"""Domain compression: merge each attribute's rare codes into one code (MST's preprocessing).

Which codes are rare is decided from *noisy* one-way counts, so the compression is
post-processing and may be published. The model is fitted over the compressed domain; a
sample is decompressed by drawing uniformly among the original codes of a merged group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from privsynth.domain import Domain
from privsynth.estimation.observations import Observation
from privsynth.marginals.counting import CountingBackend


def _merge_axis(table: np.ndarray, axis: int, mapping: np.ndarray, size: int) -> np.ndarray:
    moved = np.moveaxis(table, axis, 0)
    out = np.zeros((size, *moved.shape[1:]), dtype=table.dtype)
    np.add.at(out, mapping, moved)
    return np.moveaxis(out, 0, axis)


@dataclass(frozen=True)
class Compression:
    """``mappings[attr][code]`` is the compressed code of an original code (merged attrs only)."""

    domain: Domain
    mappings: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_noisy_counts(
        cls, domain: Domain, noisy: Mapping[str, np.ndarray], threshold: Mapping[str, float]
    ) -> Compression:
        """Keep codes whose noisy count reaches ``threshold[attr]``; merge the rest into one."""
        mappings = {}
        for attr, counts in noisy.items():
            keep = np.asarray(counts) >= threshold[attr]
            if (~keep).sum() <= 1:
                continue
            mapping = np.full(keep.size, int(keep.sum()), dtype=np.int64)
            mapping[keep] = np.arange(int(keep.sum()))
            mappings[attr] = mapping
        return cls(domain, mappings)

    @property
    def compressed_domain(self) -> Domain:
        """The domain the model is fitted over."""
        sizes = tuple(
            int(self.mappings[a].max()) + 1 if a in self.mappings else s
            for a, s in zip(self.domain.attributes, self.domain.sizes, strict=True)
        )
        return Domain(self.domain.attributes, sizes)

    def compress_table(self, table: np.ndarray, clique: Sequence[str]) -> np.ndarray:
        """Sum the cells of a table over ``clique`` (full domain) into compressed cells."""
        small = self.compressed_domain
        for axis, attr in enumerate(clique):
            if attr in self.mappings:
                table = _merge_axis(table, axis, self.mappings[attr], small[attr])
        return table

    def observation(self, obs: Observation) -> Observation:
        """The observation over the compressed domain (merged cells add their noise variances)."""
        values = self.compress_table(obs.values, obs.clique)
        variance = self.compress_table(obs.stddev**2, obs.clique)
        return Observation(obs.clique, values, np.sqrt(variance))

    def backend(self, backend: CountingBackend) -> CountingBackend:
        """A backend counting over the compressed domain (used only through ``measure``)."""
        return _CompressedBackend(backend, self)

    def log_weights(self, attr: str, allowed: Sequence[int]) -> np.ndarray:
        """Log of the fraction of each compressed code's original codes that are ``allowed``."""
        size = self.domain[attr]
        mask = np.zeros(size, dtype=bool)
        mask[np.asarray(list(allowed), dtype=np.int64)] = True
        mapping = self.mappings.get(attr, np.arange(size))
        k = int(mapping.max()) + 1
        hit = np.bincount(mapping[mask], minlength=k)
        total = np.bincount(mapping, minlength=k)
        with np.errstate(divide="ignore"):
            return np.log(hit / total)

    def decompress(
        self,
        attr: str,
        codes: np.ndarray,
        rng: np.random.Generator,
        allowed: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Original codes: uniform among the (allowed) original codes of each compressed code."""
        if attr not in self.mappings:
            return codes
        mapping = self.mappings[attr]
        members = np.arange(mapping.size)
        if allowed is not None:
            members = np.intersect1d(members, np.asarray(list(allowed), dtype=np.int64))
        members = members[np.argsort(mapping[members], kind="stable")]
        k = int(mapping.max()) + 1
        counts = np.bincount(mapping[members], minlength=k)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pick = np.floor(rng.random(codes.shape[0]) * counts[codes]).astype(np.int64)
        return members[starts[codes] + np.minimum(pick, np.maximum(counts[codes] - 1, 0))]

    def to_meta(self) -> dict[str, list[int]]:
        """JSON-able mappings."""
        return {a: [int(x) for x in m] for a, m in self.mappings.items()}

    @classmethod
    def from_meta(cls, domain: Domain, meta: Mapping[str, Sequence[int]]) -> Compression:
        """Inverse of :meth:`to_meta`."""
        mappings = {a: np.asarray(m, dtype=np.int64) for a, m in meta.items()}
        for a, m in mappings.items():
            if a not in domain or m.shape != (domain[a],) or m.min() < 0:
                raise ValueError(f"compression mapping for {a!r} does not fit the domain")
        return cls(domain, mappings)


class _CompressedBackend:
    """Exact counts over the compressed domain, aggregated from the wrapped backend."""

    def __init__(self, backend: CountingBackend, compression: Compression) -> None:
        self.domain = compression.compressed_domain
        self._backend = backend
        self._compression = compression

    def count(self, attrs: Sequence[str]) -> np.ndarray:
        attrs = tuple(attrs)
        return self._compression.compress_table(self._backend.count(attrs), attrs)
