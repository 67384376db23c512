"""Tight accounting of Poisson-subsampled Laplace steps (the Laplace DP-SGD variant).

Bounding each subsampled Laplace step by its amplified pure epsilon,
``log(1 + q (e^eps - 1))``, and composing those as zCDP is valid but loose: for 1172 steps at
q = 0.0085 and per-step epsilon 2 it reports epsilon 9.5 at delta 1e-5, where the privacy
loss distribution of the same steps gives 2.4. Here the Laplace steps are composed exactly
(up to a pessimistic discretisation) by the PLD accountant of Google's ``dp_accounting``
(``PoissonSampledDpEvent(q, LaplaceDpEvent(1 / eps))``: noise scale over L1 sensitivity, add
or remove one row), and joined to every other event of the ledger by basic composition of
(epsilon, delta) guarantees, ``delta`` split between the two over a fixed grid; every split is
a valid bound and the smallest is reported. The ledger keeps the smaller of this and its
other routes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from privsynth.privacy.events import PrivacyEvent, SubsampledLaplaceEvent

# Width of the privacy-loss grid; the accountant rounds pessimistically, so coarser is looser,
# never optimistic (1e-4 changes epsilon by < 1e-3 against 1e-5 at a tenth of the time).
DISCRETIZATION = 1e-4
# Shares of delta given to the Laplace steps when other events share the ledger.
SPLITS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)

Steps = tuple[tuple[float, float, int], ...]


@lru_cache(maxsize=256)
def _accountant(steps: Steps):  # noqa: ANN202 - dp_accounting is imported lazily
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    acc = PLDAccountant(value_discretization_interval=DISCRETIZATION)
    for rate, eps, count in steps:
        event = dp_accounting.LaplaceDpEvent(1.0 / eps)
        if rate < 1.0:
            event = dp_accounting.PoissonSampledDpEvent(rate, event)
        acc.compose(event, count)
    return acc


def laplace_steps_epsilon(steps: Sequence[SubsampledLaplaceEvent], delta: float) -> float:
    """Epsilon at ``delta`` of the Laplace steps alone (PLD)."""
    key = tuple(sorted((e.sample_rate, e.epsilon, e.count) for e in steps))
    return float(_accountant(key).get_epsilon(delta))


def split_epsilon(
    events: Sequence[PrivacyEvent],
    delta: float,
    rest_epsilon: Callable[[list[PrivacyEvent], float], float],
) -> float:
    """Epsilon of ``events`` with the Laplace steps composed by PLD (inf if there are none);
    ``rest_epsilon(others, delta)`` accounts for the other events."""
    laplace = [e for e in events if isinstance(e, SubsampledLaplaceEvent)]
    if not laplace:
        return math.inf
    rest = [e for e in events if not isinstance(e, SubsampledLaplaceEvent)]
    if not rest:
        return laplace_steps_epsilon(laplace, delta)
    return min(
        laplace_steps_epsilon(laplace, share * delta) + rest_epsilon(rest, (1 - share) * delta)
        for share in SPLITS
    )
