"""Noisy marginals: the measurement that marginal-based generators are built from."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from privsynth.marginals.counting import CountingBackend
from privsynth.measure.noise import noise_sampler
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger


@dataclass(frozen=True)
class Measurement:
    """An inert noisy marginal: everything computed from it is post-processing.

    ``noisy`` is the flattened contingency table over ``clique`` (C order) plus discrete
    Gaussian noise of scale ``sigma``.
    """

    clique: tuple[str, ...]
    noisy: np.ndarray
    sigma: float

    def to_mbi(self):  # noqa: ANN201 - mbi is imported lazily
        """The equivalent ``mbi.LinearMeasurement``."""
        import mbi

        return mbi.LinearMeasurement(
            np.asarray(self.noisy, dtype=float), self.clique, stddev=self.sigma
        )


# The auditor's white-box view: each released noisy marginal, as it leaves the mechanism.
_OBSERVER: ContextVar[Callable[[Measurement], None] | None] = ContextVar(
    "measurement_observer", default=None
)


@contextmanager
def observe_measurements(observer: Callable[[Measurement], None]) -> Iterator[None]:
    """Hand every :class:`Measurement` released inside the block to ``observer``.

    For white-box privacy audits (:mod:`privsynth.audit`): the observer sees the noisy
    answers after the noise is drawn, which are DP outputs, never an exact count.
    """
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


def measure_marginals(
    backend: CountingBackend,
    cliques: Sequence[Sequence[str]],
    sigma: float,
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    label: str,
    secure: bool = False,
) -> list[Measurement]:
    """Charge, then count each clique's marginal and add discrete Gaussian noise (OpenDP's
    exact sampler from OS entropy when ``secure``).

    Under add/remove-one neighbours every marginal has L2 sensitivity 1, so ``k`` marginals
    cost ``k / (2 sigma^2)`` in zCDP, charged as one event before any count is read.
    """
    cliques = [tuple(c) for c in cliques]
    if not cliques:
        return []
    ledger.spend(GaussianEvent(sigma=sigma, count=len(cliques)), label=label)
    noise = noise_sampler(secure)
    out = []
    for clique in cliques:
        counts = backend.count(clique).ravel()
        noisy = counts + noise(counts.shape, sigma, rng)
        out.append(Measurement(clique, noisy.astype(np.float64), float(sigma)))
    observer = _OBSERVER.get()
    if observer is not None:
        for measurement in out:
            observer(measurement)
    return out
