"""Schema inference: public inference reads freely only when asked; DP inference pays, and a
value or extreme number held by one person does not enter the released schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privsynth.schema.columns import CategoricalColumn, NumericColumn
from privsynth.schema.infer import dp_inference_ledger, infer_dp, infer_public


def test_public_inference_is_exact(adult_small):
    schema = infer_public(adult_small, label="income", missing_values=("?",))
    assert schema.provenance["how"] == "public"
    wc = schema["workclass"]
    assert isinstance(wc, CategoricalColumn) and wc.nullable
    assert set(wc.values) == set(adult_small["workclass"]) - {"?"}
    age = schema["age"]
    assert isinstance(age, NumericColumn) and age.kind == "integer"
    assert age.lower == int(adult_small["age"].astype(int).min())


def test_dp_inference_spends_its_budget_and_records_it(adult_small):
    ledger = dp_inference_ledger(1.0, 1e-9)
    schema = infer_dp(
        adult_small, ledger, rng=np.random.default_rng(0), label="income", missing_values=("?",)
    )
    assert 0.99 < ledger.epsilon() <= 1.0 + 1e-9
    assert [e["label"] for e in schema.provenance["ledger"]["entries"]] == [
        "schema: column types",
        "schema: category discovery",
        "schema: numeric bounds and bins",
    ]
    assert isinstance(schema["age"], NumericColumn) and isinstance(schema["sex"], CategoricalColumn)
    # common values are found; the label stays categorical
    assert {"Male", "Female"} <= set(schema["sex"].values)
    assert isinstance(schema["income"], CategoricalColumn)
    assert 10 <= schema["age"].lower <= 20 and 60 <= schema["age"].upper <= 128


@pytest.mark.parametrize("seed", range(10))
def test_canary_unique_value_and_outlier_stay_out(adult_small, seed):
    canary = adult_small.iloc[[0]].copy()
    canary["workclass"] = "Zorblax-corp"
    canary["age"] = "987654321"
    data = pd.concat([adult_small, canary], ignore_index=True)
    schema = infer_dp(
        data,
        dp_inference_ledger(1.0, 1e-9),
        rng=np.random.default_rng(seed),
        label="income",
        missing_values=("?",),
    )
    assert "Zorblax-corp" not in schema["workclass"].values
    assert schema["age"].upper < 1000
