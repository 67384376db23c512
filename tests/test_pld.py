"""Laplace DP-SGD steps accounted through their privacy loss distribution."""

from __future__ import annotations

import math

import dp_accounting
import pytest
from dp_accounting.pld import PLDAccountant

from privsynth.privacy.accountant import zcdp_to_epsilon
from privsynth.privacy.events import GaussianEvent, SubsampledLaplaceEvent
from privsynth.privacy.ledger import Ledger
from privsynth.privacy.pld import laplace_steps_epsilon

CASES = [(0.0085, 2.0, 1172), (0.01, 0.5, 3000), (0.05, 1.0, 200), (1.0, 0.3, 5)]


def _fine(rate: float, eps: float, count: int, delta: float) -> float:
    acc = PLDAccountant(value_discretization_interval=1e-5)
    event = dp_accounting.LaplaceDpEvent(1.0 / eps)
    acc.compose(event if rate == 1 else dp_accounting.PoissonSampledDpEvent(rate, event), count)
    return acc.get_epsilon(delta)


def _amplified(event: SubsampledLaplaceEvent, delta: float) -> float:
    return zcdp_to_epsilon(event.rho, delta)


@pytest.mark.parametrize(("rate", "eps", "count"), CASES)
def test_matches_a_finer_independent_pld_from_above(rate, eps, count) -> None:
    event = SubsampledLaplaceEvent(rate, eps, count)
    ours = laplace_steps_epsilon([event], 1e-5)
    fine = _fine(rate, eps, count, 1e-5)
    # Coarser pessimistic discretisation: never below the finer one, and close to it.
    assert fine - 1e-9 <= ours <= fine + 5e-3


@pytest.mark.parametrize(("rate", "eps", "count"), CASES)
def test_ledger_is_never_looser_than_before_nor_below_either_part(rate, eps, count) -> None:
    event = SubsampledLaplaceEvent(rate, eps, count)
    counts = GaussianEvent(sigma=20.0, count=3)
    ledger = Ledger(1000.0, 1e-5, composition="rdp")
    ledger.spend(counts, label="counts")
    reported = ledger.epsilon_with(event)
    before = zcdp_to_epsilon(counts.rho + event.rho, 1e-5)
    assert reported <= before + 1e-9
    # A composition cannot be more private than either of its parts alone.
    assert reported >= laplace_steps_epsilon([event], 1e-5) - 1e-9
    assert reported >= zcdp_to_epsilon(counts.rho, 1e-5) - 1e-9


def test_basic_composition_bounds_unsubsampled_steps() -> None:
    for eps, count in ((0.3, 1), (0.3, 10), (1.0, 4)):
        event = SubsampledLaplaceEvent(1.0, eps, count)
        assert laplace_steps_epsilon([event], 1e-6) <= count * eps + 1e-6


def test_calibration_lands_on_the_budget_and_adds_less_noise() -> None:
    from privsynth.measure.dpsgd import calibrate_laplace

    ledger = Ledger(10.0, 1e-5, composition="rdp")
    ledger.spend(GaussianEvent(sigma=50.0, count=2), label="counts")
    step = calibrate_laplace(ledger, 0.0085, 1172)
    event = SubsampledLaplaceEvent(0.0085, step, 1172)
    assert ledger.epsilon_with(event) <= 10.0
    assert ledger.epsilon_with(event) == pytest.approx(10.0, rel=1e-3)
    # The amplified-then-zCDP route alone would allow a per-step epsilon about half as large.
    assert _amplified(SubsampledLaplaceEvent(0.0085, step, 1172), 1e-5) > 20.0
    assert math.isfinite(step) and step > 3.0
