"""Evaluation additions on toy tables: range-normalised Wasserstein, detection, label accuracy.

Statistical checks use fixed seeds and tolerances derived from the sample sizes: 5 standard
errors of a proportion, and 5 null standard errors of ROC AUC.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from privsynth.evaluate.columns import column_wasserstein, wasserstein_distance
from privsynth.evaluate.detection import FOLDS, detection
from privsynth.evaluate.inputs import prepare
from privsynth.evaluate.labels import label_accuracy
from privsynth.schema import CategoricalColumn, DatetimeColumn, NumericColumn, Schema
from privsynth.toy import toy_table

Z = 5.0


def _prepared(real: pd.DataFrame, synth: pd.DataFrame, schema: Schema):
    return prepare({"real": real, "synthetic": synth}, schema)


def _four_modes(n: int, seed: int) -> tuple[pd.DataFrame, Schema]:
    return toy_table("four_modes", n, np.random.default_rng(seed))


def _null_auc_se(n_real: int, n_synth: int) -> float:
    """Standard error of ROC AUC when scores do not depend on the class (Mann-Whitney)."""
    return float(np.sqrt((n_real + n_synth + 1) / (12 * n_real * n_synth)))


def _shift(df: pd.DataFrame, column: str, by: float) -> pd.DataFrame:
    out = df.copy()
    out[column] = (out[column].astype(float) + by).astype(str)
    return out


# --- Wasserstein ------------------------------------------------------------------------------


def test_wasserstein_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.exponential(size=200)
    assert wasserstein_distance(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    assert wasserstein_distance(a, a[::-1]) == 0.0


def test_wasserstein_zero_for_identical_and_shift_over_range() -> None:
    real, schema = _four_modes(2000, 1)
    same = column_wasserstein(schema, *_prepared(real, real.copy(), schema).tables.values())
    assert [s.name for s in same.scores] == ["x", "y"]  # numeric columns only
    assert same.mean() == 0.0
    moved = _shift(real, "x", 0.5)
    scores = column_wasserstein(schema, *_prepared(real, moved, schema).tables.values())
    by_name = {s.name: s for s in scores.scores}
    # Shifting every value by 0.5 moves W1 by 0.5; the public range of x is 10.
    assert by_name["x"].wasserstein == pytest.approx(0.05, rel=1e-9)
    assert by_name["x"].public_range == 10.0
    assert by_name["y"].wasserstein == 0.0
    # Far beyond the bounds, values are clipped to the upper bound 5 (so W1 / range <= 1).
    far = column_wasserstein(
        schema, *_prepared(real, _shift(real, "y", 100.0), schema).tables.values()
    )
    y = np.clip(real["y"].astype(float).to_numpy(), -5, 5)
    assert far.scores[1].wasserstein == pytest.approx(np.mean(5 - y) / 10, rel=1e-9)
    json.dumps(scores.to_dict(), allow_nan=False)


def test_wasserstein_missing_values_are_counted_not_dropped() -> None:
    real, schema = _four_modes(400, 2)
    synth = real.copy()
    synth.loc[:9, "x"] = ""  # x is not nullable: the evaluation widens it and counts
    scores = column_wasserstein(schema, *_prepared(real, synth, schema).tables.values())
    x = scores.to_dict()["per_column"]["x"]
    assert x["missing"] == {"real": 0, "synthetic": 10}
    assert x["wasserstein"] is not None and x["wasserstein"] < 0.01
    synth["y"] = ""
    scores = column_wasserstein(schema, *_prepared(real, synth, schema).tables.values())
    y = scores.to_dict()["per_column"]["y"]
    assert y["wasserstein"] is None and y["reason"] == "every synthetic value is missing"
    assert scores.to_dict()["columns"] == {"numeric": 2, "with_wasserstein": 1}


def test_wasserstein_of_datetimes_uses_the_public_range_in_seconds() -> None:
    schema = Schema((DatetimeColumn("t", "2020-01-01", "2020-01-11"),))
    real = pd.DataFrame({"t": ["2020-01-02", "2020-01-03"]})
    synth = pd.DataFrame({"t": ["2020-01-03", "2020-01-04"]})
    (score,) = column_wasserstein(schema, *_prepared(real, synth, schema).tables.values()).scores
    assert score.public_range == 10 * 86400
    assert score.wasserstein == pytest.approx(0.1)


# --- Detection --------------------------------------------------------------------------------


def test_detection_near_chance_for_an_independent_draw() -> None:
    n = 1000
    real, schema = _four_modes(n, 3)
    synth, _ = _four_modes(n, 4)
    result = detection(_prepared(real, synth, schema), seed=0)
    assert abs(result.roc_auc - 0.5) < Z * _null_auc_se(n, n)
    assert len(result.fold_auc) == FOLDS and result.roc_auc_se > 0
    assert result.detection_score > 1 - 2 * Z * _null_auc_se(n, n)
    data = result.to_dict()
    assert data["rows"]["used"] == {"real": n, "synthetic": n}
    assert data["rows"]["balancing"].startswith("none needed")
    assert data["features"] == {"categorical": ["label"], "ordinal_codes": ["x", "y"]}
    json.dumps(data, allow_nan=False)


def test_detection_near_one_for_noise() -> None:
    n = 600
    real, schema = _four_modes(n, 5)
    rng = np.random.default_rng(6)
    noise = pd.DataFrame(
        {
            "x": rng.uniform(-5, 5, n).astype(str),
            "y": rng.uniform(-5, 5, n).astype(str),
            "label": rng.choice(["0", "1"], n),
        }
    )
    result = detection(_prepared(real, noise, schema), seed=0)
    assert result.roc_auc > 0.9
    assert result.detection_score < 0.2


def test_detection_balances_unequal_tables_and_says_so() -> None:
    real, schema = _four_modes(300, 7)
    synth, _ = _four_modes(450, 8)
    prepared = _prepared(real, synth, schema)
    first, again = detection(prepared, seed=1), detection(prepared, seed=1)
    assert first == again  # deterministic for a seed
    rows = first.to_dict()["rows"]
    assert rows["available"] == {"real": 300, "synthetic": 450}
    assert rows["used"] == {"real": 300, "synthetic": 300}
    assert "150 synthetic rows left out" in rows["balancing"] and "seed 1" in rows["balancing"]


def test_detection_with_missing_values_and_too_few_rows() -> None:
    n = 400
    real, schema = _four_modes(n, 9)
    synth, _ = _four_modes(n, 19)
    synth.loc[:99, "x"] = ""  # x and label are not nullable: widened, missing is a feature
    synth.loc[100:119, "label"] = ""
    result = detection(_prepared(real, synth, schema), seed=0)
    # A perfect detector of the 120 rows with a missing value reaches AUC 0.5 + 0.5 * 120/400.
    assert result.roc_auc is not None
    assert result.roc_auc > 0.5 + 0.5 * 120 / n - Z * _null_auc_se(n, n)
    tiny = detection(_prepared(real.head(3), synth.head(4), schema), seed=0)
    assert tiny.roc_auc is None and tiny.detection_score is None
    assert "at least 5 rows" in tiny.to_dict()["skipped"]


def test_detection_handles_many_categories_as_ordinal() -> None:
    values = tuple(str(i) for i in range(300))
    schema = Schema((CategoricalColumn("c", values), NumericColumn("z", "integer", 0, 9)))
    rng = np.random.default_rng(10)

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame({"c": rng.choice(values, n), "z": rng.integers(0, 10, n).astype(str)})

    result = detection(_prepared(draw(100), draw(100), schema), seed=0)
    assert result.to_dict()["features"]["ordinal_codes"] == ["c", "z"]


# --- Label accuracy ---------------------------------------------------------------------------


def test_label_accuracy_one_for_real_half_for_shuffled() -> None:
    n = 2000
    real, schema = _four_modes(n, 11)
    shuffled = real.copy()
    shuffled["label"] = np.random.default_rng(12).choice(["0", "1"], n)
    result = label_accuracy(_prepared(real, shuffled, schema))
    assert result.tables["real"].accuracy > 0.999
    assert abs(result.tables["synthetic"].accuracy - 0.5) < Z * np.sqrt(0.25 / n)
    data = result.to_dict()
    assert data["mode_columns"] == ["x", "y"] and len(data["modes"]) == 4
    json.dumps(data, allow_nan=False)


def test_label_accuracy_counts_rows_it_cannot_score() -> None:
    real, schema = _four_modes(100, 13)
    synth = real.copy()
    synth.loc[:4, "x"] = ""
    synth.loc[5:7, "label"] = ""
    table = label_accuracy(_prepared(real, synth, schema)).tables["synthetic"]
    assert table.n_scored == 92
    assert table.excluded == {"missing_coordinate": 5, "label_missing_or_undeclared": 3}
    synth["x"] = ""
    table = label_accuracy(_prepared(real, synth, schema)).tables["synthetic"]
    assert table.accuracy is None and table.reason


def test_label_accuracy_mixture_reference_and_skips() -> None:
    real, schema = toy_table("mixture", 1000, np.random.default_rng(14), k=3, dims=2)
    result = label_accuracy(_prepared(real, real.copy(), schema))
    ref = result.tables["real"].accuracy
    assert 0.95 < ref <= 1.0 and result.tables["synthetic"].accuracy == ref
    funnel, fschema = toy_table("funnel", 50, np.random.default_rng(15))
    skipped = label_accuracy(_prepared(funnel, funnel, fschema)).to_dict()
    assert skipped["skipped"].startswith("skipped: the schema declares no mode centres")
