"""Deliberately broken generators: what the audit must catch.

Each one claims a budget it does not deliver, in a way seen in public DP synthesizers. They
live here, outside the generator registry, so nobody can fit one by name by accident; the
audit's tests and ``privsynth audit --broken NAME`` use them.

- :class:`NoiselessIndependent` — the independent generator with its noise removed: it charges
  the ledger for Gaussian one-way marginals and then releases the exact counts.
- :class:`FreeCategories` — reads each column's set of present categories from the private
  data for free (as a transformer fitted on the private table does), then measures properly
  noised counts over those categories only; every present category keeps a floor probability
  and absent ones get none. The noise is right; the support leaks.
- :class:`NoiseLayerGAN` (in :mod:`privsynth.audit.noise_layer`) — a GAN whose discriminator
  adds Laplace noise to its hidden activations without clipping any gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from privsynth.domain import Domain
from privsynth.estimation import GraphicalModel, MarkovModel
from privsynth.generators.base import Progress, gaussian_sigma, remaining_budget
from privsynth.generators.independent import project_to_simplex
from privsynth.marginals.counting import CountingBackend
from privsynth.measure.noise import noise_sampler
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger

# Share of the total given evenly to the present categories (the free support's floor).
_FLOOR = 0.01


def _charge_one_way(backend: CountingBackend, ledger: Ledger, name: str) -> float:
    """Charge Gaussian one-way marginals of every column, as the independent generator does."""
    domain = backend.domain
    sigma = gaussian_sigma(remaining_budget(ledger, name), len(domain))
    ledger.spend(GaussianEvent(sigma=sigma, count=len(domain)), label=f"{name}: one-way")
    return sigma


def _product_model(domain: Domain, probs: dict[str, np.ndarray], total: float) -> GraphicalModel:
    potentials = {}
    for attr, p in probs.items():
        with np.errstate(divide="ignore"):
            potentials[(attr,)] = np.log(p)
    return GraphicalModel(MarkovModel(domain, potentials, total))


class _OneWay:
    """Shared shape of the broken one-way generators: no hyperparameters, one ``_release``."""

    name: ClassVar[str]

    def config(self) -> dict[str, Any]:
        """No hyperparameters."""
        return {}

    def fit(
        self,
        backend: CountingBackend,
        ledger: Ledger,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> GraphicalModel:
        """Charge as the independent generator does, then release (with this class's flaw)."""
        sigma = _charge_one_way(backend, ledger, self.name)
        return self._release(backend, sigma, rng)

    def _release(
        self, backend: CountingBackend, sigma: float, rng: np.random.Generator
    ) -> GraphicalModel:
        raise NotImplementedError


@dataclass(frozen=True)
class NoiselessIndependent(_OneWay):
    """BROKEN: charges for noisy one-way marginals, releases exact ones."""

    name: ClassVar[str] = "broken:no-noise"

    def _release(
        self, backend: CountingBackend, sigma: float, rng: np.random.Generator
    ) -> GraphicalModel:
        domain = backend.domain
        counts = {a: backend.count((a,)).astype(float) for a in domain}
        total = float(next(iter(counts.values())).sum())
        return _product_model(domain, {a: c / total for a, c in counts.items()}, total)


@dataclass(frozen=True)
class FreeCategories(_OneWay):
    """BROKEN: noisy counts over the categories found in the private data, read for free."""

    name: ClassVar[str] = "broken:free-categories"

    def _release(
        self, backend: CountingBackend, sigma: float, rng: np.random.Generator
    ) -> GraphicalModel:
        domain = backend.domain
        present = {a: backend.count((a,)) > 0 for a in domain}  # the flaw: support for free
        noise = noise_sampler(False)
        probs, totals = {}, []
        for attr in domain:
            counts = backend.count((attr,))
            noisy = counts[present[attr]] + noise((int(present[attr].sum()),), sigma, rng)
            totals.append(max(float(noisy.sum()), 1.0))
            p = np.zeros(domain[attr])
            fitted = project_to_simplex(noisy.astype(float), totals[-1]) / totals[-1]
            p[present[attr]] = (1 - _FLOOR) * fitted + _FLOOR / present[attr].sum()
            probs[attr] = p
        return _product_model(domain, probs, float(np.mean(totals)))
