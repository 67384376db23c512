"""zCDP events and conversions, cross-checked against Google's dp-accounting.

How the cross-checks work:

* Gaussian events map one to one onto ``dp_event.GaussianDpEvent(noise_multiplier=
  sigma / sensitivity)``, composed with ``SelfComposedDpEvent`` / ``ComposedDpEvent``, and
  dp-accounting's ``RdpAccountant`` (on a dense list of orders) converts with the same
  Canonne-Kamath-Steinke bound we use. Ours optimises the order continuously, so it must be
  no larger than theirs and within 1e-3 relative.
* Laplace and exponential events are converted to their zCDP cost (epsilon^2/2 and
  epsilon^2/8) and composed in the RDP accountant as ``dp_event.ZCDpEvent(rho)``, whose RDP
  curve is alpha * rho; the ledger must agree. As a sanity check of direction, the RDP
  accountant with dp-accounting's exact Laplace RDP curve (``LaplaceDpEvent``) and the PLD
  accountant for Gaussians, both tighter than zCDP, must never report more than we do.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from dp_accounting import dp_event, pld, rdp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_delta, zcdp_to_epsilon
from privsynth.privacy.events import (
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    event_from_dict,
    event_to_dict,
)
from privsynth.privacy.ledger import Ledger

ORDERS = [
    float(a)
    for a in np.unique(
        np.concatenate([np.linspace(1.001, 20.0, 4000), np.geomspace(20.0, 1e7, 6000)])
    )
]
EPSILONS = (0.1, 1.0, 10.0)
DELTAS = (1e-5, 1e-9)


def rdp_epsilon(events: list[dp_event.DpEvent], delta: float) -> float:
    """Epsilon of the composition of ``events`` per dp-accounting's RDP accountant."""
    acc = rdp.RdpAccountant(ORDERS)
    acc.compose(dp_event.ComposedDpEvent(events))
    return float(acc.get_epsilon(delta))


def ledger_with(events: list, budget: float = 1e6, delta: float = 1e-9) -> Ledger:
    """A ledger with a huge budget that has spent every event in ``events``."""
    led = Ledger(budget, delta)
    for i, ev in enumerate(events):
        led.spend(ev, label=f"event {i}")
    return led


def gaussian_configs(eps: float, delta: float) -> list[list[tuple[float, float, int]]]:
    """Compositions of (sigma, sensitivity, count) whose total cost is about (eps, delta)."""
    rho = epsilon_to_zcdp(eps, delta)
    one = 1.0 / math.sqrt(2.0 * rho)  # a single sensitivity-1 query spends it all
    return [
        [(one, 1.0, 1)],
        [(one * math.sqrt(50), 1.0, 50)],
        [(one * math.sqrt(2 * 7), 1.0, 7), (one * math.sqrt(2 * 3) * 2.0, 2.0, 3)],
        [(one * 2.0, 1.0, 1), (one * 3.0, 1.5, 2), (one * 4.0, 1.0, 5), (one * 9.0, 1.0, 40)],
    ]


@pytest.mark.parametrize("eps", EPSILONS)
@pytest.mark.parametrize("delta", DELTAS)
def test_gaussian_compositions_match_dp_accounting(eps: float, delta: float) -> None:
    for config in gaussian_configs(eps, delta):
        events = [GaussianEvent(s, sensitivity=l2, count=k) for s, l2, k in config]
        ours = ledger_with(events).epsilon(delta)
        theirs = rdp_epsilon(
            [
                dp_event.SelfComposedDpEvent(dp_event.GaussianDpEvent(s / l2), k)
                for s, l2, k in config
            ],
            delta,
        )
        assert ours == pytest.approx(theirs, rel=1e-3)
        assert ours <= theirs * (1 + 1e-9)
        assert 0.2 * eps < ours < 5 * eps


@pytest.mark.parametrize("eps", EPSILONS)
@pytest.mark.parametrize("delta", DELTAS)
def test_gaussian_never_below_pld(eps: float, delta: float) -> None:
    # PLD accounting of the Gaussian is (nearly) exact, so a valid zCDP bound is never lower.
    sigma = 1.0 / math.sqrt(2.0 * epsilon_to_zcdp(eps, delta) / 4)
    ours = ledger_with([GaussianEvent(sigma, count=4)]).epsilon(delta)
    acc = pld.PLDAccountant()
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.GaussianDpEvent(sigma), 4))
    assert acc.get_epsilon(delta) <= ours


@pytest.mark.parametrize("eps", EPSILONS)
@pytest.mark.parametrize("delta", DELTAS)
def test_pure_events_match_zcdp_rdp(eps: float, delta: float) -> None:
    lap = LaplaceEvent(eps / 4, count=3)
    expo = ExponentialEvent(eps / 2, count=2)
    gauss = GaussianEvent(1.0 / math.sqrt(2 * epsilon_to_zcdp(eps, delta)) * 2.0)
    ours = ledger_with([lap, expo, gauss]).epsilon(delta)
    theirs = rdp_epsilon(
        [
            dp_event.SelfComposedDpEvent(dp_event.ZCDpEvent((eps / 4) ** 2 / 2), 3),
            dp_event.SelfComposedDpEvent(dp_event.ZCDpEvent((eps / 2) ** 2 / 8), 2),
            dp_event.GaussianDpEvent(gauss.sigma),
        ],
        delta,
    )
    assert ours == pytest.approx(theirs, rel=1e-3)


@pytest.mark.parametrize("eps", EPSILONS)
def test_laplace_exact_rdp_is_never_above_ours(eps: float) -> None:
    ours = ledger_with([LaplaceEvent(eps, count=5)]).epsilon(1e-6)
    exact = rdp_epsilon([dp_event.SelfComposedDpEvent(dp_event.LaplaceDpEvent(1.0 / eps), 5)], 1e-6)
    assert exact <= ours * (1 + 1e-9)


def test_event_costs() -> None:
    assert GaussianEvent(2.0).rho == pytest.approx(1 / 8)
    assert GaussianEvent(2.0, sensitivity=3.0).rho == pytest.approx(9 / 8)
    assert LaplaceEvent(0.5).rho == pytest.approx(0.125)
    assert ExponentialEvent(0.5).rho == pytest.approx(0.5**2 / 8)
    assert LaplaceEvent.from_scale(4.0, sensitivity=2.0) == LaplaceEvent(0.5)
    assert LaplaceEvent(0.5, count=3).pure_epsilon == pytest.approx(1.5)
    assert GaussianEvent(1.0).pure_epsilon is None


EVENT_FACTORIES = {
    "gaussian": lambda k: GaussianEvent(3.7, sensitivity=1.3, count=k),
    "laplace": lambda k: LaplaceEvent(0.37, count=k),
    "exponential": lambda k: ExponentialEvent(0.29, count=k),
}


@pytest.mark.parametrize("kind", sorted(EVENT_FACTORIES))
@pytest.mark.parametrize("k", [1, 2, 3, 7, 10, 1000])
def test_composition_identity(kind: str, k: int) -> None:
    make = EVENT_FACTORIES[kind]
    assert make(k).rho == k * make(1).rho
    one_event = ledger_with([make(k)])
    separate = ledger_with([make(1)] * k)
    assert one_event.rho_spent == separate.rho_spent
    for delta in DELTAS:
        assert one_event.epsilon(delta) == separate.epsilon(delta)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(sorted(EVENT_FACTORIES)),
    k=st.integers(1, 10_000),
)
def test_composition_identity_property(kind: str, k: int) -> None:
    make = EVENT_FACTORIES[kind]
    assert make(k).rho == k * make(1).rho


@pytest.mark.parametrize("rho", [1e-6, 1e-3, 0.01, 0.5, 1.0, 7.0, 100.0])
@pytest.mark.parametrize("delta", [1e-3, *DELTAS, 1e-12])
def test_round_trips(rho: float, delta: float) -> None:
    if rho < 4 * delta**2:
        pytest.skip("rho so small that epsilon is 0 (total-variation bound): not invertible")
    eps = zcdp_to_epsilon(rho, delta)
    assert epsilon_to_zcdp(eps, delta) == pytest.approx(rho, rel=1e-9)
    assert zcdp_to_delta(rho, eps) == pytest.approx(delta, rel=1e-6)


@settings(max_examples=80, deadline=None)
@given(
    log_rho=st.floats(-12.0, 5.0),
    log_delta=st.floats(-14.0, -2.0),
)
def test_round_trip_property(log_rho: float, log_delta: float) -> None:
    rho, delta = 10.0**log_rho, 10.0**log_delta
    assume(rho >= 4 * delta**2)  # below, epsilon is 0 by the total-variation bound
    eps = zcdp_to_epsilon(rho, delta)
    assert eps > 0
    assert epsilon_to_zcdp(eps, delta) == pytest.approx(rho, rel=1e-8)
    assert zcdp_to_delta(rho, eps) == pytest.approx(delta, rel=1e-5)
    # Never worse than the simple bound rho + 2 sqrt(rho log(1/delta)) (Bun & Steinke).
    assert eps <= rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta)) + 1e-12


@settings(max_examples=40, deadline=None)
@given(log_rho=st.floats(-8.0, 3.0), log_delta=st.floats(-12.0, -2.0))
def test_conversion_is_the_grid_infimum(log_rho: float, log_delta: float) -> None:
    rho, delta = 10.0**log_rho, 10.0**log_delta
    assume(rho >= 4 * delta**2)
    alphas = 1.0 + np.geomspace(1e-4, 1e8, 20_000)
    grid = (
        alphas * rho + (math.log(1 / delta) - np.log(alphas)) / (alphas - 1) + np.log1p(-1 / alphas)
    )
    best = max(0.0, float(grid.min()))
    eps = zcdp_to_epsilon(rho, delta)
    assert eps <= best + 1e-12
    assert eps == pytest.approx(best, rel=1e-5, abs=1e-12)


def test_monotone() -> None:
    rhos = np.geomspace(1e-6, 50, 40)
    eps = [zcdp_to_epsilon(r, 1e-6) for r in rhos]
    assert all(a < b for a, b in zip(eps, eps[1:], strict=False))
    by_delta = [zcdp_to_epsilon(0.1, d) for d in (1e-3, 1e-6, 1e-9, 1e-12)]
    assert all(a < b for a, b in zip(by_delta, by_delta[1:], strict=False))


def test_edge_cases() -> None:
    assert zcdp_to_epsilon(0.0, 1e-6) == 0.0
    assert zcdp_to_delta(0.0, 1.0) == 0.0
    # So little privacy loss that total variation alone is below delta (dp-accounting agrees).
    assert zcdp_to_epsilon(1e-14, 1e-5) == 0.0
    assert rdp_epsilon([dp_event.ZCDpEvent(1e-14)], 1e-5) == 0.0
    with pytest.raises(ValueError):
        zcdp_to_epsilon(-1.0, 1e-6)
    with pytest.raises(ValueError):
        zcdp_to_epsilon(1.0, 0.0)
    with pytest.raises(ValueError):
        zcdp_to_epsilon(1.0, 1.0)
    with pytest.raises(ValueError):
        epsilon_to_zcdp(0.0, 1e-6)
    with pytest.raises(ValueError):
        zcdp_to_delta(1.0, -0.5)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: GaussianEvent(0.0),
        lambda: GaussianEvent(-1.0),
        lambda: GaussianEvent(float("nan")),
        lambda: GaussianEvent(1.0, sensitivity=float("inf")),
        lambda: GaussianEvent(1.0, count=0),
        lambda: GaussianEvent(1.0, count=2.5),
        lambda: LaplaceEvent(True),
        lambda: ExponentialEvent("1"),
        lambda: LaplaceEvent.from_scale(0.0),
    ],
)
def test_bad_events_refused(bad) -> None:
    with pytest.raises(ValueError):
        bad()


def test_numpy_scalars_are_normalised() -> None:
    ev = GaussianEvent(np.float32(2.0), count=np.int64(3))
    assert type(ev.sigma) is float and type(ev.count) is int
    assert json.loads(json.dumps(event_to_dict(ev))) == event_to_dict(ev)


events_strategy = st.one_of(
    st.builds(
        GaussianEvent,
        sigma=st.floats(1e-3, 1e6),
        sensitivity=st.floats(1e-3, 1e3),
        count=st.integers(1, 10**6),
    ),
    st.builds(LaplaceEvent, epsilon=st.floats(1e-6, 1e3), count=st.integers(1, 10**6)),
    st.builds(ExponentialEvent, epsilon=st.floats(1e-6, 1e3), count=st.integers(1, 10**6)),
)


@settings(max_examples=100, deadline=None)
@given(events_strategy)
def test_event_serialisation_round_trip(event) -> None:
    data = json.loads(json.dumps(event_to_dict(event)))
    assert data["kind"] == event.kind
    back = event_from_dict(data)
    assert back == event
    assert type(back) is type(event)
    assert back.rho == event.rho


def test_event_from_dict_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unknown privacy event kind"):
        event_from_dict({"kind": "cauchy", "scale": 1.0})
    with pytest.raises(ValueError, match="bad fields"):
        event_from_dict({"kind": "laplace", "epsilon": 1.0, "sigma": 2.0})
    with pytest.raises(ValueError):
        event_from_dict({"kind": "gaussian", "sigma": -1.0})
