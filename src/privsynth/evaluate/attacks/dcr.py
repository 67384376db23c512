"""Distance to the closest record: how near the release comes to each training row.

Not an attack with a privacy meaning on its own (a close synthetic row can be a typical row,
and a far one can still leak), hence labelled a similarity measure. A target's score is minus
its Gower distance (:mod:`.gower`, from parsed values) to the nearest synthetic row.

Also reported: the share of synthetic rows closer to a training row than to a holdout row
(ties count one half). The training and holdout sets are made the same size (the larger is
sampled down, seeded), so the share is 0.5 when the release is no closer to the training rows
than to fresh rows from the same population; at most ``max_targets`` synthetic rows are used
(seeded sample). Its 95 % interval is a percentile bootstrap over those synthetic rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privsynth.evaluate.attacks.context import AttackContext, Scored
from privsynth.evaluate.attacks.gower import nearest
from privsynth.evaluate.attacks.metrics import LEVEL
from privsynth.evaluate.attacks.targets import BOOTSTRAP

DESCRIPTION = (
    "distance from each target to its closest synthetic row (Gower: categorical mismatch, "
    "numeric difference over the public range, missing a value of its own, averaged over "
    "columns); members closer than non-members means the release stays near its training rows"
)


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.permutation(n)[:size])


def closer_to_training(ctx: AttackContext, max_rows: int) -> dict[str, Any]:
    """Share of synthetic rows closer to a training row than to a holdout row, with interval."""
    rng = np.random.default_rng([ctx.seed, 6])
    size = min(ctx.real.n_rows, ctx.test.n_rows)
    training = ctx.real.take(_sample(ctx.real.n_rows, size, rng))
    holdout = ctx.test.take(_sample(ctx.test.n_rows, size, rng))
    n_synth = min(ctx.synthetic.n_rows, max_rows)
    synthetic = ctx.synthetic.take(_sample(ctx.synthetic.n_rows, n_synth, rng))
    d_train = nearest(synthetic, training, 1)[:, 0]
    d_hold = nearest(synthetic, holdout, 1)[:, 0]
    closer = (d_train < d_hold) + 0.5 * (d_train == d_hold)
    boot = np.random.default_rng([ctx.seed, 7]).integers(0, n_synth, size=(BOOTSTRAP, n_synth))
    lo, hi = np.quantile(closer[boot].mean(axis=1), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return {
        "share": float(closer.mean()),
        "share_ci": [float(lo), float(hi)],
        "baseline": 0.5,
        "ties_share": float((d_train == d_hold).mean()),
        "rows": {"synthetic": n_synth, "training": size, "holdout": size},
        "sampling": (
            f"{size} training and {size} holdout rows (the smaller table whole, the larger "
            f"sampled down) and {n_synth} of {ctx.synthetic.n_rows} synthetic rows, seed "
            f"{ctx.seed}; ties count one half; interval: {BOOTSTRAP} bootstrap resamples of the "
            "synthetic rows"
        ),
    }


def dcr_attack(ctx: AttackContext, max_rows: int) -> Scored:
    """Scores (minus the distance to the closest synthetic row) and the closer-share."""
    members = nearest(ctx.members, ctx.synthetic, 1)[:, 0]
    nonmembers = nearest(ctx.nonmembers, ctx.synthetic, 1)[:, 0]
    return Scored(
        -members,
        -nonmembers,
        DESCRIPTION,
        {
            "median_dcr": {
                "members": float(np.median(members)),
                "nonmembers": float(np.median(nonmembers)),
            },
            "exact_match_share": {
                "members": float((members == 0).mean()),
                "nonmembers": float((nonmembers == 0).mean()),
            },
            "closer_to_training": closer_to_training(ctx, max_rows),
        },
    )
