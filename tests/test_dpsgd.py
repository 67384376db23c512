"""The DP-SGD engine and its accounting: cross-checked against Opacus and dp-accounting."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
import torch
from dp_accounting.rdp import RdpAccountant
from opacus.accountants import RDPAccountant
from opacus.grad_sample import GradSampleModule

from privsynth.errors import BudgetExceeded, PrivacyError
from privsynth.measure.dpsgd import (
    PrivateGradient,
    calibrate_gaussian,
    calibrate_laplace,
    open_dpsgd,
)
from privsynth.privacy.events import (
    GaussianEvent,
    SubsampledGaussianEvent,
    SubsampledLaplaceEvent,
    event_from_dict,
    event_to_dict,
)
from privsynth.privacy.ledger import Ledger
from privsynth.privacy.rdp import ORDERS, rdp_epsilon
from privsynth.privacy.store import SqliteBudgetStore

torch.set_num_threads(1)

# (sample rate, noise multiplier, steps, delta): Opacus's MNIST example, large-epsilon
# table runs and small-epsilon ones.
REFERENCE = [
    (256 / 60000, 1.1, 60 * 235, 1e-5),
    (0.05, 1.0, 400, 1e-6),
    (0.02, 0.8, 2000, 1e-6),
    (0.01, 2.0, 3000, 1e-9),
    (0.004, 1.0, 10000, 1e-9),
]


def opacus_epsilon(q: float, sigma: float, steps: int, delta: float) -> float:
    acc = RDPAccountant()
    acc.history = [(sigma, q, steps)]
    return acc.get_epsilon(delta=delta, alphas=list(ORDERS))


def google_epsilon(events, delta: float) -> float:
    acc = RdpAccountant(list(ORDERS))
    for e in events:
        acc.compose(e)
    return acc.get_epsilon(delta)


@pytest.mark.parametrize(("q", "sigma", "steps", "delta"), REFERENCE)
def test_epsilon_matches_opacus_and_dp_accounting(q, sigma, steps, delta):
    ledger = Ledger(1000.0, delta, composition="rdp")
    ledger.spend(SubsampledGaussianEvent(q, sigma, steps), label="dp-sgd")
    ours = ledger.epsilon()
    google = google_epsilon(
        [
            dp_accounting.SelfComposedDpEvent(
                dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)),
                steps,
            )
        ],
        delta,
    )
    assert ours == pytest.approx(opacus_epsilon(q, sigma, steps, delta), rel=1e-3)
    assert ours == pytest.approx(google, rel=1e-3)


@pytest.mark.parametrize(
    ("q", "sigma", "steps", "delta"), [(0.05, 0.7, 400, 1e-6), (0.01, 0.6, 1000, 1e-5)]
)
def test_below_noise_one_we_are_never_below_opacus(q, sigma, steps, delta):
    """At noise multipliers below about 0.8 dp-accounting drops fractional orders whose series
    does not converge (a valid but looser bound): we may report up to 1 % more than Opacus,
    never less."""
    ours = rdp_epsilon([SubsampledGaussianEvent(q, sigma, steps)], delta)
    theirs = opacus_epsilon(q, sigma, steps, delta)
    assert theirs * (1 - 1e-9) <= ours <= theirs * 1.01


def test_composition_with_zcdp_events_matches_dp_accounting():
    ledger = Ledger(50.0, 1e-6, composition="rdp")
    ledger.spend(GaussianEvent(sigma=20.0, count=3), label="counts")
    ledger.spend(SubsampledGaussianEvent(0.02, 1.0, 1000), label="steps")
    google = google_epsilon(
        [
            dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(20.0), 3),
            dp_accounting.SelfComposedDpEvent(
                dp_accounting.PoissonSampledDpEvent(0.02, dp_accounting.GaussianDpEvent(1.0)),
                1000,
            ),
        ],
        1e-6,
    )
    assert ledger.epsilon() == pytest.approx(google, rel=1e-6)
    # Composition identity: k steps at once equal k separate one-step events.
    split = Ledger(50.0, 1e-6, composition="rdp")
    for _ in range(4):
        split.spend(SubsampledGaussianEvent(0.02, 1.0, 250), label="quarter")
    assert rdp_epsilon(split.events, 1e-6) == pytest.approx(
        rdp_epsilon([SubsampledGaussianEvent(0.02, 1.0, 1000)], 1e-6), rel=1e-9
    )


def test_subsampled_laplace_event():
    e = SubsampledLaplaceEvent(0.1, 2.0, count=5)
    assert e.amplified_epsilon == pytest.approx(math.log(1 + 0.1 * (math.exp(2.0) - 1)))
    assert e.rho == pytest.approx(5 * e.amplified_epsilon**2 / 2)
    assert e.pure_epsilon == pytest.approx(5 * e.amplified_epsilon)
    assert SubsampledLaplaceEvent(0.1, 2.0, 5).rho == 5 * SubsampledLaplaceEvent(0.1, 2.0).rho
    for ev in (e, SubsampledGaussianEvent(0.1, 1.3, 7)):
        assert event_from_dict(event_to_dict(ev)) == ev
    with pytest.raises(ValueError):
        SubsampledGaussianEvent(1.5, 1.0)


def test_zcdp_ledger_refuses_subsampled_steps():
    ledger = Ledger(1.0, 1e-6)
    with pytest.raises(PrivacyError, match="composition='rdp'"):
        ledger.spend(SubsampledGaussianEvent(0.01, 1.0, 10), label="x")
    assert ledger.entries == ()
    with pytest.raises(PrivacyError):
        open_dpsgd(
            ledger,
            [torch.zeros(10, 2)],
            label="x",
            sample_rate=0.1,
            steps=1,
            max_grad_norm=1.0,
            expected_batch=1.0,
            rng=np.random.default_rng(0),
        )


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 10.0])
def test_calibration_lands_on_the_budget_from_below(epsilon):
    ledger = Ledger(epsilon, 1e-9, composition="rdp")
    ledger.spend(GaussianEvent(sigma=100.0), label="count")
    sigma = calibrate_gaussian(ledger, 0.01, 2000)
    event = SubsampledGaussianEvent(0.01, sigma, 2000)
    assert ledger.epsilon_with(event) <= epsilon
    assert ledger.epsilon_with(event) >= epsilon * (1 - 1e-4)
    # 1 % less noise would overshoot: the calibration is tight.
    assert ledger.epsilon_with(SubsampledGaussianEvent(0.01, sigma * 0.99, 2000)) > epsilon
    eps_step = calibrate_laplace(ledger, 0.01, 2000)
    lap = SubsampledLaplaceEvent(0.01, eps_step, 2000)
    assert epsilon * (1 - 1e-4) <= ledger.epsilon_with(lap) <= epsilon


def test_engine_charges_up_front_and_refuses_extra_steps():
    ledger = Ledger(2.0, 1e-6, composition="rdp")
    lin = torch.nn.Linear(3, 1)
    engine = open_dpsgd(
        ledger,
        [torch.randn(50, 3)],
        label="train",
        sample_rate=0.2,
        steps=3,
        max_grad_norm=1.0,
        expected_batch=10.0,
        rng=np.random.default_rng(0),
    )
    assert len(ledger.entries) == 1 and ledger.entries[0].event.count == 3
    assert ledger.epsilon() <= 2.0
    spent = ledger.to_dict()
    for _ in range(3):
        engine.step(lin, lambda f, x: f(x)[:, 0] ** 2)
    with pytest.raises(PrivacyError, match="only 3 were charged"):
        engine.step(lin, lambda f, x: f(x)[:, 0] ** 2)
    assert ledger.to_dict() == spent
    # The budget is used up: another run at a useful noise level is refused, recording nothing.
    with pytest.raises(BudgetExceeded):
        open_dpsgd(
            ledger,
            [torch.randn(50, 3)],
            label="again",
            sample_rate=0.2,
            steps=3,
            max_grad_norm=1.0,
            expected_batch=10.0,
            noise_multiplier=5.0,
            rng=np.random.default_rng(0),
        )
    assert ledger.to_dict() == spent


def noiseless(data, *, sample_rate, steps, max_grad_norm, chunk=256) -> PrivateGradient:
    """The mechanism with zero noise, built directly (no ledger): for checking its arithmetic."""
    return PrivateGradient(
        data,
        sample_rate=sample_rate,
        steps=steps,
        max_grad_norm=max_grad_norm,
        expected_batch=float(len(data[0])),
        noise="gaussian",
        scale=0.0,
        generator=torch.Generator().manual_seed(3),
        secure=False,
        chunk=chunk,
    )


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 8)
        self.b = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def test_per_example_clipped_sum_matches_opacus():
    """With (almost) no noise and every row sampled, the engine's gradient equals the sum of
    Opacus's per-sample gradients, each clipped to the norm, over the expected batch."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=g)
    y = torch.randn(40, generator=g)
    model = Tiny()
    engine = noiseless([x, y], sample_rate=1.0, steps=1, max_grad_norm=0.5, chunk=16)
    engine.step(model, lambda f, xb, yb: (f(xb)[:, 0] - yb) ** 2)
    ours = {k: p.grad.clone() for k, p in model.named_parameters()}

    gsm = GradSampleModule(Tiny(), loss_reduction="sum")
    gsm._module.load_state_dict(model.state_dict())
    loss = ((gsm(x)[:, 0] - y) ** 2).sum()
    loss.backward()
    samples = {k: p.grad_sample for k, p in gsm._module.named_parameters()}
    flat = torch.cat([s.reshape(40, -1) for s in samples.values()], dim=1)
    factor = (0.5 / flat.norm(dim=1)).clamp(max=1.0)
    for k, s in samples.items():
        expected = torch.einsum("b,b...->...", factor, s) / 40.0
        assert torch.allclose(ours[k], expected, atol=1e-6), k


def _noise_only(noise: str, n_steps: int = 200) -> tuple[np.ndarray, float]:
    ledger = Ledger(5.0, 1e-6, composition="rdp")
    lin = torch.nn.Linear(50, 1, bias=False)
    engine = open_dpsgd(
        ledger,
        [torch.zeros(100, 50)],
        label="noise",
        sample_rate=0.1,
        steps=n_steps,
        max_grad_norm=2.0,
        expected_batch=10.0,
        noise=noise,
        rng=np.random.default_rng(1),
    )
    draws = []
    for _ in range(n_steps):
        lin.weight.grad = None
        engine.step(lin, lambda f, x: f(x)[:, 0] * 0.0)
        draws.append(lin.weight.grad.numpy().ravel() * 10.0)
    return np.concatenate(draws), engine.scale


@pytest.mark.parametrize("noise", ["gaussian", "laplace"])
def test_noise_has_the_calibrated_scale(noise):
    draws, scale = _noise_only(noise)
    sd = scale if noise == "gaussian" else math.sqrt(2) * scale
    n = len(draws)
    # Standard error of a sample standard deviation is about sd / sqrt(2n) (Gaussian) and
    # larger for Laplace's heavier tails; 5 standard errors of the Laplace case bound both.
    assert abs(draws.std() - sd) < 5 * sd * math.sqrt(5 / (4 * n))
    assert abs(draws.mean()) < 5 * sd / math.sqrt(n)


def test_poisson_batches_have_binomial_sizes():
    """A loss whose per-example gradient is 1 makes the clipped sum count the batch."""
    n, q, steps = 400, 0.05, 300
    w = torch.nn.Linear(1, 1, bias=False)
    engine = noiseless([torch.ones(n, 1)], sample_rate=q, steps=steps, max_grad_norm=10.0)
    engine.expected_batch = 1.0
    sizes = []
    for _ in range(steps):
        w.weight.grad = None
        engine.step(w, lambda f, x: f(x)[:, 0])
        sizes.append(float(w.weight.grad))
    sizes = np.array(sizes)
    mean, var = n * q, n * q * (1 - q)
    assert abs(sizes.mean() - mean) < 5 * math.sqrt(var / steps)
    assert 0.5 * var < sizes.var() < 1.5 * var


def test_same_seed_same_noise_and_secure_mode_differs():
    def run(seed: int, secure: bool) -> np.ndarray:
        ledger = Ledger(50.0, 1e-6, composition="rdp")
        lin = torch.nn.Linear(5, 1)
        engine = open_dpsgd(
            ledger,
            [torch.randn(30, 5, generator=torch.Generator().manual_seed(0))],
            label="s",
            sample_rate=0.3,
            steps=2,
            max_grad_norm=1.0,
            expected_batch=9.0,
            noise_multiplier=1.0,
            rng=np.random.default_rng(seed),
            secure=secure,
        )
        engine.step(lin, lambda f, x: f(x)[:, 0])
        return lin.weight.grad.numpy().copy()

    torch.manual_seed(0)  # the module init below must not matter: only gradients compared
    a, b = run(0, False), run(0, False)
    assert np.array_equal(a, b)
    assert not np.array_equal(run(0, True), run(0, True))


def test_store_charges_dp_sgd_fits_by_basic_composition(tmp_path):
    store = SqliteBudgetStore(tmp_path / "budget.db")
    store.set_budget("d", 2.0, 1e-6)
    Ledger(1.0, 4e-7, store=store, dataset="d", composition="rdp")
    status = store.status("d")
    assert status["epsilon_basic"] == pytest.approx(1.0)
    assert status["epsilon_spent"] == pytest.approx(1.0)
    # A zCDP fit may now use only what the basic charge left: epsilon 1 at delta 6e-7.
    Ledger(0.9, 5e-7, store=store, dataset="d")
    assert store.status("d")["epsilon_spent"] <= 2.0 + 1e-9
    before = store.history("d")
    with pytest.raises(BudgetExceeded):
        Ledger(0.5, 1e-8, store=store, dataset="d", composition="rdp")
    assert store.history("d") == before
