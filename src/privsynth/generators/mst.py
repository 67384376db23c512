"""MST (McKenna, Miklau & Sheldon 2021): a maximum spanning tree of noisy 2-way marginals.

The budget is split in thirds: (1) all one-way marginals, which also decide, as
post-processing, which rare codes to merge; (2) ``d - 1`` exponential-mechanism picks that grow
a spanning tree Kruskal-style, scoring each candidate pair by how badly the independent model
estimates it; (3) the chosen pairs' marginals. A graphical model is then fitted to all noisy
marginals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from privsynth.errors import InputError
from privsynth.estimation import (
    Compression,
    GraphicalModel,
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
    spendable,
)
from privsynth.generators.independent import project_to_simplex
from privsynth.marginals.counting import CountingBackend
from privsynth.measure.marginals import Measurement, measure_marginals
from privsynth.measure.prior import PriorPool, absorb
from privsynth.measure.select import select_exponential
from privsynth.privacy.ledger import Ledger


def _independent_estimate(observations: list[Observation], total: float) -> dict[str, np.ndarray]:
    return {o.clique[0]: project_to_simplex(o.values, total) / total for o in observations}


@dataclass(frozen=True)
class MST:
    """MST with ``iters`` mirror-descent steps for the final estimate.

    ``iters=None`` picks the steps from the budget alone (never from data): 1000 below
    rho = 0.1 (about epsilon 3 at delta 1e-9), where the noisy optimum is reached early and more
    steps only fit noise, and 3000 above it, where the optimum is sharper. The threshold was set
    on the public adult benchmark (bench/results/marginal.md), not on any user's data.
    ``compress`` merges codes whose noisy count is below ``3 sigma`` (as published), except in
    columns named by structural zeros, whose codes the zeros address one by one.
    ``reuse_mb``: with reused marginals (``prior`` in :meth:`fit`), the largest model (in
    megabytes of tables) they may grow beyond the tree; 2 was set on the public Adult
    benchmark (larger models fit slower and were no better there), not on any user's data.
    """

    iters: int | None = None
    compress: bool = True
    reuse_mb: float = 2.0
    name: ClassVar[str] = "mst"
    reuses_measurements: ClassVar[bool] = True
    structural_zeros: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.iters is not None and (
            isinstance(self.iters, bool) or not isinstance(self.iters, int) or self.iters < 1
        ):
            raise InputError(f"mst: iters must be a positive integer, got {self.iters!r}")
        if not (isinstance(self.reuse_mb, int | float) and self.reuse_mb > 0):
            raise InputError(f"mst: reuse_mb must be a positive number, got {self.reuse_mb!r}")

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        return {"iters": self.iters, "compress": self.compress, "reuse_mb": self.reuse_mb}

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
        """Measure one-way marginals, select a tree, measure it, estimate (``zeros``: cells
        the model must give probability zero). ``prior``: noisy marginals already paid for
        (the ledger records them); those over a column or a tree edge join the estimate."""
        domain = backend.domain
        d = len(domain)
        rho = remaining_budget(ledger, "mst")
        iters = self.iters or (3000 if rho >= 0.1 else 1000)
        sigma1 = gaussian_sigma(rho / 3 if d > 1 else rho, d)
        report(progress, "measuring one-way marginals", 0.0)
        ones = measure_marginals(
            backend, [(a,) for a in domain], sigma1, ledger, rng, label="mst: one-way marginals"
        )
        full = [Observation.from_measurement(m, domain) for m in ones]
        compression = Compression(domain)
        if self.compress:
            ruled = {a for attrs, _ in zeros for a in attrs}
            noisy = {o.clique[0]: o.values for o in full if o.clique[0] not in ruled}
            compression = Compression.from_noisy_counts(
                domain, noisy, dict.fromkeys(domain, 3 * sigma1)
            )
        small = compression.compressed_domain
        small_backend = compression.backend(backend)
        observations = [compression.observation(o) for o in full]

        edges = self._select_tree(small_backend, observations, rho / 3, ledger, rng, progress)
        if edges:
            rho_left = remaining_budget(ledger, "mst")
            sigma2 = gaussian_sigma(rho_left, len(edges))
            report(progress, "measuring the tree's two-way marginals", 0.66)
            two = measure_marginals(
                small_backend, edges, sigma2, ledger, rng, label="mst: tree two-way marginals"
            )
            observations += [Observation.from_measurement(m, small) for m in two]
        pool = PriorPool(prior, domain, compress=compression.observation)
        tree = [(a,) for a in small] + [tuple(sorted(e, key=small.attributes.index)) for e in edges]
        observations += pool.take(tree)
        if pool.waiting:
            # Reused marginals beyond the tree: those the tree model misses by more than their
            # noise join it, worst first, while the model stays within reuse_mb.
            draft = mirror_descent(small, observations, iters=max(100, iters // 10), zeros=zeros)
            observations += absorb(pool, draft, draft.cliques, self.reuse_mb, small)
        report(progress, "estimating the graphical model", 0.7)
        total = estimate_total(observations)

        def tick(t: int) -> None:
            if t % 100 == 0:
                report(progress, "estimating the graphical model", 0.7 + 0.3 * t / iters)

        markov = mirror_descent(
            small, observations, iters=iters, total=total, callback=tick, zeros=zeros
        )
        report(progress, "done", 1.0)
        return GraphicalModel(markov, compression)

    def _select_tree(
        self,
        backend: CountingBackend,
        oneway: list[Observation],
        rho: float,
        ledger: Ledger,
        rng: np.random.Generator,
        progress: Progress | None,
    ) -> list[tuple[str, ...]]:
        """Kruskal with each edge chosen by the exponential mechanism among pairs that join
        two components, scored by the L1 error of the independent model's estimate."""
        domain = backend.domain
        d = len(domain)
        if d < 2:
            return []
        total = estimate_total(oneway)
        probs = _independent_estimate(oneway, total)
        estimate = {
            (a, b): total * np.outer(probs[a], probs[b])
            for a, b in combinations(domain.attributes, 2)
        }
        epsilon = math.sqrt(8 * spendable(rho) / (d - 1))
        parent = {a: a for a in domain}

        def find(a: str) -> str:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        edges: list[tuple[str, ...]] = []
        for step in range(d - 1):
            report(progress, "selecting the spanning tree", 0.33 + 0.33 * step / (d - 1))
            candidates = [e for e in estimate if find(e[0]) != find(e[1])]
            if len(candidates) == 1:
                # A choice among one candidate reveals nothing, so it costs nothing.
                chosen = candidates[0]
            else:
                chosen = select_exponential(
                    backend,
                    candidates,
                    [estimate[e] for e in candidates],
                    epsilon,
                    1.0,
                    ledger,
                    rng,
                    label=f"mst: spanning-tree edge {step + 1} of {d - 1}",
                )
            parent[find(chosen[0])] = find(chosen[1])
            edges.append(chosen)
        return edges
