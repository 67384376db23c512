"""What a generator is and what it returns.

A :class:`Generator` is a frozen dataclass of hyperparameters; ``fit`` spends the ledger's
remaining budget through :mod:`privsynth.measure` (the only reads of private data) and returns
a :class:`FittedModel`, the DP release. Everything a fitted model does is post-processing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from privsynth.domain import Domain
from privsynth.errors import BudgetExceeded
from privsynth.marginals.counting import CountingBackend
from privsynth.privacy.ledger import Ledger

Progress = Callable[[str, float], None]
# Structural zeros for graphical generators: (attributes in domain order, boolean "allowed"
# table over their codes); False cells must get probability zero in the fitted model.
Zeros = Sequence[tuple[tuple[str, ...], np.ndarray]]

# Spending exactly the remaining budget would leave round-off able to push rho_spent a few ulps
# over the budget; shaving this relative margin keeps rho_spent <= rho_budget exactly.
_MARGIN = 1e-10


@runtime_checkable
class FittedModel(Protocol):
    """A fitted, samplable DP model over a discrete domain."""

    domain: Domain

    def sample(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        where: Mapping[str, Sequence[int]] | None = None,
    ) -> dict[str, np.ndarray]:
        """``n`` rows of integer codes per attribute; ``where`` conditions exactly on allowed
        codes (InputError when the condition has zero probability)."""
        ...

    def estimated_total(self) -> float:
        """Noisy estimate of the number of training rows."""
        ...

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata (with a ``model_type`` key) and named arrays."""
        ...

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FittedModel:
        """Inverse of :meth:`to_state`."""
        ...


class Generator(Protocol):
    """Hyperparameters only (no work in ``__init__``); data enters through ``fit``."""

    name: ClassVar[str]

    def fit(
        self,
        backend: CountingBackend,
        ledger: Ledger,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> FittedModel:
        """Spend ``ledger.remaining_rho()`` on measurements and return the fitted model."""
        ...

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        ...


def spendable(rho: float) -> float:
    """``rho`` minus a tiny relative margin, so spending it never rounds over the budget."""
    return rho * (1.0 - _MARGIN)


def gaussian_sigma(rho: float, count: int) -> float:
    """Noise scale at which ``count`` sensitivity-1 marginals cost ``rho`` in zCDP."""
    return math.sqrt(count / (2.0 * rho))


def report(progress: Progress | None, message: str, fraction: float) -> None:
    """Call the optional progress callback."""
    if progress is not None:
        progress(message, min(1.0, max(0.0, fraction)))


def remaining_budget(ledger: Ledger, label: str) -> float:
    """The rho this fit may spend; raises BudgetExceeded (recording nothing) when none is left."""
    rho = spendable(ledger.remaining_rho())
    # What a previous fit leaves behind is round-off and the margin above: nothing usable.
    if rho <= 1e-8 * ledger.rho_budget:
        raise BudgetExceeded(
            f"{label}: no privacy budget left (spent {ledger.rho_spent:.6g} of {ledger.rho_budget:.6g})"
        )
    return rho
