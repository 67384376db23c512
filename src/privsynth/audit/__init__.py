"""Empirical privacy audits: canaries in, a lower bound on epsilon out.

:func:`audit` picks the method by generator family:

- marginal generators (``independent``, ``mst``, ``aim``) and the broken table generators:
  many canary rows in a worst-case table, many fits (:mod:`privsynth.audit.tables`), scored
  white-box from the released noisy measurements or black-box from sampled rows;
- DP-SGD generators (``dpgan``, ``dpgan-laplace``, ``dpcvae``, ``dpvae-mixture``): the exact
  engine configuration of a real fit, replayed with gradient canaries
  (:mod:`privsynth.audit.dpsgd`), white-box;
- ``broken:noise-layer-gan``: :mod:`privsynth.audit.noise_layer`.

Every result carries an assumption-free lower bound and a GDP estimate
(:mod:`privsynth.audit.bounds`); a lower bound above the claimed epsilon proves the claim
false (with 95 % confidence).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from privsynth.audit.bounds import Run, gdp_epsilon, one_run_epsilon
from privsynth.audit.result import AuditResult
from privsynth.audit.tables import CanaryTable
from privsynth.errors import InputError

BROKEN = ("broken:no-noise", "broken:free-categories", "broken:noise-layer-gan")
MARGINAL = ("independent", "mst", "aim")
DPSGD = ("dpgan", "dpgan-laplace", "dpcvae", "dpvae-mixture")
Progress = Callable[[str, float], None]


def audit(
    target: str,
    *,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    params: Mapping[str, Any] | None = None,
    mode: str = "white-box",
    canaries: int = 1000,
    runs: int = 4,
    rows: int = 10_000,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit generator ``target`` (a registered name or one of :data:`BROKEN`) fitted with
    ``params`` at (``epsilon``, ``delta``).

    ``canaries`` per run and ``runs`` set the audit's power; ``rows`` is the size of the
    stand-in table a DP-SGD generator is fitted on to read its engine configuration (its
    sampling rate and steps depend on the row count).
    """
    params = dict(params or {})
    if target in MARGINAL or target in BROKEN[:2]:
        from privsynth.audit import broken
        from privsynth.audit.tables import audit_table_generator
        from privsynth.generators import get_generator

        gen = {
            "broken:no-noise": broken.NoiselessIndependent,
            "broken:free-categories": broken.FreeCategories,
        }.get(target)
        generator = gen() if gen is not None else get_generator(target, **params)
        return audit_table_generator(
            generator,
            epsilon=epsilon,
            delta=delta,
            rng=rng,
            spec=CanaryTable(canaries=canaries),
            runs=runs,
            mode=mode,
            target=target,
            progress=progress,
        )
    if mode != "white-box":
        raise InputError(
            f"audit: {target} is audited white-box only (a black-box audit of a neural "
            "generator needs thousands of fits)"
        )
    if target == "broken:noise-layer-gan":
        from privsynth.audit.noise_layer import NoiseLayerGAN, audit_noise_layer_gan

        return audit_noise_layer_gan(
            NoiseLayerGAN(claimed_epsilon=epsilon, **params),
            delta=delta,
            rng=rng,
            canaries=canaries,
            runs=runs,
        )
    if target in DPSGD:
        return _audit_dpsgd(target, params, epsilon, delta, rng, canaries, runs, rows, progress)
    raise InputError(
        f"audit: no audit for {target!r}; choose one of "
        f"{', '.join((*MARGINAL, *DPSGD, *BROKEN))} (pategan's noisy vote aggregation has no "
        "DP-SGD engine to replay)"
    )


def _audit_dpsgd(
    target: str,
    params: dict[str, Any],
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    canaries: int,
    runs: int,
    rows: int,
    progress: Progress | None,
) -> AuditResult:
    from privsynth.audit.dpsgd import audit_engine, capture_engine
    from privsynth.synthesizer import fit_table
    from privsynth.toy import toy_table

    df, schema = toy_table("four_modes", rows, rng)
    config = capture_engine(
        lambda: fit_table(
            df, schema, generator=target, epsilon=epsilon, delta=delta, rng=rng, params=params
        )
    )
    return audit_engine(
        config,
        claimed_epsilon=epsilon,
        delta=delta,
        rng=rng,
        canaries=canaries,
        runs=runs,
        target=target,
        progress=progress,
    )


__all__ = [
    "BROKEN",
    "DPSGD",
    "MARGINAL",
    "AuditResult",
    "CanaryTable",
    "Run",
    "audit",
    "gdp_epsilon",
    "one_run_epsilon",
]
