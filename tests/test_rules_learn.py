"""Rules learned with DP: charged before reading, found when real, absent when not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from privsynth.cli.rules import rules_app
from privsynth.errors import InputError
from privsynth.privacy.ledger import Ledger
from privsynth.schema import load_schema, save_schema, schema_from_dict
from privsynth.schema.learn import accept_candidates, learn_rules
from privsynth.synthesizer import fit_table

SCHEMA = {
    "name": "controls",
    "columns": [
        {"name": "sex", "type": "categorical", "values": ["Male", "Female"]},
        {"name": "c1", "type": "categorical", "values": ["0", "1"]},
        {"name": "c2", "type": "categorical", "values": ["0", "1"]},
        {"name": "color", "type": "categorical", "values": ["red", "green", "blue"]},
        {"name": "age", "type": "integer", "lower": 0, "upper": 99, "bins": 10},
    ],
}


def _controls(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """c1 positive for 5 % of women, c2 for 70 %; neither ever for men."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Male", "Female"], n, p=[0.6, 0.4])
    female = sex == "Female"
    return pd.DataFrame(
        {
            "sex": sex,
            "c1": np.where(female & (rng.random(n) < 0.05), "1", "0"),
            "c2": np.where(female & (rng.random(n) < 0.70), "1", "0"),
            "color": rng.choice(["red", "green", "blue"], n),
            "age": rng.integers(0, 100, n).astype(str),
        }
    )


def _found(learned) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    return {(c.columns, c.values) for c in learned.candidates}


def test_control_features_are_found_at_large_epsilon_and_paid_for():
    schema = schema_from_dict(SCHEMA)
    ledger = Ledger(20.0, 1e-6)
    learned = learn_rules(_controls(), schema, ledger, np.random.default_rng(0))
    found = _found(learned)
    assert (("sex", "c1"), ("Male", "1")) in found
    assert (("sex", "c2"), ("Male", "1")) in found
    # Combinations that do occur are not flagged.
    assert (("sex", "c2"), ("Female", "1")) not in found
    assert (("sex", "c1"), ("Male", "0")) not in found
    assert not any("color" in c.columns for c in learned.candidates)
    # The whole budget went through the ledger, as one Gaussian event over 4 + 6 marginals.
    assert [e.label for e in ledger.entries] == ["rules learn: categorical 1- and 2-way marginals"]
    assert ledger.rho_spent == pytest.approx(ledger.rho_budget, rel=1e-6)
    assert learned.settings["marginals"] == 10


def test_values_rare_by_coincidence_are_not_flagged_and_exclusions_come_first():
    rng = np.random.default_rng(11)  # not _controls' seed: x and y independent of sex
    n = 20_000
    df = _controls(n, seed=3).assign(
        x=lambda d: np.where(rng.random(n) < 0.03, "rare", "common"),
        y=lambda d: np.where(rng.random(n) < 0.03, "rare", "common"),
    )
    data = dict(SCHEMA)
    data["columns"] = SCHEMA["columns"] + [
        {"name": c, "type": "categorical", "values": ["common", "rare"]} for c in ("x", "y")
    ]
    schema = schema_from_dict(data)
    coincidence = (("x", "y"), ("rare", "rare"))  # about 18 rows, as independence predicts

    learned = learn_rules(
        df, schema, Ledger(50.0, 1e-6), np.random.default_rng(0), max_fraction=0.005
    )
    # The rarity test alone would pass it: its count plus 5 sigma is under 0.5 % of rows.
    count = int(((df["x"] == "rare") & (df["y"] == "rare")).sum())
    assert count + 5 * learned.settings["sigma"] <= 0.005 * n
    assert coincidence not in _found(learned)
    assert (("sex", "c2"), ("Male", "1")) in _found(learned)
    evidence = [c.evidence for c in learned.candidates]
    assert evidence == sorted(evidence, reverse=True)
    assert [c.id for c in learned.candidates] == list(range(1, len(evidence) + 1))
    assert all(c.upper_bound <= 0.2 * c.expected for c in learned.candidates)


def test_nothing_is_found_when_the_noise_is_too_large():
    schema = schema_from_dict(SCHEMA)
    learned = learn_rules(_controls(), schema, Ledger(0.05, 1e-6), np.random.default_rng(0))
    assert (("sex", "c1"), ("Male", "1")) not in _found(learned)


def test_learning_refuses_bad_columns_before_spending():
    schema = schema_from_dict(SCHEMA)
    ledger = Ledger(1.0, 1e-6)
    with pytest.raises(InputError, match="'age' is not a categorical column"):
        learn_rules(_controls(), schema, ledger, np.random.default_rng(0), columns=["sex", "age"])
    assert ledger.entries == ()


def test_accepted_rules_are_marked_learned_and_enter_models(tmp_path):
    schema = schema_from_dict(SCHEMA)
    learned = learn_rules(_controls(), schema, Ledger(20.0, 1e-6), np.random.default_rng(0))
    data = learned.to_dict({"data": "controls.csv"})
    ids = [c.id for c in learned.candidates if c.columns == ("sex", "c1")]
    new, added = accept_candidates(schema, data, ids, "cands.yaml")
    assert added == 1
    (rule,) = new.rules
    assert rule.kind == "forbid" and rule.learned["source"] == "cands.yaml"
    assert rule.learned["epsilon"] == pytest.approx(learned.ledger.epsilon())
    assert new.provenance["learned_rules"][0]["ledger"] == learned.ledger.to_dict()
    path = tmp_path / "s.yaml"
    save_schema(new, path)
    assert load_schema(path).rules[0].learned == rule.learned
    # A model fitted with the learned rule never produces men with c1 = 1.
    synth, _ = fit_table(
        _controls(seed=1),
        new,
        generator="mst",
        epsilon=1.0,
        delta=1e-6,
        rng=np.random.default_rng(0),
        params={"iters": 200},
    )
    assert synth.model.project(["sex", "c1"])[0, 1] == 0.0
    out = synth.sample(2000, rng=np.random.default_rng(1))
    assert not ((out["sex"] == "Male") & (out["c1"] == "1")).any()
    with pytest.raises(InputError, match="no candidate with id 99"):
        accept_candidates(schema, data, [99], "cands.yaml")


def test_cli_learn_then_accept(tmp_path):
    data = tmp_path / "controls.csv"
    _controls().to_csv(data, index=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump(SCHEMA))
    cands = tmp_path / "cands.yaml"
    runner = CliRunner()
    res = runner.invoke(
        rules_app,
        [
            "learn",
            str(data),
            "--schema",
            str(schema),
            "--epsilon",
            "20",
            "--delta",
            "1e-6",
            "-o",
            str(cands),
            "--seed",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "forbid sex=Male, c1=1" in text and "spent epsilon=" in text
    content = yaml.safe_load(cands.read_text())
    assert content["ledger"]["entries"] and content["candidates"]
    first = content["candidates"][0]["id"]
    out = tmp_path / "new.yaml"
    res = runner.invoke(
        rules_app,
        ["accept", str(cands), "--schema", str(schema), "--ids", str(first), "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert load_schema(out).rules[0].learned["candidate"] == first
    res = runner.invoke(
        rules_app, ["accept", str(cands), "--schema", str(schema), "--ids", "x", "-o", str(out)]
    )
    assert res.exit_code == 2 and "--ids" in " ".join(res.output.split())
