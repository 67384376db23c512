"""Privacy attacks: caught against a copying generator, at chance against an independent one.

Statistical checks use fixed seeds and tolerances derived from the sample sizes: 4 null
standard errors of ROC AUC (Mann-Whitney) and of a proportion. Data: 4 000 rows of the bundled
Adult table (1 000 members, 2 000 holdout rows of which 1 000 are the attacker's reference, and
1 000 further rows as an independent release) and small toy tables.

Against a generator that copies its training rows, the attacks that compare whole rows
(classifier, shadow model, distance to closest record) are essentially perfect (>= 0.99) and
the kernel density ratio reaches >= 0.9 (it ranks some members in dense regions, with a
reference row nearby, below isolated non-members). Attribute inference is capped by design:
it recalls every member's income with certainty, so its AUC is exactly 1 - q/2 where q is the
share of non-members whose income it is equally certain of (obvious from the other columns,
about 20 % on Adult); the test checks that identity and q <= 0.3 (AUC >= 0.85).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from privsynth.errors import InputError
from privsynth.evaluate.attacks import ATTACKS, AttackReport, privacy_attacks
from privsynth.evaluate.attacks.encoding import encode_table
from privsynth.evaluate.attacks.gower import nearest
from privsynth.evaluate.attacks.metrics import (
    advantage,
    auc,
    clopper_pearson,
    cross_fitted_correct,
)
from privsynth.evaluate.inputs import prepare
from privsynth.toy import toy_table

Z = 4.0
COPY_AUC = 0.9
COMMON = {
    "auc",
    "auc_ci",
    "advantage",
    "advantage_ci",
    "accuracy",
    "privacy_loss",
    "privacy_loss_ci",
    "n_members",
    "n_nonmembers",
    "evidence",
    "description",
    "roc",
}


def copy_fit(codes: Mapping[str, np.ndarray], rng: np.random.Generator, n: int):
    """A generator that releases its training rows (all of them, then repeats, shuffled)."""
    m = len(next(iter(codes.values())))
    rows = np.r_[rng.permutation(m), rng.integers(0, m, size=max(0, n - m))][:n]
    return {c: v[rows] for c, v in codes.items()}


def marginals_fit(codes: Mapping[str, np.ndarray], rng: np.random.Generator, n: int):
    """A generator that samples every column independently from its training marginal."""
    return {c: rng.choice(v, size=n) for c, v in codes.items()}


def _null_auc_se(n1: int, n0: int) -> float:
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


@pytest.fixture(scope="module")
def adult_parts(adult_df) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """1 000 members, 2 000 holdout rows, 1 000 rows for an independent release."""
    idx = np.random.default_rng(1).choice(len(adult_df), 4000, replace=False)
    rows = adult_df.iloc[idx].reset_index(drop=True)
    return rows.iloc[:1000], rows.iloc[1000:3000], rows.iloc[3000:]


@pytest.fixture(scope="module")
def copied(adult_parts, adult_schema) -> AttackReport:
    members, holdout, _ = adult_parts
    frames = {"real": members, "synthetic": members, "test": holdout}
    return privacy_attacks(prepare(frames, adult_schema), seed=0, shadow=copy_fit)


@pytest.fixture(scope="module")
def independent(adult_parts, adult_schema) -> AttackReport:
    members, holdout, other = adult_parts
    frames = {"real": members, "synthetic": other, "test": holdout}
    return privacy_attacks(prepare(frames, adult_schema), seed=0, shadow=marginals_fit)


def _four_modes(n: int, seed: int) -> pd.DataFrame:
    return toy_table("four_modes", n, np.random.default_rng(seed))[0]


def _toy_frames(seed: int = 0) -> tuple[dict[str, pd.DataFrame], object]:
    members, schema = toy_table("four_modes", 200, np.random.default_rng(seed))
    holdout = _four_modes(300, seed + 1)
    synth = _four_modes(200, seed + 2)
    return {"real": members, "synthetic": synth, "test": holdout}, schema


# --- Against a generator that copies its training rows ----------------------------------------


def test_copying_generator_is_caught_by_every_attack(copied) -> None:
    assert [a.name for a in copied.attacks] == list(ATTACKS)
    assert copied.skipped == {}
    for attack in copied.attacks:
        s = attack.summary
        if attack.name != "attribute_inference":
            assert s.auc >= COPY_AUC, attack.name
        assert s.privacy_loss_ci[0] > 0.5, attack.name
        assert s.n_members == s.n_nonmembers == 1000
    for name in ("classifier", "shadow_model", "distance_to_closest_record"):
        assert copied.attack(name).summary.auc >= 0.99, name
    dcr = copied.attack("distance_to_closest_record").to_dict()
    assert dcr["exact_match_share"]["members"] == 1.0
    assert dcr["closer_to_training"]["share"] > 0.95
    attribute = copied.attack("attribute_inference").to_dict()
    assert attribute["sensitive_column"] == "income"
    assert attribute["inference_accuracy"]["members"] == 1.0
    assert attribute["inference_accuracy"]["nonmembers"] < 0.9
    assert attribute["certain_share"]["members"] == 1.0
    certain = attribute["certain_share"]["nonmembers"]
    assert attribute["auc"] == pytest.approx(1 - certain / 2, abs=1e-12)
    assert certain <= 0.3


def test_evidence_labels(copied) -> None:
    d = copied.to_dict()["attacks"]
    for name in ATTACKS:
        expected = (
            "similarity measure, not privacy evidence"
            if name == "distance_to_closest_record"
            else "privacy attack"
        )
        assert d[name]["evidence"] == expected


# --- Against a release drawn independently of the members -------------------------------------


def test_independent_release_is_at_chance(independent) -> None:
    assert [a.name for a in independent.attacks] == list(ATTACKS)
    n = 1000
    auc_tol = Z * _null_auc_se(n, n)
    # Accuracy over 2n targets: sd of a proportion at 0.5 is 0.5 / sqrt(2n); loss doubles it.
    loss_tol = Z * 2 * 0.5 / np.sqrt(2 * n)
    # Kolmogorov-Smirnov: P(sqrt(n/2) * D > 1.95) is about 0.001.
    advantage_max = 1.95 * np.sqrt(2 / n)
    for attack in independent.attacks:
        s = attack.summary
        assert abs(s.auc - 0.5) <= auc_tol, attack.name
        assert abs(s.privacy_loss) <= loss_tol, attack.name
        assert s.advantage <= advantage_max, attack.name
        assert s.auc_ci[0] < s.auc_ci[1] and s.auc_ci[1] - s.auc_ci[0] < 0.15
    share = independent.attack("distance_to_closest_record").to_dict()["closer_to_training"]
    assert abs(share["share"] - 0.5) <= Z * 0.5 / np.sqrt(share["rows"]["synthetic"])


# --- Output -----------------------------------------------------------------------------------


def test_json_shape(copied) -> None:
    d = json.loads(json.dumps(copied.to_dict()))
    assert {"privacy", "note", "seed", "attacks", "skipped"} <= set(d)
    assert d["privacy"].startswith("not private: ")
    assert d["seed"] == 0
    assert d["targets"]["per_class"] == 1000 and d["targets"]["max_targets"] == 2000
    for name, a in d["attacks"].items():
        assert set(a) >= COMMON, name
        assert isinstance(a["description"], str) and a["description"]
        for key in ("auc_ci", "advantage_ci", "privacy_loss_ci"):
            lo, hi = a[key]
            assert lo <= hi, (name, key)
        assert a["privacy_loss"] == pytest.approx((a["accuracy"] - 0.5) / 0.5)
        fpr, tpr = a["roc"]["fpr"], a["roc"]["tpr"]
        assert 2 <= len(fpr) == len(tpr) <= 101
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_deterministic_for_a_seed() -> None:
    frames, schema = _toy_frames()
    prepared = prepare(frames, schema)
    first = privacy_attacks(prepared, seed=3, shadow=marginals_fit).to_dict()
    second = privacy_attacks(prepare(frames, schema), seed=3, shadow=marginals_fit).to_dict()
    assert json.dumps(first) == json.dumps(second)
    other = privacy_attacks(prepared, seed=4, shadow=marginals_fit).to_dict()
    assert other["attacks"] != first["attacks"]


# --- Skips, caps, missing values ---------------------------------------------------------------


def test_every_attack_skipped_without_a_test_table() -> None:
    frames, schema = _toy_frames()
    del frames["test"]
    report = privacy_attacks(prepare(frames, schema), seed=0, shadow=copy_fit)
    d = report.to_dict()
    assert d["attacks"] == {}
    assert set(d["skipped"]) == set(ATTACKS)
    assert all("non-members" in reason for reason in d["skipped"].values())


def test_shadow_skipped_without_generator_and_too_few_rows() -> None:
    frames, schema = _toy_frames()
    report = privacy_attacks(prepare(frames, schema), seed=0)
    assert set(report.skipped) == {"shadow_model"}
    assert "shadow generator" in report.skipped["shadow_model"]
    frames["test"] = frames["test"].head(15)
    tiny = privacy_attacks(prepare(frames, schema), seed=0, shadow=copy_fit)
    assert tiny.attacks == () and set(tiny.skipped) == set(ATTACKS)
    assert "too few rows" in tiny.skipped["classifier"]


def test_max_targets_caps_both_classes() -> None:
    frames, schema = _toy_frames()
    report = privacy_attacks(prepare(frames, schema), seed=0, shadow=copy_fit, max_targets=60)
    assert report.targets["per_class"] == 30
    assert report.targets["reference_rows"] == 150
    for attack in report.attacks:
        assert attack.summary.n_members == attack.summary.n_nonmembers == 30


def test_missing_values_in_the_release_are_counted_not_dropped() -> None:
    frames, schema = _toy_frames()
    synth = frames["synthetic"].copy()
    synth.loc[:39, "x"] = ""  # not nullable: the evaluation widens x and label
    synth.loc[40:49, "label"] = ""
    frames["synthetic"] = synth
    report = privacy_attacks(prepare(frames, schema), seed=0, shadow=copy_fit)
    assert [a.name for a in report.attacks] == list(ATTACKS)
    missing = report.to_dict()["missing_values"]
    assert missing["counts"]["synthetic"] == {"x": 40, "label": 10}
    assert set(missing["widened_columns"]) == {"x", "label"}
    for attack in report.attacks:
        assert attack.summary.n_members == attack.summary.n_nonmembers == 150
        assert np.isfinite(attack.summary.auc)


def test_shadow_generator_output_is_checked() -> None:
    frames, schema = _toy_frames()

    def short(codes, rng, n):
        return {c: v[: n - 1] for c, v in codes.items()}

    with pytest.raises(InputError, match="expected"):
        privacy_attacks(prepare(frames, schema), seed=0, shadow=short)


# --- Building blocks ----------------------------------------------------------------------------


def test_metrics_match_references() -> None:
    rng = np.random.default_rng(5)
    members = np.round(rng.normal(0.5, 1, 300), 1)  # rounded: ties
    nonmembers = np.round(rng.normal(0.0, 1, 200), 1)
    y = np.r_[np.ones(300), np.zeros(200)]
    scores = np.r_[members, nonmembers]
    assert auc(members, nonmembers) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    ks = stats.ks_2samp(members, nonmembers).statistic
    assert advantage(members, nonmembers) == pytest.approx(ks, abs=1e-12)
    ci = stats.binomtest(37, 120).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(37, 120) == pytest.approx((ci.low, ci.high), abs=1e-9)
    folds = np.arange(300) % 2, np.arange(200) % 2
    assert cross_fitted_correct(members + 100, nonmembers, *folds) == 500
    assert cross_fitted_correct(np.zeros(300), np.zeros(200), *folds) in (200, 300)


def test_gower_distance_handles_missing_values() -> None:
    frames, schema = _toy_frames()
    table = frames["real"].head(3).copy()
    other = table.copy()
    other.loc[0, "x"] = ""
    prepared = prepare({"real": table, "synthetic": other}, schema)
    a = encode_table(prepared, prepared.tables["real"])
    b = encode_table(prepared, prepared.tables["synthetic"])
    assert nearest(a, a, 1)[:, 0].tolist() == [0.0, 0.0, 0.0]
    # Row 0 of b differs from row 0 of a only by a missing x: one of three columns.
    d = nearest(a.take(np.array([0])), b.take(np.array([0])), 1)[0, 0]
    assert d == pytest.approx(1 / 3)
