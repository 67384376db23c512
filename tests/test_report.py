"""``privsynth report``: a self-contained HTML page with the same numbers as its JSON.

Sections appear exactly when their data is given; real-data sections carry the not-private
label; bad input to the command gives one line naming the file and writes nothing.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from privsynth.cli.report import report_command
from privsynth.evaluate import evaluate
from privsynth.evaluate.inputs import prepare
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger
from privsynth.report import NOT_PRIVATE, build_report
from privsynth.report.attacks import SIMILARITY
from privsynth.toy import toy_table

EXTERNAL = re.compile(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def tables():
    real, schema = toy_table("four_modes", 2000, np.random.default_rng(0))
    synth, _ = toy_table("four_modes", 2000, np.random.default_rng(1))
    return real, synth, schema


@pytest.fixture(scope="module")
def evaluation(tables):
    real, synth, schema = tables
    return evaluate(real, synth, schema, seed=0).to_dict()


@pytest.fixture(scope="module")
def prepared(tables):
    real, synth, schema = tables
    return prepare({"real": real, "synthetic": synth}, schema)


@pytest.fixture(scope="module")
def ledger() -> dict:
    led = Ledger(1.0, 1e-9)
    led.spend(GaussianEvent(sigma=20.0, sensitivity=1.0), label="one-way marginals")
    led.spend(GaussianEvent(sigma=30.0, sensitivity=1.0), label="two-way marginal x,y")
    return led.to_dict()


def _attacks() -> dict:
    roc = {"fpr": [0.0, 0.3, 0.6, 1.0], "tpr": [0.0, 0.35, 0.62, 1.0]}
    common = {
        "auc_ci": [0.48, 0.55],
        "advantage": 0.04,
        "advantage_ci": [0.0, 0.08],
        "accuracy": 0.51,
        "privacy_loss": 0.02,
        "privacy_loss_ci": [-0.05, 0.09],
        "n_members": 250,
        "n_nonmembers": 250,
        "roc": roc,
    }
    return {
        "attacks": {
            "classifier": {
                **common,
                "auc": 0.5123,
                "evidence": "privacy attack",
                "description": "tells members from non-members",
            },
            "closest_record": {
                **common,
                "auc": 0.4987,
                "evidence": SIMILARITY,
                "description": "distance to the closest synthetic row",
            },
        },
        "skipped": {"shadow_model": "no shadow generator given"},
    }


AUDIT = {"claimed_epsilon": 1.0, "delta": 1e-9, "epsilon_lower_bound": 0.2345, "method": "canaries"}


def _sections(html: str) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', html))


def test_full_table_report(evaluation, prepared, ledger):
    html, data = build_report(
        evaluation=evaluation, prepared=prepared, ledger=ledger, attacks=_attacks(), audit=AUDIT
    )
    assert not EXTERNAL.search(html)
    assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
    assert NOT_PRIVATE in html
    assert {"ledger", "fidelity", "utility", "attacks", "audit"} <= _sections(html)
    assert "images" not in _sections(html)
    assert data["sections"] == re.findall(r'<section id="([^"]+)"', html)
    for entry in ledger["entries"]:
        assert entry["label"] in html
    assert f"ε = {ledger['epsilon_spent']:.4f}" in html
    # Every real-data section is labelled; the ledger (part of the DP release) is not.
    for sid in ("fidelity", "utility", "attacks", "audit"):
        body = html.split(f'<section id="{sid}"', 1)[1].split("</h2>", 1)[0]
        assert NOT_PRIVATE in body, sid
    assert NOT_PRIVATE not in html.split('<section id="ledger"', 1)[1].split("</h2>", 1)[0]
    assert html.count("<svg") >= len(prepared.schema.columns) + 3 + 1 + 1
    assert SIMILARITY in html.split('<section id="attacks"', 1)[1]
    assert "Consistent with the claim" in html


def test_json_numbers_equal_the_evaluation(evaluation, prepared, ledger):
    html, data = build_report(evaluation=evaluation, prepared=prepared, ledger=ledger)
    back = json.loads(json.dumps(data, allow_nan=False))
    assert back["evaluation"] == json.loads(json.dumps(evaluation))
    assert back["ledger"] == ledger
    assert back["guarantee"]["epsilon"] == ledger["epsilon_spent"]
    cell = evaluation["efficacy"]["matrix"]["train_real"]["test_real"]
    assert f"{cell['accuracy']:.4f}" in html
    loss = back["utility"]["accuracy_loss"]
    p1 = evaluation["efficacy"]["matrix"]["train_real"]["test_real"]["accuracy"]
    p2 = evaluation["efficacy"]["matrix"]["train_synthetic"]["test_real"]["accuracy"]
    assert loss["loss"] == pytest.approx(p1 - p2)
    for order, entry in evaluation["marginals"]["orders"].items():
        assert f"{entry['mean_tvd']:.4f}" in html, order
    dist = back["figures"]["distributions"]
    assert set(dist) == set(prepared.schema.names)
    for name, d in dist.items():
        assert len(d["bins"]) == len(d["real"]) == len(d["synthetic"]) == prepared.domain[name]
        assert sum(d["real"]) == pytest.approx(1.0) and sum(d["synthetic"]) == pytest.approx(1.0)
    assoc = back["figures"]["associations"]
    assert assoc["columns"] == list(prepared.schema.names)
    assert assoc["real"][0][0] == 1.0


def test_sections_absent_without_data(evaluation):
    html, data = build_report(evaluation={}, prepared=None, ledger=None)
    assert _sections(html) == set() and data["sections"] == []
    assert "No privacy ledger given" in html
    html, data = build_report(evaluation=evaluation, prepared=None, ledger=None)
    assert {"fidelity", "utility"} <= _sections(html)
    assert not {"ledger", "attacks", "audit", "images"} & _sections(html)
    assert data["figures"] is None and data["attacks"] is None and data["audit"] is None


def test_unknown_and_malformed_shapes_render_generically(evaluation, ledger):
    odd = {**evaluation, "brand_new_metric": {"score": 0.75, "per_part": [1, 2, 3]}}
    audit = ["not", "a", {"mapping": True}]
    attacks = {"attacks": {"weird": "text", "x": {"auc": "high"}}, "extra_field": 3}
    broken_efficacy = {**odd, "efficacy": {"matrix": "oops"}}
    html, data = build_report(
        evaluation=broken_efficacy,
        prepared=None,
        ledger={**ledger, "entries": "bad"},
        attacks=attacks,
        audit=audit,
        extra={"Shadow study": {"a": float("inf"), "b": np.float32(0.5)}},
    )
    for sid in ("other", "audit", "attacks", "utility", "extra-0"):
        assert sid in _sections(html), sid
    assert "brand_new_metric" in html and "Shadow study" in html
    assert data["extra"]["Shadow study"] == {"a": "inf", "b": 0.5}
    json.dumps(data, allow_nan=False)


def test_escapes_input_text(evaluation):
    attacks = {"attacks": {"<script>alert(1)</script>": {"auc": 0.5}}}
    html, _ = build_report(evaluation={}, prepared=None, ledger=None, attacks=attacks)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_image_report():
    rng = np.random.default_rng(0)
    images = {
        "synthetic": {
            "images": rng.integers(0, 256, (30, 12, 12), dtype=np.uint8),
            "labels": np.repeat(np.arange(3), 10),
        },
        "real": rng.uniform(size=(8, 12, 12)),
    }
    evaluation = {
        "privacy": "not private",
        "data_kind": "images",
        "tstr": {"accuracy": 0.8, "per_class_accuracy": [0.9, None, 0.7]},
        "fidelity": {"mean_image_l2": 1.5, "fd_smallcnn": None},
    }
    html, data = build_report(evaluation=evaluation, prepared=None, ledger=None, images=images)
    assert {"images", "quality"} <= _sections(html)
    assert html.count('src="data:image/png;base64,') == 2
    assert not EXTERNAL.search(html)
    assert data["images"]["synthetic"]["n_images"] == 30
    assert data["images"]["real"]["shape"] == [12, 12]
    assert data["evaluation"]["tstr"]["accuracy"] == 0.8
    section = html.split('<section id="images"', 1)[1]
    assert NOT_PRIVATE in section.split("Real images", 1)[1]
    html, _ = build_report(
        evaluation={}, prepared=None, ledger=None, images={"synthetic": images["synthetic"]}
    )
    assert "Real images" not in html


# --- the command, through a local typer app (it is registered in cli/main.py separately) ---

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("report")(report_command)

    @app.command("noop")
    def noop() -> None:  # a second command keeps "report" a named sub-command
        """Nothing."""

    return app


@pytest.fixture(scope="module")
def files(tmp_path_factory, tables):
    from privsynth.schema import save_schema

    real, synth, schema = tables
    d = tmp_path_factory.mktemp("report")
    real.to_csv(d / "real.csv", index=False)
    synth.to_csv(d / "synth.csv", index=False)
    test, _ = toy_table("four_modes", 400, np.random.default_rng(2))
    test.to_csv(d / "test.csv", index=False)
    save_schema(schema, d / "schema.yaml")
    (d / "audit.json").write_text(json.dumps(AUDIT))
    return d


def test_command_end_to_end(files, tmp_path):
    out = tmp_path / "out" / "report.html"
    args = ["report", files / "real.csv", files / "synth.csv", "-s", files / "schema.yaml"]
    args += ["--audit", files / "audit.json", "--seed", "3", "-o", out]
    result = runner.invoke(_app(), [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["evaluation"]["seed"] == 3
    assert data["audit"] == AUDIT
    assert {"fidelity", "utility", "audit"} <= _sections(html)
    assert "attacks" not in _sections(html)  # no --test: no attacks
    assert NOT_PRIVATE in html and not EXTERNAL.search(html)
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html", "report.json"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"--schema": "missing.yaml"}, "missing.yaml"),
        ({"--audit": "bad.json"}, "bad.json"),
        ({"--model": "no-model"}, "no-model"),
        ({"synthetic": "nope.csv"}, "nope.csv"),
    ],
)
def test_command_bad_input(files, tmp_path, change, needle):
    (files / "bad.json").write_text("{not json")
    opts = {"--schema": "schema.yaml", "-o": str(tmp_path / "r.html")}
    pos = {"real": "real.csv", "synthetic": "synth.csv"}
    for key, value in change.items():
        (pos if key in pos else opts)[key] = value
    args = [str(files / pos["real"]), str(files / pos["synthetic"])]
    for key, value in opts.items():
        args += [key, value if key == "-o" else str(files / value)]
    result = runner.invoke(_app(), ["report", *args], catch_exceptions=False)
    assert result.exit_code != 0
    text = result.output.strip()
    assert text.startswith("error:") and len(text.splitlines()) == 1, text
    assert needle in text, text
    assert list(tmp_path.iterdir()) == []


def test_command_with_model_and_holdout(files, tables, tmp_path):
    """--model puts the model's ledger in the report; --test runs the privacy attacks (when
    privsynth.evaluate.attacks is available)."""
    from privsynth.synthesizer import fit_table

    real, _, schema = tables
    synth, _ = fit_table(
        real,
        schema,
        generator="independent",
        epsilon=1.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
    )
    synth.save(tmp_path / "model")
    out = tmp_path / "r.html"
    args = ["report", files / "real.csv", files / "synth.csv", "-s", files / "schema.yaml"]
    args += ["--test", files / "test.csv", "--model", tmp_path / "model", "-o", out]
    result = runner.invoke(_app(), [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["ledger"] == json.loads(json.dumps(synth.ledger.to_dict()))
    assert data["meta"]["generator"] == "independent"
    assert data["evaluation"]["rows"]["test"] == 400
    html = out.read_text(encoding="utf-8")
    assert "ledger" in _sections(html)
    try:
        import privsynth.evaluate.attacks  # noqa: F401
    except ImportError:
        assert data["attacks"] is None
    else:
        assert "attacks" in _sections(html) and data["attacks"]["attacks"]
