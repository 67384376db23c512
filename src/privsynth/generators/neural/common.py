"""What every neural generator does before and around its training loop.

:func:`prepare` pays for the noisy counts (row count, class weights), builds the public
encoding and hands the private rows to the DP mechanisms as tensors; :func:`schedule` turns
public hyperparameters (expected batch size, epochs) into a Poisson sample rate and a number of
steps using only the noisy count. Nothing here reads private data except through
:mod:`privsynth.measure`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from privsynth.generators.base import Progress, report
from privsynth.generators.neural.calibrate import calibrate
from privsynth.marginals.images import ImageBackend
from privsynth.measure.marginals import Measurement
from privsynth.measure.rows import (
    MarginalLogits,
    NoisyCounts,
    image_tensors,
    noisy_counts,
    noisy_marginal_logits,
    table_tensors,
)
from privsynth.privacy.events import SubsampledGaussianEvent, SubsampledLaplaceEvent
from privsynth.privacy.ledger import Ledger
from privsynth.privacy.rdp import rdp_epsilon
from privsynth.transforms.neural import NeuralEncoding


@dataclass
class Prepared:
    """Public facts about the training data plus the private tensors for the mechanisms.

    ``data`` is ``(x,)`` or, for a conditional model, ``(x, one_hot_label)`` (a float one-hot,
    so per-example losses need no indexing inside ``vmap``).
    """

    kind: str  # "table" or "image"
    counts: NoisyCounts
    data: tuple[torch.Tensor, ...]
    n_classes: int  # 0 when not conditional
    encoding: NeuralEncoding | None
    image_shape: tuple[int, ...] | None
    logits: MarginalLogits | None = None  # noisy log-frequencies (tables, if measured)

    @property
    def width(self) -> int:
        """Width of an encoded row (tables)."""
        return 0 if self.encoding is None else self.encoding.width


def prepare(
    backend,  # noqa: ANN001
    ledger: Ledger,
    rng: np.random.Generator,
    *,
    conditional: bool,
    count_share: float,
    numeric: str,
    what: str,
    marginal_share: float = 0.0,
    secure: bool = False,
    prior: Sequence[Measurement] = (),
) -> Prepared:
    """Pay ``count_share`` of the budget (as zCDP) for the noisy counts, and for tables
    ``marginal_share`` for noisy marginals (one-way, or by label; 0: none; those also in
    ``prior`` are combined with it), then encode."""
    if not 0 < count_share < 1 or not 0 <= marginal_share < 1 - count_share:
        raise ValueError(
            f"count_share must lie in (0, 1) and marginal_share in [0, 1 - count_share), got "
            f"{count_share!r}, {marginal_share!r}"
        )
    label = backend.label if conditional else None
    counts = noisy_counts(
        backend,
        ledger,
        rng,
        label=label,
        rho=count_share * ledger.rho_budget,
        what=what,
        secure=secure,
    )
    if isinstance(backend, ImageBackend):
        x, y = image_tensors(backend)
        n_classes = backend.domain["label"] if label is not None else 0
        data = (x, one_hot(y, n_classes)) if label is not None else (x,)
        return Prepared("image", counts, data, n_classes, None, backend.image_shape)
    if numeric not in ("onehot", "scalar"):
        raise ValueError(f"numeric must be 'onehot' or 'scalar', got {numeric!r}")
    scalar = backend.numeric if numeric == "scalar" else ()
    encoding = NeuralEncoding(backend.domain, label=label, scalar=scalar)
    logits = None
    if marginal_share > 0:
        logits = noisy_marginal_logits(
            backend,
            ledger,
            rng,
            encoding,
            rho=marginal_share * ledger.rho_budget,
            what=what,
            secure=secure,
            prior=prior,
        )
    data = table_tensors(backend, encoding)
    if label is not None:
        data = (data[0], one_hot(data[1], encoding.n_classes))
    return Prepared("table", counts, data, encoding.n_classes, encoding, None, logits)


def init_output_layer(module: torch.nn.Module, logits: MarginalLogits | None) -> None:
    """Start a table decoder's last linear layer at the noisy log-frequencies (its weights
    shrunk) and its condition skip path, if any, at the noisy class-conditional offsets, so
    untrained samples already match the measured marginals."""
    if logits is None:
        return
    last = [m for m in module.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.copy_(torch.as_tensor(logits.base, dtype=last.bias.dtype))
        last.weight.mul_(0.1)
        skip = getattr(module, "skip", None)
        if skip is not None and logits.by_class is not None:
            offset = torch.as_tensor(
                logits.by_class - logits.base[None, :], dtype=skip.weight.dtype
            )
            skip.weight.copy_(offset.T)


def check_training(
    *,
    epochs: float,
    batch_size: int,
    max_grad_norm: float,
    count_share: float,
    numeric: str,
    marginal_share: float = 0.0,
) -> None:
    """Raise ValueError on hyperparameters that cannot train (checked when a generator is
    built, so a bad value is refused before any budget is spent)."""
    problems = []
    if not (isinstance(epochs, int | float) and math.isfinite(epochs) and epochs > 0):
        problems.append(f"epochs must be > 0, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        problems.append(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not (isinstance(max_grad_norm, int | float) and max_grad_norm > 0):
        problems.append(f"max_grad_norm must be > 0, got {max_grad_norm!r}")
    if not (isinstance(count_share, int | float) and 0 < count_share < 1):
        problems.append(f"count_share must lie in (0, 1), got {count_share!r}")
    if numeric not in ("onehot", "scalar"):
        problems.append(f"numeric must be 'onehot' or 'scalar', got {numeric!r}")
    if not (isinstance(marginal_share, int | float) and 0 <= marginal_share < 1 - count_share):
        problems.append(f"marginal_share must lie in [0, 1 - count_share), got {marginal_share!r}")
    if problems:
        raise ValueError("; ".join(problems))


def schedule(batch_size: int, epochs: float, rows: float) -> tuple[float, int]:
    """Poisson sample rate and number of steps for an expected ``batch_size`` over ``epochs``
    passes of a table of (noisy) ``rows``."""
    if batch_size < 1 or epochs <= 0:
        raise ValueError(f"batch_size must be >= 1 and epochs > 0, got {batch_size}, {epochs}")
    q = min(1.0, batch_size / rows)
    return q, max(1, math.ceil(epochs / q))


def one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor | None:
    """Float one-hot condition, or None for an unconditional model."""
    if not n_classes:
        return None
    return torch.nn.functional.one_hot(labels, n_classes).to(torch.float32)


def fake_labels(counts: NoisyCounts, n: int, gen: torch.Generator) -> torch.Tensor | None:
    """Classes for generated rows, drawn from the noisy class weights."""
    if counts.weights is None:
        return None
    w = torch.as_tensor(counts.weights, dtype=torch.float64)
    return torch.multinomial(w, n, replacement=True, generator=gen)


def generate_batch(
    gen_net: torch.nn.Module,
    prep: Prepared,
    n: int,
    latent_dim: int,
    tau: float,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """``n`` generated rows (hard Gumbel-softmax one-hots for tables, with straight-through
    gradients; images as they come), their one-hot classes (or None) and the raw outputs."""
    labels = fake_labels(prep.counts, n, g)
    cond = one_hot(labels, prep.n_classes) if labels is not None else None
    raw = gen_net(torch.randn(n, latent_dim, generator=g), cond)
    fake = raw
    if prep.kind == "table":
        fake = prep.encoding.activate(raw, hard=True, tau=tau, gumbel=gumbel(tuple(raw.shape), g))
    return fake, cond, raw


def gumbel(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Standard Gumbel noise from ``gen``."""
    u = torch.rand(shape, generator=gen).clamp_(1e-10, 1 - 1e-10)
    return -torch.log(-torch.log(u))


@contextmanager
def seeded(rng: np.random.Generator) -> Iterator[None]:
    """Initialise networks from ``rng`` without touching torch's global generator state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(0, 2**62)))
        yield


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op torch threads (restored afterwards)."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class EpochReporter:
    """Per-epoch progress: a public loss and the epsilon of the steps taken so far."""

    def __init__(
        self,
        progress: Progress | None,
        ledger: Ledger,
        event: SubsampledGaussianEvent | SubsampledLaplaceEvent,
        steps_per_epoch: int,
        what: str,
    ) -> None:
        self._progress = progress
        self._before = list(ledger.events[:-1])
        self._event = event
        self._delta = ledger.delta - ledger.delta_reserved
        self._per_epoch = max(1, steps_per_epoch)
        self._what = what
        self.history: list[dict[str, float]] = []

    def epsilon_after(self, steps: int) -> float:
        """Epsilon of everything spent before training plus ``steps`` steps."""
        e = self._event
        part = (
            SubsampledGaussianEvent(e.sample_rate, e.noise_multiplier, steps)
            if isinstance(e, SubsampledGaussianEvent)
            else SubsampledLaplaceEvent(e.sample_rate, e.epsilon, steps)
        )
        return rdp_epsilon([*self._before, part], self._delta)

    def __call__(self, step: int, losses: Callable[[], dict[str, float]]) -> None:
        """Call after every step; reports at epoch ends and at the last step."""
        total = self._event.count
        if step % self._per_epoch and step != total:
            return
        values = losses()
        eps = self.epsilon_after(step)
        self.history.append({"step": step, "epsilon": eps, **values})
        if self._progress is not None:
            epoch = math.ceil(step / self._per_epoch)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in values.items())
            report(
                self._progress,
                f"{self._what}: epoch {epoch}, {shown}, epsilon so far {eps:.3g}",
                step / total,
            )


class NeuralFit:
    """The shared front of every neural generator's ``fit``: torch threads, then the noisy
    counts (and, for tables, the noisy marginals) through :func:`prepare`, then ``_fit_prepared``.

    Subclasses are frozen dataclasses with ``name``, ``threads``, ``conditional``,
    ``count_share``, ``marginal_share``, ``numeric`` and ``calibrate``, and implement
    ``_fit_prepared(backend, prep, ledger, rng, progress)``. With ``calibrate`` a table model
    is then calibrated to the noisy marginals (:mod:`~privsynth.generators.neural.calibrate`;
    post-processing, free).
    """

    @property
    def reuses_measurements(self) -> bool:
        """Whether a fit can build on noisy marginals already paid for: those it would buy."""
        return getattr(self, "marginal_share", 0.0) > 0

    def _check_training(self) -> None:
        """:func:`check_training` on this generator's DP-SGD schedule (call in __post_init__)."""
        check_training(
            epochs=self.epochs,
            batch_size=self.batch_size,
            max_grad_norm=self.max_grad_norm,
            count_share=self.count_share,
            numeric=self.numeric,
            marginal_share=self.marginal_share,
        )

    def fit(
        self,
        backend,  # noqa: ANN001
        ledger: Ledger,
        *,
        rng: np.random.Generator,
        progress: Progress | None = None,
        prior: Sequence[Measurement] = (),
    ):  # noqa: ANN201 - a NeuralModel (imported by the generators, not here)
        """Pay for the noisy counts, then train; every private read is charged before it.
        ``prior``: noisy marginals already paid for (the ledger records them), combined with
        the ones the fit buys (``marginal_share``) where they cover the same cells."""
        with threads(self.threads):
            prep = prepare(
                backend,
                ledger,
                rng,
                conditional=self.conditional,
                count_share=self.count_share,
                numeric=self.numeric,
                what=self.name,
                marginal_share=self.marginal_share,
                secure=self.secure,
                prior=prior,
            )
            model = self._fit_prepared(backend, prep, ledger, rng, progress)
            if self.calibrate:
                model = calibrate(model, prep.logits, rng)
            return model
