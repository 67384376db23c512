"""The one place privacy is spent.

Every mechanism that reads private data calls :meth:`Ledger.spend` *before* drawing its
noise. A spend is validated first (against this fit's budget and, when a persistent store is
attached, against the dataset's lifetime budget) and only then recorded, so a refused spend
leaves every ledger unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from privsynth.errors import BudgetExceeded, InputError
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon
from privsynth.privacy.events import PrivacyEvent, event_from_dict, event_to_dict

# Relative slack for floating-point round-off when a generator spends exactly its budget.
_SLACK = 1e-9


class BudgetStore(Protocol):
    """A persistent lifetime budget (see :mod:`privsynth.privacy.store`)."""

    def charge(self, dataset: str, rho: float, label: str) -> None:
        """Record ``rho`` against ``dataset`` atomically, or raise BudgetExceeded."""
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
    ) -> None:
        validate_budget(epsilon, delta)
        if store is not None and not dataset:
            raise InputError("a persistent budget store needs a dataset name")
        self.epsilon_budget = float(epsilon)
        self.delta = float(delta)
        self.rho_budget = epsilon_to_zcdp(epsilon, delta)
        self._store = store
        self._dataset = dataset
        self._entries: list[LedgerEntry] = []

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

    def spend(self, event: PrivacyEvent, *, label: str) -> None:
        """Record ``event`` or raise BudgetExceeded, changing nothing."""
        if not self.can_spend(event):
            raise BudgetExceeded(
                f"{label}: spending rho={event.rho:.6g} would exceed the budget "
                f"(spent {self.rho_spent:.6g} of {self.rho_budget:.6g})"
            )
        if self._store is not None:
            assert self._dataset is not None
            self._store.charge(self._dataset, event.rho, label)
        self._entries.append(LedgerEntry(label, event))

    def epsilon(self, delta: float | None = None) -> float:
        """Epsilon spent so far at ``delta`` (default: the budget's delta)."""
        return zcdp_to_epsilon(self.rho_spent, self.delta if delta is None else delta)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record: budget, every entry, and the totals."""
        return {
            "epsilon_budget": self.epsilon_budget,
            "delta": self.delta,
            "rho_budget": self.rho_budget,
            "rho_spent": self.rho_spent,
            "epsilon_spent": self.epsilon(),
            "entries": [
                {"label": e.label, "rho": e.rho, "event": event_to_dict(e.event)}
                for e in self._entries
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        """Rebuild a ledger (without a store) from :meth:`to_dict` output."""
        ledger = cls(data["epsilon_budget"], data["delta"])
        for item in data["entries"]:
            ledger._entries.append(LedgerEntry(item["label"], event_from_dict(item["event"])))
        return ledger
