"""Detection: how well a fixed classifier tells real rows from synthetic ones.

Not private: the classifier is trained and tested on the real rows, for the data owner.

Features are the schema's public discretization, from :func:`privsynth.evaluate.inputs.prepare`:
categorical columns as native categorical features (their codes; "missing" and "other" are
categories of their own; a column with more than 255 codes is taken as ordinal codes), numeric
and datetime columns as their ordinal bin codes with NaN for missing. The classifier therefore
sees exactly what a marginal-based generator can reproduce; differences inside a bin are
invisible to it (the per-column KS and Wasserstein scores see those).

The classifier is ``HistGradientBoostingClassifier(random_state=seed)`` with the fixed
hyperparameters :data:`HYPERPARAMETERS` (early stopping off, so nothing depends on the table
size), in stratified 5-fold cross-validation shuffled with the seed. Each row is scored once,
by the model that did not train on it. Reported: the mean ROC AUC over the folds (0.5 =
indistinguishable, 1 = perfectly told apart), its standard error across folds, every fold's
AUC, and ``detection_score = 1 - 2 * max(AUC - 0.5, 0)`` (1 = indistinguishable, 0 = perfectly
detected; an AUC below 0.5 on held-out rows is noise and counts as 0.5, as in SDMetrics).

Balance: chance level is AUC 0.5 whatever the class sizes, but a lopsided training set makes
a weaker detector, so both classes get the same number of rows. When the tables differ in size,
each is put in a seeded random order and its first ``min(n_real, n_synthetic)`` rows are used;
the result says how many rows of each were available and used, and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from privsynth.evaluate.inputs import Prepared, PreparedTable
from privsynth.schema.columns import CategoricalColumn

FOLDS = 5
HYPERPARAMETERS: Mapping[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 100,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "early_stopping": False,
}
# HistGradientBoosting handles at most this many categories per categorical feature.
_MAX_CATEGORIES = 255
# One OpenMP thread: results cannot depend on the core count (as in efficacy).
_THREADS = 1

NOTE = (
    "not private: a classifier trained and tested on real rows. ROC AUC of telling real from "
    "synthetic rows (0.5 = indistinguishable, 1 = told apart), stratified 5-fold "
    "cross-validation, each row scored by a model that did not train on it; features are the "
    "schema's public bins; detection_score = 1 - 2*max(AUC - 0.5, 0) (1 = indistinguishable)"
)


@dataclass(frozen=True)
class Detection:
    """The detection result, or the reason it was skipped."""

    skipped: str | None = None
    seed: int = 0
    roc_auc: float | None = None
    roc_auc_se: float | None = None
    fold_auc: tuple[float, ...] = ()
    rows: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, Any] = field(default_factory=dict)

    @property
    def detection_score(self) -> float | None:
        """``1 - 2 * max(AUC - 0.5, 0)``: 1 = indistinguishable, 0 = perfectly detected."""
        if self.roc_auc is None:
            return None
        return 1.0 - 2.0 * max(self.roc_auc - 0.5, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        if self.skipped:
            return {"note": NOTE, "skipped": self.skipped}
        return {
            "note": NOTE,
            "classifier": (
                f"sklearn HistGradientBoostingClassifier(random_state={self.seed}), "
                f"{FOLDS}-fold stratified cross-validation shuffled with seed {self.seed}"
            ),
            "hyperparameters": dict(HYPERPARAMETERS),
            "roc_auc": self.roc_auc,
            "roc_auc_se": self.roc_auc_se,
            "fold_roc_auc": list(self.fold_auc),
            "detection_score": self.detection_score,
            "rows": dict(self.rows),
            "features": dict(self.features),
        }


def _features(prepared: Prepared, table: PreparedTable) -> tuple[np.ndarray, np.ndarray]:
    """Codes as floats (NaN for a missing numeric value) and the categorical-feature mask."""
    columns, categorical = [], []
    for col in prepared.schema.columns:
        codes = table.codes[col.name].astype(float)
        size = prepared.domain[col.name]
        if isinstance(col, CategoricalColumn):
            columns.append(codes)
            categorical.append(size <= _MAX_CATEGORIES)
        else:
            if col.nullable:
                codes[codes == size - 1] = np.nan
            columns.append(codes)
            categorical.append(False)
    return np.column_stack(columns), np.array(categorical, dtype=bool)


def _balance(n_real: int, n_synth: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    n = min(n_real, n_synth)
    take_real = np.random.default_rng([seed, 2, 0]).permutation(n_real)[:n]
    take_synth = np.random.default_rng([seed, 2, 1]).permutation(n_synth)[:n]
    rows: dict[str, Any] = {
        "available": {"real": n_real, "synthetic": n_synth},
        "used": {"real": n, "synthetic": n},
    }
    if n_real != n_synth:
        larger = "real" if n_real > n_synth else "synthetic"
        rows["balancing"] = (
            f"the {larger} table has more rows; both classes get {n} rows so the classifier "
            f"trains on balanced classes: each table was put in a random order drawn with seed "
            f"{seed} and its first {n} rows were used ({max(n_real, n_synth) - n} {larger} "
            "rows left out)"
        )
    else:
        rows["balancing"] = "none needed: both tables have the same number of rows, all used"
    return take_real, take_synth, rows


def detection(prepared: Prepared, *, seed: int) -> Detection:
    """Cross-validated ROC AUC of a classifier telling ``real`` from ``synthetic`` rows."""
    real, synth = prepared.tables["real"], prepared.tables["synthetic"]
    take_real, take_synth, rows = _balance(real.n_rows, synth.n_rows, seed)
    n = len(take_real)
    if n < FOLDS:
        return Detection(
            skipped=(
                f"skipped: {FOLDS}-fold cross-validation needs at least {FOLDS} rows of each "
                f"table, got {n}"
            ),
            seed=seed,
            rows=rows,
        )
    x_real, categorical = _features(prepared, real)
    x_synth, _ = _features(prepared, synth)
    x = np.concatenate([x_real[take_real], x_synth[take_synth]])
    y = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    aucs = []
    with threadpool_limits(limits=_THREADS, user_api="openmp"):
        for train, test in folds.split(x, y):
            model = HistGradientBoostingClassifier(
                random_state=seed, categorical_features=categorical, **HYPERPARAMETERS
            )
            model.fit(x[train], y[train])
            aucs.append(float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])))
    features: dict[str, Any] = {
        "categorical": [
            c.name for c, cat in zip(prepared.schema.columns, categorical, strict=True) if cat
        ],
        "ordinal_codes": [
            c.name for c, cat in zip(prepared.schema.columns, categorical, strict=True) if not cat
        ],
    }
    return Detection(
        seed=seed,
        roc_auc=float(np.mean(aucs)),
        roc_auc_se=float(np.std(aucs, ddof=1) / np.sqrt(FOLDS)),
        fold_auc=tuple(aucs),
        rows=rows,
        features=features,
    )
