"""Noisy marginals as the estimator sees them: values over a clique with per-cell noise scale.

An :class:`Observation` is post-processing of a :class:`~privsynth.measure.marginals.Measurement`
(possibly summed over merged cells, which adds the cells' noise variances). Everything here is
a function of noisy values only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from privsynth.domain import Domain
from privsynth.measure.marginals import Measurement


@dataclass(frozen=True)
class Observation:
    """Noisy counts over ``clique`` (axes in domain order) with noise std ``stddev`` per cell."""

    clique: tuple[str, ...]
    values: np.ndarray
    stddev: np.ndarray

    @classmethod
    def from_measurement(cls, m: Measurement, domain: Domain) -> Observation:
        """Re-express a measurement with its axes in domain order."""
        order = sorted(m.clique, key=domain.attributes.index)
        table = np.asarray(m.noisy, dtype=np.float64).reshape(domain.shape(m.clique))
        table = np.transpose(table, [m.clique.index(a) for a in order])
        return cls(tuple(order), table, np.full(table.shape, float(m.sigma)))

    def variance_of_total(self) -> float:
        """Variance of ``values.sum()`` as an estimate of the number of rows."""
        return float(np.sum(self.stddev**2))


def estimate_total(observations: Sequence[Observation]) -> float:
    """Inverse-variance weighted row count from the sums of the noisy tables (at least 1)."""
    if not observations:
        raise ValueError("cannot estimate the number of rows without any observation")
    sums = np.array([o.values.sum() for o in observations])
    weights = 1.0 / np.array([o.variance_of_total() for o in observations])
    return max(1.0, float(np.sum(weights * sums) / np.sum(weights)))
