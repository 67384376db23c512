"""Every CLI command, end to end on real files, and every bad input from the issue.

Bad input must give one line naming the file/column/value, a non-zero exit, no partial output
and no budget spent (checked against a real SQLite ledger file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from privsynth.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    text = result.output.strip()
    assert text.startswith("error:"), text
    assert len(text.splitlines()) == 1, text
    for needle in needles:
        assert needle in text, (needle, text)


@pytest.fixture
def ledger_file(tmp_path):
    path = tmp_path / "budget.sqlite"
    assert (
        run(
            "budget",
            "set",
            "--ledger",
            path,
            "--dataset",
            "adult",
            "--epsilon",
            10,
            "--delta",
            1e-8,
        ).exit_code
        == 0
    )
    return path


def spent(ledger_file) -> float:
    from privsynth.privacy.store import SqliteBudgetStore

    return SqliteBudgetStore(ledger_file).status("adult")["rho_spent"]


def fit_args(data, schema, out, *extra):
    return (
        "fit",
        data,
        "--schema",
        schema,
        "-o",
        out,
        "--generator",
        "mst",
        "--epsilon",
        1,
        "--delta",
        1e-9,
        "--seed",
        1,
        *extra,
    )


def test_fit_sample_evaluate_round_trip(tmp_path, small_csv, adult_paths, ledger_file):
    schema = adult_paths[1]
    model = tmp_path / "model"
    result = run(*fit_args(small_csv, schema, model, "--ledger", ledger_file, "--dataset", "adult"))
    assert result.exit_code == 0, result.output
    assert "spent epsilon=" in result.output
    assert spent(ledger_file) > 0
    out = tmp_path / "synth.csv"
    result = run("sample", model, "-n", 500, "-o", out, "--seed", 3)
    assert result.exit_code == 0, result.output
    synth = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(synth) == 500 and list(synth.columns) == list(
        pd.read_csv(small_csv, nrows=1).columns
    )
    again = tmp_path / "synth2.csv"
    run("sample", model, "-n", 500, "-o", again, "--seed", 3)
    assert out.read_bytes() == again.read_bytes()
    cond = tmp_path / "women.csv"
    assert (
        run("sample", model, "-n", 200, "-o", cond, "--where", "sex=Female", "--seed", 4).exit_code
        == 0
    )
    assert set(pd.read_csv(cond, dtype=str)["sex"]) == {"Female"}
    report = tmp_path / "eval.json"
    result = run("evaluate", small_csv, out, "--schema", schema, "-o", report)
    assert result.exit_code == 0, result.output
    assert "not private" in json.dumps(json.loads(report.read_text()))


def test_budget_show_lists_charges(tmp_path, small_csv, adult_paths, ledger_file):
    run(
        *fit_args(
            small_csv, adult_paths[1], tmp_path / "m", "--ledger", ledger_file, "--dataset", "adult"
        )
    )
    result = run("budget", "show", "--ledger", ledger_file, "--history")
    assert result.exit_code == 0 and "adult" in result.output and "rho=" in result.output


def test_lifetime_budget_refuses_overspend(tmp_path, small_csv, adult_paths):
    path = tmp_path / "b.sqlite"
    run("budget", "set", "--ledger", path, "--dataset", "adult", "--epsilon", 1.2, "--delta", 1e-8)
    assert (
        run(
            *fit_args(
                small_csv, adult_paths[1], tmp_path / "m1", "--ledger", path, "--dataset", "adult"
            )
        ).exit_code
        == 0
    )
    before = spent(path)
    result = run(
        *fit_args(
            small_csv, adult_paths[1], tmp_path / "m2", "--ledger", path, "--dataset", "adult"
        )
    )
    one_line_error(result, "budget")
    assert spent(path) == before and not (tmp_path / "m2").exists()


def _bad_schema(tmp_path, adult_paths):
    data = yaml.safe_load(adult_paths[1].read_text())
    data["columns"][0]["upper"] = 5  # age: upper 5 < lower 17
    path = tmp_path / "bad_schema.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _variant(tmp_path, small_csv, kind):
    text = small_csv.read_text()
    path = tmp_path / f"{kind}.csv"
    if kind == "semicolon":
        path.write_text(text.replace(",", ";"))
    elif kind == "empty":
        path.write_text(text.splitlines()[0] + "\n")
    elif kind == "duplicate":
        lines = text.splitlines()
        lines[0] = lines[0].replace("fnlwgt", "age")
        path.write_text("\n".join(lines) + "\n")
    elif kind == "extra_column":
        df = pd.read_csv(small_csv, dtype=str, keep_default_na=False).assign(ssn="123")
        df.to_csv(path, index=False)
    elif kind == "missing_column":
        pd.read_csv(small_csv, dtype=str, keep_default_na=False).drop(columns=["race"]).to_csv(
            path, index=False
        )
    elif kind == "bad_value":
        df = pd.read_csv(small_csv, dtype=str, keep_default_na=False)
        df.loc[7, "age"] = "forty"
        df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing_file", ["nope.csv", "not found"]),
        ("semicolon", ["semicolon.csv", "';'"]),
        ("empty", ["empty.csv", "empty table"]),
        ("duplicate", ["duplicate.csv", "'age'", "duplicate"]),
        ("extra_column", ["extra_column.csv", "'ssn'"]),
        ("missing_column", ["missing_column.csv", "'race'"]),
        ("bad_value", ["bad_value.csv", "'age'", "'forty'"]),
        ("epsilon_zero", ["--epsilon", "0"]),
        ("epsilon_negative", ["--epsilon", "-1"]),
        ("delta_too_big", ["--delta", "1/n"]),
        ("bad_bounds", ["bad_schema.yaml", "'age'", "5"]),
        ("unknown_generator", ["unknown generator", "'gpt'"]),
    ],
)
def test_bad_fit_input(tmp_path, small_csv, adult_paths, ledger_file, case, needles):
    data, schema = small_csv, adult_paths[1]
    eps, delta, gen = "1", "1e-9", "mst"
    if case == "missing_file":
        data = tmp_path / "nope.csv"
    elif case in ("semicolon", "empty", "duplicate", "extra_column", "missing_column", "bad_value"):
        data = _variant(tmp_path, small_csv, case)
    elif case == "epsilon_zero":
        eps = "0"
    elif case == "epsilon_negative":
        eps = "-1"
    elif case == "delta_too_big":
        delta = "0.001"
    elif case == "bad_bounds":
        schema = _bad_schema(tmp_path, adult_paths)
    elif case == "unknown_generator":
        gen = "gpt"
    out = tmp_path / "model"
    result = run(
        "fit",
        data,
        "--schema",
        schema,
        "-o",
        out,
        "--generator",
        gen,
        "--epsilon",
        eps,
        "--delta",
        delta,
        "--ledger",
        ledger_file,
        "--dataset",
        "adult",
    )
    one_line_error(result, *needles)
    assert not out.exists()
    assert spent(ledger_file) == 0.0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


@pytest.fixture(scope="module")
def fitted_model(tmp_path_factory, adult_paths, adult_small):
    root = tmp_path_factory.mktemp("fitted")
    data = root / "d.csv"
    adult_small.to_csv(data, index=False)
    assert run(*fit_args(data, adult_paths[1], root / "model")).exit_code == 0
    return root / "model"


@pytest.mark.parametrize(
    "damage", ["truncate", "delete_manifest", "garble_manifest", "not_a_folder"]
)
def test_bad_model_folders(tmp_path, fitted_model, damage):
    model = tmp_path / "model"
    shutil.copytree(fitted_model, model)
    if damage == "truncate":
        blob = (model / "arrays.safetensors").read_bytes()
        (model / "arrays.safetensors").write_bytes(blob[: len(blob) // 2])
    elif damage == "delete_manifest":
        (model / "manifest.json").unlink()
    elif damage == "garble_manifest":
        text = (model / "manifest.json").read_text()
        (model / "manifest.json").write_text(text.replace('"model_type"', '"model_tpye"'))
    else:
        model = tmp_path / "plain.txt"
        model.write_text("x")
    out = tmp_path / "s.csv"
    result = run("sample", model, "-n", 10, "-o", out)
    one_line_error(result, str(model))
    assert not out.exists()


def test_sample_where_unknown_value(tmp_path, fitted_model):
    one_line_error(
        run("sample", fitted_model, "-n", 5, "-o", tmp_path / "s.csv", "--where", "sex=Robot"),
        "'sex'",
        "'Robot'",
    )


def test_schema_infer_public_and_dp(tmp_path, small_csv):
    pub = tmp_path / "public.yaml"
    assert (
        run(
            "schema",
            "infer",
            small_csv,
            "--public",
            "-o",
            pub,
            "--label",
            "income",
            "--missing",
            "?",
        ).exit_code
        == 0
    )
    assert yaml.safe_load(pub.read_text())["provenance"]["how"] == "public"
    dp = tmp_path / "dp.yaml"
    result = run(
        "schema",
        "infer",
        small_csv,
        "--epsilon",
        1,
        "--delta",
        1e-9,
        "-o",
        dp,
        "--label",
        "income",
        "--missing",
        "?",
        "--seed",
        0,
    )
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(dp.read_text())
    assert data["provenance"]["how"] == "dp" and data["provenance"]["ledger"]["entries"]
    # the DP schema is usable for fitting as it is
    assert run(*fit_args(small_csv, dp, tmp_path / "m")).exit_code == 0


def test_schema_infer_requires_exactly_one_mode(tmp_path, small_csv):
    one_line_error(
        run("schema", "infer", small_csv, "-o", tmp_path / "s.yaml"), "--public", "--epsilon"
    )
    one_line_error(
        run("schema", "infer", small_csv, "--public", "--epsilon", 1, "-o", tmp_path / "s.yaml"),
        "exactly one",
    )
    assert not (tmp_path / "s.yaml").exists()


def test_installed_entry_point_runs():
    exe = shutil.which("privsynth")
    cmd = [sys.executable, "-m", "privsynth", "--help"] if exe is None else [exe, "--help"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "fit" in result.stdout and "demo" in result.stdout


def test_demo_writes_everything(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "-o", out, "--generator", "mst", "--seed", 0)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "model",
        "synthetic.csv",
        "results.json",
        "results.md",
    }
    summary = json.loads((out / "results.json").read_text())
    assert summary["epsilon_spent"] <= 1.0 + 1e-9
    assert summary["evaluation"]["privacy"].startswith("not private")
    one_line_error(run("demo", "-o", out), "not empty")


def test_table_fit_and_evaluate_still_need_a_schema(tmp_path, small_csv, ledger_file):
    out = tmp_path / "model"
    result = run("fit", small_csv, "-o", out, "--ledger", ledger_file, "--dataset", "adult")
    one_line_error(result, "adult_small.csv", "--schema")
    assert not out.exists() and spent(ledger_file) == 0.0
    one_line_error(run("evaluate", small_csv, small_csv), "--schema")
