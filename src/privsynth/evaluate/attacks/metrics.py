"""Scores of an attack: ROC AUC, advantage, accuracy and privacy loss, with intervals.

Higher scores mean "more likely a member". On the balanced targets:

- ``auc``: ROC AUC (ties count one half); 95 % interval = percentiles 2.5 and 97.5 of the AUC
  over the stratified bootstrap resamples of the targets (:data:`~.targets.BOOTSTRAP`).
- ``advantage``: max over thresholds of TPR - FPR (the Kolmogorov-Smirnov distance between
  the member and non-member scores), with the same bootstrap interval. It is maximised on
  the targets themselves, so it reads above 0 even for a useless attack (about
  1.36 * sqrt(2 / n) at the 95th percentile for n targets per class).
- ``accuracy`` P: two-fold cross-fitted. The threshold that maximises accuracy on the targets
  of one fold (candidates halfway between adjacent distinct scores, and "everyone" or
  "no one"; the lowest wins ties) classifies the other fold, and vice versa; P is the share
  of all targets classified correctly. No target is classified by a threshold it helped
  choose, so P is not optimistically biased (it can fall below 0.5 by chance). Its 95 %
  interval is Clopper-Pearson for that count.
- ``privacy_loss`` = (P - 0.5) / 0.5 with the interval mapped the same way; negative values are
  reported as they are, not clipped.
- ``roc``: the ROC curve's corner points, down-sampled evenly to at most 101 points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from privsynth.evaluate.attacks.targets import Design

LEVEL = 0.95
ROC_POINTS = 101


@dataclass(frozen=True)
class Summary:
    """The numbers every attack reports."""

    auc: float
    auc_ci: tuple[float, float]
    advantage: float
    advantage_ci: tuple[float, float]
    accuracy: float
    accuracy_ci: tuple[float, float]
    privacy_loss: float
    privacy_loss_ci: tuple[float, float]
    n_members: int
    n_nonmembers: int
    roc_fpr: tuple[float, ...]
    roc_tpr: tuple[float, ...]


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """ROC AUC = P(member score > non-member score) + P(equal) / 2 (Mann-Whitney)."""
    n1, n0 = len(members), len(nonmembers)
    ranks = stats.rankdata(np.concatenate([members, nonmembers]))
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _curve(members: np.ndarray, nonmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1)."""
    scores = np.concatenate([members, nonmembers])
    is_member = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    order = np.argsort(-scores, kind="stable")
    scores, is_member = scores[order], is_member[order]
    ends = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    tp = np.cumsum(is_member)[ends]
    fp = ends + 1 - tp
    return np.r_[0.0, fp / len(nonmembers)], np.r_[0.0, tp / len(members)]


def advantage(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """max over thresholds of TPR - FPR (0 for the thresholds that accept everyone or no one)."""
    fpr, tpr = _curve(members, nonmembers)
    return float(np.max(tpr - fpr))


def _best_threshold(members: np.ndarray, nonmembers: np.ndarray) -> float:
    distinct = np.unique(np.concatenate([members, nonmembers]))
    candidates = np.r_[-np.inf, (distinct[:-1] + distinct[1:]) / 2, np.inf]
    m, n = np.sort(members), np.sort(nonmembers)
    true_pos = len(m) - np.searchsorted(m, candidates, side="left")
    true_neg = np.searchsorted(n, candidates, side="left")
    return float(candidates[int(np.argmax(true_pos + true_neg))])


def cross_fitted_correct(
    members: np.ndarray,
    nonmembers: np.ndarray,
    member_folds: np.ndarray,
    nonmember_folds: np.ndarray,
) -> int:
    """Targets classified correctly by a threshold chosen on the other fold."""
    correct = 0
    for fold in (0, 1):
        pick_m, pick_n = member_folds != fold, nonmember_folds != fold
        threshold = _best_threshold(members[pick_m], nonmembers[pick_n])
        correct += int((members[~pick_m] >= threshold).sum())
        correct += int((nonmembers[~pick_n] < threshold).sum())
    return correct


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n trials."""
    alpha = 1.0 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def _downsample(fpr: np.ndarray, tpr: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    keep = np.unique(np.round(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS))))
    keep = keep.astype(np.int64)
    return (
        tuple(round(float(v), 6) for v in fpr[keep]),
        tuple(round(float(v), 6) for v in tpr[keep]),
    )


def _interval(values: list[float]) -> tuple[float, float]:
    alpha = 1.0 - LEVEL
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def summarize(members: np.ndarray, nonmembers: np.ndarray, design: Design) -> Summary:
    """Every reported number for member and non-member target scores (in design order)."""
    members = np.asarray(members, dtype=float)
    nonmembers = np.asarray(nonmembers, dtype=float)
    if not (np.isfinite(members).all() and np.isfinite(nonmembers).all()):
        raise ValueError("attack scores must be finite")
    boot_auc, boot_adv = [], []
    for bm, bn in zip(design.boot_members, design.boot_nonmembers, strict=True):
        boot_auc.append(auc(members[bm], nonmembers[bn]))
        boot_adv.append(advantage(members[bm], nonmembers[bn]))
    n = len(members) + len(nonmembers)
    correct = cross_fitted_correct(members, nonmembers, design.member_folds, design.nonmember_folds)
    acc_lo, acc_hi = clopper_pearson(correct, n)
    accuracy = correct / n
    fpr, tpr = _downsample(*_curve(members, nonmembers))
    return Summary(
        auc=auc(members, nonmembers),
        auc_ci=_interval(boot_auc),
        advantage=advantage(members, nonmembers),
        advantage_ci=_interval(boot_adv),
        accuracy=accuracy,
        accuracy_ci=(acc_lo, acc_hi),
        privacy_loss=(accuracy - 0.5) / 0.5,
        privacy_loss_ci=((acc_lo - 0.5) / 0.5, (acc_hi - 0.5) / 0.5),
        n_members=len(members),
        n_nonmembers=len(nonmembers),
        roc_fpr=fpr,
        roc_tpr=tpr,
    )
