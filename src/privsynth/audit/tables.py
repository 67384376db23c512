"""Auditing table generators with canary rows in a worst-case table.

The auditor builds the data itself (the worst case is the auditor's to choose): a ``canary``
column with ``background_values`` codes shared by ``background_rows`` background rows, plus
one code per canary that no other row has; optional ``extra_columns`` small columns where
background rows are uniform and every canary takes the last code. Each run includes every
canary independently with probability 1/2, fits the generator on that table under a fresh
ledger with the claimed budget, and scores each canary:

- ``white-box``: the released noisy measurements (seen through
  :func:`privsynth.measure.marginals.observe_measurements`) of every marginal that holds the
  canary column uncompressed: the sum over them of (noisy count in the canary's cell) /
  sigma^2, the likelihood-ratio statistic of a Gaussian mean shift; where no measurement holds
  the column uncompressed (or none is released), the fitted model's probability of the
  canary's code.
- ``black-box``: how many of ``synthetic_rows`` sampled rows carry the canary's code.

A single ``canary`` column is the worst case for marginal generators: every measurement is of
that column, so each canary's whole budget share lands in its own cells.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from privsynth.audit.bounds import Run
from privsynth.audit.result import AuditResult, summarize
from privsynth.domain import Domain
from privsynth.marginals.counting import EncodedTable, InMemoryBackend
from privsynth.measure.marginals import Measurement, observe_measurements
from privsynth.privacy.ledger import Ledger

CANARY = "canary"
MODES = ("white-box", "black-box")
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class CanaryTable:
    """The worst-case table the canaries are planted in."""

    canaries: int = 1000
    background_values: int = 2
    background_rows: int = 1000
    extra_columns: int = 0
    extra_size: int = 2

    def domain(self) -> Domain:
        """The canary column first, then the extra columns."""
        names = (CANARY, *(f"x{i}" for i in range(self.extra_columns)))
        sizes = (self.background_values + self.canaries, *([self.extra_size] * self.extra_columns))
        return Domain(names, sizes)

    def table(self, included: np.ndarray, rng: np.random.Generator) -> EncodedTable:
        """Background rows plus the included canaries."""
        domain = self.domain()
        chosen = np.flatnonzero(included)
        codes = {
            CANARY: np.concatenate(
                [
                    rng.integers(0, self.background_values, self.background_rows),
                    self.background_values + chosen,
                ]
            )
        }
        for name in domain.attributes[1:]:
            codes[name] = np.concatenate(
                [
                    rng.integers(0, self.extra_size, self.background_rows),
                    np.full(len(chosen), self.extra_size - 1),
                ]
            )
        return EncodedTable(domain, codes)

    def to_dict(self) -> dict[str, int]:
        """Plain data."""
        return {
            "canaries": self.canaries,
            "background_values": self.background_values,
            "background_rows": self.background_rows,
            "extra_columns": self.extra_columns,
            "extra_size": self.extra_size,
        }


def _canary_cells(spec: CanaryTable, domain: Domain, clique: tuple[str, ...]) -> np.ndarray:
    index = []
    for attr in clique:
        if attr == CANARY:
            index.append(spec.background_values + np.arange(spec.canaries))
        else:
            index.append(np.full(spec.canaries, spec.extra_size - 1))
    return np.ravel_multi_index(tuple(index), domain.shape(clique))


def white_box_scores(
    spec: CanaryTable, domain: Domain, measurements: list[Measurement], model: Any
) -> tuple[np.ndarray, str]:
    """Per-canary score from the released measurements, or from the model (see module doc)."""
    scores = np.zeros(spec.canaries)
    used = 0
    for m in measurements:
        if CANARY not in m.clique or m.noisy.size != domain.size(m.clique):
            continue
        cells = _canary_cells(spec, domain, m.clique)
        # No background row shares a canary's code, so its expected count is 0 when out.
        scores += m.noisy[cells] / m.sigma**2
        used += 1
    if used:
        return scores, f"noisy measurements ({used} holding the canary column uncompressed)"
    probs = np.asarray(model.project((CANARY,)), dtype=float)
    return probs[spec.background_values :], "model probability of each canary's code"


def black_box_scores(
    spec: CanaryTable, model: Any, rows: int, rng: np.random.Generator
) -> np.ndarray:
    """How often each canary's code appears among ``rows`` sampled rows."""
    sample = model.sample(rows, rng=rng)[CANARY]
    counts = np.bincount(sample, minlength=spec.background_values + spec.canaries)
    return counts[spec.background_values :].astype(float)


def audit_table_generator(
    generator: Any,
    *,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    spec: CanaryTable | None = None,
    runs: int = 10,
    mode: str = "white-box",
    synthetic_rows: int | None = None,
    target: str | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Fit ``generator`` ``runs`` times on canary tables and bound its epsilon from below."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    spec = spec or CanaryTable()
    domain = spec.domain()
    rows = synthetic_rows or (spec.background_rows + spec.canaries)
    started = time.perf_counter()
    out: list[Run] = []
    claimed = None
    how = ""
    for r in range(runs):
        if progress:
            progress(f"audit run {r + 1}/{runs}", r / runs)
        included = rng.random(spec.canaries) < 0.5
        backend = InMemoryBackend(spec.table(included, rng))
        ledger = Ledger(epsilon, delta, composition=getattr(generator, "composition", "zcdp"))
        seen: list[Measurement] = []
        with observe_measurements(seen.append):
            model = generator.fit(backend, ledger, rng=rng)
        claimed = ledger.epsilon()
        if mode == "white-box":
            scores, how = white_box_scores(spec, domain, seen, model)
        else:
            scores, how = black_box_scores(spec, model, rows, rng), f"counts in {rows} sampled rows"
        out.append(Run(scores, included))
    if progress:
        progress("audit: bounds", 1.0)
    return summarize(
        out,
        target=target or getattr(generator, "name", type(generator).__name__),
        mode=mode,
        claimed_epsilon=float(claimed if claimed is not None else epsilon),
        delta=delta,
        rng=rng,
        setting={"table": spec.to_dict(), "score": how, "config": _config(generator)},
        seconds=time.perf_counter() - started,
    )


def _config(generator: Any) -> dict[str, Any]:
    config = getattr(generator, "config", None)
    return dict(config()) if callable(config) else {}
