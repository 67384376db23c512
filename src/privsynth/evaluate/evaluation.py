"""``evaluate``: compare a synthetic table with the real one it stands in for.

The comparison reads the real data freely, so nothing it returns is private: it is a report
for the data owner. Every row of every table is used (no subsampling).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from privsynth.evaluate.columns import column_fidelity
from privsynth.evaluate.correlations import correlation_fidelity
from privsynth.evaluate.efficacy import efficacy
from privsynth.evaluate.inputs import prepare
from privsynth.evaluate.marginals import marginal_fidelity
from privsynth.evaluate.report import EvaluationResult
from privsynth.schema.columns import Schema

Progress = Callable[[str, float], None]

MAX_ORDER = 3


def evaluate(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    schema: Schema,
    *,
    test: pd.DataFrame | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Score ``synth`` against ``real`` under ``schema``.

    ``real``, ``synth`` and ``test`` are tables as :func:`privsynth.tables.read_table` returns
    them (text) or typed frames as :meth:`Discretizer.decode` returns them; all are encoded over
    the schema's public bins. Fidelity (all 1-, 2- and 3-way marginals, per-column TVD and KS,
    pairwise association) compares ``synth`` with ``real``; ``test``, a real holdout, is used
    only as the "real" test rows of the machine-learning efficacy matrix. ``seed`` fixes the
    classifier and the train/test splits; the result is deterministic for a seed.
    ``progress`` receives ``(message, fraction done)``.
    """
    report = progress or (lambda message, fraction: None)
    report("evaluate: encoding tables", 0.0)
    frames = {"real": real, "synthetic": synth}
    if test is not None:
        frames["test"] = test
    prepared = prepare(frames, schema)
    r, s = prepared.tables["real"], prepared.tables["synthetic"]
    report("evaluate: marginals", 0.1)
    marginals = marginal_fidelity(r.codes, s.codes, prepared.domain, MAX_ORDER)
    report("evaluate: columns and correlations", 0.3)
    columns = column_fidelity(schema, prepared.domain, r, s)
    correlations = correlation_fidelity(schema, prepared.domain, r, s)
    steps = iter((0.4, 0.7))
    ml = efficacy(prepared, seed=seed, step=lambda message: report(message, next(steps, 0.9)))
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
    return EvaluationResult(seed, rows, inputs, marginals, columns, correlations, ml)
