"""Results of the privacy attacks: one :class:`AttackResult` per attack, one :class:`AttackReport`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from privsynth.evaluate.attacks.metrics import Summary

PRIVACY = (
    "not private: the attacks are run and scored on the real training rows and the real "
    "holdout, for the data owner only"
)
NOTE = (
    "membership-inference attacks on the synthetic release. Targets: as many real training "
    "rows (members) as real holdout rows never used in training (non-members); the attacker "
    "trains only on the synthetic table and a separate reference half of the holdout, never on "
    "a target. auc: ROC AUC of telling members from non-members (0.5 = no better than chance), "
    "95% interval from a seeded stratified bootstrap over the targets; advantage: max over "
    "thresholds of TPR - FPR (maximised on the targets, so above 0 by chance), same bootstrap; "
    "accuracy P: share of targets classified correctly by a threshold chosen on the other half "
    "of the targets (two-fold cross-fitting, not optimistically biased); privacy_loss = "
    "(P - 0.5)/0.5 with a Clopper-Pearson 95% interval. An attack that fails is not a proof of "
    "privacy: only the generator's differential-privacy guarantee is"
)

Evidence = Literal["privacy attack", "similarity measure, not privacy evidence"]


def _pair(values: tuple[float, float]) -> list[float]:
    return [float(values[0]), float(values[1])]


@dataclass(frozen=True)
class AttackResult:
    """One attack's scores, what it is evidence of, and attack-specific details (``extra``)."""

    name: str
    evidence: Evidence
    description: str
    summary: Summary
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the common fields first, then the attack's own."""
        s = self.summary
        return {
            "auc": s.auc,
            "auc_ci": _pair(s.auc_ci),
            "advantage": s.advantage,
            "advantage_ci": _pair(s.advantage_ci),
            "accuracy": s.accuracy,
            "accuracy_ci": _pair(s.accuracy_ci),
            "privacy_loss": s.privacy_loss,
            "privacy_loss_ci": _pair(s.privacy_loss_ci),
            "n_members": s.n_members,
            "n_nonmembers": s.n_nonmembers,
            "evidence": self.evidence,
            "description": self.description,
            "roc": {"fpr": list(s.roc_fpr), "tpr": list(s.roc_tpr)},
            **dict(self.extra),
        }


@dataclass(frozen=True)
class AttackReport:
    """Every attack that ran, the reason for every one skipped, and how targets were chosen."""

    seed: int
    attacks: tuple[AttackResult, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)
    targets: Mapping[str, Any] = field(default_factory=dict)
    missing_values: Mapping[str, Any] = field(default_factory=dict)

    def attack(self, name: str) -> AttackResult:
        """The result of attack ``name`` (KeyError if it was skipped or unknown)."""
        for a in self.attacks:
            if a.name == name:
                return a
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "privacy": PRIVACY,
            "note": NOTE,
            "seed": self.seed,
            "attacks": {a.name: a.to_dict() for a in self.attacks},
            "skipped": dict(self.skipped),
            "targets": dict(self.targets),
            "missing_values": dict(self.missing_values),
        }
