"""The classifier attack: a model trained to tell the released data from other real data.

The attacker of the research note ("From attackers"): a classifier trained to recognise "true"
data, trained on the generative data instead of the private data. Here: a random forest
(:mod:`.forest`) learns to tell synthetic rows (label 1) from the attacker's reference rows of
the holdout (label 0), classes weighted to balance; a target's score is the forest's
probability that it is synthetic. If the generator reproduced its training rows, the members
are among the synthetic rows the forest memorised and score high; a non-member is only ever
judged by its neighbourhood.
"""

from __future__ import annotations

import numpy as np

from privsynth.evaluate.attacks.context import AttackContext, Scored
from privsynth.evaluate.attacks.encoding import Encoded
from privsynth.evaluate.attacks.forest import class_probability, describe, forest

DESCRIPTION = (
    "a classifier trained to tell the synthetic rows from real reference rows (held out, never "
    "targets) scores each target by its probability of being synthetic; a generator that "
    "reproduces its training rows makes the members look synthetic"
)


def classifier_attack(ctx: AttackContext) -> Scored:
    """Scores of the member and non-member targets under the classifier attack."""
    picked, rows = ctx.synthetic_rows(stream=1)
    synthetic = ctx.synthetic.take(picked)
    reference = ctx.reference
    x = np.vstack([ctx.embedding(synthetic), ctx.embedding(reference)])
    y = np.r_[np.ones(synthetic.n_rows, dtype=np.int64), np.zeros(reference.n_rows, dtype=np.int64)]
    model = forest(ctx.seed).fit(x, y)

    def score(targets: Encoded) -> np.ndarray:
        emb = ctx.embedding(targets)
        return class_probability(model, emb, np.ones(len(emb), dtype=np.int64))

    return Scored(
        score(ctx.members),
        score(ctx.nonmembers),
        DESCRIPTION,
        {
            "model": describe(ctx.seed),
            "training_rows": {"synthetic": synthetic.n_rows, "reference": reference.n_rows},
            **rows,
        },
    )
