"""Privacy costs as inert data.

Each event knows its cost in zero-concentrated DP (rho) when it has one. Gaussian noise is
natively zCDP; pure-DP mechanisms convert for composition: an epsilon-DP mechanism is
(epsilon^2 / 2)-zCDP (Bun & Steinke 2016, Prop. 1.4), and the exponential mechanism, being
epsilon-bounded-range, is (epsilon^2 / 8)-zCDP (Cesar & Rogers 2021). A DP-SGD step on a
Poisson-subsampled batch is not usefully zCDP (subsampling amplification lives in Renyi DP at
moderate orders only), so :class:`SubsampledGaussianEvent` has ``rho = None`` and is composed
by the Renyi-DP accountant in :mod:`privsynth.privacy.rdp`.

``count`` repeats the event; ``rho`` is always ``count * unit_rho`` so the composition
identity ``Event(count=k).rho == k * Event().rho`` holds exactly in floating point (tested for
every type).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    out = float(value)
    if not (math.isfinite(out) and out > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return out


def _count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    return int(count)


def _normalise(event: object, **values: float | int) -> None:
    # Frozen dataclasses: numpy scalars become plain Python numbers so events serialise as JSON.
    for name, value in values.items():
        object.__setattr__(event, name, value)


@dataclass(frozen=True)
class GaussianEvent:
    """Gaussian (or discrete Gaussian) noise of scale ``sigma`` on a query of L2 ``sensitivity``."""

    sigma: float
    sensitivity: float = 1.0
    count: int = 1
    kind: ClassVar[str] = "gaussian"

    def __post_init__(self) -> None:
        _normalise(
            self,
            sigma=_positive("sigma", self.sigma),
            sensitivity=_positive("sensitivity", self.sensitivity),
            count=_count(self.count),
        )

    @property
    def unit_rho(self) -> float:
        """zCDP cost of one repetition: sensitivity^2 / (2 sigma^2)."""
        return (self.sensitivity / self.sigma) ** 2 / 2.0

    @property
    def rho(self) -> float:
        """zCDP cost of all ``count`` repetitions."""
        return self.count * self.unit_rho

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
        _normalise(self, epsilon=_positive("epsilon", self.epsilon), count=_count(self.count))

    @classmethod
    def from_scale(cls, scale: float, sensitivity: float = 1.0, count: int = 1) -> LaplaceEvent:
        """Laplace noise of ``scale`` on a query of L1 ``sensitivity`` is (sensitivity/scale)-DP."""
        return cls(
            epsilon=_positive("sensitivity", sensitivity) / _positive("scale", scale), count=count
        )

    @property
    def unit_rho(self) -> float:
        """zCDP cost of one repetition: epsilon^2 / 2."""
        return self.epsilon**2 / 2.0

    @property
    def rho(self) -> float:
        """zCDP cost of all ``count`` repetitions."""
        return self.count * self.unit_rho

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
        _normalise(self, epsilon=_positive("epsilon", self.epsilon), count=_count(self.count))

    @property
    def unit_rho(self) -> float:
        """zCDP cost of one repetition: epsilon^2 / 8 (bounded range)."""
        return self.epsilon**2 / 8.0

    @property
    def rho(self) -> float:
        """zCDP cost of all ``count`` repetitions."""
        return self.count * self.unit_rho

    @property
    def pure_epsilon(self) -> float | None:
        """Basic composition of the pure guarantees."""
        return self.count * self.epsilon


def _rate(value: float) -> float:
    out = _positive("sample_rate", value)
    if out > 1.0:
        raise ValueError(f"sample_rate must lie in (0, 1], got {value!r}")
    return out


@dataclass(frozen=True)
class SubsampledGaussianEvent:
    """``count`` DP-SGD steps: Poisson sampling at ``sample_rate``, clipped per-example
    gradients summed, Gaussian noise of ``noise_multiplier`` times the clipping norm.

    Under add/remove-one neighbours the clipped sum has L2 sensitivity equal to the clipping
    norm, so only the ratio ``noise_multiplier`` matters. No zCDP cost (``rho is None``).
    """

    sample_rate: float
    noise_multiplier: float
    count: int = 1
    kind: ClassVar[str] = "subsampled_gaussian"

    def __post_init__(self) -> None:
        _normalise(
            self,
            sample_rate=_rate(self.sample_rate),
            noise_multiplier=_positive("noise_multiplier", self.noise_multiplier),
            count=_count(self.count),
        )

    @property
    def rho(self) -> None:
        """Not expressed in zCDP; see :mod:`privsynth.privacy.rdp`."""
        return None

    @property
    def pure_epsilon(self) -> float | None:
        """Gaussian noise has no pure-DP guarantee."""
        return None


@dataclass(frozen=True)
class SubsampledLaplaceEvent:
    """``count`` steps of a pure ``epsilon``-DP mechanism run on a Poisson subsample.

    Used by the Laplace DP-SGD variant (L1-clipped per-example gradients, Laplace noise of
    scale clip / epsilon). Poisson sampling at rate q amplifies epsilon-DP to
    ``log(1 + q (e^epsilon - 1))``-DP (Balle, Barthe & Gaboardi 2018, add/remove neighbours),
    which then converts to zCDP like any pure-DP mechanism.
    """

    sample_rate: float
    epsilon: float
    count: int = 1
    kind: ClassVar[str] = "subsampled_laplace"

    def __post_init__(self) -> None:
        _normalise(
            self,
            sample_rate=_rate(self.sample_rate),
            epsilon=_positive("epsilon", self.epsilon),
            count=_count(self.count),
        )

    @property
    def amplified_epsilon(self) -> float:
        """Pure-DP epsilon of one subsampled step."""
        return math.log1p(self.sample_rate * math.expm1(self.epsilon))

    @property
    def unit_rho(self) -> float:
        """zCDP cost of one step: amplified_epsilon^2 / 2."""
        return self.amplified_epsilon**2 / 2.0

    @property
    def rho(self) -> float:
        """zCDP cost of all ``count`` steps."""
        return self.count * self.unit_rho

    @property
    def pure_epsilon(self) -> float | None:
        """Basic composition of the amplified pure guarantees."""
        return self.count * self.amplified_epsilon


PrivacyEvent = (
    GaussianEvent
    | LaplaceEvent
    | ExponentialEvent
    | SubsampledGaussianEvent
    | SubsampledLaplaceEvent
)
EVENT_TYPES = (
    GaussianEvent,
    LaplaceEvent,
    ExponentialEvent,
    SubsampledGaussianEvent,
    SubsampledLaplaceEvent,
)

_KINDS: dict[str, type] = {cls.kind: cls for cls in EVENT_TYPES}


def event_to_dict(event: PrivacyEvent) -> dict[str, Any]:
    """Serialise an event to plain JSON-able data (``kind`` plus the dataclass fields)."""
    return {"kind": event.kind, **asdict(event)}


def event_from_dict(data: dict[str, Any]) -> PrivacyEvent:
    """Inverse of :func:`event_to_dict`; raises ValueError on an unknown kind or field."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"unknown privacy event kind {kind!r}")
    try:
        return _KINDS[kind](**fields)
    except TypeError as exc:
        raise ValueError(f"bad fields for a {kind} event: {sorted(fields)}") from exc
