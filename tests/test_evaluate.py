"""Evaluation v1: marginal fidelity, per-column scores, associations, efficacy and reports.

Statistical checks use fixed seeds and bounds derived from the sample sizes: the expected TVD
between two samples of the same distribution, and the null standard error of ROC AUC.
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

from privsynth.evaluate import PRIVACY, evaluate, ks_statistic
from privsynth.evaluate import marginals as marginals_module
from privsynth.evaluate.correlations import cramers_v
from privsynth.evaluate.efficacy import METRICS
from privsynth.evaluate.inputs import prepare
from privsynth.evaluate.marginals import marginal_fidelity, marginal_tvds
from privsynth.marginals.counting import contingency
from privsynth.schema import CategoricalColumn, DatetimeColumn, NumericColumn, Schema
from privsynth.transforms import Discretizer


@pytest.fixture(scope="module")
def splits(adult_df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Disjoint row sets of Adult: real (4 000), test (2 000), other (4 000)."""
    order = np.random.default_rng(7).permutation(len(adult_df))
    take = {"real": order[:4000], "test": order[4000:6000], "other": order[6000:10000]}
    return {k: adult_df.iloc[v].reset_index(drop=True) for k, v in take.items()}


@pytest.fixture(scope="module")
def identical(adult_small, adult_schema):
    """Real evaluated against itself."""
    return evaluate(adult_small, adult_small.copy(), adult_schema, seed=0)


def test_identical_tables_score_zero(identical) -> None:
    data = identical.to_dict()
    assert {m.tvd for m in identical.marginals.scores} == {0.0}
    assert [data["marginals"]["orders"][k]["n_marginals"] for k in "123"] == [15, 105, 455]
    for name, col in data["columns"]["per_column"].items():
        assert col["tvd"] == 0.0, name
        if col["kind"] != "categorical":
            assert col["ks"] == 0.0, name
    assert data["correlations"]["pearson"]["mean_abs_diff"] == 0.0
    assert data["correlations"]["cramers_v"]["mean_abs_diff"] == 0.0
    assert data["correlations"]["pearson"]["n_pairs"] == 15  # 6 numeric columns
    assert data["correlations"]["cramers_v"]["n_pairs"] == 36  # 9 categorical columns


def test_result_is_labelled_and_json_able(identical) -> None:
    data = identical.to_dict()
    assert data["privacy"] == PRIVACY and "not private" in PRIVACY
    assert data["sampling"].startswith("none")
    for section in (
        "marginals",
        "columns",
        "correlations",
        "efficacy",
        "wasserstein",
        "detection",
        "label_accuracy",
    ):
        assert data[section]["note"], section
    json.dumps(data, allow_nan=False)
    full = identical.to_dict(full=True)
    assert len(full["marginals"]["orders"]["3"]["all"]) == 455


def test_renderings(identical) -> None:
    text = identical.to_table()
    assert PRIVACY in text
    for title in ("Marginal fidelity", "Columns", "Pairwise association", "Detection", "efficacy"):
        assert title in text
    console = Console(record=True, width=160)
    console.print(identical.to_rich())
    shown = console.export_text()
    assert "ROC AUC" in shown and "native-country" in shown and "not private" in shown


def test_independent_noise_is_clearly_worse_than_a_disjoint_sample(adult_df, adult_schema) -> None:
    order = np.random.default_rng(3).permutation(len(adult_df))
    n = len(adult_df) // 2
    real = adult_df.iloc[order[:n]].reset_index(drop=True)
    other = adult_df.iloc[order[n : 2 * n]].reset_index(drop=True)
    rng = np.random.default_rng(4)
    shuffled = other.apply(lambda col: col.to_numpy()[rng.permutation(n)])
    prep = prepare({"real": real, "synthetic": other, "test": shuffled}, adult_schema)
    codes = {k: t.codes for k, t in prep.tables.items()}
    disjoint = marginal_fidelity(codes["real"], codes["synthetic"], prep.domain)
    noise = marginal_fidelity(codes["real"], codes["test"], prep.domain)
    assert disjoint.mean(1) == pytest.approx(noise.mean(1))  # shuffling keeps each column
    for k in (2, 3):
        # E|p_hat - q_hat| <= sqrt(p(1-p)(1/n + 1/n)) per cell: what sampling alone can produce.
        bounds = []
        for cols in combinations(prep.domain.attributes, k):
            shape = prep.domain.shape(cols)
            pooled = sum(
                contingency([codes[t][c] for c in cols], shape) for t in ("real", "synthetic")
            )
            p = pooled.ravel() / (2 * n)
            bounds.append(0.5 * np.sqrt(p * (1 - p) * 2 / n).sum())
        bound = float(np.mean(bounds))
        assert disjoint.mean(k) <= bound
        assert noise.mean(k) >= 2 * bound


def _brute_tvd(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> float:
    p = a.groupby(cols, dropna=False).size() / len(a)
    q = b.groupby(cols, dropna=False).size() / len(b)
    p, q = p.align(q, fill_value=0.0)
    return 0.5 * float((p - q).abs().sum())


@pytest.mark.parametrize("dense_cells", [1 << 20, 5])
def test_kway_tvd_matches_brute_force(monkeypatch, dense_cells) -> None:
    # A small threshold forces the sparse (renumbered) path on the same data.
    monkeypatch.setattr(marginals_module, "_DENSE_CELLS", dense_cells)
    schema = Schema(
        (
            CategoricalColumn("a", ("x", "y", "z"), nullable=True),
            CategoricalColumn("b", ("u", "v")),
            NumericColumn("c", "integer", 1, 4, bins=4),
            CategoricalColumn("d", ("p", "q", "r", "s")),
        ),
        missing_values=("",),
    )
    rng = np.random.default_rng(11)

    def table(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "a": rng.choice(["x", "y", "z", ""], n),
                "b": rng.choice(["u", "v"], n, p=[0.8, 0.2]),
                "c": rng.integers(1, 5, n).astype(str),
                "d": rng.choice(["p", "q", "r", "s"], n),
            }
        )

    real, synth = table(40), table(30)
    prep = prepare({"real": real, "synthetic": synth}, schema)
    scores = marginal_tvds(
        prep.tables["real"].codes, prep.tables["synthetic"].codes, prep.domain, 4
    )
    assert len(scores) == 2**4 - 1
    for m in scores:
        assert m.tvd == pytest.approx(_brute_tvd(real, synth, list(m.columns)), abs=1e-12)


def test_ks_and_cramers_v_match_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=200).round(1)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    table = rng.integers(0, 30, size=(4, 3))
    expected = stats.contingency.association(table, method="cramer")
    assert cramers_v(table) == pytest.approx(expected, abs=1e-12)
    assert cramers_v(np.array([[5, 0], [7, 0]])) is None


def test_missing_synthetic_values_keep_every_metric(adult_small, adult_schema) -> None:
    schema = replace(adult_schema, label=None)
    synth = adult_small.copy()
    rng = np.random.default_rng(2)
    age_gone = rng.choice(len(synth), 100, replace=False)
    synth.loc[age_gone, "age"] = "?"  # age is not nullable in the schema
    synth.loc[rng.choice(len(synth), 300, replace=False), "workclass"] = "?"
    result = evaluate(adult_small, synth, schema, seed=0)
    data = result.to_dict()
    age = data["columns"]["per_column"]["age"]
    assert age["missing"] == {"real": 0, "synthetic": 100}
    kept = np.delete(adult_small["age"].astype(float).to_numpy(), age_gone)
    expected = stats.ks_2samp(adult_small["age"].astype(float), kept).statistic
    assert age["ks"] == pytest.approx(expected, abs=1e-12)
    assert age["tvd"] == pytest.approx(100 / len(synth))  # exactly the mass moved to "missing"
    assert data["inputs"]["non_nullable_columns_with_missing"]["age"]["synthetic"] == 100
    assert data["marginals"]["all_orders"]["n_marginals"] == 15 + 105 + 455
    assert data["correlations"]["pearson"]["n_pairs"] == 15
    assert data["columns"]["per_column"]["workclass"]["missing"]["synthetic"] >= 300
    assert data["efficacy"]["skipped"] == "skipped: no label column in the schema"
    assert "skipped: no label column" in result.to_table()
    json.dumps(data, allow_nan=False)


def test_typed_frames_from_decode_are_accepted(adult_small, adult_schema) -> None:
    disc = Discretizer(adult_schema)
    table, _ = disc.encode(adult_small)
    typed = disc.decode(table.codes, np.random.default_rng(0))
    assert typed["age"].dtype == "Int64" and typed["workclass"].isna().any()
    result = evaluate(adult_small, typed, replace(adult_schema, label=None), seed=0)
    # Decoded values stay in their bins, so every marginal matches exactly.
    assert {m.tvd for m in result.marginals.scores} == {0.0}
    per = result.to_dict()["columns"]["per_column"]
    assert per["workclass"]["missing"]["synthetic"] == per["workclass"]["missing"]["real"]
    assert per["age"]["ks"] == 0.0  # one bin per age value
    assert per["fnlwgt"]["ks"] > 0.0  # values redrawn inside wide bins


def _auc_null_band(y_test: np.ndarray) -> float:
    """Five null standard errors of ROC AUC (Mann-Whitney) for this test set."""
    n1 = int(y_test.sum())
    n0 = len(y_test) - n1
    return 5 * float(np.sqrt((n0 + n1 + 1) / (12 * n0 * n1)))


def test_efficacy_matrix_good_on_real_and_chance_on_shuffled_labels(splits, adult_schema) -> None:
    synth = splits["other"].copy()
    synth["income"] = synth["income"].to_numpy()[np.random.default_rng(9).permutation(len(synth))]
    result = evaluate(splits["real"], synth, adult_schema, test=splits["test"], seed=0)
    eff = result.to_dict()["efficacy"]
    assert eff["positive_class"] == ">50K"
    assert eff["splits"]["rows"] == {
        "real_train": 4000,
        "real_test": 2000,
        "synthetic_train": 3200,
        "synthetic_test": 800,
    }
    for train in ("train_real", "train_synthetic"):
        for test in ("test_real", "test_synthetic"):
            cell = eff["matrix"][train][test]
            for m in METRICS:
                assert 0.0 <= cell[m] <= 1.0, (train, test, m)
    assert eff["matrix"]["train_real"]["test_real"]["roc_auc"] > 0.8
    y_test = (splits["test"]["income"] == ">50K").to_numpy()
    band = _auc_null_band(y_test)
    assert abs(eff["matrix"]["train_synthetic"]["test_real"]["roc_auc"] - 0.5) < band


def test_efficacy_splits_real_without_test(identical) -> None:
    eff = identical.efficacy
    assert eff.splits["rows"] == {
        "real_train": 2400,
        "real_test": 600,
        "synthetic_train": 2400,
        "synthetic_test": 600,
    }
    assert "20% holdout" in eff.splits["real_test_source"]
    assert eff.cell("real", "real").metrics["roc_auc"] > 0.8


def test_absent_class_in_synthetic_gives_null_auc_with_reason(splits, adult_schema) -> None:
    synth = splits["other"].copy()
    synth["income"] = "<=50K"
    result = evaluate(splits["real"], synth, adult_schema, seed=0)
    eff = result.to_dict()["efficacy"]
    from_synth = eff["matrix"]["train_synthetic"]["test_real"]
    assert from_synth["roc_auc"] is None and "only the class" in from_synth["reasons"]["roc_auc"]
    assert from_synth["accuracy"] == pytest.approx(1 - eff["splits"]["positive_share"]["real_test"])
    on_synth = eff["matrix"]["train_real"]["test_synthetic"]
    assert on_synth["roc_auc"] is None and "single class" in on_synth["reasons"]["roc_auc"]
    assert on_synth["f1"] is None and on_synth["accuracy"] is not None
    json.dumps(eff, allow_nan=False)
    assert "only the class" in result.to_table()


def test_deterministic_for_a_seed(adult_small, adult_schema, identical) -> None:
    again = evaluate(adult_small, adult_small.copy(), adult_schema, seed=0)
    assert again.to_dict(full=True) == identical.to_dict(full=True)
    other_seed = evaluate(adult_small, adult_small.copy(), adult_schema, seed=1)
    assert other_seed.to_dict()["efficacy"] != identical.to_dict()["efficacy"]


def test_progress_is_reported(adult_small, adult_schema) -> None:
    seen: list[tuple[str, float]] = []
    evaluate(
        adult_small,
        adult_small,
        replace(adult_schema, label=None),
        progress=lambda m, f: seen.append((m, f)),
    )
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_multiclass_label_and_numeric_label(adult_small, adult_schema) -> None:
    multi = evaluate(adult_small, adult_small, replace(adult_schema, label="race"), seed=0)
    eff = multi.to_dict()["efficacy"]
    assert eff["positive_class"] is None and eff["averaging"] == "macro over classes"
    for tests in eff["matrix"].values():
        for cell in tests.values():
            assert all(0.0 <= cell[m] <= 1.0 for m in METRICS)
    numeric = evaluate(adult_small, adult_small, replace(adult_schema, label="age"), seed=0)
    assert numeric.to_dict()["efficacy"]["skipped"].startswith("skipped: label column 'age'")


def test_datetime_and_continuous_columns_typed_and_text() -> None:
    schema = Schema(
        (
            DatetimeColumn("when", "2020-01-01", "2021-01-01", bins=12, nullable=True),
            NumericColumn("x", "continuous", 0.0, 1.0, bins=10),
            CategoricalColumn("k", ("a", "b")),
        ),
        missing_values=("NA",),
    )
    disc = Discretizer(schema)
    rng = np.random.default_rng(6)
    codes = {
        "when": rng.integers(0, 13, 500),
        "x": rng.integers(0, 10, 500),
        "k": rng.integers(0, 2, 500),
    }
    typed = disc.decode(codes, rng)
    text = typed.astype(object).where(typed.notna(), "NA").astype(str)
    text["when"] = (
        typed["when"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").where(typed["when"].notna(), "NA")
    )
    result = evaluate(text, typed, schema, seed=0)
    assert {m.tvd for m in result.marginals.scores} == {0.0}
    per = result.to_dict()["columns"]["per_column"]
    assert per["when"]["ks"] == pytest.approx(0.0, abs=1e-12)
    assert (
        per["when"]["missing"]["real"]
        == per["when"]["missing"]["synthetic"]
        == int((codes["when"] == 12).sum())
    )
    assert per["x"]["ks"] == pytest.approx(0.0, abs=1e-12)
    assert result.to_dict()["correlations"]["pearson"]["mean_abs_diff"] == pytest.approx(
        0.0, abs=1e-9
    )


def test_identical_tables_are_undetectable_and_lose_no_accuracy(identical) -> None:
    data = identical.to_dict()
    assert data["wasserstein"]["mean_wasserstein"] == 0.0
    # A copy cannot be detected; each held-out row's twin sits in the training folds with the
    # other class, so the AUC even falls below chance, which the detection score counts as 0.5.
    assert data["detection"]["roc_auc"] < 0.5
    assert data["detection"]["detection_score"] == 1.0
    eff = data["efficacy"]
    p1 = eff["matrix"]["train_real"]["test_real"]["accuracy"]
    p2 = eff["matrix"]["train_synthetic"]["test_real"]["accuracy"]
    assert eff["accuracy_loss"] == pytest.approx(p1 - p2)
    for m in METRICS:
        real = eff["matrix"]["train_real"]["test_real"][m]
        synth = eff["matrix"]["train_synthetic"]["test_real"][m]
        assert eff["deltas_tested_on_real"][m] == pytest.approx(synth - real), m
    assert "skipped" in data["label_accuracy"]  # Adult declares no toy modes


def test_attacks_with_the_release_as_shadow(splits, adult_schema) -> None:
    from privsynth.evaluate.shadow import release_shadow
    from privsynth.synthesizer import fit_table

    real, test = splits["real"].iloc[:2000], splits["test"].iloc[:1000]
    synth_model, _ = fit_table(
        real,
        adult_schema,
        generator="independent",
        epsilon=1.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
    )
    synth = synth_model.sample(2000, rng=np.random.default_rng(1))
    result = evaluate(
        real,
        synth,
        adult_schema,
        test=test,
        seed=0,
        attacks=True,
        shadow=release_shadow(synth_model),
    )
    attacks = result.to_dict()["attacks"]
    assert set(attacks["attacks"]) == {
        "classifier",
        "density_ratio",
        "shadow_model",
        "attribute_inference",
        "distance_to_closest_record",
    }
    # An independent-marginals release at epsilon 1 carries no row-level signal: every AUC
    # interval reaches down to chance (the intervals are 95% bootstrap intervals).
    for name, a in attacks["attacks"].items():
        assert a["auc_ci"][0] <= 0.5 + 0.02, name
    assert "Privacy attacks" in result.to_table()
