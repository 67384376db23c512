"""White-box audit of DP-SGD generators with gradient canaries.

A DP-SGD generator's privacy rests on its engine run: Poisson sampling at rate ``q``, ``T``
steps, per-example clipping to ``C``, noise of a given scale. The audit takes that run's exact
configuration from a real fit of the generator (:func:`capture_engine`, which stops the fit
when the engine opens), then reruns the same :class:`PrivateGradient` on canaries whose
gradients are the worst case the clipping allows: canary ``i`` is a row whose per-example
gradient is ``C e_i`` after clipping (a "Dirac" canary, Nasr et al. 2023), so it moves one
coordinate and no other row touches it. The auditor sees every noisy step (the white-box
threat model of DP-SGD, where intermediate updates are visible) and scores each canary by the
log-likelihood ratio of "sampled with probability q at every step" against "never there":
``sum_t log(1 - q + q f(x_t - 1) / f(x_t))`` for the noise density ``f`` in units of ``C``.

What this audits: the engine and the accounting of the configuration the generator chose.
Everything a generator does after its engine (the generator network of a GAN, decoding) is
post-processing and cannot raise epsilon; PATE-GAN has no DP-SGD engine and is not covered.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from privsynth.audit.bounds import Run
from privsynth.audit.result import AuditResult, summarize
from privsynth.errors import InputError
from privsynth.measure.dpsgd import PrivateGradient, observe_engines, torch_generator
from privsynth.privacy.events import PrivacyEvent
from privsynth.privacy.rdp import rdp_epsilon

Progress = Callable[[str, float], None]
# Far above any clipping norm, so every canary's gradient is clipped to exactly C.
_CANARY_NORM = 1e3


@dataclass(frozen=True)
class EngineConfig:
    """The mechanism a generator's fit runs: what the audit replays."""

    sample_rate: float
    steps: int
    max_grad_norm: float
    noise: str
    scale: float
    event: PrivacyEvent

    @property
    def unit_scale(self) -> float:
        """Noise scale in units of the clipping norm (multiplier, or Laplace b / C)."""
        return self.scale / self.max_grad_norm

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "max_grad_norm": self.max_grad_norm,
            "noise": self.noise,
            "noise_scale_over_clip": self.unit_scale,
        }


class _Captured(Exception):
    """Raised by the observer to stop a fit once its engine is known."""


def capture_engine(fit: Callable[[], Any]) -> EngineConfig:
    """Run ``fit`` until it opens its DP-SGD engine and return that engine's configuration."""
    found: list[EngineConfig] = []

    def observer(engine: PrivateGradient, event: PrivacyEvent) -> None:
        found.append(
            EngineConfig(
                engine.sample_rate,
                engine.steps,
                engine.max_grad_norm,
                engine.noise,
                engine.scale,
                event,
            )
        )
        raise _Captured

    with observe_engines(observer), contextlib.suppress(_Captured):
        fit()
    if not found:
        raise InputError("this generator opens no DP-SGD engine; audit it black-box instead")
    return found[0]


class _Dirac(torch.nn.Module):
    """A linear score whose per-example gradient is the example itself."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).sum(-1)


def _log_ratio(x: torch.Tensor, config: EngineConfig) -> torch.Tensor:
    s = config.unit_scale
    if config.noise == "gaussian":
        shift = (2.0 * x - 1.0) / (2.0 * s * s)
    else:
        shift = (x.abs() - (x - 1.0).abs()) / s
    q = config.sample_rate
    if q >= 1.0:
        return shift
    return torch.logaddexp(torch.full_like(shift, math.log1p(-q)), math.log(q) + shift)


def engine_run(config: EngineConfig, included: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One replay of the engine on the included canaries; a score per canary."""
    m = len(included)
    chosen = torch.from_numpy(np.flatnonzero(included))
    data = torch.zeros(len(chosen), m)
    data[torch.arange(len(chosen)), chosen] = _CANARY_NORM
    engine = PrivateGradient(
        (data,),
        sample_rate=config.sample_rate,
        steps=config.steps,
        max_grad_norm=config.max_grad_norm,
        expected_batch=1.0,
        noise=config.noise,
        scale=config.scale,
        generator=torch_generator(rng),
        secure=False,
        chunk=512,
    )
    module = _Dirac(m)
    scores = torch.zeros(m, dtype=torch.float64)
    for _ in range(config.steps):
        module.w.grad = None
        engine.step(module, lambda forward, x: forward(x))
        x = module.w.grad.detach().to(torch.float64) / config.max_grad_norm
        scores += _log_ratio(x, config)
    return scores.numpy()


def audit_engine(
    config: EngineConfig,
    *,
    claimed_epsilon: float,
    delta: float,
    rng: np.random.Generator,
    canaries: int = 1000,
    runs: int = 4,
    target: str = "dp-sgd",
    progress: Progress | None = None,
) -> AuditResult:
    """Replay ``config`` ``runs`` times with ``canaries`` Dirac canaries and bound epsilon."""
    started = time.perf_counter()
    out = []
    for r in range(runs):
        if progress:
            progress(f"audit run {r + 1}/{runs}", r / runs)
        included = rng.random(canaries) < 0.5
        out.append(Run(engine_run(config, included, rng), included))
    engine_eps = rdp_epsilon([config.event], delta)
    return summarize(
        out,
        target=target,
        mode="white-box",
        claimed_epsilon=claimed_epsilon,
        delta=delta,
        rng=rng,
        setting={
            "engine": config.to_dict(),
            "engine_epsilon": engine_eps,
            "score": "log-likelihood ratio of every noisy step at the canary's coordinate",
        },
        seconds=time.perf_counter() - started,
    )
