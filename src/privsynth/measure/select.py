"""Private selection: pick the candidate marginal whose model estimate is worst, by the
exponential mechanism.

The score of candidate ``r`` is ``w_r * (||count_r - estimate_r||_1 - penalty_r)``. Adding or
removing one row changes a count table by one in L1, so the score changes by at most ``|w_r|``;
``sensitivity`` must bound that. The charge (an :class:`ExponentialEvent`) is made before any
count is read. The choice uses the Gumbel-max trick: ``argmax(eps * score / (2 * sensitivity)
+ Gumbel)`` is distributed exactly as the exponential mechanism.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privsynth.errors import PrivacyError
from privsynth.marginals.counting import CountingBackend
from privsynth.privacy.events import ExponentialEvent
from privsynth.privacy.ledger import Ledger


def select_exponential(
    backend: CountingBackend,
    candidates: Sequence[Sequence[str]],
    model_estimates: Sequence[np.ndarray],
    epsilon: float,
    sensitivity: float,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    label: str,
    penalties: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
) -> tuple[str, ...]:
    """Charge ``ExponentialEvent(epsilon)``, then return the selected candidate.

    ``model_estimates[i]`` is the (public) model's table over ``candidates[i]``, shaped like
    ``backend.count(candidates[i])``.
    """
    cands = [tuple(c) for c in candidates]
    k = len(cands)
    if k == 0:
        raise ValueError("selection needs at least one candidate")
    if len(model_estimates) != k:
        raise ValueError("one model estimate per candidate is required")
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
    pen = np.zeros(k) if penalties is None else np.asarray(penalties, dtype=np.float64)
    if (
        w.shape != (k,)
        or pen.shape != (k,)
        or not np.all(np.isfinite(w))
        or not np.all(np.isfinite(pen))
    ):
        raise ValueError("weights and penalties need one finite value per candidate")
    if not (np.isfinite(sensitivity) and sensitivity > 0):
        raise ValueError(f"sensitivity must be a finite positive number, got {sensitivity!r}")
    if np.max(np.abs(w)) > sensitivity * (1 + 1e-12):
        raise PrivacyError(
            f"{label}: sensitivity {sensitivity:g} is below the largest weight {np.max(np.abs(w)):g}"
        )
    for c, est in zip(cands, model_estimates, strict=True):
        if np.shape(est) != backend.domain.shape(c):
            raise ValueError(f"model estimate for {c} has shape {np.shape(est)}")
    ledger.spend(ExponentialEvent(epsilon), label=label)
    errors = np.array(
        [
            np.abs(backend.count(c).astype(np.float64) - np.asarray(est, dtype=np.float64)).sum()
            for c, est in zip(cands, model_estimates, strict=True)
        ]
    )
    scores = w * (errors - pen)
    noisy = epsilon / (2.0 * sensitivity) * scores + rng.gumbel(size=k)
    return cands[int(np.argmax(noisy))]
