"""A discrete Markov random field: log-potentials over cliques, scaled to a row count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np

from privsynth.domain import Domain
from privsynth.estimation.inference import Calibrated, calibrate
from privsynth.estimation.junction import JunctionTree, build_junction_tree
from privsynth.estimation.sampling import sample_codes
from privsynth.estimation.tables import Attrs, canonical, expand


class MarkovModel:
    """``P(x) ∝ exp(sum_c potentials[c](x_c))`` over ``domain``, standing for ``total`` rows.

    Cliques are attribute-name tuples in domain order; potential arrays have matching axes.
    Inference structures are built lazily and cached (the object is treated as immutable).
    """

    def __init__(
        self, domain: Domain, potentials: Mapping[tuple[str, ...], np.ndarray], total: float
    ) -> None:
        self.domain = domain
        self.potentials: dict[tuple[str, ...], np.ndarray] = {}
        for clique, values in potentials.items():
            if tuple(sorted(clique, key=domain.attributes.index)) != tuple(clique):
                raise ValueError(f"clique {clique} is not in domain order")
            values = np.asarray(values, dtype=np.float64)
            if values.shape != domain.shape(clique):
                raise ValueError(f"potential over {clique} has shape {values.shape}")
            self.potentials[tuple(clique)] = values
        self.total = float(total)

    @property
    def cliques(self) -> list[tuple[str, ...]]:
        """The cliques carrying potentials."""
        return list(self.potentials)

    def index(self, attrs: Sequence[str]) -> Attrs:
        """Domain indices of ``attrs``, sorted."""
        return canonical(self.domain.attributes.index(a) for a in attrs)

    def factors(self) -> list[tuple[Attrs, np.ndarray]]:
        """Potentials keyed by domain indices."""
        return [(self.index(c), v) for c, v in self.potentials.items()]

    @cached_property
    def tree(self) -> JunctionTree:
        """Junction tree over the potentials' cliques."""
        return build_junction_tree(self.domain.sizes, [self.index(c) for c in self.potentials])

    @cached_property
    def calibrated(self) -> Calibrated:
        """Maximal-clique marginals."""
        return calibrate(self.tree, self.factors())

    def project(self, attrs: Sequence[str]) -> np.ndarray:
        """Expected counts over ``attrs`` (axes in the given order), summing to ``total``."""
        attrs = tuple(attrs)
        q = self.index(attrs)
        table = self.calibrated.project(q) * self.total
        order = [self.domain.attributes[i] for i in q]
        return np.transpose(table, [order.index(a) for a in attrs]) if attrs else table

    def with_factors(self, extra: Mapping[tuple[str, ...], np.ndarray]) -> MarkovModel:
        """The model times extra log-factors (each merged into a clique that holds it)."""
        pots = {c: v.copy() for c, v in self.potentials.items()}
        for clique, values in extra.items():
            holder = next((c for c in pots if set(clique) <= set(c)), None)
            if holder is None:
                pots[tuple(clique)] = np.asarray(values, dtype=np.float64)
            else:
                pots[holder] = pots[holder] + expand(
                    np.asarray(values), self.index(clique), self.index(holder), self.domain.sizes
                )
        return MarkovModel(self.domain, pots, self.total)

    def log_partition(self) -> float:
        """Log normaliser of the potentials (-inf when every configuration has zero weight)."""
        return self.calibrated.log_partition

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` i.i.d. rows of codes as an (n, d) int64 matrix (columns in domain order)."""
        return sample_codes(self.calibrated, n, rng)
