"""Rule strategy "rake": a broken implication's consequent moves, its frequencies stay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privsynth.enforce import RuleChecker, sample_respecting
from privsynth.errors import InputError
from privsynth.schema import schema_from_dict

RULE = "sex == 'Male' -> c == '0'"


def _schema(rules=(RULE,)):
    return schema_from_dict(
        {
            "columns": [
                {"name": "sex", "type": "categorical", "values": ["Female", "Male"]},
                {"name": "c", "type": "categorical", "values": ["0", "1"]},
                {"name": "k", "type": "categorical", "values": ["a", "b", "c"]},
            ],
            "rules": list(rules),
        }
    )


def _independent(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """What a generator that learned the one-way frequencies only would draw: c independent
    of sex (23 % positive), a third of the rows women."""
    return pd.DataFrame(
        {
            "sex": np.where(rng.random(n) < 1 / 3, "Female", "Male"),
            "c": np.where(rng.random(n) < 0.23, "1", "0"),
            "k": rng.choice(["a", "b", "c"], n),
        }
    )


def test_rake_keeps_frequencies_and_gives_women_the_positives():
    rng = np.random.default_rng(0)
    df = _independent(30_000, rng)
    out = RuleChecker(_schema()).rake(df, np.random.default_rng(1))
    assert not RuleChecker(_schema()).violations(out).any()
    # Exactly: c's counts, sex and k are unchanged.
    assert (out["c"] == "1").sum() == (df["c"] == "1").sum()
    assert out["sex"].equals(df["sex"]) and out["k"].equals(df["k"])
    women = out["sex"] == "Female"
    want = (df["c"] == "1").mean() / women.mean()
    assert (out.loc[women, "c"] == "1").mean() == pytest.approx(want, abs=1e-12)
    # Rows moved only where needed: men that were negative and women that were positive stay.
    assert (out.loc[~women & (df["c"] == "0"), "c"] == "0").all()
    assert (out.loc[women & (df["c"] == "1"), "c"] == "1").all()


def test_rake_when_the_unconstrained_rows_cannot_absorb_everything():
    """c positive for 90 % of all rows: women cannot take all the men's positives; the rule
    still holds and the remainder shrinks c's frequency (as rejection would)."""
    rng = np.random.default_rng(2)
    df = _independent(3000, rng)
    df["c"] = np.where(rng.random(3000) < 0.9, "1", "0")
    out = RuleChecker(_schema()).rake(df, np.random.default_rng(3))
    assert not RuleChecker(_schema()).violations(out).any()
    assert (out.loc[out["sex"] == "Female", "c"] == "1").all()


def test_missing_values_and_other_rules_are_left_alone():
    schema = _schema((RULE, "k in ['b'] -> sex == 'Female'"))
    df = pd.DataFrame({"sex": ["Male", None, "Male"], "c": ["1", "1", "0"], "k": ["b", "a", "b"]})
    out = RuleChecker(schema).rake(df, np.random.default_rng(0))
    assert out.loc[1, "c"] == "1"  # sex missing: the rule does not apply
    assert out.loc[0, "c"] == "0"  # the man's positive moved (nobody to absorb it)
    assert out["sex"].tolist()[::2] == ["Male", "Male"]  # no row has sex == Female to draw from


def test_sample_respecting_rake_and_bad_strategy():
    rng = np.random.default_rng(4)
    checker = RuleChecker(_schema())
    out = sample_respecting(lambda m: _independent(m, rng), 5000, checker, rng)  # default: rake
    assert len(out) == 5000 and not checker.violations(out).any()
    women = out["sex"] == "Female"
    # Raked: women's rate near 0.23 / (1/3) = 0.69 (binomial tolerance, 6 sd).
    p, n = 0.69, int(women.sum())
    assert abs((out.loc[women, "c"] == "1").mean() - p) < 6 * np.sqrt(p * (1 - p) / n) + 0.01
    rejected = sample_respecting(
        lambda m: _independent(m, rng), 5000, checker, rng, strategy="reject"
    )
    assert (rejected.loc[rejected["sex"] == "Female", "c"] == "1").mean() < 0.3
    with pytest.raises(InputError, match="rule-strategy"):
        sample_respecting(lambda m: _independent(m, rng), 10, checker, rng, strategy="fix")


def test_forbidden_combination_is_raked_on_its_last_column():
    rule = {"forbid": {"sex": "Male", "c": "1"}}
    rng = np.random.default_rng(5)
    df = _independent(20_000, rng)
    out = RuleChecker(_schema((rule,))).rake(df, np.random.default_rng(6))
    assert not RuleChecker(_schema((rule,))).violations(out).any()
    assert (out["c"] == "1").sum() == (df["c"] == "1").sum()
    assert out["sex"].equals(df["sex"])


def test_cli_rule_strategy(tmp_path):
    from typer.testing import CliRunner

    from privsynth.cli.main import app
    from privsynth.synthesizer import fit_table

    rng = np.random.default_rng(7)
    df = _independent(2000, rng)
    df.loc[df["sex"] == "Male", "c"] = "0"
    synth, _ = fit_table(df, _schema(), generator="independent", epsilon=5.0, delta=1e-6, rng=rng)
    synth.save(tmp_path / "m")
    runner = CliRunner()
    bad = runner.invoke(
        app,
        ["sample", str(tmp_path / "m"), "-o", str(tmp_path / "x.csv"), "--rule-strategy", "fix"],
    )
    assert bad.exit_code != 0 and "--rule-strategy" in bad.output
    assert len(bad.output.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()
    for strategy in ("rake", "reject"):
        out = tmp_path / f"{strategy}.csv"
        ok = runner.invoke(
            app,
            [
                "sample",
                str(tmp_path / "m"),
                "-o",
                str(out),
                "-n",
                "3000",
                "--rule-strategy",
                strategy,
                "--seed",
                "1",
            ],
        )
        assert ok.exit_code == 0, ok.output
        got = pd.read_csv(out, dtype=str)
        assert not ((got["sex"] == "Male") & (got["c"] == "1")).any()


def test_compensation_never_breaks_another_rule():
    """Women with k == 'a' may not be positive either: the men's positives go only to women
    with another k, and c keeps its count while they can absorb it."""
    rules = (RULE, "k in ['a'] -> c == '0'")
    rng = np.random.default_rng(8)
    df = _independent(20_000, rng)
    df["c"] = np.where(rng.random(len(df)) < 0.15, "1", "0")
    checker = RuleChecker(_schema(rules))
    out = checker.rake(df, np.random.default_rng(9))
    assert not checker.violations(out).any()
    assert (out["c"] == "1").sum() == (df["c"] == "1").sum()


def test_a_later_rules_move_is_fixed_in_the_next_pass():
    """Raking sex (women with k == 'a' are forbidden) turns positive women into positive men;
    the next pass gives those positives back to women, so nothing is left to reject."""
    rules = (RULE, {"forbid": {"k": "a", "sex": "Female"}})
    rng = np.random.default_rng(10)
    df = _independent(20_000, rng)
    checker = RuleChecker(_schema(rules))
    out = checker.rake(df, np.random.default_rng(11))
    assert not checker.violations(out).any()
    assert (out["c"] == "1").sum() == (df["c"] == "1").sum()
    assert (out["sex"] == "Female").sum() == (df["sex"] == "Female").sum()


def test_a_row_breaking_another_rule_still_takes_a_value():
    """A third of the women break a rule on k (raked after c); they may still take the men's
    positives, since that breaks nothing they did not break already. Otherwise women with
    another k (two thirds) could not absorb a 25 % positive rate (three quarters of women)."""
    rules = (RULE, "sex == 'Female' -> k in ['b', 'c']")
    rng = np.random.default_rng(12)
    df = _independent(30_000, rng)
    df["c"] = np.where(rng.random(len(df)) < 0.25, "1", "0")
    checker = RuleChecker(_schema(rules))
    out = checker.rake(df, np.random.default_rng(13))
    assert not checker.violations(out).any()
    assert (out["c"] == "1").sum() == (df["c"] == "1").sum()
