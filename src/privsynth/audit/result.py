"""An audit's outcome: the claimed guarantee beside what the canaries showed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privsynth.audit.bounds import GDPEstimate, OneRunBound, Run, gdp_estimate, one_run_lower_bound


@dataclass(frozen=True)
class AuditResult:
    """Claimed (epsilon, delta), the assumption-free lower bound and the GDP estimate."""

    target: str
    mode: str
    claimed_epsilon: float
    delta: float
    runs: int
    canaries_per_run: int
    bound: OneRunBound
    gdp: GDPEstimate
    setting: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def violation(self) -> bool:
        """True when the assumption-free lower bound exceeds the claimed epsilon."""
        return self.bound.epsilon > self.claimed_epsilon

    @property
    def verdict(self) -> str:
        """One line for people."""
        if self.violation:
            return (
                f"VIOLATION: the canaries prove epsilon >= {self.bound.epsilon:.3g} with "
                f"{1 - self.bound.beta:.0%} confidence, above the claimed {self.claimed_epsilon:.3g}"
            )
        return (
            f"consistent: lower bound {self.bound.epsilon:.3g} <= claimed "
            f"{self.claimed_epsilon:.3g} (a passed audit does not prove the claim)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, with the method spelled out."""
        ratio = self.claimed_epsilon / self.bound.epsilon if self.bound.epsilon > 0 else None
        gdp_eps = self.gdp.epsilon
        gdp_ratio = self.claimed_epsilon / gdp_eps if gdp_eps else None
        return {
            "target": self.target,
            "mode": self.mode,
            "claimed_epsilon": self.claimed_epsilon,
            "delta": self.delta,
            "epsilon_lower_bound": self.bound.epsilon,
            "claimed_over_lower_bound": ratio,
            "epsilon_gdp_estimate": self.gdp.epsilon,
            "claimed_over_gdp_estimate": gdp_ratio,
            "violation": self.violation,
            "verdict": self.verdict,
            "runs": self.runs,
            "canaries_per_run": self.canaries_per_run,
            "method": (
                "one-run auditing with many canaries, each included independently with "
                "probability 1/2, pooled over independent runs; lower bound from the number of "
                "correct membership guesses (Steinke, Nasr & Jagielski 2023), valid for any "
                "(epsilon, delta)-DP mechanism"
            ),
            "lower_bound": self.bound.to_dict(),
            "gdp": self.gdp.to_dict(),
            "setting": dict(self.setting),
            "seconds": self.seconds,
        }


def summarize(
    runs: Sequence[Run],
    *,
    target: str,
    mode: str,
    claimed_epsilon: float,
    delta: float,
    rng: np.random.Generator,
    setting: Mapping[str, Any] | None = None,
    seconds: float = 0.0,
    beta: float = 0.05,
) -> AuditResult:
    """Both statements from the runs' scores."""
    if not runs:
        raise ValueError("an audit needs at least one run")
    return AuditResult(
        target=target,
        mode=mode,
        claimed_epsilon=float(claimed_epsilon),
        delta=float(delta),
        runs=len(runs),
        canaries_per_run=len(runs[0].scores),
        bound=one_run_lower_bound(runs, delta, beta=beta, rng=rng),
        gdp=gdp_estimate(runs, delta, beta=beta),
        setting=dict(setting or {}),
        seconds=seconds,
    )
