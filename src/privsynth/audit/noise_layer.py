"""A broken "private" GAN: Laplace noise on the discriminator's activations, no clipping.

Some published GAN variants make the discriminator "private" with a noise layer: Laplace
noise of scale ``b`` added to a hidden layer whose activations lie in [0, 1], claiming
``1 / b`` per step by the Laplace mechanism (sensitivity 1) and ``steps / b`` in all by basic
composition. The claim is wrong: the mechanism perturbs one forward pass, while what is
released — the trained weights, and the generator trained through them — depends on every
example's gradient, which nothing bounds. A single row with large features moves the weights
that see those features by an amount no noise on activations hides.

:class:`NoiseLayerGAN` trains such a GAN (plain SGD, as in the original descriptions) on rows
of ``canaries`` features: background rows with small Gaussian features, and canary ``i`` with
a large value in feature ``i`` only. Its white-box audit score for canary ``i`` is how far the
discriminator's first-layer weights on feature ``i`` moved from their initial values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from privsynth.audit.bounds import Run
from privsynth.audit.result import AuditResult, summarize
from privsynth.measure.dpsgd import torch_generator

_CANARY_VALUE = 10.0


@dataclass(frozen=True)
class NoiseLayerGAN:
    """BROKEN: a GAN "made private" by Laplace noise on hidden activations only."""

    claimed_epsilon: float = 1.0
    steps: int = 200
    batch_size: int = 64
    hidden: int = 32
    latent: int = 8
    lr: float = 0.05
    background_rows: int = 200

    name = "broken:noise-layer-gan"

    @property
    def laplace_scale(self) -> float:
        """The scale such an implementation picks: ``steps / claimed_epsilon``."""
        return self.steps / self.claimed_epsilon

    def run(self, included: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Train once on the background rows plus the included canaries; score each canary."""
        m = len(included)
        gen = torch_generator(rng)
        background = 0.1 * torch.randn(self.background_rows, m, generator=gen)
        chosen = torch.from_numpy(np.flatnonzero(included))
        canaries = torch.zeros(len(chosen), m)
        canaries[torch.arange(len(chosen)), chosen] = _CANARY_VALUE
        data = torch.cat([background, canaries])
        first = _linear(m, self.hidden, gen)
        last = _linear(self.hidden, 1, gen)
        generator = nn.Sequential(_linear(self.latent, m, gen), nn.Tanh())
        start = first.weight.detach().clone()
        d_opt = torch.optim.SGD([*first.parameters(), *last.parameters()], lr=self.lr)
        g_opt = torch.optim.SGD(generator.parameters(), lr=self.lr)

        def discriminate(x: torch.Tensor) -> torch.Tensor:
            hidden = torch.sigmoid(first(x))
            e1 = torch.empty(hidden.shape).exponential_(generator=gen)
            e2 = torch.empty(hidden.shape).exponential_(generator=gen)
            noise = (e1 - e2) * self.laplace_scale
            return last(hidden + noise).squeeze(-1)

        for _ in range(self.steps):
            idx = torch.randint(len(data), (self.batch_size,), generator=gen)
            fake = generator(torch.randn(self.batch_size, self.latent, generator=gen))
            real_logit, fake_logit = discriminate(data[idx]), discriminate(fake.detach())
            d_loss = F.binary_cross_entropy_with_logits(
                real_logit, torch.ones_like(real_logit)
            ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            fake_logit = discriminate(fake)
            g_loss = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
        moved = (first.weight.detach() - start).norm(dim=0)
        return moved.to(torch.float64).numpy()


def _linear(n_in: int, n_out: int, gen: torch.Generator) -> nn.Linear:
    """A linear layer initialised from ``gen`` (PyTorch's default uniform bounds)."""
    layer = nn.Linear(n_in, n_out)
    bound = 1.0 / n_in**0.5
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=gen)
        layer.bias.uniform_(-bound, bound, generator=gen)
    return layer


def audit_noise_layer_gan(
    gan: NoiseLayerGAN,
    *,
    delta: float,
    rng: np.random.Generator,
    canaries: int = 500,
    runs: int = 2,
) -> AuditResult:
    """White-box audit of :class:`NoiseLayerGAN` against its own claim."""
    started = time.perf_counter()
    out = []
    for _ in range(runs):
        included = rng.random(canaries) < 0.5
        out.append(Run(gan.run(included, rng), included))
    return summarize(
        out,
        target=gan.name,
        mode="white-box",
        claimed_epsilon=gan.claimed_epsilon,
        delta=delta,
        rng=rng,
        setting={
            "steps": gan.steps,
            "laplace_scale": gan.laplace_scale,
            "claim": "basic composition of steps Laplace(1/b) mechanisms on activations in [0, 1]",
            "score": "movement of the discriminator's first-layer weights on the canary's feature",
        },
        seconds=time.perf_counter() - started,
    )
