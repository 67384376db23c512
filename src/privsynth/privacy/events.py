"""Privacy costs as inert data.

Each event knows its cost in zero-concentrated DP (rho). Gaussian noise is natively zCDP;
pure-DP mechanisms convert losslessly enough for composition: an epsilon-DP mechanism is
(epsilon^2 / 2)-zCDP, and the exponential mechanism, being epsilon-bounded-range, is
(epsilon^2 / 8)-zCDP (Cesar & Rogers 2021). ``count`` repeats the event; the composition
identity ``Event(count=k).rho == k * Event().rho`` is tested for every type.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")


@dataclass(frozen=True)
class GaussianEvent:
    """Gaussian (or discrete Gaussian) noise of scale ``sigma`` on a query of L2 ``sensitivity``."""

    sigma: float
    sensitivity: float = 1.0
    count: int = 1
    kind: ClassVar[str] = "gaussian"

    def __post_init__(self) -> None:
        _check_positive("sigma", self.sigma)
        _check_positive("sensitivity", self.sensitivity)
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")

    @property
    def rho(self) -> float:
        """zCDP cost: count * sensitivity^2 / (2 sigma^2)."""
        return self.count * self.sensitivity**2 / (2.0 * self.sigma**2)

    @property
    def pure_epsilon(self) -> float | None:
        """Gaussian noise has no pure-DP guarantee."""
        return None


@dataclass(frozen=True)
class LaplaceEvent:
    """A pure ``epsilon``-DP mechanism such as (discrete) Laplace noise."""

    epsilon: float
    count: int = 1
    kind: ClassVar[str] = "laplace"

    def __post_init__(self) -> None:
        _check_positive("epsilon", self.epsilon)
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")

    @property
    def rho(self) -> float:
        """zCDP cost: count * epsilon^2 / 2."""
        return self.count * self.epsilon**2 / 2.0

    @property
    def pure_epsilon(self) -> float | None:
        """Basic composition of the pure guarantees."""
        return self.count * self.epsilon


@dataclass(frozen=True)
class ExponentialEvent:
    """The exponential mechanism (or report-noisy-max with Gumbel noise) at ``epsilon``."""

    epsilon: float
    count: int = 1
    kind: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        _check_positive("epsilon", self.epsilon)
        if self.count < 1:
            raise ValueError(f"count must be >= 1, got {self.count}")

    @property
    def rho(self) -> float:
        """zCDP cost: count * epsilon^2 / 8 (bounded range)."""
        return self.count * self.epsilon**2 / 8.0

    @property
    def pure_epsilon(self) -> float | None:
        """Basic composition of the pure guarantees."""
        return self.count * self.epsilon


PrivacyEvent = GaussianEvent | LaplaceEvent | ExponentialEvent

_KINDS: dict[str, type] = {
    "gaussian": GaussianEvent,
    "laplace": LaplaceEvent,
    "exponential": ExponentialEvent,
}


def event_to_dict(event: PrivacyEvent) -> dict[str, Any]:
    """Serialise an event to plain JSON-able data."""
    return {"kind": event.kind, **asdict(event)}


def event_from_dict(data: dict[str, Any]) -> PrivacyEvent:
    """Inverse of :func:`event_to_dict`."""
    fields = dict(data)
    kind = fields.pop("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown privacy event kind {kind!r}")
    return _KINDS[kind](**fields)
