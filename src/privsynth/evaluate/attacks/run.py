"""Run every privacy attack on one release and collect the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threadpoolctl import threadpool_limits

from privsynth.evaluate.attacks.attribute import attribute_attack, why_not
from privsynth.evaluate.attacks.classifier import classifier_attack
from privsynth.evaluate.attacks.context import AttackContext, Scored
from privsynth.evaluate.attacks.dcr import dcr_attack
from privsynth.evaluate.attacks.density import density_attack
from privsynth.evaluate.attacks.metrics import summarize
from privsynth.evaluate.attacks.result import AttackReport, AttackResult, Evidence
from privsynth.evaluate.attacks.shadow import ShadowFit, shadow_attack
from privsynth.evaluate.attacks.targets import design
from privsynth.evaluate.inputs import Prepared

ATTACKS = (
    "classifier",
    "density_ratio",
    "shadow_model",
    "attribute_inference",
    "distance_to_closest_record",
)
"""The attacks, in report order."""
PRIVACY_ATTACK: Evidence = "privacy attack"
SIMILARITY: Evidence = "similarity measure, not privacy evidence"
# One thread for BLAS and OpenMP: results cannot depend on the core count.
_THREADS = 1


def _missing(prepared: Prepared) -> dict[str, Any]:
    counts = {
        name: {c: n for c, n in table.missing.items() if n}
        for name, table in prepared.tables.items()
    }
    return {
        "counts": counts,
        "widened_columns": {c: dict(v) for c, v in prepared.widened.items()},
        "handling": (
            "no row is dropped: a missing value is a value of its own in every feature (a code "
            "of its own for categorical columns; for numeric columns a missing indicator in the "
            "models and kernels, and distance 1 to any present value in the Gower distance)"
        ),
    }


def privacy_attacks(
    prepared: Prepared,
    *,
    seed: int,
    shadow: ShadowFit | None = None,
    max_targets: int = 2000,
) -> AttackReport:
    """Membership-inference attacks on ``prepared``'s "synthetic" table (NOT private).

    ``prepared`` must hold "real" (the generator's training rows: members) and "synthetic"
    (the release); "test" (real rows never used in training: non-members) is needed for every
    attack, which is skipped with a reason without it. ``shadow`` fits the release's generator
    on codes for the shadow-model attack (skipped without it). At most ``max_targets`` targets
    are attacked, half members and half non-members. Deterministic for a seed.
    """
    missing = _missing(prepared)
    if "test" not in prepared.tables:
        reason = (
            "skipped: no test table: the attacks need real rows never used in training "
            "(non-members) to compare the training rows (members) against"
        )
        return AttackReport(seed, skipped=dict.fromkeys(ATTACKS, reason), missing_values=missing)
    plan = design(
        prepared.tables["real"].n_rows,
        prepared.tables["test"].n_rows,
        seed=seed,
        max_targets=max_targets,
    )
    if isinstance(plan, str):
        return AttackReport(seed, skipped=dict.fromkeys(ATTACKS, plan), missing_values=missing)
    results: list[AttackResult] = []
    skipped: dict[str, str] = {}
    with threadpool_limits(limits=_THREADS):
        ctx = AttackContext.build(prepared, plan, seed)
        runs: dict[str, tuple[Evidence, Callable[[], Scored]] | str] = {
            "classifier": (PRIVACY_ATTACK, lambda: classifier_attack(ctx)),
            "density_ratio": (PRIVACY_ATTACK, lambda: density_attack(ctx)),
            "shadow_model": (
                (PRIVACY_ATTACK, lambda: shadow_attack(ctx, shadow))
                if shadow is not None
                else "skipped: no shadow generator given (the caller must supply one that fits "
                "the release's generator on codes)"
            ),
            "attribute_inference": why_not(ctx) or (PRIVACY_ATTACK, lambda: attribute_attack(ctx)),
            "distance_to_closest_record": (SIMILARITY, lambda: dcr_attack(ctx, max_targets)),
        }
        for name in ATTACKS:
            run = runs[name]
            if isinstance(run, str):
                skipped[name] = run
                continue
            evidence, attack = run
            scored = attack()
            summary = summarize(scored.members, scored.nonmembers, plan)
            results.append(AttackResult(name, evidence, scored.description, summary, scored.extra))
    return AttackReport(seed, tuple(results), skipped, dict(plan.info), missing)
