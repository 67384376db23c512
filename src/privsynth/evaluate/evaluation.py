"""``evaluate``: compare a synthetic table with the real one it stands in for.

The comparison reads the real data freely, so nothing it returns is private: it is a report
for the data owner. Every row of every table is used (no subsampling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from privsynth.evaluate.columns import column_fidelity, column_wasserstein
from privsynth.evaluate.correlations import correlation_fidelity
from privsynth.evaluate.detection import detection
from privsynth.evaluate.efficacy import efficacy
from privsynth.evaluate.inputs import Prepared, prepare
from privsynth.evaluate.labels import label_accuracy
from privsynth.evaluate.marginals import marginal_fidelity
from privsynth.evaluate.report import EvaluationResult
from privsynth.schema.columns import Schema

Progress = Callable[[str, float], None]
ShadowFit = Callable[..., Any]

MAX_ORDER = 3


def evaluate(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    schema: Schema,
    *,
    test: pd.DataFrame | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    attacks: bool = False,
    shadow: ShadowFit | None = None,
) -> EvaluationResult:
    """Score ``synth`` against ``real`` under ``schema``.

    ``real``, ``synth`` and ``test`` are tables as :func:`privsynth.tables.read_table` returns
    them (text) or typed frames as :meth:`Discretizer.decode` returns them; all are encoded over
    the schema's public bins. Fidelity (all 1-, 2- and 3-way marginals, per-column TVD and KS,
    pairwise association) compares ``synth`` with ``real``; ``test``, a real holdout, is used
    only as the "real" test rows of the machine-learning efficacy matrix. ``seed`` fixes the
    classifier and the train/test splits; the result is deterministic for a seed.
    ``progress`` receives ``(message, fraction done)``. ``attacks`` adds the membership and
    attribute-inference attacks (:mod:`privsynth.evaluate.attacks`), which need ``test`` as
    the non-members: ``real`` must then be exactly the rows the generator was fitted on;
    ``shadow`` (see :func:`privsynth.evaluate.shadow.release_shadow`) enables the shadow-model
    attack among them.
    """
    report = progress or (lambda message, fraction: None)
    report("evaluate: encoding tables", 0.0)
    frames = {"real": real, "synthetic": synth}
    if test is not None:
        frames["test"] = test
    return evaluate_prepared(
        prepare(frames, schema), seed=seed, progress=report, attacks=attacks, shadow=shadow
    )


def evaluate_prepared(
    prepared: Prepared,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    attacks: bool = False,
    shadow: ShadowFit | None = None,
) -> EvaluationResult:
    """:func:`evaluate` on tables already brought onto the schema by :func:`prepare`."""
    report = progress or (lambda message, fraction: None)
    schema = prepared.schema
    r, s = prepared.tables["real"], prepared.tables["synthetic"]
    report("evaluate: marginals", 0.1)
    marginals = marginal_fidelity(r.codes, s.codes, prepared.domain, MAX_ORDER)
    report("evaluate: columns and correlations", 0.3)
    columns = column_fidelity(schema, prepared.domain, r, s)
    correlations = correlation_fidelity(schema, prepared.domain, r, s)
    wasserstein = column_wasserstein(schema, r, s)
    report("evaluate: detection", 0.35)
    detected = detection(prepared, seed=seed)
    steps = iter((0.5, 0.6))
    ml = efficacy(prepared, seed=seed, step=lambda message: report(message, next(steps, 0.65)))
    labels = label_accuracy(prepared)
    attack_data = None
    if attacks:
        from privsynth.evaluate.attacks import privacy_attacks

        report("evaluate: privacy attacks", 0.7)
        # A column widened for missing values has a code the generator's domain lacks, so
        # shadow rows could not be compared code for code: the shadow attack is then skipped.
        usable = None if prepared.widened else shadow
        attack_data = privacy_attacks(prepared, seed=seed, shadow=usable).to_dict()
    report("evaluate: done", 1.0)
    inputs = {
        "note": (
            "all tables are encoded through the schema's public discretization; per table and "
            "column: values clipped or mapped to 'other' to fit the schema, and missing values"
        ),
        "encoding_counts": {name: dict(t.changes) for name, t in prepared.tables.items()},
        "non_nullable_columns_with_missing": {
            col: {**counts, "handling": "counted in an extra 'missing' bin"}
            for col, counts in prepared.widened.items()
        },
    }
    rows = {
        name: prepared.tables[name].n_rows if name in prepared.tables else None
        for name in ("real", "synthetic", "test")
    }
    return EvaluationResult(
        seed,
        rows,
        inputs,
        marginals,
        columns,
        correlations,
        ml,
        wasserstein=wasserstein,
        detection=detected,
        label_accuracy=labels,
        attacks=attack_data,
    )
