"""A fit that builds on the noisy marginals of ``rules learn``: both releases on one ledger."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dp_accounting import dp_event, rdp
from typer.testing import CliRunner

from privsynth.cli.main import app
from privsynth.errors import BudgetExceeded, InputError
from privsynth.measure.marginals import Measurement
from privsynth.measure.prior import PriorRelease
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger
from privsynth.schema import save_schema, schema_from_dict
from privsynth.schema.learn import learn_rules, prior_from_candidates, save_candidates
from privsynth.synthesizer import Synthesizer, fit_table
from privsynth.transforms.discretize import Discretizer

SCHEMA = {
    "name": "pairs",
    "columns": [
        {"name": "a", "type": "categorical", "values": ["x", "y", "z"]},
        {"name": "b", "type": "categorical", "values": ["x", "y", "z"]},
        {"name": "c", "type": "categorical", "values": ["0", "1"]},
        {"name": "age", "type": "integer", "lower": 0, "upper": 99, "bins": 10},
    ],
}
DELTA = 1e-7


def _table(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """b copies a 80 % of the time; c and age independent of both."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])
    b = np.where(rng.random(n) < 0.8, a, rng.choice(["x", "y", "z"], n))
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": rng.choice(["0", "1"], n),
            "age": rng.integers(0, 100, n).astype(str),
        }
    )


class RecordingStore:
    """Records every charge."""

    def __init__(self) -> None:
        self.charges: list[tuple[str, float]] = []

    def charge(self, dataset: str, rho: float, label: str, *, delta: float = 0.0) -> None:
        self.charges.append((dataset, rho))


def _learned(eps: float = 2.0, seed: int = 1):
    schema = schema_from_dict(SCHEMA)
    ledger = Ledger(eps, DELTA)
    learned = learn_rules(_table(), schema, ledger, np.random.default_rng(seed))
    return schema, learned


def test_the_fit_ledger_records_the_reused_release_first_and_spends_only_the_rest() -> None:
    paid = Ledger(1.0, DELTA)
    paid.spend(GaussianEvent(20.0, count=6), label="rules learn: marginals")
    led = Ledger(3.0, DELTA, paid=paid)
    assert [e.label for e in led.entries] == ["reused: rules learn: marginals"]
    assert led.rho_spent == pytest.approx(paid.rho_spent)
    assert led.remaining_rho() == pytest.approx(led.rho_budget - paid.rho_spent)
    led.spend(GaussianEvent(10.0, count=3), label="fit")
    # The total agrees with an independent RDP accountant on the two releases together.
    acc = rdp.RdpAccountant()
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.GaussianDpEvent(20.0), 6))
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.GaussianDpEvent(10.0), 3))
    theirs = acc.get_epsilon(DELTA)
    assert led.epsilon() == pytest.approx(theirs, rel=2e-3)
    assert led.epsilon() <= theirs * (1 + 1e-9)


def test_a_reused_release_larger_than_the_budget_is_refused_and_charges_no_store() -> None:
    paid = Ledger(5.0, DELTA)
    paid.spend(GaussianEvent(2.0, count=2), label="learn")
    store = RecordingStore()
    with pytest.raises(BudgetExceeded, match="reused: learn"):
        Ledger(1.0, DELTA, paid=paid, store=store, dataset="d")
    assert store.charges == []
    with pytest.raises(InputError, match="delta"):
        Ledger(50.0, DELTA / 10, paid=paid)


def test_the_store_is_charged_the_reused_cost_once() -> None:
    paid = Ledger(1.0, DELTA)
    paid.spend(GaussianEvent(20.0, count=6), label="learn")
    store = RecordingStore()
    led = Ledger(3.0, DELTA, paid=paid, store=store, dataset="d", paid_in_store=True)
    assert store.charges == [("d", pytest.approx(led.rho_budget - paid.rho_spent))]
    other = RecordingStore()
    led = Ledger(3.0, DELTA, paid=paid, store=other, dataset="d")
    assert other.charges == [("d", pytest.approx(led.rho_budget))]


def test_candidates_file_round_trip_keeps_the_noisy_marginals(tmp_path) -> None:
    _, learned = _learned()
    path = tmp_path / "cand.yaml"
    save_candidates(learned, path, {"data": "t.csv"})
    data = yaml.safe_load(path.read_text())
    prior = prior_from_candidates(data, str(path))
    assert [m.clique for m in prior.measurements] == [m.clique for m in learned.measurements]
    for ours, theirs in zip(prior.measurements, learned.measurements, strict=True):
        np.testing.assert_array_equal(ours.noisy, theirs.noisy)
        assert ours.sigma == theirs.sigma
    assert prior.ledger.rho_spent == pytest.approx(learned.ledger.rho_spent)


def test_bad_reused_releases_are_refused_before_any_spend() -> None:
    schema, learned = _learned()
    domain = Discretizer(schema).encode(_table(), "t.csv")[0].domain
    prior = learned.prior("cand.yaml")
    prior.check(domain)
    wrong = Measurement(("a", "nope"), np.zeros(9), 1.0)
    with pytest.raises(InputError, match=r"cand.yaml: .*\['nope'\]"):
        PriorRelease((wrong,), prior.ledger, "cand.yaml").check(domain)
    short = Measurement(("a", "b"), np.zeros(8), 1.0)
    with pytest.raises(InputError, match="8 cells"):
        PriorRelease((short,), prior.ledger, "cand.yaml").check(domain)
    # Counts less noisy than their ledger paid for: a release nobody accounted.
    sharp = tuple(Measurement(m.clique, m.noisy, m.sigma / 2) for m in prior.measurements)
    with pytest.raises(InputError, match="more than their ledger paid"):
        PriorRelease(sharp, prior.ledger, "cand.yaml").check(domain)
    with pytest.raises(InputError, match="cannot reuse"):
        fit_table(
            _table(),
            schema,
            generator="independent",
            epsilon=5.0,
            delta=DELTA,
            rng=np.random.default_rng(0),
            prior=prior,
        )


@pytest.mark.parametrize("generator", ["mst", "aim"])
def test_fits_build_on_the_reused_marginals(generator: str) -> None:
    """The learner measured (a, b) precisely; the fit itself has almost nothing left. The
    model's (a, b) marginal follows the reused counts, and the ledger holds both releases."""
    schema, learned = _learned(eps=3.0)
    prior = learned.prior("cand.yaml")
    total = 3.01  # the fit's own share is tiny: about 0.3 % of the zCDP budget
    rng = np.random.default_rng(2)
    params = {"rounds": 4} if generator == "aim" else {}
    synth, _ = fit_table(
        _table(),
        schema,
        generator=generator,
        epsilon=total,
        delta=DELTA,
        rng=rng,
        params=params,
        prior=prior,
    )
    led = synth.ledger
    assert led.entries[0].label == "reused: rules learn: categorical 1- and 2-way marginals"
    assert len(led.entries) > 1 and led.epsilon() <= total * (1 + 1e-9)
    assert led.rho_spent == pytest.approx(led.rho_budget, rel=1e-6)
    rows = synth.sample(20_000, rng=np.random.default_rng(3))
    table = _table()
    real = pd.crosstab(table["a"], table["b"], normalize=True)
    fake = pd.crosstab(rows["a"], rows["b"], normalize=True)
    tvd = 0.5 * float(np.abs(real.values - fake.values).sum())
    # Expected L1 error of the reused counts (9 cells, noise sigma, 4000 rows) plus that of
    # 20 000 draws (at most 3 / sqrt(m) over 9 cells), each |N(0, s)| averaging 0.8 s; the
    # TVD is half the L1 error, and the bound allows three times its expectation.
    sigma = next(m.sigma for m in prior.measurements if set(m.clique) == {"a", "b"})
    bound = 3 * 0.5 * 0.8 * (9 * sigma / len(table) + 3 / math.sqrt(20_000))
    assert tvd < bound
    # Without the reused marginals, the same tiny fit budget cannot see the copy.
    alone, _ = fit_table(
        _table(),
        schema,
        generator=generator,
        epsilon=0.05,
        delta=DELTA,
        rng=np.random.default_rng(2),
        params=params,
    )
    rows = alone.sample(20_000, rng=np.random.default_rng(3))
    fake = pd.crosstab(rows["a"], rows["b"], normalize=True)
    assert 0.5 * float(np.abs(real.values - fake.values).sum()) > bound


def test_cli_fit_reuses_a_candidates_file(tmp_path) -> None:
    data = tmp_path / "t.csv"
    _table().to_csv(data, index=False)
    schema = tmp_path / "s.yaml"
    save_schema(schema_from_dict(SCHEMA), schema)
    runner = CliRunner()
    cand = tmp_path / "cand.yaml"
    from privsynth.cli.rules import rules_app

    res = runner.invoke(
        rules_app,
        [
            "learn",
            str(data),
            "-s",
            str(schema),
            "--epsilon",
            "1",
            "--delta",
            "1e-7",
            "-o",
            str(cand),
            "--seed",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output

    def fit(out: str, eps: str, reuse: Path, *extra: str):
        args = ["fit", str(data), "-s", str(schema), "-g", "mst", "--epsilon", eps]
        args += ["--delta", "1e-7", "-o", str(tmp_path / out), "--reuse", str(reuse), *extra]
        return runner.invoke(app, args)

    res = fit("m", "2", cand, "--seed", "0")
    assert res.exit_code == 0, res.output
    assert "including" in res.output
    synth = Synthesizer.load(tmp_path / "m")
    labels = [e.label for e in synth.ledger.entries]
    assert labels[0].startswith("reused: rules learn")
    assert synth.ledger.epsilon() == pytest.approx(2.0, rel=1e-6)
    # A reused release over the fit's whole budget: refused, nothing written.
    res = fit("m2", "0.5", cand)
    assert res.exit_code != 0 and not (tmp_path / "m2").exists()
    assert "reused" in res.output
    # A file that is not a candidates file names itself.
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({"kind": "other"}))
    res = fit("m3", "2", bad)
    assert res.exit_code != 0 and "bad.yaml" in res.output


def _fit_reused(generator: str, params: dict):  # noqa: ANN202
    """A fit at epsilon 6 building on the marginals ``rules learn`` bought at epsilon 3."""
    schema, learned = _learned(eps=3.0)
    synth, _ = fit_table(
        _table(),
        schema,
        generator=generator,
        epsilon=6.0,
        delta=DELTA,
        rng=np.random.default_rng(0),
        params=params,
        prior=learned.prior("cand.yaml"),
    )
    return synth, learned


def test_networks_combine_the_reused_marginals_with_their_own_at_the_same_spend() -> None:
    """dpgan buys its one-way marginals as it does without reuse (same events, same noise);
    the learner's categorical ones are combined with them, so only the budget's total
    changes: the learner's spend is on the ledger first and counts against it."""
    params = {"epochs": 1, "batch_size": 128, "hidden": [32], "latent_dim": 8}
    synth, _ = _fit_reused("dpgan", params)
    entries = synth.ledger.entries
    assert entries[0].label.startswith("reused: rules learn")
    bought = [e for e in entries if "marginals" in e.label and not e.label.startswith("reused")]
    assert len(bought) == 1 and bought[0].event.count == 4  # a, b, c and age
    rho = 0.1 * synth.ledger.rho_budget
    assert bought[0].event.sigma == pytest.approx(math.sqrt(4 / (2 * rho)))
    assert synth.ledger.epsilon() <= 6.0 * (1 + 1e-9)


def test_reused_blocks_start_from_the_combined_counts() -> None:
    """A block the learner measured starts from the inverse-variance combination of its
    reused and its fresh counts (with the combined noise), one it did not from the fresh."""
    from privsynth.marginals.counting import InMemoryBackend
    from privsynth.measure.marginals import measure_marginals
    from privsynth.measure.rows import combine, noisy_marginal_logits
    from privsynth.transforms.neural import NeuralEncoding

    schema, learned = _learned(eps=3.0)
    table, _ = Discretizer(schema).encode(_table(), "t.csv")
    backend = InMemoryBackend(table)
    enc = NeuralEncoding(table.domain)
    ledger = Ledger(1.0, DELTA)
    logits = noisy_marginal_logits(
        backend,
        ledger,
        np.random.default_rng(0),
        enc,
        rho=0.01,
        what="t",
        prior=learned.measurements,
    )
    sigma = math.sqrt(4 / (2 * 0.01))
    cliques = [(b.attr,) for b in enc.blocks]
    fresh = measure_marginals(
        backend, cliques, sigma, Ledger(1.0, DELTA), np.random.default_rng(0), label="again"
    )
    block = next(b for b in enc.blocks if b.attr == "b")
    m = next(m for m in learned.measurements if m.clique == ("b",))
    both = combine(fresh[cliques.index(("b",))], m)
    counts = np.clip(both.noisy, 0, None) + 1.0
    np.testing.assert_allclose(
        logits.base[block.start : block.stop], np.log(counts / counts.sum()), rtol=1e-5
    )
    assert logits.sigma_of(block.start) == pytest.approx((sigma**-2 + m.sigma**-2) ** -0.5)
    assert logits.sigma_of(block.start) < min(sigma, m.sigma)
    age = next(b for b in enc.blocks if b.attr == "age")
    assert logits.sigma_of(age.start) == pytest.approx(sigma)
    assert ledger.rho_spent == pytest.approx(0.01)


def test_combined_measurement_has_the_inverse_variance_noise() -> None:
    """20 000 pairs of measurements of a known count with noise sd 3 and 4: the combination
    is unbiased and its sd is 2.4 (1 / sqrt(1/9 + 1/16)), within 5 standard errors."""
    from privsynth.measure.rows import combine

    rng = np.random.default_rng(3)
    n, truth = 20_000, 100.0
    a = Measurement(("x",), truth + 3.0 * rng.standard_normal(n), 3.0)
    b = Measurement(("x",), truth + 4.0 * rng.standard_normal(n), 4.0)
    c = combine(a, b)
    assert c.sigma == pytest.approx(2.4)
    err = c.noisy - truth
    assert abs(err.mean()) < 5 * 2.4 / math.sqrt(n)
    assert abs(err.std() - 2.4) < 5 * 2.4 / math.sqrt(2 * n)
    with pytest.raises(ValueError):
        combine(a, Measurement(("y",), b.noisy, 4.0))


def test_dpflow_combines_the_reused_one_way_marginals_with_its_own(monkeypatch) -> None:
    """dpflow buys every one-way marginal as without reuse; the learner's categorical ones
    are combined with them, so its calibration sees their combined (smaller) noise, and
    age's (not learned) keeps the fit's own."""
    from privsynth.generators.neural.calibrate import Calibration

    seen = {}
    real = Calibration.fit_one_way.__func__

    def spy(cls, noisy, sigma, codes, total):
        seen.update(sigma)
        return real(cls, noisy, sigma, codes, total)

    monkeypatch.setattr(Calibration, "fit_one_way", classmethod(spy))
    params = {"epochs": 0.2, "batch_size": 128, "hidden": [16], "made_hidden": [16], "layers": 1}
    synth, learned = _fit_reused("dpflow", params)
    entries = synth.ledger.entries
    assert entries[0].label.startswith("reused: rules learn")
    (own,) = [e for e in entries if "one-way" in e.label and not e.label.startswith("reused")]
    assert own.event.count == 4
    fresh = own.event.sigma
    assert seen["age"] == pytest.approx(fresh)
    for attr in ("a", "b", "c"):
        m = next(m for m in learned.measurements if m.clique == (attr,))
        assert seen[attr] == pytest.approx((fresh**-2 + m.sigma**-2) ** -0.5)
    assert synth.ledger.epsilon() <= 6.0 * (1 + 1e-9)
