"""DP-GAN: the discriminator trained by DP-SGD, the generator by post-processing.

Only the discriminator's loss on *real* rows touches private data, so only that term goes
through the DP-SGD engine (Poisson batches, per-example clipping, noise). Its loss on generated
rows is added exactly, and the generator is updated through the (already private)
discriminator, never touching a real row: the generator and every sample inherit the
discriminator's guarantee (Xie et al. 2018). Conditional on the label column (tables) or the
digit (images), with class weights from a noisy histogram.

``dpgan-laplace`` is the same network with the Laplace-mechanism step: per-example gradients
clipped in L1 and Laplace noise of scale clip / epsilon_step, each step pure-DP and amplified by
Poisson subsampling (:class:`~privsynth.privacy.events.SubsampledLaplaceEvent`).

For tables, ``marginal_share`` of the budget first buys noisy marginals (label by attribute for
a conditional model) that start the generator's output layer, through a skip path from the
class, at the measured class-conditional frequencies (post-processing of charged
measurements), so the discriminator's noisy signal is spent on the remaining dependencies;
``anchor`` weighs a penalty that keeps the generator there while it trains
(:mod:`~privsynth.generators.neural.anchor`, free post-processing; 0 turns it off).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from privsynth.generators.neural.anchor import weighted_anchor
from privsynth.generators.neural.common import (
    EpochReporter,
    NeuralFit,
    generate_batch,
    init_output_layer,
    schedule,
    seeded,
)
from privsynth.generators.neural.model import NeuralModel
from privsynth.generators.neural.nets import build, gan_specs
from privsynth.measure.dpsgd import open_dpsgd, torch_generator


@dataclass(frozen=True)
class DPGAN(NeuralFit):
    """Conditional GAN with a DP-SGD discriminator (hyperparameters only)."""

    name: ClassVar[str] = "dpgan"
    composition: ClassVar[str] = "rdp"
    noise: ClassVar[str] = "gaussian"

    epochs: float = 10.0
    batch_size: int = 256
    latent_dim: int = 64
    hidden: tuple[int, ...] = (256, 256)
    channels: int = 32
    gen_channels: int = 32
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    max_grad_norm: float = 1.0
    count_share: float = 0.01
    marginal_share: float = 0.1
    conditional: bool = True
    numeric: str = "onehot"
    tau: float = 0.5
    anchor: float = 1.0
    calibrate: bool = True
    secure: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.anchor >= 0:
            raise ValueError(f"anchor must be >= 0, got {self.anchor!r}")
        self._check_training()

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    def _nets(self, prep) -> tuple[dict, dict]:  # noqa: ANN001
        return gan_specs(
            kind=prep.kind,
            width=prep.width,
            n_classes=prep.n_classes,
            latent_dim=self.latent_dim,
            hidden=list(self.hidden),
            channels=self.channels,
            gen_channels=self.gen_channels,
        )

    def _fit_prepared(self, backend, prep, ledger, rng, progress) -> NeuralModel:  # noqa: ANN001
        """Train on ``prep`` (counts already paid); the DP-SGD run is charged up front."""
        g_spec, d_spec = self._nets(prep)
        with seeded(rng):
            gen_net, disc = build(g_spec), build(d_spec)
        if prep.kind == "table":
            init_output_layer(gen_net, prep.logits)
        q, steps = schedule(self.batch_size, self.epochs, prep.counts.rows)
        expected = q * prep.counts.rows
        engine = open_dpsgd(
            ledger,
            prep.data,
            label=f"{self.name}: discriminator on real rows ({steps} DP-SGD steps)",
            sample_rate=q,
            steps=steps,
            max_grad_norm=self.max_grad_norm,
            expected_batch=expected,
            noise=self.noise,
            rng=rng,
            secure=self.secure,
        )
        opt_d = torch.optim.Adam(disc.parameters(), lr=self.lr_d, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(gen_net.parameters(), lr=self.lr_g, betas=(0.5, 0.999))
        g = torch_generator(rng)
        b = max(1, round(expected))
        per_epoch = math.ceil(steps / self.epochs)
        reporter = EpochReporter(progress, ledger, ledger.events[-1], per_epoch, self.name)

        def real_loss(forward, x, *cond):  # noqa: ANN001, ANN202
            return F.softplus(-forward(x, *cond))[:, 0]

        anchor = weighted_anchor(prep.encoding, prep.logits, self.anchor)

        def generate(n: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
            return generate_batch(gen_net, prep, n, self.latent_dim, self.tau, g)

        last_g = float("nan")
        for step in range(1, steps + 1):
            opt_d.zero_grad(set_to_none=True)
            engine.step(disc, real_loss)
            with torch.no_grad():
                fake, cond, raw = generate(b)
            F.softplus(disc(fake, cond)).mean().backward()
            opt_d.step()

            opt_g.zero_grad(set_to_none=True)
            fake, cond, raw = generate(b)
            loss_g = F.softplus(-disc(fake, cond)).mean()
            if anchor is not None:
                loss_g = loss_g + anchor(raw, cond)
            loss_g.backward()
            opt_g.step()
            last_g = float(loss_g.detach())
            reporter(step, lambda g=last_g: {"generator loss": g})

        return NeuralModel(
            backend.domain,
            kind=prep.kind,
            specs=[g_spec],
            decoders=[gen_net],
            latent_dim=self.latent_dim,
            total=prep.counts.total,
            class_weights=None if prep.counts.weights is None else prep.counts.weights[None],
            encoding=prep.encoding,
            image_shape=prep.image_shape,
        )


@dataclass(frozen=True)
class DPGANLaplace(DPGAN):
    """DP-GAN whose discriminator steps use L1 clipping and Laplace noise (pure-DP steps)."""

    name: ClassVar[str] = "dpgan-laplace"
    noise: ClassVar[str] = "laplace"
