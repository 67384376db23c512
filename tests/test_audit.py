"""The empirical-epsilon audit: its bounds, correct generators, and the three broken ones."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from dp_accounting import dp_event, pld
from scipy import stats
from typer.testing import CliRunner

from privsynth.audit import audit
from privsynth.audit.bounds import (
    Run,
    clopper_pearson,
    gdp_delta,
    gdp_epsilon,
    gdp_estimate,
    one_run_epsilon,
    one_run_lower_bound,
)
from privsynth.audit.tables import CanaryTable, audit_table_generator
from privsynth.cli.main import app
from privsynth.generators import get_generator


def test_clopper_pearson_matches_scipy() -> None:
    for k, n in ((0, 10), (3, 10), (10, 10), (57, 200)):
        lo, hi = clopper_pearson(k, n, 0.05)
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)


def test_one_run_bound_with_every_guess_right_and_no_delta() -> None:
    # All r guesses right: the bound solves p^r = beta for p = e^eps / (1 + e^eps).
    for r in (10, 100, 1000):
        p = 0.05 ** (1 / r)
        eps = one_run_epsilon(r, r, r, 0.0, 0.05)
        assert eps == pytest.approx(math.log(p / (1 - p)), rel=1e-6)
    assert one_run_epsilon(50, 100, 100, 0.0, 0.05) == 0.0  # chance accuracy proves nothing
    # delta can only weaken the bound.
    assert one_run_epsilon(95, 100, 10_000, 1e-5, 0.05) < one_run_epsilon(95, 100, 10_000, 0, 0.05)


def test_gdp_matches_the_exact_gaussian_mechanism() -> None:
    # A sensitivity-1 Gaussian mechanism with std sigma is exactly (1/sigma)-GDP.
    for sigma, delta in ((1.0, 1e-5), (3.0, 1e-9), (0.5, 1e-6)):
        accountant = pld.PLDAccountant(value_discretization_interval=1e-5)
        accountant.compose(dp_event.GaussianDpEvent(sigma))
        assert gdp_epsilon(1 / sigma, delta) == pytest.approx(
            accountant.get_epsilon(delta), rel=2e-3
        )
        assert gdp_delta(1 / sigma, gdp_epsilon(1 / sigma, delta)) == pytest.approx(delta, rel=1e-6)


def _gaussian_runs(mu: float, m: int, runs: int, seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        included = rng.random(m) < 0.5
        out.append(Run(rng.normal(size=m) + mu * included, included))
    return out


@pytest.mark.parametrize("mu", [0.2, 1.0, 3.0])
def test_bounds_never_exceed_the_truth_of_a_gaussian_mechanism(mu: float) -> None:
    delta = 1e-6
    truth = gdp_epsilon(mu, delta)
    for seed in range(3):
        runs = _gaussian_runs(mu, 4000, 4, seed)
        bound = one_run_lower_bound(runs, delta, rng=np.random.default_rng(seed))
        gdp = gdp_estimate(runs, delta)
        assert 0 < bound.epsilon <= truth
        assert 0 < gdp.epsilon <= truth
        assert gdp.mu_lower <= mu


@pytest.mark.parametrize("name", ["independent", "mst", "aim"])
def test_correct_marginal_generators_are_not_refuted(name: str) -> None:
    params = {"mst": {"iters": 200}, "aim": {"round_iters": 20, "final_iters": 50}}.get(name, {})
    result = audit_table_generator(
        get_generator(name, **params),
        epsilon=1.0,
        delta=1e-9,
        rng=np.random.default_rng(0),
        spec=CanaryTable(canaries=20_000),
        runs=4,
    )
    data = result.to_dict()
    assert not result.violation and data["epsilon_lower_bound"] <= data["claimed_epsilon"]
    assert data["epsilon_gdp_estimate"] <= data["claimed_epsilon"]
    # White-box, a single canary column is the worst case: the bound is within a factor 3.
    assert data["epsilon_lower_bound"] >= data["claimed_epsilon"] / 3
    assert data["setting"]["score"].startswith("noisy measurements")


def test_black_box_marginal_audit_is_weaker_and_consistent() -> None:
    result = audit(
        "mst",
        epsilon=1.0,
        delta=1e-9,
        rng=np.random.default_rng(1),
        params={"iters": 200},
        mode="black-box",
        canaries=5000,
        runs=2,
    )
    assert not result.violation
    assert result.to_dict()["setting"]["score"].startswith("counts in")


@pytest.mark.parametrize("target", ["broken:no-noise", "broken:free-categories"])
@pytest.mark.parametrize("mode", ["white-box", "black-box"])
def test_broken_table_generators_are_caught(target: str, mode: str) -> None:
    result = audit(
        target, epsilon=1.0, delta=1e-9, rng=np.random.default_rng(2), mode=mode, canaries=1000
    )
    assert result.violation, result.verdict
    assert result.verdict.startswith("VIOLATION")


def test_noise_layer_gan_is_caught() -> None:
    result = audit(
        "broken:noise-layer-gan",
        epsilon=1.0,
        delta=1e-9,
        rng=np.random.default_rng(3),
        canaries=300,
        runs=2,
    )
    assert result.violation, result.verdict


def test_dpsgd_generator_replays_its_own_engine() -> None:
    result = audit(
        "dpcvae",
        epsilon=10.0,
        delta=1e-5,
        rng=np.random.default_rng(4),
        params={"epochs": 1, "batch_size": 128},
        canaries=400,
        runs=2,
        rows=2000,
    )
    data = result.to_dict()
    engine = data["setting"]["engine"]
    assert engine["noise"] == "gaussian" and engine["steps"] >= 1
    assert data["setting"]["engine_epsilon"] <= 10.0 + 1e-6
    assert not result.violation
    assert 0 < data["epsilon_gdp_estimate"] <= 10.0


def test_audit_is_deterministic_for_a_seed() -> None:
    def run() -> dict:
        out = audit(
            "independent", epsilon=1.0, delta=1e-9, rng=np.random.default_rng(5), canaries=500
        ).to_dict()
        out.pop("seconds")
        return out

    assert run() == run()


def test_cli_audit_writes_json_and_flags_broken(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "audit.json"
    ok = runner.invoke(
        app,
        ["audit", "-g", "mst", "--canaries", "2000", "--runs", "2", "--seed", "0", "-o", str(out)],
    )
    assert ok.exit_code == 0, ok.output
    data = json.loads(out.read_text())
    assert data["target"] == "mst" and data["violation"] is False
    bad = runner.invoke(app, ["audit", "-g", "broken:no-noise", "--seed", "0", "--strict"])
    assert bad.exit_code == 3 and "VIOLATION" in bad.output
    refused = runner.invoke(app, ["audit", "-g", "pategan"])
    assert refused.exit_code == 2 and "pategan" in refused.output
    wrong = runner.invoke(app, ["audit", "-g", "mst", "--epsilon", "-1", "-o", str(tmp_path / "x")])
    assert wrong.exit_code == 2 and not (tmp_path / "x").exists()
