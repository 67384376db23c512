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

Two compositions: ``"zcdp"`` (marginal generators; every event has a zCDP cost and the
budget is a rho) and ``"rdp"`` (DP-SGD generators; Poisson-subsampled Gaussian steps are
composed with everything else as Renyi-DP curves, :mod:`privsynth.privacy.rdp`; Laplace
steps also through their privacy loss distribution, :mod:`privsynth.privacy.pld`; the budget
is checked as epsilon at the budget's delta, the tightest valid route). A zCDP ledger refuses events without a zCDP cost.
With a lifetime store, a zCDP fit is charged its rho (fits compose in zCDP); an RDP fit is
charged its whole (epsilon, delta) by basic composition, which is valid for any DP mechanism.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from privsynth.errors import BudgetExceeded, InputError, PrivacyError
from privsynth.privacy.accountant import epsilon_to_zcdp, zcdp_to_epsilon
from privsynth.privacy.events import (
    EVENT_TYPES,
    PrivacyEvent,
    event_from_dict,
    event_to_dict,
)
from privsynth.privacy.pld import split_epsilon
from privsynth.privacy.rdp import rdp_epsilon

COMPOSITIONS = ("zcdp", "rdp")

# Relative slack for floating-point round-off when a generator spends exactly its budget.
_SLACK = 1e-9


class BudgetStore(Protocol):
    """A persistent lifetime budget (see :mod:`privsynth.privacy.store`)."""

    def charge(
        self, dataset: str, rho: float, label: str, *, delta: float = 0.0, epsilon: float = 0.0
    ) -> None:
        """Record ``rho`` (and a reserved ``delta``, and an ``epsilon`` composed basically)
        against ``dataset`` atomically, or raise BudgetExceeded."""
        ...


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded spend."""

    label: str
    event: PrivacyEvent

    @property
    def rho(self) -> float | None:
        """zCDP cost of this entry (None for a subsampled DP-SGD step)."""
        return self.event.rho


def validate_budget(epsilon: float, delta: float) -> None:
    """Raise InputError unless 0 < epsilon < inf and 0 < delta < 1."""
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise InputError(f"--epsilon: must be a finite number > 0, got {epsilon!r}")
    if not (isinstance(delta, int | float) and 0 < delta < 1):
        raise InputError(f"--delta: must lie in (0, 1), got {delta!r}")


def _zcdp_or_rdp(events: list[PrivacyEvent], delta: float) -> float:
    """The tighter of the zCDP and Renyi-DP conversions of ``events`` (no reserved delta)."""
    rho = [e.rho for e in events if e.rho is not None]
    zcdp = zcdp_to_epsilon(math.fsum(rho), delta) if len(rho) == len(events) else math.inf
    return min(zcdp, rdp_epsilon(events, delta))


class Ledger:
    """Budget and record of every privacy cost paid in one fit.

    Costs compose in zCDP (or Renyi DP, ``composition="rdp"``); :meth:`epsilon` reports the
    tight (epsilon, delta) conversion.
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
        composition: str = "zcdp",
        paid: Ledger | None = None,
        paid_in_store: bool = False,
    ) -> None:
        """``paid``: an earlier release on the same data that this fit builds on (e.g. the
        noisy marginals of ``rules learn``); its entries are recorded first, labelled
        ``reused``, so they count against this budget and in every epsilon reported. With
        ``paid_in_store`` its cost was already charged to ``store`` for ``dataset``, and only
        the rest of this budget is charged there."""
        validate_budget(epsilon, delta)
        if composition not in COMPOSITIONS:
            raise ValueError(f"composition must be one of {COMPOSITIONS}, got {composition!r}")
        self.composition = composition
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
        prior_rho = 0.0
        if paid is not None:
            prior_rho = self._include(paid)
        if store is not None:
            # The whole budget of this fit is charged to the lifetime store before anything is
            # read: a fit that stopped half-way would otherwise have spent without recording it,
            # or have recorded a part while its next charge was refused.
            what = f"{label}: epsilon={self.epsilon_budget:g}, delta={self.delta:g}"
            if composition == "zcdp":
                rest = self.rho_budget - (prior_rho if paid_in_store else 0.0)
                store.charge(dataset, rest, what, delta=float(reserve_delta))
            else:
                store.charge(dataset, 0.0, what, delta=self.delta, epsilon=self.epsilon_budget)

    def _include(self, paid: Ledger) -> float:
        """Record ``paid``'s reservations and entries (as ``reused``); return its rho."""
        if paid.delta > self.delta * (1.0 + _SLACK):
            raise InputError(
                f"a reused release was paid at delta {paid.delta:g}, above this budget's "
                f"delta {self.delta:g}"
            )
        for lab, d in paid.reservations:
            self.reserve_delta(d, label=f"reused: {lab}")
        for entry in paid.entries:
            self.spend(entry.event, label=f"reused: {entry.label}")
        return paid.rho_spent

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
        """Total zCDP cost of the entries that have one."""
        return math.fsum(e.rho for e in self._entries if e.rho is not None)

    @property
    def events(self) -> tuple[PrivacyEvent, ...]:
        """The recorded events, in order."""
        return tuple(e.event for e in self._entries)

    def remaining_rho(self) -> float:
        """Budget left, in zCDP."""
        return max(0.0, self.rho_budget - self.rho_spent)

    def can_spend(self, event: PrivacyEvent) -> bool:
        """Whether ``event`` fits in this fit's budget (the lifetime store is not asked)."""
        if self.composition == "zcdp":
            if event.rho is None:
                return False
            return self.rho_spent + event.rho <= self.rho_budget * (1.0 + _SLACK)
        return self.epsilon_with(event) <= self.epsilon_budget * (1.0 + _SLACK)

    def epsilon_with(self, *events: PrivacyEvent) -> float:
        """Epsilon at the budget's delta if ``events`` were spent too (nothing is recorded)."""
        return self._epsilon([*self.events, *events], self.delta)

    @property
    def dataset(self) -> str | None:
        """Dataset name charged in the persistent store, if one is attached."""
        return self._dataset

    def spend(self, event: PrivacyEvent, *, label: str) -> None:
        """Record ``event`` or raise BudgetExceeded, changing nothing.

        Only the fit's own budget is checked: a persistent store, if any, was charged the whole
        fit budget when this ledger was created. Call this before drawing noise.
        """
        if not isinstance(event, EVENT_TYPES):
            raise TypeError(f"not a privacy event: {event!r}")
        if not isinstance(label, str) or not label:
            raise ValueError(f"a spend needs a non-empty label, got {label!r}")
        if self.composition == "zcdp" and event.rho is None:
            raise PrivacyError(
                f"{label}: a {event.kind} event has no zCDP cost; it needs a ledger with "
                "composition='rdp'"
            )
        if not self.can_spend(event):
            if self.composition == "zcdp":
                raise BudgetExceeded(
                    f"{label}: spending rho={event.rho:.6g} would exceed the budget "
                    f"(spent {self.rho_spent:.6g} of {self.rho_budget:.6g})"
                )
            raise BudgetExceeded(
                f"{label}: spending it would bring epsilon to {self.epsilon_with(event):.6g}, "
                f"over the budget {self.epsilon_budget:g} at delta {self.delta:g}"
            )
        self._entries.append(LedgerEntry(label, event))

    def reserve_delta(self, delta: float, *, label: str = "reserved delta") -> None:
        """Set ``delta`` of the budget aside for an approximate-zCDP step, or raise
        BudgetExceeded, changing nothing.

        ``rho_budget`` shrinks to ``epsilon_to_zcdp(epsilon, delta_budget - reserved)``; a
        reservation that would leave no delta, or less rho than already spent, is refused.
        With a store attached, the reservation is charged there too (rho 0, this delta); the
        store then keeps the larger rho charged at creation, which errs on the safe side. An
        RDP ledger charged the store its whole delta at creation and charges nothing more.
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
        if self.composition == "rdp":
            spent_eps = self._epsilon(list(self.events), self.delta, reserved)
            if spent_eps > self.epsilon_budget * (1.0 + _SLACK):
                raise BudgetExceeded(
                    f"{label}: reserving delta={delta:g} would raise the epsilon already spent "
                    f"to {spent_eps:.6g}, over the budget {self.epsilon_budget:g}"
                )
        elif self.rho_spent > rho_budget * (1.0 + _SLACK):
            raise BudgetExceeded(
                f"{label}: reserving delta={delta:g} would shrink the budget to rho="
                f"{rho_budget:.6g}, below the {self.rho_spent:.6g} already spent"
            )
        if self._store is not None and self.composition == "zcdp":
            assert self._dataset is not None
            self._store.charge(self._dataset, 0.0, label, delta=float(delta))
        self._reservations.append((label, float(delta)))
        self.rho_budget = rho_budget

    def epsilon(self, delta: float | None = None) -> float:
        """Epsilon spent so far at total ``delta`` (default: the budget's delta).

        Reserved delta counts towards ``delta``; a ``delta`` not above it raises ValueError.
        """
        return self._epsilon(list(self.events), self.delta if delta is None else float(delta), None)

    def _epsilon(
        self, events: list[PrivacyEvent], total: float, reserved: float | None = None
    ) -> float:
        reserved = self.delta_reserved if reserved is None else reserved
        if total <= reserved:
            raise ValueError(f"delta={total:g} is not above the reserved delta {reserved:g}")
        zcdp = [e.rho for e in events if e.rho is not None]
        zcdp_eps = (
            zcdp_to_epsilon(math.fsum(zcdp), total - reserved)
            if len(zcdp) == len(events)
            else math.inf
        )
        if self.composition == "zcdp" or not events:
            return zcdp_eps
        # Every route is a valid bound on the same composition; report the tightest.
        return min(
            zcdp_eps,
            rdp_epsilon(events, total - reserved),
            split_epsilon(events, total - reserved, _zcdp_or_rdp),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record: budget, every entry, and the totals."""
        return {
            "epsilon_budget": self.epsilon_budget,
            "delta": self.delta,
            "composition": self.composition,
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
        ledger = cls(
            data["epsilon_budget"], data["delta"], composition=data.get("composition", "zcdp")
        )
        for item in data.get("reservations", []):
            ledger.reserve_delta(item["delta"], label=item["label"])
        for item in data["entries"]:
            ledger._entries.append(LedgerEntry(item["label"], event_from_dict(item["event"])))
        return ledger
