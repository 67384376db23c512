"""The in-memory Ledger: spend before noise, refuse without side effects, serialise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.errors import BudgetExceeded, InputError
from privsynth.measure.marginals import measure_marginals
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon
from privsynth.privacy.events import ExponentialEvent, GaussianEvent, LaplaceEvent
from privsynth.privacy.ledger import Ledger


class RecordingStore:
    """A BudgetStore double that records charges, or refuses every one."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.charges: list[tuple[str, float, str]] = []

    def charge(self, dataset: str, rho: float, label: str, *, delta: float = 0.0) -> None:
        if self.refuse:
            raise BudgetExceeded(f"{label}: lifetime budget of {dataset} exhausted")
        self.charges.append((dataset, rho, label))


def test_budget_in_zcdp() -> None:
    led = Ledger(1.0, 1e-9)
    assert led.rho_budget == epsilon_to_zcdp(1.0, 1e-9)
    assert led.rho_spent == 0.0 and led.remaining_rho() == led.rho_budget
    assert led.epsilon() == 0.0


def test_spend_records_entries() -> None:
    led = Ledger(2.0, 1e-6)
    led.spend(GaussianEvent(10.0, count=4), label="marginals")
    led.spend(ExponentialEvent(0.1), label="select")
    led.spend(LaplaceEvent(0.05), label="total")
    assert [e.label for e in led.entries] == ["marginals", "select", "total"]
    expected = 4 / 200 + 0.1**2 / 8 + 0.05**2 / 2
    assert led.rho_spent == pytest.approx(expected)
    assert led.remaining_rho() == pytest.approx(led.rho_budget - expected)
    assert led.epsilon() == zcdp_to_epsilon(led.rho_spent, 1e-6)
    assert led.epsilon(1e-9) == zcdp_to_epsilon(led.rho_spent, 1e-9)
    assert led.epsilon(1e-9) > led.epsilon()


def test_refused_spend_changes_nothing() -> None:
    store = RecordingStore()
    led = Ledger(1.0, 1e-9, store=store, dataset="adult")
    led.spend(GaussianEvent(20.0), label="ok")
    entries, spent, charges = led.entries, led.rho_spent, list(store.charges)
    big = GaussianEvent(0.1)
    assert not led.can_spend(big)
    with pytest.raises(BudgetExceeded, match="big one"):
        led.spend(big, label="big one")
    assert led.entries == entries
    assert led.rho_spent == spent
    assert store.charges == charges


def test_store_refusal_changes_nothing() -> None:
    store = RecordingStore(refuse=True)
    with pytest.raises(BudgetExceeded, match="lifetime"):
        Ledger(1.0, 1e-9, store=store, dataset="adult")
    assert store.charges == []


def test_store_is_charged_the_whole_budget_up_front() -> None:
    store = RecordingStore()
    led = Ledger(1.0, 1e-9, store=store, dataset="adult", label="aim")
    assert store.charges == [("adult", led.rho_budget, "aim: epsilon=1, delta=1e-09")]
    led.spend(GaussianEvent(30.0, count=3), label="marginals")
    assert len(store.charges) == 1


def test_exact_budget_can_be_spent_in_pieces() -> None:
    led = Ledger(1.0, 1e-9)
    # Ten equal pieces whose float sum may round above the budget: the slack lets them in.
    piece = led.rho_budget / 10
    sigma = 1.0 / math.sqrt(2 * piece)
    for i in range(10):
        led.spend(GaussianEvent(sigma), label=f"piece {i}")
    assert led.epsilon() == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(BudgetExceeded):
        led.spend(GaussianEvent(1e3), label="one more")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.5, 200.0), min_size=1, max_size=30))
def test_never_exceeds_budget(sigmas: list[float]) -> None:
    led = Ledger(0.5, 1e-8)
    for i, s in enumerate(sigmas):
        before = (led.entries, led.rho_spent)
        try:
            led.spend(GaussianEvent(s), label=f"q{i}")
        except BudgetExceeded:
            assert (led.entries, led.rho_spent) == before
    assert led.rho_spent <= led.rho_budget * (1 + 1e-9)
    assert led.epsilon() <= 0.5 * (1 + 1e-6)


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        Ledger(0.0, 1e-9)
    with pytest.raises(InputError):
        Ledger(1.0, 1.0)
    with pytest.raises(InputError):
        Ledger(1.0, 1e-9, store=RecordingStore())
    led = Ledger(1.0, 1e-9)
    with pytest.raises(TypeError):
        led.spend(0.5, label="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        led.spend(GaussianEvent(10.0), label="")
    assert led.entries == ()


def test_dict_round_trip_through_json() -> None:
    led = Ledger(3.0, 1e-7)
    led.spend(GaussianEvent(8.0, sensitivity=1.5, count=6), label="a")
    led.spend(ExponentialEvent(0.2, count=2), label="b")
    led.spend(LaplaceEvent(0.1), label="c")
    data = json.loads(json.dumps(led.to_dict()))
    assert data["rho_spent"] == led.rho_spent
    assert data["epsilon_spent"] == led.epsilon()
    back = Ledger.from_dict(data)
    assert back.entries == led.entries
    assert back.rho_spent == led.rho_spent
    assert back.rho_budget == led.rho_budget
    assert back.epsilon() == led.epsilon()
    assert back.to_dict() == led.to_dict()


class CountingBackend:
    """Counts every read of the data, so a test can prove none happened."""

    def __init__(self) -> None:
        self.reads = 0

    def count(self, clique):  # noqa: ANN001, ANN201 - test double
        self.reads += 1
        return np.full((2,) * len(clique), 100, dtype=np.int64)


def test_marginals_charge_before_reading() -> None:
    backend = CountingBackend()
    led = Ledger(0.01, 1e-9)
    with pytest.raises(BudgetExceeded):
        measure_marginals(backend, [("a",), ("b",)], 1.0, led, np.random.default_rng(0), label="m")
    assert backend.reads == 0 and led.entries == ()
    led = Ledger(10.0, 1e-9)
    out = measure_marginals(
        backend, [("a",), ("a", "b")], 2.0, led, np.random.default_rng(0), label="m"
    )
    assert backend.reads == 2
    assert [m.clique for m in out] == [("a",), ("a", "b")]
    assert led.entries[0].event == GaussianEvent(2.0, count=2)


class DeltaRecordingStore(RecordingStore):
    """A store double that also records reserved delta."""

    def charge(self, dataset: str, rho: float, label: str, *, delta: float = 0.0) -> None:
        super().charge(dataset, rho, label)
        self.charges[-1] = (dataset, rho, label, delta)  # type: ignore[call-overload]


def test_reserve_delta_shrinks_the_zcdp_budget() -> None:
    led = Ledger(1.0, 1e-8)
    led.reserve_delta(4e-9, label="thresholding")
    assert led.delta_reserved == 4e-9
    assert led.rho_budget == epsilon_to_zcdp(1.0, 6e-9)
    led.spend(GaussianEvent(1.0 / math.sqrt(2 * led.rho_budget)), label="all of it")
    # The whole guarantee, reserved delta included, is (1, 1e-8).
    assert led.epsilon() == pytest.approx(1.0, rel=1e-9)
    assert led.epsilon(1e-6) == zcdp_to_epsilon(led.rho_spent, 1e-6 - 4e-9)
    with pytest.raises(ValueError, match="reserved"):
        led.epsilon(3e-9)
    store = DeltaRecordingStore()
    up_front = Ledger(1.0, 1e-8, store=store, dataset="adult", reserve_delta=4e-9, label="infer")
    assert up_front.rho_budget == led.rho_budget and up_front.delta_reserved == 4e-9
    assert store.charges == [("adult", led.rho_budget, "infer: epsilon=1, delta=1e-08", 4e-9)]


def test_refused_reservations_change_nothing() -> None:
    led = Ledger(1.0, 1e-8)
    led.spend(GaussianEvent(1.0 / math.sqrt(2 * led.rho_budget * 0.99)), label="most")
    before = (led.rho_budget, led.delta_reserved, led.entries)
    with pytest.raises(BudgetExceeded, match="already spent"):
        led.reserve_delta(5e-9)  # the smaller zCDP budget is below what is spent
    with pytest.raises(BudgetExceeded, match="no delta"):
        led.reserve_delta(1e-8)
    with pytest.raises(ValueError):
        led.reserve_delta(-1e-9)
    assert (led.rho_budget, led.delta_reserved, led.entries) == before
    with pytest.raises(InputError):
        Ledger(1.0, 1e-8, reserve_delta=1e-8)


def test_reservations_survive_the_dict_round_trip() -> None:
    led = Ledger(2.0, 1e-7)
    led.reserve_delta(3e-8, label="categories")
    led.spend(GaussianEvent(15.0, count=2), label="types")
    data = json.loads(json.dumps(led.to_dict()))
    assert data["delta_reserved"] == 3e-8
    back = Ledger.from_dict(data)
    assert back.reservations == (("categories", 3e-8),)
    assert back.rho_budget == led.rho_budget
    assert back.epsilon() == led.epsilon()
    assert back.to_dict() == led.to_dict()
