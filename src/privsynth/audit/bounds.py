"""From membership scores of canaries to statements about epsilon.

Two statements, never mixed up:

- :func:`one_run_lower_bound` — a **lower bound** that holds for any (epsilon, delta)-DP
  mechanism, with no assumption on its implementation. Canaries are included independently
  with probability 1/2; the auditor guesses "in" for the highest scores and "out" for the
  lowest of each run and abstains on the rest. If the mechanism is (epsilon, delta)-DP, the
  number of correct guesses among ``r`` is stochastically dominated by
  ``Binomial(r, e^eps / (1 + e^eps))`` up to an additive term ``2 m delta alpha`` for ``m``
  canaries, with ``alpha = max_i P[v - i <= Binomial < v] / i`` (Steinke, Nasr & Jagielski
  2023, "Privacy auditing with one (1) training run", approximate-DP theorem). Several
  independent runs, each over its own canaries, form one mechanism that is (epsilon, delta)-DP
  in each canary, so the theorem applies to all runs at once with ``m`` the total.
  Every epsilon for which the observed count would be rarer than ``beta`` is rejected; the
  bound is the largest rejected epsilon. The guess sizes are tried on a fixed grid, and the
  level is split over the grid (Bonferroni), so picking the best size costs nothing hidden.
- :func:`gdp_estimate` — an **estimate** under an assumption: that the trade-off curve between
  the "in" and "out" score distributions is Gaussian (mu-GDP), which is exact for a correctly
  implemented Gaussian mechanism read through a linear score and close to it for DP-SGD over
  many steps (the central limit theorem of Dong, Roth & Su). On the first half of the runs it
  picks, among fixed quantiles of the "out" scores, the threshold whose interval-based mu
  bound is largest there; on the other half it bounds the true/false positive rates at that threshold with
  Clopper–Pearson intervals, and turns the resulting lower confidence bound on mu into epsilon
  at the claimed delta. Much tighter than
  the assumption-free bound at small epsilon, and labelled as an estimate wherever shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Fractions of each run's canaries guessed "in" (top scores) and "out" (bottom scores).
FRACTIONS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
SIDES: tuple[str, ...] = ("both", "in", "out")
# Fewer distinct scores than this and the GDP estimate is not attempted (see gdp_estimate).
MIN_DISTINCT = 30
# Quantiles of the "out" scores tried as thresholds for the GDP estimate.
QUANTILES: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
_EPS_MAX = 60.0


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Exact two-sided ``1 - alpha`` interval for a binomial proportion ``k / n``."""
    if n <= 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def one_run_p_value(
    correct: int, guesses: int, canaries: int, epsilon: float, delta: float
) -> float:
    """Probability of at least ``correct`` right guesses if the mechanism were
    (``epsilon``, ``delta``)-DP (the theorem's bound; at most 1)."""
    p = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(stats.binom.sf(correct - 1, guesses, p))
    if delta > 0 and correct > 0:
        # P[v - i <= B < v] for i = 1..v, divided by i: the theorem's alpha is the largest.
        below = stats.binom.pmf(np.arange(correct - 1, -1, -1), guesses, p)
        alpha = float(np.max(np.cumsum(below) / np.arange(1, correct + 1)))
        tail += 2.0 * canaries * delta * alpha
    return min(tail, 1.0)


def one_run_epsilon(correct: int, guesses: int, canaries: int, delta: float, beta: float) -> float:
    """Largest epsilon rejected at level ``beta`` by ``correct`` right guesses out of
    ``guesses`` over ``canaries`` canaries in all (0 when none is rejected)."""

    def rejected(eps: float) -> bool:
        return one_run_p_value(correct, guesses, canaries, eps, delta) < beta

    if guesses == 0 or not rejected(0.0):
        return 0.0
    lo, hi = 0.0, _EPS_MAX
    if rejected(hi):
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if rejected(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Run:
    """One fit: a membership score per canary and whether the canary was in the data."""

    scores: np.ndarray
    included: np.ndarray


@dataclass(frozen=True)
class OneRunBound:
    """The assumption-free lower bound and the guesses that gave it."""

    epsilon: float
    guesses: int
    correct: int
    fraction: float
    side: str
    hypotheses: int
    beta: float

    def to_dict(self) -> dict[str, float | int | str]:
        """Plain data."""
        return {
            "epsilon_lower_bound": self.epsilon,
            "guesses": self.guesses,
            "correct": self.correct,
            "fraction_guessed_per_side": self.fraction,
            "sides": self.side,
            "hypotheses_tried": self.hypotheses,
            "confidence": 1.0 - self.beta,
        }


def _ranks(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Ties are broken at random (independently of membership), never by position.
    return np.lexsort((rng.random(len(scores)), scores))


def _count(
    runs: Sequence[Run], fraction: float, side: str, orders: list[np.ndarray]
) -> tuple[int, int]:
    guesses = correct = 0
    for run, order in zip(runs, orders, strict=True):
        k = max(1, round(fraction * len(run.scores)))
        k = min(k, len(run.scores) // 2) if side == "both" else min(k, len(run.scores))
        if side in ("both", "in"):
            top = order[len(order) - k :]
            guesses += k
            correct += int(run.included[top].sum())
        if side in ("both", "out"):
            bottom = order[:k]
            guesses += k
            correct += int((~run.included[bottom]).sum())
    return guesses, correct


def one_run_lower_bound(
    runs: Sequence[Run], delta: float, *, beta: float = 0.05, rng: np.random.Generator
) -> OneRunBound:
    """The best assumption-free bound over the guess grid, at overall level ``beta``."""
    orders = [_ranks(np.asarray(r.scores, dtype=float), rng) for r in runs]
    canaries = sum(len(r.scores) for r in runs)
    hypotheses = len(FRACTIONS) * len(SIDES)
    level = beta / hypotheses
    best = OneRunBound(0.0, 0, 0, FRACTIONS[0], SIDES[0], hypotheses, beta)
    for side in SIDES:
        for fraction in FRACTIONS:
            guesses, correct = _count(runs, fraction, side, orders)
            eps = one_run_epsilon(correct, guesses, canaries, delta, level)
            if eps > best.epsilon:
                best = OneRunBound(eps, guesses, correct, fraction, side, hypotheses, beta)
    return best


def gdp_delta(mu: float, epsilon: float) -> float:
    """delta(epsilon) of mu-GDP (Dong, Roth & Su 2019)."""
    if mu <= 0:
        return 0.0
    a = stats.norm.cdf(-epsilon / mu + mu / 2)
    b = math.exp(epsilon + stats.norm.logcdf(-epsilon / mu - mu / 2))
    return float(max(a - b, 0.0))


def gdp_epsilon(mu: float, delta: float) -> float:
    """Smallest epsilon with ``gdp_delta(mu, epsilon) <= delta``."""
    if mu <= 0 or gdp_delta(mu, 0.0) <= delta:
        return 0.0
    lo, hi = 0.0, 1.0
    while gdp_delta(mu, hi) > delta:
        hi *= 2
        if hi > 1e4:
            return math.inf
    for _ in range(100):
        mid = (lo + hi) / 2
        if gdp_delta(mu, mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class GDPEstimate:
    """A lower confidence bound on mu and the epsilon it implies, if the trade-off is Gaussian
    (``epsilon`` None, with ``reason``, where the scores cannot have a Gaussian trade-off)."""

    mu_point: float | None
    mu_lower: float | None
    epsilon: float | None
    tpr: float | None
    fpr: float | None
    n_in: int
    n_out: int
    beta: float
    reason: str | None = None

    def to_dict(self) -> dict[str, float | int | str | None]:
        """Plain data."""
        if self.reason:
            return {"epsilon_estimate": None, "reason": self.reason}
        return {
            "epsilon_estimate": self.epsilon,
            "mu_lower": self.mu_lower,
            "mu_point": self.mu_point,
            "true_positive_rate": self.tpr,
            "false_positive_rate": self.fpr,
            "scores_in": self.n_in,
            "scores_out": self.n_out,
            "confidence": 1.0 - self.beta,
            "assumption": (
                "the in/out score distributions have a Gaussian trade-off curve (mu-GDP): exact "
                "for a correct Gaussian mechanism, approximate for DP-SGD; an estimate, not a "
                "guarantee"
            ),
        }


def _probit(p: float) -> float:
    return float(stats.norm.ppf(min(max(p, 1e-300), 1 - 1e-16)))


def _split_scores(runs: Sequence[Run]) -> tuple[np.ndarray, np.ndarray]:
    s_in = np.concatenate([r.scores[r.included] for r in runs])
    s_out = np.concatenate([r.scores[~r.included] for r in runs])
    return s_in, s_out


def _mu_lower(tp: int, n_in: int, fp: int, n_out: int, beta: float) -> float:
    tpr_lo, _ = clopper_pearson(tp, n_in, beta)
    _, fpr_hi = clopper_pearson(fp, n_out, beta)
    return _probit(tpr_lo) - _probit(fpr_hi)


def _threshold(runs: Sequence[Run], beta: float) -> float:
    s_in, s_out = _split_scores(runs)
    if not len(s_in) or not len(s_out):
        return 0.0
    best, best_mu = float(np.median(s_out)), -math.inf
    for q in QUANTILES:
        t = float(np.quantile(s_out, q))
        tp, fp = int((s_in > t).sum()), int((s_out > t).sum())
        # Ranked by the lower bound it would give, so thresholds in thin tails lose.
        mu = _mu_lower(tp, len(s_in), fp, len(s_out), beta)
        if mu > best_mu:
            best, best_mu = t, mu
    return best


def gdp_estimate(runs: Sequence[Run], delta: float, *, beta: float = 0.05) -> GDPEstimate:
    """Threshold from the first half of the runs, rates with exact intervals on the second
    (with a single run, its canaries are split in two halves instead).

    Scores with fewer than :data:`MIN_DISTINCT` distinct values (integer counts, or a discrete
    Gaussian whose scale spans few integers) cannot have a Gaussian trade-off curve, and
    extrapolating one would overstate epsilon: no estimate is made for them.
    """
    s_all = np.concatenate([r.scores for r in runs])
    if len(np.unique(s_all)) < MIN_DISTINCT:
        return GDPEstimate(
            None,
            None,
            None,
            None,
            None,
            0,
            0,
            beta,
            reason=(
                f"the scores take {len(np.unique(s_all))} distinct values (a lattice): the "
                "Gaussian trade-off assumption cannot hold, so no GDP estimate is made"
            ),
        )
    if len(runs) == 1:
        (run,) = runs
        cut = len(run.scores) // 2
        first = [Run(run.scores[:cut], run.included[:cut])]
        second = [Run(run.scores[cut:], run.included[cut:])]
    else:
        half = len(runs) // 2
        first, second = list(runs[:half]), list(runs[half:])
    threshold = _threshold(first, beta)
    s_in = np.concatenate([r.scores[r.included] for r in second])
    s_out = np.concatenate([r.scores[~r.included] for r in second])
    tp, fp = int((s_in > threshold).sum()), int((s_out > threshold).sum())
    tpr_lo, _ = clopper_pearson(tp, len(s_in), beta)
    _, fpr_hi = clopper_pearson(fp, len(s_out), beta)
    tpr, fpr = tp / max(len(s_in), 1), fp / max(len(s_out), 1)
    mu_point = _probit(tpr) - _probit(fpr)
    mu_lower = max(0.0, _probit(tpr_lo) - _probit(fpr_hi))
    return GDPEstimate(
        mu_point, mu_lower, gdp_epsilon(mu_lower, delta), tpr, fpr, len(s_in), len(s_out), beta
    )
