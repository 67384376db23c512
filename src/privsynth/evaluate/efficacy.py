"""Machine-learning efficacy: train on real or synthetic, test on real or synthetic (2 x 2).

One fixed classifier, ``HistGradientBoostingClassifier(random_state=seed)`` with its defaults
(early stopping switches itself on above 10 000 training rows), predicts the schema's label
column from all other columns: categorical columns as native categorical features (their
codes, "missing" and "other" being categories of their own), numeric and datetime columns as
their parsed values with NaN for missing.

Held-out rows: "real" test rows are the ``test`` table when one is given (the model trained on
real then sees all of ``real``), otherwise a fixed 20 % of ``real`` drawn with the seed, the
model training on the other 80 %. The synthetic table is always split 80/20 the same way. No
model is ever tested on a row it was trained on. Rows whose label is missing or outside the
declared values cannot be scored and are left out, and counted.

Positive class: for a label with two declared values, the second one (``'>50K'`` for Adult);
F1 and F2 are those of the positive class. With more classes, F1 and F2 are macro averages and
ROC AUC is the macro one-vs-rest average over the classes present in the test rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score, fbeta_score, roc_auc_score
from threadpoolctl import threadpool_limits

from privsynth.evaluate.inputs import Prepared, PreparedTable
from privsynth.schema.columns import CategoricalColumn

METRICS = ("accuracy", "f1", "f2", "roc_auc")
TEST_FRACTION = 0.2
# HistGradientBoosting handles at most this many categories per categorical feature.
_MAX_CATEGORIES = 255
# One OpenMP thread: results cannot depend on the core count, and on a shared machine busy
# OpenMP threads stall (on a loaded 2-core machine, Adult took 2-20x longer with 2 threads).
_THREADS = 1

NOTE = (
    "not private: models trained and tested on the real data. Rows are trained on and tested "
    "on disjoint sets: the real test rows are the test table when given, else a fixed 20% of "
    "real (seeded); synthetic is split 80/20 the same way"
)


@dataclass(frozen=True)
class Cell:
    """Scores of one (training data, test data) combination."""

    train: str
    test: str
    n_train: int
    n_test: int
    metrics: Mapping[str, float | None]
    reasons: Mapping[str, str] = field(default_factory=dict)
    model: str = "HistGradientBoostingClassifier"

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the four metrics (None where undefined, with a reason)."""
        out: dict[str, Any] = {"n_train": self.n_train, "n_test": self.n_test, **self.metrics}
        if self.model != "HistGradientBoostingClassifier":
            out["model"] = self.model
        if self.reasons:
            out["reasons"] = dict(self.reasons)
        return out


@dataclass(frozen=True)
class Efficacy:
    """The 2 x 2 efficacy matrix, or the reason it was skipped."""

    skipped: str | None = None
    label: str | None = None
    classes: tuple[str, ...] = ()
    positive_class: str | None = None
    seed: int = 0
    splits: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, Any] = field(default_factory=dict)
    cells: tuple[Cell, ...] = ()

    def cell(self, train: str, test: str) -> Cell:
        """The cell trained on ``train`` and tested on ``test`` ("real" or "synthetic")."""
        return next(c for c in self.cells if c.train == train and c.test == test)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``matrix[train_X][test_Y]`` holds the metrics of one cell."""
        if self.skipped:
            return {"note": NOTE, "skipped": self.skipped}
        matrix: dict[str, dict[str, Any]] = {}
        for c in self.cells:
            matrix.setdefault(f"train_{c.train}", {})[f"test_{c.test}"] = c.to_dict()
        return {
            "note": NOTE,
            "classifier": f"sklearn HistGradientBoostingClassifier(random_state={self.seed})",
            "label": self.label,
            "classes": list(self.classes),
            "positive_class": self.positive_class,
            "averaging": "positive class" if self.positive_class else "macro over classes",
            "features": dict(self.features),
            "splits": dict(self.splits),
            "matrix": matrix,
            **self.losses(),
        }

    def losses(self) -> dict[str, Any]:
        """The research's accuracy loss and the efficacy deltas, on the real test rows.

        ``accuracy_loss`` is p1 - p2: accuracy trained on real minus trained on synthetic,
        both tested on real. ``deltas`` are synthetic-trained minus real-trained for every
        metric (negative = synthetic data is worse), None where either side is undefined.
        """
        real, synth = self.cell("real", "real"), self.cell("synthetic", "real")
        deltas: dict[str, float | None] = {}
        for m in METRICS:
            a, b = real.metrics.get(m), synth.metrics.get(m)
            deltas[m] = None if a is None or b is None else float(b - a)
        acc = deltas["accuracy"]
        return {
            "accuracy_loss": None if acc is None else 0.0 - acc,
            "deltas_tested_on_real": deltas,
        }


def _split(n: int, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, stream]).permutation(n)
    n_test = max(1, round(TEST_FRACTION * n))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _features(
    prepared: Prepared, table: PreparedTable, label: str
) -> tuple[np.ndarray, np.ndarray]:
    columns, categorical = [], []
    for col in prepared.schema.columns:
        if col.name == label:
            continue
        if isinstance(col, CategoricalColumn):
            columns.append(table.codes[col.name].astype(float))
            categorical.append(prepared.domain[col.name] <= _MAX_CATEGORIES)
        else:
            columns.append(table.values[col.name])
            categorical.append(False)
    return np.column_stack(columns), np.array(categorical, dtype=bool)


def _scores(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities over all declared classes (zero for classes unseen in training)."""
    out = np.zeros((len(x), n_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def _metrics(
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    n_classes: int,
    why_no_auc: str | None,
) -> tuple[dict[str, float | None], dict[str, str]]:
    binary = n_classes == 2
    avg: dict[str, Any] = {"pos_label": 1, "average": "binary"} if binary else {"average": "macro"}
    metrics: dict[str, float | None] = {"accuracy": float(accuracy_score(y, pred))}
    reasons: dict[str, str] = {}
    if binary and not (y == 1).any():
        metrics["f1"] = metrics["f2"] = None
        reasons["f1"] = reasons["f2"] = "the test rows hold no positive-class row"
    else:
        metrics["f1"] = float(f1_score(y, pred, zero_division=0.0, **avg))
        metrics["f2"] = float(fbeta_score(y, pred, beta=2.0, zero_division=0.0, **avg))
    present = np.unique(y)
    if why_no_auc is None and len(present) < 2:
        why_no_auc = "the test rows hold a single class, so ROC AUC is undefined"
    if why_no_auc is not None or proba is None:
        metrics["roc_auc"] = None
        reasons["roc_auc"] = why_no_auc or "no scores"
    elif binary:
        metrics["roc_auc"] = float(roc_auc_score(y == 1, proba[:, 1]))
    else:
        aucs = [roc_auc_score(y == k, proba[:, k]) for k in present]
        metrics["roc_auc"] = float(np.mean(aucs))
    return metrics, reasons


@dataclass(frozen=True)
class _Trained:
    """A fitted model, or the single class seen in training (then predictions are constant)."""

    name: str
    n_train: int
    model: HistGradientBoostingClassifier | None
    only_class: int | None
    why_not: str | None = None


def _train(
    data: tuple[str, np.ndarray, np.ndarray], categorical: np.ndarray, seed: int
) -> _Trained:
    name, x, y = data
    if len(y) == 0:
        return _Trained(name, 0, None, None, f"no {name} rows with a label to train on")
    seen = np.unique(y)
    if len(seen) == 1:
        return _Trained(name, len(y), None, int(seen[0]))
    model = HistGradientBoostingClassifier(random_state=seed, categorical_features=categorical)
    with threadpool_limits(limits=_THREADS, user_api="openmp"):
        model.fit(x, y)
    return _Trained(name, len(y), model, None)


def _cell(
    trained: _Trained, test: tuple[str, np.ndarray, np.ndarray], classes: tuple[str, ...]
) -> Cell:
    test_name, x_test, y_test = test
    model = "HistGradientBoostingClassifier"
    why_not = trained.why_not or (None if len(y_test) else f"no {test_name} rows with a label")
    if why_not:
        metrics, reasons, model = dict.fromkeys(METRICS), dict.fromkeys(METRICS, why_not), "none"
    elif trained.model is None:
        only = classes[trained.only_class]
        why = f"the {trained.name} training rows hold only the class {only!r}: constant scores"
        pred = np.full(len(y_test), trained.only_class)
        metrics, reasons = _metrics(y_test, pred, None, len(classes), why)
        model = f"constant {only!r} (a single class in the training rows)"
    else:
        with threadpool_limits(limits=_THREADS, user_api="openmp"):
            proba = _scores(trained.model, x_test, len(classes))
            pred = trained.model.predict(x_test)
        metrics, reasons = _metrics(y_test, pred, proba, len(classes), None)
    return Cell(trained.name, test_name, trained.n_train, len(y_test), metrics, reasons, model)


def efficacy(
    prepared: Prepared,
    *,
    seed: int,
    step: Callable[[str], None] = lambda message: None,
) -> Efficacy:
    """Fill the 2 x 2 efficacy matrix for the schema's label (uses the "test" table if any)."""
    schema = prepared.schema
    if schema.label is None:
        return Efficacy(skipped="skipped: no label column in the schema")
    col = schema[schema.label]
    if not isinstance(col, CategoricalColumn):
        return Efficacy(
            skipped=f"skipped: label column {col.name!r} is {col.kind}, not categorical"
        )
    if len(col.values) < 2:
        return Efficacy(skipped=f"skipped: label column {col.name!r} declares a single value")
    if len(schema.columns) < 2:
        return Efficacy(skipped="skipped: no column besides the label to predict it from")
    classes = col.values
    data, excluded = {}, {}
    for name, table in prepared.tables.items():
        x, categorical = _features(prepared, table, col.name)
        y = table.codes[col.name]
        keep = y < len(classes)
        excluded[name] = int((~keep).sum())
        data[name] = (x[keep], y[keep])

    def part(name: str, idx: np.ndarray | None) -> tuple[str, np.ndarray, np.ndarray]:
        x, y = data[name]
        return (name, x, y) if idx is None else (name, x[idx], y[idx])

    if "test" in data:
        real_train, real_test = part("real", None), ("real", *data["test"])
        real_source = "the test table (real holdout)"
    else:
        tr, te = _split(len(data["real"][1]), seed, 0)
        real_train, real_test = part("real", tr), part("real", te)
        real_source = f"a 20% holdout of real drawn with seed {seed}"
    tr, te = _split(len(data["synthetic"][1]), seed, 1)
    synth_train, synth_test = part("synthetic", tr), part("synthetic", te)
    cells = []
    for train in (real_train, synth_train):
        step(f"efficacy: training on {train[0]}")
        trained = _train(train, categorical, seed)
        cells.extend(_cell(trained, test, classes) for test in (real_test, synth_test))
    binary = len(classes) == 2
    splits: dict[str, Any] = {
        "real_test_source": real_source,
        "synthetic_test_source": f"a 20% holdout of synthetic drawn with seed {seed}",
        "rows": {
            "real_train": len(real_train[2]),
            "real_test": len(real_test[2]),
            "synthetic_train": len(synth_train[2]),
            "synthetic_test": len(synth_test[2]),
        },
        "rows_without_declared_label_left_out": excluded,
    }
    if binary:
        splits["positive_share"] = {
            "real_test": float(np.mean(real_test[2] == 1)) if len(real_test[2]) else None,
            "synthetic_test": float(np.mean(synth_test[2] == 1)) if len(synth_test[2]) else None,
        }
    features = {
        "categorical": [
            c.name
            for c in schema.columns
            if isinstance(c, CategoricalColumn) and c.name != col.name
        ],
        "numeric": [c.name for c in schema.columns if not isinstance(c, CategoricalColumn)],
    }
    wide = [n for n in features["categorical"] if prepared.domain[n] > _MAX_CATEGORIES]
    if wide:
        features["categorical_as_ordinal_codes"] = wide
    return Efficacy(
        label=col.name,
        classes=classes,
        positive_class=classes[1] if binary else None,
        seed=seed,
        splits=splits,
        features=features,
        cells=tuple(cells),
    )
