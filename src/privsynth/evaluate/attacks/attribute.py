"""The attribute-inference attack: what the release teaches about one sensitive column.

The attacker knows every column of a target but the sensitive one (the schema's label column;
without a label, the first categorical column; without one, the first column, its bins as
classes) and predicts it with a random forest (:mod:`.forest`) trained on the synthetic rows.
The membership signal is the forest's confidence (predicted probability) in the target's true
sensitive value, missing and "other" being values of their own. A release that reproduces its
training rows lets the forest recall the members' values with certainty; for a non-member it
can only generalise. Values that anyone could guess from the other columns limit the attack:
for such rows members and non-members both get a confident, correct answer. Reported too: the
inference accuracy (the most likely value is the true one) on members and on non-members,
the share of each the model is certain about (confidence 1 in the true value),
and the same forest's accuracy when trained on the attacker's reference rows instead (what
real data from the population alone allows).
"""

from __future__ import annotations

import numpy as np

from privsynth.evaluate.attacks.context import AttackContext, Scored
from privsynth.evaluate.attacks.encoding import Embedding, Encoded
from privsynth.evaluate.attacks.forest import class_probability, describe, forest
from privsynth.schema.columns import CategoricalColumn, Schema

DESCRIPTION = (
    "the attacker knows every column but a sensitive one, predicts it with a model trained on "
    "the synthetic rows, and takes the model's confidence in the true value as the membership "
    "signal; members whose rows the release reproduces are recalled with certainty"
)


def sensitive_column(schema: Schema) -> str:
    """The label column, else the first categorical column, else the first column."""
    if schema.label is not None:
        return schema.label
    for col in schema.columns:
        if isinstance(col, CategoricalColumn):
            return col.name
    return schema.columns[0].name


def why_not(ctx: AttackContext) -> str | None:
    """Why the attack cannot run on these tables, or None."""
    if len(ctx.prepared.schema.columns) < 2:
        return "skipped: a single column, nothing to infer it from"
    name = sensitive_column(ctx.prepared.schema)
    if ctx.prepared.domain[name] < 2:
        return f"skipped: sensitive column {name!r} has a single possible value"
    return None


def attribute_attack(ctx: AttackContext) -> Scored:
    """Scores of the member and non-member targets under the attribute-inference attack."""
    name = sensitive_column(ctx.prepared.schema)
    tables = ("real", "test", "synthetic")
    codes = {t: np.asarray(ctx.prepared.tables[t].codes[name]) for t in tables}
    picked, rows = ctx.synthetic_rows(stream=3)
    embed = Embedding.fit(ctx.reference.without(name))
    model = forest(ctx.seed).fit(
        embed(ctx.synthetic.take(picked).without(name)), codes["synthetic"][picked]
    )
    population = forest(ctx.seed).fit(
        embed(ctx.reference.without(name)), codes["test"][ctx.design.reference]
    )

    def attack(targets: Encoded, truth: np.ndarray) -> tuple[np.ndarray, float, float]:
        x = embed(targets.without(name))
        accuracy = float((model.predict(x) == truth).mean())
        baseline = float((population.predict(x) == truth).mean())
        return class_probability(model, x, truth), accuracy, baseline

    m_score, m_acc, m_base = attack(ctx.members, codes["real"][ctx.design.members])
    n_score, n_acc, n_base = attack(ctx.nonmembers, codes["test"][ctx.design.nonmembers])
    return Scored(
        m_score,
        n_score,
        DESCRIPTION,
        {
            "sensitive_column": name,
            "model": describe(ctx.seed),
            "inference_accuracy": {"members": m_acc, "nonmembers": n_acc},
            "reference_model_accuracy": {"members": m_base, "nonmembers": n_base},
            "mean_confidence": {
                "members": float(m_score.mean()),
                "nonmembers": float(n_score.mean()),
            },
            "certain_share": {
                "members": float((m_score == 1.0).mean()),
                "nonmembers": float((n_score == 1.0).mean()),
            },
            **rows,
        },
    )
