"""The one place privacy is spent.

Every mechanism that reads private data calls :meth:`Ledger.spend` *before* drawing its
noise. A spend is validated first (against this fit's budget and, when a persistent store is
attached, against the dataset's lifetime budget) and only then recorded, so a refused spend
leaves every ledger unchanged.

A mechanism that is zCDP only except with some small probability (approximate zCDP, e.g. a
thresholded histogram whose threshold a rare value passes with probability d) first calls
:meth:`Ledger.reserve_delta`. Approximate zCDP composes additively in that probability and
(rho, d)-approximate zCDP implies (epsilon, delta' + d)-DP whenever rho-zCDP implies
(epsilon, delta')-DP (Bun & Steinke 2016), so the zCDP budget becomes
``epsilon_to_zcdp(epsilon, delta - reserved)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from privsynth.errors import BudgetExceeded, InputError
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon
from privsynth.privacy.events import (
    ExponentialEvent,
    GaussianEvent,
    LaplaceEvent,
    PrivacyEvent,
    event_from_dict,
    event_to_dict,
)

# Relative slack for floating-point round-off when a generator spends exactly its budget.
_SLACK = 1e-9


class BudgetStore(Protocol):
    """A persistent lifetime budget (see :mod:`privsynth.privacy.store`)."""

    def charge(self, dataset: str, rho: float, label: str, *, delta: float = 0.0) -> None:
        """Record ``rho`` (and a reserved ``delta``) against ``dataset`` atomically, or raise
        BudgetExceeded."""
        ...


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded spend."""

    label: str
    event: PrivacyEvent

    @property
    def rho(self) -> float:
        """zCDP cost of this entry."""
        return self.event.rho


def validate_budget(epsilon: float, delta: float) -> None:
    """Raise InputError unless 0 < epsilon < inf and 0 < delta < 1."""
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise InputError(f"--epsilon: must be a finite number > 0, got {epsilon!r}")
    if not (isinstance(delta, int | float) and 0 < delta < 1):
        raise InputError(f"--delta: must lie in (0, 1), got {delta!r}")


class Ledger:
    """Budget and record of every privacy cost paid in one fit.

    Costs compose in zCDP; :meth:`epsilon` reports the tight (epsilon, delta) conversion.
    """

    def __init__(
        self,
        epsilon: float,
        delta: float,
        *,
        store: BudgetStore | None = None,
        dataset: str | None = None,
        reserve_delta: float = 0.0,
        label: str = "fit",
    ) -> None:
        validate_budget(epsilon, delta)
        if store is not None and not dataset:
            raise InputError("a persistent budget store needs a dataset name")
        if not (0.0 <= reserve_delta < delta):
            raise InputError(f"reserved delta must lie in [0, delta), got {reserve_delta!r}")
        self.epsilon_budget = float(epsilon)
        self.delta = float(delta)
        self.rho_budget = epsilon_to_zcdp(epsilon, delta - reserve_delta)
        self._store = store
        self._dataset = dataset
        self._entries: list[LedgerEntry] = []
        self._reservations: list[tuple[str, float]] = []
        if reserve_delta > 0:
            self._reservations.append((f"{label}: reserved delta", float(reserve_delta)))
        if store is not None:
            # The whole budget of this fit is charged to the lifetime store before anything is
            # read: a fit that stopped half-way would otherwise have spent without recording it,
            # or have recorded a part while its next charge was refused.
            store.charge(
                dataset,
                self.rho_budget,
                f"{label}: epsilon={self.epsilon_budget:g}, delta={self.delta:g}",
                delta=float(reserve_delta),
            )

    @property
    def delta_reserved(self) -> float:
        """Part of ``delta`` set aside by :meth:`reserve_delta`."""
        return math.fsum(d for _, d in self._reservations)

    @property
    def reservations(self) -> tuple[tuple[str, float], ...]:
        """Every ``(label, delta)`` reserved so far, in order."""
        return tuple(self._reservations)

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        """Every spend so far, in order."""
        return tuple(self._entries)

    @property
    def rho_spent(self) -> float:
        """Total zCDP cost recorded."""
        return math.fsum(e.rho for e in self._entries)

    def remaining_rho(self) -> float:
        """Budget left, in zCDP."""
        return max(0.0, self.rho_budget - self.rho_spent)

    def can_spend(self, event: PrivacyEvent) -> bool:
        """Whether ``event`` fits in this fit's budget (the lifetime store is not asked)."""
        return self.rho_spent + event.rho <= self.rho_budget * (1.0 + _SLACK)

    @property
    def dataset(self) -> str | None:
        """Dataset name charged in the persistent store, if one is attached."""
        return self._dataset

    def spend(self, event: PrivacyEvent, *, label: str) -> None:
        """Record ``event`` or raise BudgetExceeded, changing nothing.

        Only the fit's own budget is checked: a persistent store, if any, was charged the whole
        fit budget when this ledger was created. Call this before drawing noise.
        """
        if not isinstance(event, GaussianEvent | LaplaceEvent | ExponentialEvent):
            raise TypeError(f"not a privacy event: {event!r}")
        if not isinstance(label, str) or not label:
            raise ValueError(f"a spend needs a non-empty label, got {label!r}")
        if not self.can_spend(event):
            raise BudgetExceeded(
                f"{label}: spending rho={event.rho:.6g} would exceed the budget "
                f"(spent {self.rho_spent:.6g} of {self.rho_budget:.6g})"
            )
        self._entries.append(LedgerEntry(label, event))

    def reserve_delta(self, delta: float, *, label: str = "reserved delta") -> None:
        """Set ``delta`` of the budget aside for an approximate-zCDP step, or raise
        BudgetExceeded, changing nothing.

        ``rho_budget`` shrinks to ``epsilon_to_zcdp(epsilon, delta_budget - reserved)``; a
        reservation that would leave no delta, or less rho than already spent, is refused.
        With a store attached, the reservation is charged there too (rho 0, this delta); the
        store then keeps the larger rho charged at creation, which errs on the safe side.
        """
        if isinstance(delta, bool) or not (
            isinstance(delta, int | float) and math.isfinite(delta) and delta > 0
        ):
            raise ValueError(f"reserved delta must be a finite positive number, got {delta!r}")
        if not isinstance(label, str) or not label:
            raise ValueError(f"a reservation needs a non-empty label, got {label!r}")
        reserved = self.delta_reserved + float(delta)
        if reserved >= self.delta * (1.0 - _SLACK):
            raise BudgetExceeded(
                f"{label}: reserving delta={delta:g} would leave no delta for the rest of the "
                f"budget (delta {self.delta:g}, already reserved {self.delta_reserved:g})"
            )
        rho_budget = epsilon_to_zcdp(self.epsilon_budget, self.delta - reserved)
        if self.rho_spent > rho_budget * (1.0 + _SLACK):
            raise BudgetExceeded(
                f"{label}: reserving delta={delta:g} would shrink the budget to rho="
                f"{rho_budget:.6g}, below the {self.rho_spent:.6g} already spent"
            )
        if self._store is not None:
            assert self._dataset is not None
            self._store.charge(self._dataset, 0.0, label, delta=float(delta))
        self._reservations.append((label, float(delta)))
        self.rho_budget = rho_budget

    def epsilon(self, delta: float | None = None) -> float:
        """Epsilon spent so far at total ``delta`` (default: the budget's delta).

        Reserved delta counts towards ``delta``; a ``delta`` not above it raises ValueError.
        """
        total = self.delta if delta is None else float(delta)
        reserved = self.delta_reserved
        if total <= reserved:
            raise ValueError(f"delta={total:g} is not above the reserved delta {reserved:g}")
        return zcdp_to_epsilon(self.rho_spent, total - reserved)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record: budget, every entry, and the totals."""
        return {
            "epsilon_budget": self.epsilon_budget,
            "delta": self.delta,
            "rho_budget": self.rho_budget,
            "rho_spent": self.rho_spent,
            "epsilon_spent": self.epsilon(),
            "delta_reserved": self.delta_reserved,
            "reservations": [{"label": lab, "delta": d} for lab, d in self._reservations],
            "entries": [
                {"label": e.label, "rho": e.rho, "event": event_to_dict(e.event)}
                for e in self._entries
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        """Rebuild a ledger (without a store) from :meth:`to_dict` output."""
        ledger = cls(data["epsilon_budget"], data["delta"])
        for item in data.get("reservations", []):
            ledger.reserve_delta(item["delta"], label=item["label"])
        for item in data["entries"]:
            ledger._entries.append(LedgerEntry(item["label"], event_from_dict(item["event"])))
        return ledger
