"""The baseline: every column drawn independently from its noisy one-way marginal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from privsynth.estimation import (
    GraphicalModel,
    MarkovModel,
    Observation,
    estimate_total,
    mirror_descent,
)
from privsynth.generators.base import (
    Progress,
    Zeros,
    gaussian_sigma,
    remaining_budget,
    report,
)
from privsynth.marginals.counting import CountingBackend
from privsynth.measure.marginals import measure_marginals
from privsynth.privacy.ledger import Ledger

# Mirror-descent steps when rules tie the columns together (fixed, never data-dependent).
_ZERO_ITERS = 500


def project_to_simplex(values: np.ndarray, total: float) -> np.ndarray:
    """Euclidean projection of ``values`` onto ``{x >= 0, sum(x) = total}``."""
    desc = np.sort(values)[::-1]
    excess = np.cumsum(desc) - total
    ranks = np.arange(1, values.size + 1)
    last = np.nonzero(desc - excess / ranks > 0)[0][-1]
    return np.maximum(values - excess[last] / (last + 1), 0.0)


@dataclass(frozen=True)
class Independent:
    """Measure each one-way marginal with Gaussian noise (whole budget) and sample columns
    independently from the noisy marginals projected onto the simplex.

    With structural zeros (declared rules) the columns cannot stay independent: the model is
    then the product of one-way factors and the rules' zero factors, fitted to the same noisy
    one-way marginals by mirror descent (post-processing).
    """

    name: ClassVar[str] = "independent"
    structural_zeros: ClassVar[bool] = True

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
        zeros: Zeros = (),
    ) -> GraphicalModel:
        """Measure, then post-process into a product model (``zeros``: forbidden cells)."""
        domain = backend.domain
        rho = remaining_budget(ledger, "independent")
        sigma = gaussian_sigma(rho, len(domain))
        report(progress, "measuring one-way marginals", 0.0)
        ones = measure_marginals(
            backend,
            [(a,) for a in domain],
            sigma,
            ledger,
            rng,
            label="independent: one-way marginals",
        )
        observations = [Observation.from_measurement(m, domain) for m in ones]
        total = estimate_total(observations)
        if zeros:
            report(progress, "estimating the model under the rules", 0.5)
            markov = mirror_descent(
                domain, observations, iters=_ZERO_ITERS, total=total, zeros=zeros
            )
            report(progress, "done", 1.0)
            return GraphicalModel(markov)
        potentials = {}
        for obs in observations:
            probs = project_to_simplex(obs.values, total) / total
            with np.errstate(divide="ignore"):
                potentials[obs.clique] = np.log(probs)
        report(progress, "done", 1.0)
        return GraphicalModel(MarkovModel(domain, potentials, total))
