"""Noisy marginals released earlier on the same data, reused by a later fit.

``privsynth rules learn`` buys every categorical one- and two-way marginal to find rules; a
fit that follows can build on those noisy counts instead of paying for them again. A
:class:`PriorRelease` carries the measurements and the ledger that paid for them; the fit's
ledger records that ledger's entries first (:class:`~privsynth.privacy.ledger.Ledger`'s
``paid``), so the model's reported epsilon covers both releases, and the fit spends only what
is left of its budget. Using the noisy counts is post-processing of a release already paid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from privsynth.domain import Domain
from privsynth.errors import InputError
from privsynth.measure.marginals import Measurement
from privsynth.privacy.ledger import Ledger


@dataclass(frozen=True)
class PriorRelease:
    """Measurements already released, the ledger that paid for them, and where they came from.

    ``store_dataset``: the lifetime-store dataset the release was charged to (None when no
    store was used), so a fit charging the same dataset does not charge it twice.
    """

    measurements: tuple[Measurement, ...]
    ledger: Ledger
    source: str
    store_dataset: str | None = None

    def check(self, domain: Domain) -> None:
        """InputError (before any spend) unless every measurement fits ``domain``."""
        for m in self.measurements:
            unknown = [a for a in m.clique if a not in domain.attributes]
            if unknown:
                raise InputError(
                    f"{self.source}: reused marginal {list(m.clique)} names columns "
                    f"{unknown} that the schema does not have"
                )
            size = int(np.prod(domain.shape(m.clique)))
            if m.noisy.size != size:
                raise InputError(
                    f"{self.source}: reused marginal {list(m.clique)} has {m.noisy.size} cells, "
                    f"the schema's domain has {size} (were the categories changed?)"
                )
        # A sensitivity-1 marginal with noise sigma costs 1 / (2 sigma^2) in zCDP: noisy counts
        # less noisy than their ledger paid for would be a release nobody accounted.
        cost = sum(1.0 / (2.0 * m.sigma**2) for m in self.measurements)
        if cost > self.ledger.rho_spent * (1.0 + 1e-9):
            raise InputError(
                f"{self.source}: the reused marginals cost rho={cost:.6g}, more than their "
                f"ledger paid ({self.ledger.rho_spent:.6g})"
            )

    def to_dict(self) -> list[dict[str, Any]]:
        """JSON/YAML form of the measurements (the ledger is stored by its owner)."""
        return [
            {"clique": list(m.clique), "sigma": m.sigma, "noisy": [float(x) for x in m.noisy]}
            for m in self.measurements
        ]

    @staticmethod
    def measurements_from(items: Sequence[dict[str, Any]], source: str) -> tuple[Measurement, ...]:
        """Inverse of :meth:`to_dict` (InputError naming ``source`` on a malformed entry)."""
        out = []
        for i, item in enumerate(items):
            try:
                clique = tuple(str(a) for a in item["clique"])
                sigma = float(item["sigma"])
                noisy = np.asarray(item["noisy"], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{source}: measurement {i} is malformed") from None
            if not clique or noisy.ndim != 1 or not sigma > 0 or not np.isfinite(noisy).all():
                raise InputError(f"{source}: measurement {i} is malformed")
            out.append(Measurement(clique, noisy, sigma))
        return tuple(out)


class PriorPool:
    """Reused measurements waiting to join a fit's observations, keyed by clique in domain
    order. A graphical model's structure is the union of its observations' cliques, so each
    joins only when :func:`absorb` finds it worth its place within a size limit.

    ``compress`` maps a full-domain observation to the fit's (compressed) domain.
    """

    def __init__(
        self,
        measurements: Sequence[Measurement],
        domain: Domain,
        compress: Callable[[Any], Any] | None = None,
    ) -> None:
        from privsynth.estimation import Observation

        self.waiting: dict[tuple[str, ...], Any] = {}
        for m in measurements:
            obs = Observation.from_measurement(m, domain)
            self.waiting[obs.clique] = compress(obs) if compress else obs
        self.used: list[tuple[str, ...]] = []

    def take(self, cliques: Sequence[tuple[str, ...]]) -> list[Any]:
        """Remove and return the waiting observations over ``cliques`` (others are ignored)."""
        ready = [c for c in cliques if c in self.waiting]
        self.used += ready
        return [self.waiting.pop(c) for c in ready]


def absorb(
    pool: PriorPool,
    model: Any,
    cliques: Sequence[tuple[str, ...]],
    size_limit: float,
    domain: Domain,
    *,
    grow: int | None = None,
) -> list[Any]:
    """Take from ``pool`` the observations that ``model`` (a fitted Markov model over
    ``domain``, whose structure is ``cliques``) misses by more than their noise explains,
    worst first, each while the model stays within ``size_limit`` megabytes; at most ``grow``
    of them (None: any number) may add a clique the model does not already contain.

    The score is AIM's: L1 error minus the expected L1 norm of the noise; it reads only noisy
    counts, so choosing is post-processing.
    """
    from privsynth.estimation import model_size_mb

    attrs = domain.attributes
    inside = _closure(cliques)
    scored = []
    for cl, obs in pool.waiting.items():
        noise = math.sqrt(2 / math.pi) * float(np.mean(obs.stddev)) * obs.values.size
        score = float(np.abs(obs.values - model.project(cl)).sum()) - noise
        if score > 0:
            scored.append((score, cl))
    taken: list[tuple[str, ...]] = []
    grown = 0
    for _, cl in sorted(scored, reverse=True):
        if cl in inside:
            taken.append(cl)
            continue
        if grow is not None and grown >= grow:
            continue
        index = [tuple(attrs.index(a) for a in c) for c in [*cliques, *taken, cl]]
        if model_size_mb(domain.sizes, index) <= size_limit:
            taken.append(cl)
            inside |= _closure([cl])
            grown += 1
    return pool.take(taken)


def _closure(cliques: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for cl in cliques:
        for k in range(1, len(cl) + 1):
            out.update(combinations(cl, k))
    return out
