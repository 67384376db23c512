"""DP-CVAE: a conditional variational autoencoder trained end to end by DP-SGD.

Unlike a GAN's generator, a VAE's decoder sees real rows through the reconstruction term, and
the encoder sees them through both terms, so the whole ELBO goes through the engine: encoder
and decoder live in one :class:`VAE` module and one engine step clips the per-example gradient
of *all* their parameters jointly (clipping them separately would need two charged runs).
The reparameterisation noise is drawn by the engine (``extra``), never inside the loss.

Reconstruction for tables: cross-entropy of each one-hot block's logits against the real
one-hot, squared error of each scalar (after tanh), summed over blocks; for images: a Gaussian
likelihood of fixed std ``image_noise`` on pixels in [-1, 1] (decoder output tanh). Plus KL to
N(0, I) weighted by ``beta``. Conditional on the label (tables) or the digit (images), with
class weights from the noisy label histogram. The release is the decoder only.

Progress reports no loss on private batches (that would be an unaccounted release); it reports
the ELBO of the current network on rows *it generates itself*, which is post-processing of the
(already private) networks, and the epsilon of the steps taken so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from privsynth.generators.base import Progress
from privsynth.generators.neural.common import (
    EpochReporter,
    NeuralFit,
    Prepared,
    gumbel,
    init_output_layer,
    one_hot,
    schedule,
    seeded,
)
from privsynth.generators.neural.model import NeuralModel
from privsynth.generators.neural.nets import build, spec
from privsynth.measure.dpsgd import PrivateGradient, open_dpsgd, torch_generator
from privsynth.privacy.ledger import Ledger
from privsynth.transforms.neural import SCALAR

Reconstruction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# Keeps exp(logvar) finite for any encoder output; far outside what a trained encoder gives.
_LOGVAR_BOUND = 10.0
_REPORT_ROWS = 256


class VAE(nn.Module):
    """Encoder and decoder as one module, so DP-SGD clips their gradients jointly."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, recon: Reconstruction) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self._recon = recon

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example reconstruction loss and KL to N(0, I), with reparameterisation ``eps``."""
        mu, logvar = self.encoder(x, cond).chunk(2, dim=1)
        logvar = logvar.clamp(-_LOGVAR_BOUND, _LOGVAR_BOUND)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)
        return self._recon(self.decoder(z, cond), x), kl


def reconstruction(prep: Prepared, image_noise: float) -> Reconstruction:
    """Per-example negative log-likelihood of the real ``x`` under the decoder output."""
    if prep.kind == "image":
        scale = 1.0 / (2.0 * image_noise**2)
        return lambda out, x: scale * (out - x).square().flatten(1).sum(dim=1)
    blocks = prep.encoding.blocks

    def table(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        terms = []
        for b in blocks:
            o, t = out[:, b.start : b.stop], x[:, b.start : b.stop]
            if b.kind == SCALAR:
                terms.append((torch.tanh(o) - t).square().sum(dim=1))
            else:
                terms.append(-(t * F.log_softmax(o, dim=1)).sum(dim=1))
        return torch.stack(terms, dim=1).sum(dim=1)

    return table


def elbo_loss(beta: float, conditional: bool) -> Callable[..., torch.Tensor]:
    """The engine's per-example loss: ``loss(forward, x, [cond,] eps)``."""

    def loss(forward, x, *rest):  # noqa: ANN001, ANN202
        cond, eps = (rest[0], rest[1]) if conditional else (None, rest[0])
        recon, kl = forward(x, cond, eps)
        return recon + beta * kl

    return loss


@dataclass(frozen=True)
class DPCVAE(NeuralFit):
    """Conditional VAE, encoder and decoder trained by DP-SGD (hyperparameters only)."""

    name: ClassVar[str] = "dpcvae"
    composition: ClassVar[str] = "rdp"

    epochs: float = 10.0
    batch_size: int = 256
    latent_dim: int = 32
    hidden: tuple[int, ...] = (128, 128)
    channels: int = 32
    lr: float = 1e-3
    beta: float = 1.0
    image_noise: float = 0.3
    max_grad_norm: float = 1.0
    count_share: float = 0.01
    marginal_share: float = 0.1
    conditional: bool = True
    numeric: str = "onehot"
    calibrate: bool = True
    secure: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.beta <= 0 or self.image_noise <= 0 or self.lr <= 0:
            raise ValueError("beta, image_noise and lr must be positive")
        self._check_training()

    def config(self) -> dict[str, Any]:
        """JSON-able hyperparameters."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    def _nets(self, prep: Prepared) -> tuple[dict, dict]:
        """Specs of the encoder and the decoder (the release)."""
        c, z = prep.n_classes, self.latent_dim
        if prep.kind == "image":
            enc = spec("conv_critic", out_dim=2 * z, cond_dim=c, channels=self.channels)
            dec = spec("conv_generator", latent_dim=z, cond_dim=c, channels=2 * self.channels)
        else:
            hidden = list(self.hidden)
            enc = spec("mlp", in_dim=prep.width, out_dim=2 * z, hidden=hidden, cond_dim=c)
            dec = spec(
                "mlp", in_dim=z, out_dim=prep.width, hidden=hidden[::-1], cond_dim=c, skip=True
            )
        return enc, dec

    def _vae(self, prep: Prepared, rng: np.random.Generator) -> tuple[VAE, dict]:
        """A freshly initialised VAE (from ``rng``) and its decoder's spec."""
        enc_spec, dec_spec = self._nets(prep)
        with seeded(rng):
            vae = VAE(build(enc_spec), build(dec_spec), reconstruction(prep, self.image_noise))
        if prep.kind == "table":
            init_output_layer(vae.decoder, prep.logits)
        return vae, dec_spec

    def _fit_prepared(self, backend, prep, ledger, rng, progress) -> NeuralModel:  # noqa: ANN001
        """Train on ``prep`` (counts paid); the DP-SGD run is charged up front."""
        vae, dec_spec = self._vae(prep, rng)
        q, steps = schedule(self.batch_size, self.epochs, prep.counts.rows)
        engine = open_dpsgd(
            ledger,
            prep.data,
            label=f"{self.name}: encoder and decoder on real rows ({steps} DP-SGD steps)",
            sample_rate=q,
            steps=steps,
            max_grad_norm=self.max_grad_norm,
            expected_batch=q * prep.counts.rows,
            rng=rng,
            secure=self.secure,
        )
        weights = None if prep.counts.weights is None else prep.counts.weights[None]
        self._train(prep, [vae], [engine], [prep.counts.weights], ledger, rng, progress)
        return NeuralModel(
            backend.domain,
            kind=prep.kind,
            specs=[dec_spec],
            decoders=[vae.decoder],
            latent_dim=self.latent_dim,
            total=prep.counts.total,
            class_weights=weights,
            encoding=prep.encoding,
            image_shape=prep.image_shape,
        )

    def _train(
        self,
        prep: Prepared,
        vaes: Sequence[VAE],
        engines: Sequence[PrivateGradient],
        class_weights: Sequence[np.ndarray | None],
        ledger: Ledger,
        rng: np.random.Generator,
        progress: Progress | None,
    ) -> None:
        """Run the engines' charged steps, one step of each VAE per round (``ledger``'s last
        event must be the DP-SGD charge; ``class_weights``: public, one per VAE)."""
        loss = elbo_loss(self.beta, prep.n_classes > 0)
        opts = [torch.optim.Adam(v.parameters(), lr=self.lr) for v in vaes]
        # Progress has its own generator: whether it is shown never changes the training draws.
        report_gen = torch_generator(rng)
        steps = engines[0].steps
        # ceil(steps / epochs), not round(1 / q): the latter can report an epoch too many.
        per_epoch = math.ceil(steps / self.epochs)
        reporter = EpochReporter(progress, ledger, ledger.events[-1], per_epoch, self.name)
        z = self.latent_dim

        def noise(b: int, gen: torch.Generator) -> tuple[torch.Tensor]:
            return (torch.randn(b, z, generator=gen),)

        def public() -> dict[str, float]:
            values = [
                self._generated_elbo(prep, v, loss, w, report_gen)
                for v, w in zip(vaes, class_weights, strict=True)
            ]
            return {"loss on generated rows": float(np.mean(values))}

        for step in range(1, steps + 1):
            for vae, engine, opt in zip(vaes, engines, opts, strict=True):
                opt.zero_grad(set_to_none=True)
                engine.step(vae, loss, extra=noise)
                opt.step()
            reporter(step, public)

    def _generated_elbo(
        self,
        prep: Prepared,
        vae: VAE,
        loss: Callable[..., torch.Tensor],
        weights: np.ndarray | None,
        gen: torch.Generator,
    ) -> float:
        """Mean ELBO loss of ``vae`` on rows its own decoder generates (public)."""
        n = _REPORT_ROWS
        with torch.no_grad():
            cond = None
            if weights is not None:
                labels = torch.multinomial(torch.as_tensor(weights), n, True, generator=gen)
                cond = one_hot(labels, prep.n_classes)
            x = vae.decoder(torch.randn(n, self.latent_dim, generator=gen), cond)
            if prep.kind == "table":
                x = prep.encoding.activate(x, hard=True, gumbel=gumbel(tuple(x.shape), gen))
            eps = torch.randn(n, self.latent_dim, generator=gen)
            rest = (cond, eps) if cond is not None else (eps,)
            return float(loss(vae, x, *rest).mean())


__all__ = ["DPCVAE", "VAE", "elbo_loss", "reconstruction"]
