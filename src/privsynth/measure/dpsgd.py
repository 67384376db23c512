"""The one DP-SGD engine: Poisson-sampled batches of private rows, per-example gradients,
clipping, noise, and the privacy cost charged to the ledger before the first step.

Every neural generator trains the networks that touch private data through
:class:`PrivateGradient`. The mechanism (Abadi et al. 2016) per step:

1. each private row joins the batch independently with probability ``sample_rate``
   (Poisson sampling: the subsampling the accountant assumes; shuffled fixed-size batches
   would need a different, weaker analysis);
2. per-example gradients of the caller's per-example loss (``torch.func``: ``vmap`` over
   ``grad`` of a ``functional_call``);
3. each clipped to L2 norm ``max_grad_norm`` (L1 for the Laplace variant);
4. summed, plus Gaussian noise of std ``noise_multiplier * max_grad_norm`` (or Laplace noise of
   scale ``max_grad_norm / step_epsilon``), divided by the *public* expected batch size;
5. added to each parameter's ``.grad``, so a caller may add gradient terms that do not touch
   private data (a GAN discriminator's loss on generated samples) before ``optimizer.step()``.

The whole run (``steps`` steps) is charged as one event when the engine is opened: there is no
early stop, checkpoint choice or extra step that depends on private data, and asking for step
``steps + 1`` raises. The noise is calibrated by :func:`calibrate_gaussian` /
:func:`calibrate_laplace` so that the configured steps land on the ledger's budget from below.

Per-example gradients use ``torch.func`` rather than Opacus's ``GradSampleModule`` because the
private and public loss terms of one step then share a plain module, with no hooks to switch
off for the public pass; tests check the per-example gradients against Opacus's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from privsynth.errors import BudgetExceeded, PrivacyError
from privsynth.privacy.events import (
    PrivacyEvent,
    SubsampledGaussianEvent,
    SubsampledLaplaceEvent,
)
from privsynth.privacy.ledger import Ledger

# A noise scale is found by bisection to this relative precision, from below the budget.
_CALIBRATION_ITERS = 60
_BUDGET_MARGIN = 1e-7

PerExampleLoss = Callable[..., torch.Tensor]


def torch_generator(rng: np.random.Generator | None, *, secure: bool = False) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``rng`` (or from OS entropy when ``secure``)."""
    seed = (
        int.from_bytes(os.urandom(8), "little") >> 1
        if secure or rng is None
        else int(rng.integers(0, 2**62))
    )
    return torch.Generator().manual_seed(seed)


def _bisect(fits: Callable[[float], bool], lo: float, hi: float, *, increasing: bool) -> float:
    """Boundary of ``fits`` on [lo, hi]; returns a value that fits."""
    for _ in range(_CALIBRATION_ITERS):
        mid = math.sqrt(lo * hi)
        ok = fits(mid)
        if increasing == ok:
            hi = mid
        else:
            lo = mid
        if hi / lo < 1 + 1e-7:
            break
    return hi if increasing else lo


def calibrate_gaussian(
    ledger: Ledger, sample_rate: float, steps: int, *, max_multiplier: float = 1e4
) -> float:
    """Smallest noise multiplier whose ``steps`` subsampled steps fit in what the ledger has left.

    The result lands within a relative 1e-7 (in the multiplier) of the budget, never over it.
    """

    def fits(sigma: float) -> bool:
        event = SubsampledGaussianEvent(sample_rate, sigma, steps)
        return ledger.epsilon_with(event) <= ledger.epsilon_budget * (1 - _BUDGET_MARGIN)

    if not fits(max_multiplier):
        raise BudgetExceeded(
            f"dp-sgd: {steps} steps at sample rate {sample_rate:g} do not fit in the budget "
            f"left (epsilon {ledger.epsilon_budget:g}) even with noise multiplier {max_multiplier:g}"
        )
    return _bisect(fits, 0.05, max_multiplier, increasing=True)


def calibrate_laplace(ledger: Ledger, sample_rate: float, steps: int) -> float:
    """Largest per-step epsilon for ``steps`` Poisson-subsampled pure-DP steps within budget."""

    def fits(eps: float) -> bool:
        event = SubsampledLaplaceEvent(sample_rate, eps, steps)
        return ledger.epsilon_with(event) <= ledger.epsilon_budget * (1 - _BUDGET_MARGIN)

    if not fits(1e-9):
        raise BudgetExceeded("dp-sgd (laplace): no budget left for the configured steps")
    return _bisect(fits, 1e-9, 50.0, increasing=False)


@dataclass(frozen=True)
class StepReport:
    """What a step may tell the caller: nothing derived from the private batch."""

    step: int
    steps: int


class PrivateGradient:
    """A charged DP-SGD run over private tensors (use :func:`open_dpsgd`)."""

    def __init__(
        self,
        data: Sequence[torch.Tensor],
        *,
        sample_rate: float,
        steps: int,
        max_grad_norm: float,
        expected_batch: float,
        noise: str,
        scale: float,
        generator: torch.Generator,
        secure: bool,
        chunk: int,
    ) -> None:
        self._data = tuple(data)
        self._n = int(self._data[0].shape[0])
        self.sample_rate = sample_rate
        self.steps = steps
        self.max_grad_norm = max_grad_norm
        self.expected_batch = expected_batch
        self.noise = noise
        self.scale = scale
        self._gen = generator
        self._secure = secure
        self._chunk = chunk
        self.step_count = 0

    def sibling(
        self, data: Sequence[torch.Tensor], *, expected_batch: float, rng: np.random.Generator
    ) -> PrivateGradient:
        """An engine for another part of a row-wise partition, at this engine's sample rate,
        steps, clipping and noise, and charged nothing.

        Only valid by parallel composition: the parts must be disjoint and each row's part a
        function of that row and public information (e.g. nearest public centre), so adding or
        removing one row changes one part's run alone; the ledger event recorded for this
        engine then covers every part.
        """
        return PrivateGradient(
            data,
            sample_rate=self.sample_rate,
            steps=self.steps,
            max_grad_norm=self.max_grad_norm,
            expected_batch=expected_batch,
            noise=self.noise,
            scale=self.scale,
            generator=torch_generator(rng, secure=self._secure),
            secure=self._secure,
            chunk=self._chunk,
        )

    def _fresh_generator(self) -> torch.Generator:
        # Secure mode reseeds from OS entropy on every draw: the sequence cannot be replayed.
        if self._secure:
            return torch_generator(None, secure=True)
        return self._gen

    def _batch_indices(self) -> torch.Tensor:
        mask = torch.rand(self._n, generator=self._fresh_generator()) < self.sample_rate
        return mask.nonzero(as_tuple=True)[0]

    def _noise(self, shape: torch.Size) -> torch.Tensor:
        gen = self._fresh_generator()
        if self.noise == "gaussian":
            if self._secure:
                # Sum of 4 draws halved (same variance): blunts floating-point attacks on
                # a single Gaussian draw, as Opacus does in secure mode.
                draws = torch.normal(0.0, self.scale, (4, *shape), generator=gen)
                return draws.sum(0) / 2.0
            return torch.normal(0.0, self.scale, tuple(shape), generator=gen)
        e1 = torch.empty(tuple(shape)).exponential_(generator=gen)
        e2 = torch.empty(tuple(shape)).exponential_(generator=gen)
        return (e1 - e2) * self.scale

    def step(
        self,
        module: torch.nn.Module,
        loss_fn: PerExampleLoss,
        *,
        extra: Callable[[int, torch.Generator], tuple[torch.Tensor, ...]] | None = None,
    ) -> StepReport:
        """Add one noisy, clipped, batch-averaged private gradient to ``module``'s ``.grad``.

        ``loss_fn(forward, *row_tensors, *extra_tensors)`` returns per-example losses for a
        batch, where ``forward(*inputs)`` runs ``module``; ``extra(b, generator)`` supplies
        per-example random inputs (e.g. VAE noise) drawn from the engine's generator.
        """
        if self.step_count >= self.steps:
            raise PrivacyError(
                f"dp-sgd: step {self.step_count + 1} requested but only {self.steps} were "
                "charged to the ledger"
            )
        self.step_count += 1
        params = {k: p for k, p in module.named_parameters() if p.requires_grad}
        detached = {k: p.detach() for k, p in params.items()}
        buffers = dict(module.named_buffers())
        idx = self._batch_indices()
        total = {k: torch.zeros_like(p) for k, p in detached.items()}
        if len(idx):
            extras = extra(len(idx), self._fresh_generator()) if extra is not None else ()

            def one(p: dict[str, torch.Tensor], *row: torch.Tensor) -> torch.Tensor:
                def forward(*inputs: Any) -> Any:
                    return functional_call(module, (p, buffers), inputs)

                batched = [t.unsqueeze(0) for t in row]
                return loss_fn(forward, *batched).sum()

            per_example = vmap(grad(one), in_dims=(None, *([0] * (len(self._data) + len(extras)))))
            for start in range(0, len(idx), self._chunk):
                sel = idx[start : start + self._chunk]
                rows = [t[sel] for t in self._data] + [e[start : start + len(sel)] for e in extras]
                grads = per_example(detached, *rows)
                flat = torch.cat([g.reshape(len(sel), -1) for g in grads.values()], dim=1)
                order = 1 if self.noise == "laplace" else 2
                norms = flat.norm(p=order, dim=1)
                factor = (self.max_grad_norm / (norms + 1e-12)).clamp(max=1.0)
                for k, g in grads.items():
                    total[k] += torch.einsum("b,b...->...", factor, g)
        for k, p in params.items():
            noisy = (total[k] + self._noise(total[k].shape)) / self.expected_batch
            p.grad = noisy if p.grad is None else p.grad + noisy
        return StepReport(self.step_count, self.steps)


# The auditor's white-box view: every engine as it is opened (after its charge).
_OBSERVER: ContextVar[Callable[[PrivateGradient, PrivacyEvent], None] | None] = ContextVar(
    "dpsgd_observer", default=None
)


@contextmanager
def observe_engines(observer: Callable[[PrivateGradient, PrivacyEvent], None]) -> Iterator[None]:
    """Hand every engine opened inside the block, with its ledger event, to ``observer``.

    For privacy audits (:mod:`privsynth.audit.dpsgd`), which rerun the same mechanism (sample
    rate, steps, clipping, noise) on canaries; the observer may raise to stop the fit there.
    """
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


def open_dpsgd(
    ledger: Ledger,
    data: Sequence[torch.Tensor],
    *,
    label: str,
    sample_rate: float,
    steps: int,
    max_grad_norm: float,
    expected_batch: float,
    noise: str = "gaussian",
    noise_multiplier: float | None = None,
    rng: np.random.Generator,
    secure: bool = False,
    chunk: int = 256,
) -> PrivateGradient:
    """Charge a DP-SGD run of ``steps`` steps to ``ledger`` and return its engine.

    ``data`` are the private tensors (first dimension: rows). ``noise`` is ``"gaussian"``
    (L2 clipping; the multiplier is calibrated to the budget left unless given) or
    ``"laplace"`` (L1 clipping; pure-DP steps, per-step epsilon calibrated). ``expected_batch``
    must be public (``sample_rate`` times a noisy row count), never the exact batch size.
    """
    if not data or any(t.shape[0] != data[0].shape[0] for t in data):
        raise ValueError("dp-sgd: data tensors must share their first dimension")
    if not (0 < sample_rate <= 1) or steps < 1 or max_grad_norm <= 0 or expected_batch <= 0:
        raise ValueError(
            f"dp-sgd: bad configuration sample_rate={sample_rate}, steps={steps}, "
            f"max_grad_norm={max_grad_norm}, expected_batch={expected_batch}"
        )
    if ledger.composition != "rdp":
        raise PrivacyError("dp-sgd needs a ledger with composition='rdp'")
    if noise == "gaussian":
        sigma = (
            calibrate_gaussian(ledger, sample_rate, steps)
            if noise_multiplier is None
            else noise_multiplier
        )
        event: SubsampledGaussianEvent | SubsampledLaplaceEvent = SubsampledGaussianEvent(
            sample_rate, sigma, steps
        )
        scale = sigma * max_grad_norm
    elif noise == "laplace":
        step_eps = calibrate_laplace(ledger, sample_rate, steps)
        event = SubsampledLaplaceEvent(sample_rate, step_eps, steps)
        scale = max_grad_norm / step_eps
    else:
        raise ValueError(f"dp-sgd: noise must be 'gaussian' or 'laplace', got {noise!r}")
    ledger.spend(event, label=label)
    engine = PrivateGradient(
        data,
        sample_rate=sample_rate,
        steps=steps,
        max_grad_norm=max_grad_norm,
        expected_batch=expected_batch,
        noise=noise,
        scale=scale,
        generator=torch_generator(rng, secure=secure),
        secure=secure,
        chunk=chunk,
    )
    observer = _OBSERVER.get()
    if observer is not None:
        observer(engine, event)
    return engine
