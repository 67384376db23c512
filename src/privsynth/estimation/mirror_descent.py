"""Fit a Markov random field to noisy marginals by mirror descent (McKenna et al. 2019).

We minimise ``sum_o ||(mu_o - y_o) / stddev_o||^2 / 2`` over the marginals ``mu`` of a graphical
model whose cliques are the maximal observed cliques. A mirror step with the entropy regulariser
is a gradient step on the log-potentials; the marginals come from exact junction-tree inference.
The step size starts at ``2 / (L * total)`` and adapts by an Armijo test on the (noisy, public)
loss, so the number of iterations is fixed in advance and nothing here reads private data.

Structural zeros (cells that declared rules forbid) are cliques of the model with a fixed log-
potential of minus infinity on their forbidden cells. They are folded into the log-potentials
before the first step; a gradient step adds finite numbers, so the zeros stay exact and every
marginal of the model, and every sample, gives those cells probability zero.

This is written against numpy rather than a JIT compiler: adaptive mechanisms change the model
structure every round, and recompiling per structure costs more than it saves at these sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from privsynth.domain import Domain
from privsynth.estimation.inference import calibrate
from privsynth.estimation.junction import build_junction_tree
from privsynth.estimation.markov import MarkovModel
from privsynth.estimation.observations import Observation, estimate_total
from privsynth.estimation.tables import Attrs, canonical, expand, sum_to


def _maximal(cliques: Sequence[Attrs]) -> list[Attrs]:
    out: list[Attrs] = []
    for c in sorted(set(cliques), key=lambda c: (-len(c), c)):
        if not any(set(c) <= set(o) for o in out):
            out.append(c)
    return sorted(out)


def mirror_descent(
    domain: Domain,
    observations: Sequence[Observation],
    *,
    iters: int,
    total: float | None = None,
    warm_start: MarkovModel | None = None,
    callback: Callable[[int], None] | None = None,
    zeros: Sequence[tuple[tuple[str, ...], np.ndarray]] = (),
) -> MarkovModel:
    """Estimate a model from observations in ``iters`` mirror-descent steps.

    ``total`` defaults to the inverse-variance estimate from the observations' sums.
    ``warm_start`` seeds the log-potentials from a previous model whose cliques each fit in a
    clique of the new one. ``zeros`` are ``(attributes, allowed)`` pairs: boolean tables over
    attributes in domain order whose False cells get probability zero.
    """
    if total is None:
        total = estimate_total(observations)
    sizes = domain.sizes
    attrs = domain.attributes
    obs_idx = [canonical(attrs.index(a) for a in o.clique) for o in observations]
    zero_idx = [canonical(attrs.index(a) for a in z) for z, _ in zeros]
    cliques = _maximal(obs_idx + zero_idx)
    tree = build_junction_tree(sizes, cliques)
    home_of = {c: tree.containing(c) for c in cliques}

    def holder(c: Attrs) -> Attrs:
        return min(
            (m for m in cliques if set(c) <= set(m)), key=lambda m: math.prod(sizes[a] for a in m)
        )

    assigned = [holder(c) for c in obs_idx]
    targets = [np.asarray(o.values, dtype=np.float64) for o in observations]
    precision = [
        1.0 / np.maximum(np.asarray(o.stddev, dtype=np.float64), 1e-12) ** 2 for o in observations
    ]

    lipschitz = {c: 0.0 for c in cliques}
    for c, p, w in zip(obs_idx, assigned, precision, strict=True):
        ratio = math.prod(sizes[a] for a in p) / math.prod(sizes[a] for a in c)
        lipschitz[p] += float(w.max()) * ratio
    alpha = 2.0 / (max(lipschitz.values(), default=1.0) * total)

    theta = {c: np.zeros(tuple(sizes[a] for a in c)) for c in cliques}
    if warm_start is not None:
        for name, values in warm_start.potentials.items():
            c = canonical(attrs.index(a) for a in name)
            theta[holder(c)] = theta[holder(c)] + expand(values, c, holder(c), sizes)
    for c, (_, allowed) in zip(zero_idx, zeros, strict=True):
        forbidden = np.where(np.asarray(allowed, dtype=bool), 0.0, -np.inf)
        theta[holder(c)] = theta[holder(c)] + expand(forbidden, c, holder(c), sizes)

    def marginals(th: dict[Attrs, np.ndarray]) -> dict[Attrs, np.ndarray]:
        cal = calibrate(tree, list(th.items()))
        return {
            c: total * sum_to(cal.marginals[home_of[c]], tree.cliques[home_of[c]], c)
            for c in cliques  # type: ignore[index]
        }

    def loss_and_grad(mu: dict[Attrs, np.ndarray]) -> tuple[float, dict[Attrs, np.ndarray]]:
        loss = 0.0
        grad = {c: np.zeros_like(v) for c, v in mu.items()}
        for c, p, y, w in zip(obs_idx, assigned, targets, precision, strict=True):
            diff = sum_to(mu[p], p, c) - y
            loss += 0.5 * float(np.sum(w * diff * diff))
            grad[p] += expand(w * diff, c, p, sizes)
        return loss, grad

    mu = marginals(theta)
    loss, grad = loss_and_grad(mu)
    for t in range(iters):
        trial = {c: theta[c] - alpha * grad[c] for c in cliques}
        mu2 = marginals(trial)
        loss2, grad2 = loss_and_grad(mu2)
        predicted = sum(float(np.sum(grad[c] * (mu[c] - mu2[c]))) for c in cliques)
        if loss - loss2 >= 0.5 * predicted:
            theta, mu, loss, grad = trial, mu2, loss2, grad2
            alpha *= 1.05
        else:
            alpha *= 0.5
        if callback is not None:
            callback(t)
    names = {c: tuple(attrs[a] for a in c) for c in cliques}
    return MarkovModel(domain, {names[c]: v for c, v in theta.items()}, total)
