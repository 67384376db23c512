"""Declared rules: parsing, compilation to code-level constraints, structural zeros in
graphical models, and rule-respecting sampling for every generator type."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import fast_params

from privsynth.enforce import RuleChecker
from privsynth.errors import InputError, SchemaError
from privsynth.privacy.ledger import Ledger
from privsynth.schema import load_schema, save_schema, schema_from_dict, schema_to_dict
from privsynth.synthesizer import Synthesizer, fit_table
from privsynth.transforms.constraints import compile_rule, compile_rules
from privsynth.transforms.discretize import Discretizer

COLUMNS = [
    {"name": "sex", "type": "categorical", "values": ["Male", "Female"]},
    {"name": "preg", "type": "categorical", "values": ["0", "1"], "nullable": True},
    {"name": "color", "type": "categorical", "values": ["red", "green", "blue"]},
    {"name": "age", "type": "integer", "lower": 0, "upper": 99, "bins": 10},
    {"name": "kids", "type": "integer", "lower": 0, "upper": 4},
    {"name": "x", "type": "continuous", "lower": 0.0, "upper": 10.0, "bins": 5},
    {"name": "y", "type": "continuous", "lower": 0.0, "upper": 10.0, "edges": [0, 2.5, 4, 7, 10]},
    {"name": "start", "type": "datetime", "lower": "2020-01-01", "upper": "2021-01-01", "bins": 4},
    {"name": "end", "type": "datetime", "lower": "2020-01-01", "upper": "2021-01-01", "bins": 4},
]


def _schema(rules) -> object:
    return schema_from_dict({"columns": COLUMNS, "rules": rules}, where="toy.yaml")


# --- parsing -----------------------------------------------------------------------------------

ALL_SHAPES = [
    "sex == 'Male' -> preg == '0'",
    "color in ['red', 'blue'] and age >= 30 -> kids != 0",
    {"forbid": {"sex": "Male", "preg": "1"}},
    {"forbid": {"color": ["red", "green"], "kids": 4}},
    "x <= y",
    "start < end",
    "age <= 90",
    "end >= '2020-02-01'",
    {"combinations": {"columns": ["sex", "kids"], "values": [["Male", 0], ["Female", 1]]}},
    {"rule": "`kids` > 0 -> age > 15", "name": "parents are adults"},
]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_every_rule_shape_round_trips(tmp_path, suffix):
    schema = _schema(ALL_SHAPES)
    assert len(schema.rules) == len(ALL_SHAPES)
    assert [r.kind for r in schema.rules][:4] == ["implication", "implication", "forbid", "forbid"]
    path = tmp_path / f"s{suffix}"
    save_schema(schema, path)
    again = load_schema(path)
    assert again.rules == schema.rules
    assert schema_to_dict(again) == schema_to_dict(schema)
    assert again.rules[-1].name == "parents are adults"


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("sexx == 'Male'", "unknown column 'sexx'"),
        ("sex == 'Mal' -> preg == '0'", "unknown value 'Mal'"),
        ("sex == Male", "unknown column 'Male'"),
        ("sex < 'Male'", "needs an order"),
        ("age <= 'old'", "type mismatch"),
        ("start <= age", "type mismatch"),
        ("x == 3", "== takes integer columns"),
        ("start > 'not a date'", "cannot read 'not a date' as a datetime"),
        ("age <=", "the end of the rule"),
        ("age <= 3 3", "expected end"),
        ({"forbid": {"sex": "Mle"}}, "unknown value 'Mle'"),
        ({"combinations": {"columns": ["sex"], "values": [["Male"]]}}, "at least two"),
        (
            {"combinations": {"columns": ["sex", "kids"], "values": [["Male", "x"]]}},
            "type mismatch",
        ),
        ({"rule": "age < 3", "extra": 1}, "one of rule/forbid/combinations"),
        ("sex == 'Male' and sex == 'Female'", "forbids every possible row"),
    ],
)
def test_bad_rules_give_one_line_errors_naming_file_rule_and_problem(tmp_path, rule, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"columns": COLUMNS, "rules": ["age <= 95", rule]}))
    with pytest.raises(SchemaError) as err:
        load_schema(path) if "forbids every" not in needle else compile_rules(load_schema(path))
    msg = str(err.value)
    assert needle in msg and "\n" not in msg
    if "forbids every" not in needle:
        assert str(path) in msg and "rule 2" in msg


def test_rules_that_only_jointly_forbid_everything_are_refused():
    schema = _schema(
        ["sex == 'Male' -> color == 'red'", "sex == 'Female' -> color == 'red'", "color != 'red'"]
    )
    with pytest.raises(SchemaError, match="together forbid every possible row"):
        compile_rules(schema)


# --- compilation vs brute force -----------------------------------------------------------------


def _values_in_cell(schema, disc, attr, code, rng):
    """Values the decoder can produce for one code of ``attr`` (grid plus random draws)."""
    col = schema[attr]
    if code == disc.missing_code(attr):
        return [None]
    if col.kind == "categorical":
        return [col.values[code]]
    from privsynth.enforce import draw_in_bins

    num = col.numeric() if col.kind == "datetime" else col
    draws = draw_in_bins(num, np.full(300, code), rng)
    edges = num.bin_edges()
    if num.kind == "integer":
        return sorted(set(int(v) for v in draws))
    grid = np.linspace(edges[code], edges[code + 1], 41)[:-1]
    vals = np.concatenate([grid, draws])
    if col.kind == "datetime":
        return list(pd.to_datetime(vals, unit="s"))
    return list(vals)


def _brute_force(schema, rule_index):
    """Per cell: does some value satisfy the rule, and do all?"""
    disc = Discretizer(schema)
    con = compile_rule(schema.rules[rule_index], schema, disc)
    checker = RuleChecker(schema)
    rng = np.random.default_rng(0)
    some = np.zeros(con.allowed.shape, dtype=bool)
    every = np.zeros(con.allowed.shape, dtype=bool)
    for cell in itertools.product(*(range(s) for s in con.allowed.shape)):
        per_attr = [
            _values_in_cell(schema, disc, a, c, rng) for a, c in zip(con.attrs, cell, strict=True)
        ]
        rows = list(itertools.product(*per_attr))
        frame = {a: [r[i] for r in rows] for i, a in enumerate(con.attrs)}
        df = pd.DataFrame({name: frame.get(name, [None] * len(rows)) for name in schema.names})
        for a in con.attrs:
            if schema[a].kind == "datetime":
                df[a] = pd.to_datetime(df[a])
        ok = ~checker.violations(df)[:, rule_index]
        some[cell], every[cell] = ok.any(), ok.all()
    return con, some, every


SINGLE_CONDITION_RULES = [
    "age <= 55",
    "age > 37",
    "kids != 2",
    "x < 5",
    "x >= 3.3",
    "y <= 4",
    "x <= y",
    "x > y",
    "age < kids",
    "start < end",
    "end >= '2020-05-17'",
    "sex == 'Male' -> preg == '0'",
    {"forbid": {"color": ["red", "green"], "kids": 4}},
    {
        "combinations": {
            "columns": ["sex", "color"],
            "values": [["Male", "red"], ["Female", "blue"]],
        }
    },
]


@pytest.mark.parametrize("rule", SINGLE_CONDITION_RULES, ids=str)
def test_masks_match_brute_force_for_single_conditions(rule):
    schema = _schema([rule])
    con, some, every = _brute_force(schema, 0)
    np.testing.assert_array_equal(con.allowed, some)
    np.testing.assert_array_equal(con.partial, some & ~every)


def test_masks_are_sound_for_random_compound_rules():
    rng = np.random.default_rng(5)
    for _ in range(12):
        rule = _random_rule(rng, compound=True)
        schema = _schema([rule])
        con, some, _ = _brute_force(schema, 0)
        # A forbidden cell never holds a valid value; missing cells are always allowed.
        assert not (~con.allowed & some).any(), rule


def test_missing_values_are_exempt_from_rules():
    schema = _schema(["preg == '1' -> sex == 'Female'", "sex == 'Male' -> preg == '0'"])
    (con, _) = compile_rules(schema)
    assert con.attrs == ("sex", "preg") and con.allowed[:, 2].all()
    df = pd.DataFrame({n: [None] for n in schema.names})
    df["sex"] = ["Male"]
    assert not RuleChecker(schema).violations(df).any()


# --- random rules on a toy table ----------------------------------------------------------------


def _random_rule(rng, compound=False):
    pick = rng.integers(0, 8 if not compound else 3)
    val = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    if compound:
        return val(
            [
                f"color == '{val(['red', 'green', 'blue'])}' and age >= {int(rng.integers(0, 99))} "
                f"-> kids <= {int(rng.integers(0, 5))}",
                f"x >= {rng.uniform(0, 10):.2f} and x <= {rng.uniform(0, 10):.2f} -> y > x",
                f"sex == '{val(['Male', 'Female'])}' -> age >= {int(rng.integers(0, 60))} and kids < 4",
            ]
        )
    if pick == 0:
        return f"sex == '{val(['Male', 'Female'])}' -> preg == '0'"
    if pick == 1:
        return {"forbid": {"color": val(["red", "green", "blue"]), "sex": val(["Male", "Female"])}}
    if pick == 2:
        return f"age {val(['<', '<=', '>', '>='])} {int(rng.integers(20, 80))}"
    if pick == 3:
        return f"x {val(['<', '<=', '>', '>='])} {rng.uniform(1, 9):.2f}"
    if pick == 4:
        return val(["x <= y", "x > y", "start < end", "end >= start"])
    if pick == 5:
        combos = [[s, c] for s in ["Male", "Female"] for c in ["red", "green", "blue"]]
        keep = rng.choice(len(combos), int(rng.integers(2, 6)), replace=False)
        return {"combinations": {"columns": ["sex", "color"], "values": [combos[i] for i in keep]}}
    if pick == 6:
        return f"color in ['red', 'green'] -> kids >= {int(rng.integers(0, 4))}"
    return f"sex == 'Female' -> age > {int(rng.integers(10, 50))}"


def _table(schema, rng, n=1500) -> pd.DataFrame:
    """Rows drawn uniformly and kept when they respect the schema's rules (as CSV text)."""
    checker = RuleChecker(schema)
    parts, have = [], 0
    while have < n:
        m = 4 * n
        df = pd.DataFrame(
            {
                "sex": rng.choice(["Male", "Female"], m),
                "preg": rng.choice(["0", "1", None], m, p=[0.6, 0.3, 0.1]),
                "color": rng.choice(["red", "green", "blue"], m),
                "age": pd.Series(rng.integers(0, 100, m), dtype="Int64"),
                "kids": pd.Series(rng.integers(0, 5, m), dtype="Int64"),
                "x": rng.uniform(0, 10, m),
                "y": rng.uniform(0, 10, m),
                "start": pd.to_datetime("2020-01-01")
                + pd.to_timedelta(rng.uniform(0, 365, m), "D"),
                "end": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.uniform(0, 365, m), "D"),
            }
        )
        keep = ~checker.violations(df).any(axis=1)
        parts.append(df[keep])
        have += int(keep.sum())
    df = pd.concat(parts).iloc[:n].reset_index(drop=True)
    return df.astype(str).replace({"None": "", "<NA>": ""})


def _random_rule_sets(count, seed=11):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        rules = [_random_rule(rng) for _ in range(int(rng.integers(1, 4)))]
        try:
            compile_rules(_schema(rules))
        except SchemaError:
            continue
        out.append(rules)
    return out


def _violations(schema, df) -> int:
    return int(RuleChecker(schema).violations(df).sum())


@pytest.mark.parametrize("generator", ["independent", "mst", "aim"])
def test_graphical_models_put_exact_zeros_on_forbidden_cells_and_never_violate(generator):
    for k, rules in enumerate(_random_rule_sets(4, seed=3 + len(generator))):
        schema = _schema(rules)
        df = _table(schema, np.random.default_rng(k))
        params = fast_params(generator) | ({"rounds": 12} if generator == "aim" else {})
        synth, _ = fit_table(
            df,
            schema,
            generator=generator,
            epsilon=3.0,
            delta=1e-6,
            rng=np.random.default_rng(k),
            params=params,
        )
        for con in compile_rules(schema):
            probs = synth.model.project(list(con.attrs))
            assert np.all(probs[~con.allowed] == 0.0), (rules, con.rule.text())
        # The model's own draws (no rule enforcement) never land in a forbidden cell.
        codes = synth.model.sample(3000, rng=np.random.default_rng(1))
        from privsynth.transforms.constraints import code_violations

        assert not code_violations(compile_rules(schema), codes).any()
        out = synth.sample(1000, rng=np.random.default_rng(2))
        assert len(out) == 1000 and _violations(schema, out) == 0, rules


def test_neural_model_respects_random_rules_by_bounded_rejection():
    base = _schema(["age <= 90"])
    df = _table(base, np.random.default_rng(0), n=1200)
    synth, _ = fit_table(
        df,
        base,
        generator="dpcvae",
        epsilon=5.0,
        delta=1e-6,
        rng=np.random.default_rng(0),
        params=fast_params("dpcvae"),
    )
    raw = synth.sample(2000, rng=np.random.default_rng(1), rules=False)
    for rules in _random_rule_sets(8, seed=21):
        schema = _schema(rules)
        ruled = Synthesizer(schema, synth.generator, synth.config, synth.ledger, synth.model)
        out = ruled.sample(500, rng=np.random.default_rng(3))
        assert len(out) == 500 and _violations(schema, out) == 0, rules
    assert _violations(_schema(["x <= y"]), raw) > 0  # the network alone does break rules


def test_structural_zeros_keep_sampling_exact():
    """Rows drawn from a model with zeros reproduce the model's own marginals."""
    schema = _schema(["x <= y", "sex == 'Male' -> preg == '0'", "age <= 55"])
    df = _table(schema, np.random.default_rng(4), n=3000)
    synth, _ = fit_table(
        df,
        schema,
        generator="mst",
        epsilon=10.0,
        delta=1e-6,
        rng=np.random.default_rng(0),
        params=fast_params("mst"),
    )
    model = synth.model
    codes = model.sample(40_000, rng=np.random.default_rng(9))
    for attrs in [("x", "y"), ("sex", "preg"), ("age",), ("sex", "age")]:
        probs = model.project(list(attrs))
        index = tuple(codes[a] for a in attrs)
        empirical = np.zeros(probs.shape)
        np.add.at(empirical, index, 1.0 / len(codes["x"]))
        assert 0.5 * np.abs(empirical - probs).sum() < 0.03, attrs
        assert np.all(empirical[probs == 0] == 0)


def test_where_works_with_rules_and_refuses_a_forbidden_combination(tmp_path):
    schema = _schema(["sex == 'Male' -> preg == '0'", "x <= y"])
    df = _table(schema, np.random.default_rng(6))
    synth, _ = fit_table(
        df,
        schema,
        generator="mst",
        epsilon=3.0,
        delta=1e-6,
        rng=np.random.default_rng(0),
        params=fast_params("mst"),
    )
    out = synth.sample(300, rng=np.random.default_rng(1), where={"sex": ["Male"]})
    assert set(out["sex"]) == {"Male"} and set(out["preg"]) <= {"0", None}
    with pytest.raises(InputError) as err:
        synth.sample(10, rng=np.random.default_rng(1), where={"sex": ["Male"], "preg": ["1"]})
    assert "sex=Male preg=1" in str(err.value) and "sex == 'Male' -> preg == '0'" in str(err.value)
    # The rules travel with the model folder, and -inf potentials survive the round trip.
    synth.save(tmp_path / "m")
    again = Synthesizer.load(tmp_path / "m")
    assert again.schema.rules == schema.rules
    back = again.sample(500, rng=np.random.default_rng(2))
    assert _violations(schema, back) == 0


def test_repair_redraws_within_the_same_bins():
    schema = _schema(["x <= y", "age <= 55"])
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({name: [None] * n for name in schema.names})
    df["x"] = pd.Series(rng.uniform(0, 2.0, n), dtype="Float64")  # bin [0, 2)
    df["y"] = pd.Series(rng.uniform(0, 2.0, n), dtype="Float64")  # bin [0, 2.5)
    df["age"] = pd.Series(rng.integers(50, 60, n), dtype="Int64")  # bin [50, 59]
    checker = RuleChecker(schema)
    assert checker.violations(df).any()
    fixed = checker.repair(df, rng)
    assert not checker.violations(fixed).any()
    for col in ("x", "y", "age"):
        edges = schema[col].bin_edges()
        old = np.searchsorted(edges, df[col].to_numpy(dtype=float), side="right")
        new = np.searchsorted(edges, fixed[col].to_numpy(dtype=float), side="right")
        np.testing.assert_array_equal(old, new)


class _Stubborn:
    """A model without structural zeros that always draws a forbidden row."""

    def __init__(self, domain):
        self.domain = domain

    def estimated_total(self):
        return 10.0

    def sample(self, n, *, rng, where=None):
        return {a: np.zeros(n, dtype=np.int64) for a in self.domain.attributes}


def test_rejection_reports_the_acceptance_rate_when_a_quota_cannot_be_met():
    schema = _schema(["sex == 'Male' -> color != 'red'"])
    stub = _Stubborn(Discretizer(schema).domain)
    synth = Synthesizer(schema, "stub", {}, Ledger(1.0, 1e-6), stub)
    with pytest.raises(InputError) as err:
        synth.sample(50, rng=np.random.default_rng(0))
    msg = str(err.value)
    assert "acceptance rate 0.000%" in msg and "sex == 'Male' -> color != 'red'" in msg
    assert "\n" not in msg


def test_schema_json_keeps_learned_provenance(tmp_path):
    schema = _schema([{"forbid": {"sex": "Male", "preg": "1"}, "learned": {"epsilon": 2.0}}])
    path = tmp_path / "s.json"
    save_schema(schema, path)
    data = json.loads(path.read_text())
    assert data["rules"][0]["learned"] == {"epsilon": 2.0}
    assert load_schema(path).rules[0].learned == {"epsilon": 2.0}
