"""AIM (McKenna, Mullins, Sheldon & Miklau 2022): an adaptive and iterative mechanism.

After measuring every one-way marginal, each round privately selects the candidate marginal
(the downward closure of the workload, limited to what keeps the model small) on which the
current model errs most, measures it, and re-fits the model. When a measurement barely moves the
model, the per-round noise is halved (budget annealing); the last round spends exactly what is
left. Mirror-descent iterations follow a fixed schedule: ``round_iters`` warm-started steps per
round and ``final_iters`` at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, combinations
from typing import Any, ClassVar

import numpy as np

from privsynth.errors import InputError
from privsynth.estimation import GraphicalModel, Observation, mirror_descent, model_size_mb
from privsynth.generators.base import Progress, Zeros, remaining_budget, report, spendable
from privsynth.marginals.counting import CountingBackend
from privsynth.measure.marginals import Measurement, measure_marginals
from privsynth.measure.prior import PriorPool, absorb
from privsynth.measure.select import select_exponential
from privsynth.privacy.ledger import Ledger

Clique = tuple[str, ...]


def _closure(cliques: Sequence[Clique]) -> set[Clique]:
    out: set[Clique] = set()
    for cl in cliques:
        out.update(chain.from_iterable(combinations(cl, k) for k in range(1, len(cl) + 1)))
    return out


def workload_candidates(workload: Sequence[Clique]) -> dict[Clique, float]:
    """Downward closure of the workload, each weighted by its total overlap with the workload."""
    return {
        r: float(sum(len(set(r) & set(s)) for s in workload))
        for r in sorted(_closure(workload), key=lambda c: (len(c), c))
    }


@dataclass(frozen=True)
class AIM:
    """AIM over ``workload`` (default: every ``degree``-way marginal)."""

    degree: int = 3
    workload: tuple[tuple[str, ...], ...] | None = None
    max_model_size: float = 80.0
    rounds: int | None = None
    alpha: float = 0.9
    round_iters: int = 100
    final_iters: int = 1000
    name: ClassVar[str] = "aim"
    reuses_measurements: ClassVar[bool] = True
    structural_zeros: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.workload is not None:
            object.__setattr__(
                self, "workload", tuple(tuple(str(a) for a in c) for c in self.workload)
            )
        if self.degree < 1:
            raise InputError(f"aim: degree must be at least 1, got {self.degree}")
        if not 0 < self.alpha < 1:
            raise InputError(f"aim: alpha must lie in (0, 1), got {self.alpha}")
        if self.max_model_size <= 0 or (self.rounds is not None and self.rounds < 1):
            raise InputError("aim: max_model_size and rounds must be positive")
        if self.round_iters < 1 or self.final_iters < 1:
            raise InputError("aim: round_iters and final_iters must be positive")

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        return {
            "degree": self.degree,
            "workload": None if self.workload is None else [list(c) for c in self.workload],
            "max_model_size": self.max_model_size,
            "rounds": self.rounds,
            "alpha": self.alpha,
            "round_iters": self.round_iters,
            "final_iters": self.final_iters,
        }

    def _workload(self, attrs: tuple[str, ...]) -> list[Clique]:
        if self.workload is None:
            return list(combinations(attrs, min(self.degree, len(attrs))))
        out = []
        for cl in self.workload:
            unknown = [a for a in cl if a not in attrs]
            if unknown or not cl or len(set(cl)) != len(cl):
                raise InputError(
                    f"aim: workload marginal {list(cl)} is empty, repeats or names unknown columns {unknown}"
                )
            out.append(tuple(sorted(cl, key=attrs.index)))
        return out

    def fit(
        self,
        backend: CountingBackend,
        ledger: Ledger,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
        zeros: Zeros = (),
        prior: Sequence[Measurement] = (),
    ) -> GraphicalModel:
        """Initialise on one-way marginals, then select-measure-estimate until the budget is
        spent; every estimate keeps ``zeros`` (cells with probability zero). ``prior``: noisy
        marginals already paid for (the ledger records them); after each round those the
        model misses by more than their noise join the observations, at most one of them
        adding a clique (a free extra round, within the round's size limit)."""
        domain = backend.domain
        pool = PriorPool(prior, domain)
        attrs = domain.attributes
        candidates = workload_candidates(self._workload(attrs))
        rho = remaining_budget(ledger, "aim")
        start = ledger.rho_spent
        rounds = self.rounds or 16 * len(domain)
        sigma = math.sqrt(rounds / (2 * self.alpha * rho))
        epsilon = math.sqrt(8 * (1 - self.alpha) * rho / rounds)

        report(progress, "measuring one-way marginals", 0.0)
        ones = measure_marginals(
            backend, [(a,) for a in attrs], sigma, ledger, rng, label="aim: one-way marginals"
        )
        observations = [Observation.from_measurement(m, domain) for m in ones]
        observations += pool.take([(a,) for a in attrs])
        model = mirror_descent(domain, observations, iters=self.round_iters, zeros=zeros)

        t = 0
        final = False
        while not final:
            t += 1
            used = ledger.rho_spent - start
            left = spendable(rho - used)
            if left < 2 * (1 / (2 * sigma**2) + epsilon**2 / 8):
                sigma = math.sqrt(1 / (2 * self.alpha * left))
                epsilon = math.sqrt(8 * (1 - self.alpha) * left)
                final = True
            size_limit = self.max_model_size * (used + 1 / (2 * sigma**2) + epsilon**2 / 8) / rho
            free = _closure(model.cliques)
            allowed = [
                cl
                for cl in candidates
                if cl in free
                or model_size_mb(domain.sizes, _indices(domain.attributes, [*model.cliques, cl]))
                <= size_limit
            ]
            weights = [candidates[cl] for cl in allowed]
            bias = math.sqrt(2 / math.pi) * sigma
            estimates = [model.project(cl) for cl in allowed]
            chosen = select_exponential(
                backend,
                allowed,
                estimates,
                epsilon,
                max(weights),
                ledger,
                rng,
                label=f"aim: round {t} selection",
                penalties=[bias * domain.size(cl) for cl in allowed],
                weights=weights,
            )
            (measured,) = measure_marginals(
                backend, [chosen], sigma, ledger, rng, label=f"aim: round {t} measurement"
            )
            observations.append(Observation.from_measurement(measured, domain))
            # Like one more round, free: at most one reused marginal may grow the model.
            observations += absorb(
                pool, model, [*model.cliques, chosen], size_limit, domain, grow=1
            )
            before = estimates[allowed.index(chosen)]
            model = mirror_descent(
                domain, observations, iters=self.round_iters, warm_start=model, zeros=zeros
            )
            report(
                progress,
                f"round {t}: measured {', '.join(chosen)}",
                (ledger.rho_spent - start) / rho,
            )
            if np.abs(model.project(chosen) - before).sum() <= bias * domain.size(chosen):
                sigma /= 2
                epsilon *= 2
        report(progress, "final estimation", 0.99)
        model = mirror_descent(
            domain, observations, iters=self.final_iters, warm_start=model, zeros=zeros
        )
        report(progress, "done", 1.0)
        return GraphicalModel(model)


def _indices(attrs: tuple[str, ...], cliques: Sequence[Clique]) -> list[tuple[int, ...]]:
    return [tuple(attrs.index(a) for a in cl) for cl in cliques]
