"""Targeted sampling of a region defined by the model: the top q of a numeric column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from privsynth.cli.main import app
from privsynth.errors import InputError
from privsynth.synthesizer import fit_table
from privsynth.targeted import sample_top


@pytest.fixture(scope="module")
def graphical(adult_small, adult_schema):
    synth, _ = fit_table(
        adult_small,
        adult_schema,
        generator="mst",
        epsilon=2.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
        params={"iters": 200},
    )
    return synth


@pytest.mark.parametrize("column", ["age", "hours-per-week"])
def test_graphical_top_is_exactly_the_models_region(graphical, column) -> None:
    q, n = 0.05, 4000
    out = sample_top(graphical, column, q, n, rng=np.random.default_rng(1))
    values = pd.to_numeric(out.rows[column]).to_numpy(float)
    assert len(out.rows) == n and out.method.startswith("exact")
    assert (values >= out.threshold).all()
    # The threshold is the model's own quantile: plain draws exceed it about q of the time
    # (integer columns hold at least q), within 5 binomial standard errors.
    plain = graphical.sample(40_000, rng=np.random.default_rng(2), rules=False)
    p = pd.to_numeric(plain[column]).to_numpy(float)
    share = np.mean(p >= out.threshold)
    assert share >= q - 5 * np.sqrt(q * (1 - q) / len(p))
    assert share <= q + 0.05
    # Targeted rows follow the model restricted to the region (KS, 1% level).
    region = p[p >= out.threshold]
    assert stats.ks_2samp(values, region).pvalue > 0.01
    # The other columns come along with the right dependence: the label mix matches.
    plain_region = plain[p >= out.threshold]
    a = np.mean(out.rows["income"] == ">50K")
    b = np.mean(plain_region["income"] == ">50K")
    assert abs(a - b) <= 5 * np.sqrt(b * (1 - b) * (1 / n + 1 / len(plain_region))) + 1e-9


def test_neural_top_by_bounded_rejection(adult_small, adult_schema) -> None:
    synth, _ = fit_table(
        adult_small,
        adult_schema,
        generator="dpcvae",
        epsilon=5.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
        params={"epochs": 1, "batch_size": 128},
    )
    out = sample_top(synth, "age", 0.05, 500, rng=np.random.default_rng(3), quantile_draws=20_000)
    assert out.method.startswith("rejection") and len(out.rows) == 500
    assert (pd.to_numeric(out.rows["age"]) >= out.threshold).all()


def test_flow_top_fixes_its_region_once(adult_small, adult_schema, monkeypatch) -> None:
    """The flow's threshold is a Monte Carlo quantile that moves between estimates: it is
    estimated once per request and every batch keeps rows above that same value, so every
    row meets the reported threshold (a second estimate per batch let rows slip below it)."""
    synth, _ = fit_table(
        adult_small,
        adult_schema,
        generator="dpflow",
        epsilon=5.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
        params={"epochs": 0.2, "hidden": [16], "made_hidden": [16], "layers": 1},
    )
    model = synth.model
    calls = []
    real = model.tail_threshold

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "tail_threshold", counted)
    out = sample_top(synth, "age", 0.05, 300, rng=np.random.default_rng(4))
    assert out.method.startswith("flow") and len(out.rows) == 300
    assert len(calls) == 1
    assert (pd.to_numeric(out.rows["age"]) >= out.threshold).all()
    codes, values, t = model.sample_tail(
        "age", 0.05, 50, rng=np.random.default_rng(5), threshold=60.0
    )
    assert t == 60.0 and np.all(values["age"] >= 60.0) and len(calls) == 1


def test_bad_requests_are_refused(graphical) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="numeric"):
        sample_top(graphical, "sex", 0.01, 10, rng=rng)
    with pytest.raises(InputError, match="share"):
        sample_top(graphical, "age", 0.9, 10, rng=rng)
    with pytest.raises(InputError, match="not in the schema"):
        sample_top(graphical, "nope", 0.01, 10, rng=rng)


def test_cli_top(tmp_path, graphical) -> None:
    graphical.save(tmp_path / "model")
    out = tmp_path / "top.csv"
    res = CliRunner().invoke(
        app,
        [
            "sample",
            str(tmp_path / "model"),
            "-n",
            "200",
            "--top",
            "age=0.02",
            "--where",
            "sex=Female",
            "--seed",
            "0",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == 200 and (df["sex"] == "Female").all()
    assert "exact" in res.output
    bad = CliRunner().invoke(
        app, ["sample", str(tmp_path / "model"), "--top", "age", "-o", str(tmp_path / "x.csv")]
    )
    assert bad.exit_code == 2 and not (tmp_path / "x.csv").exists()
