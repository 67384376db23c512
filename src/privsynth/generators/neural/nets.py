"""Network architectures shared by the neural generators, rebuilt from a JSON spec.

Networks that see private data (discriminators, encoders, teachers) avoid batch
normalisation: it mixes examples within a batch, which breaks per-example clipping. Networks
that only see generated data or latent noise may use it, but these do not, so a sampled row
never depends on the other rows of its batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    """``in_dim + cond_dim -> hidden... -> out_dim`` with LeakyReLU; the condition (a one-hot
    label, possibly empty) is concatenated to the input."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: list[int],
        cond_dim: int = 0,
        dropout: float = 0.0,
        skip: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim + cond_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.cond_dim = cond_dim
        # A linear path from the condition straight to the output: lets a decoder start at
        # noisy class-conditional frequencies (see common.init_output_layer).
        self.skip = nn.Linear(cond_dim, out_dim, bias=False) if skip and cond_dim else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the network to ``x`` (and its condition)."""
        if not self.cond_dim:
            return self.net(x)
        out = self.net(torch.cat([x, cond], dim=1))
        return out if self.skip is None else out + self.skip(cond)


class ConvGenerator(nn.Module):
    """Latent (+ one-hot class) to a ``1 x 28 x 28`` image in [-1, 1]."""

    def __init__(self, latent_dim: int, cond_dim: int = 0, channels: int = 64) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.channels = channels
        self.fc = nn.Sequential(nn.Linear(latent_dim + cond_dim, 2 * channels * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(channels, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images."""
        if self.cond_dim:
            z = torch.cat([z, cond], dim=1)
        h = self.fc(z).view(-1, 2 * self.channels, 7, 7)
        return self.up(h)


class ConvCritic(nn.Module):
    """``1 x 28 x 28`` image (+ one-hot class) to ``out_dim`` values (a logit, or encoder
    statistics). The class enters as extra constant channels; no batch normalisation."""

    def __init__(self, out_dim: int = 1, cond_dim: int = 0, channels: int = 32) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.body = nn.Sequential(
            nn.Conv2d(1 + cond_dim, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * channels * 7 * 7, out_dim),
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Score images."""
        if self.cond_dim:
            planes = cond[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, planes], dim=1)
        return self.body(x)


NETS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "conv_generator": ConvGenerator,
    "conv_critic": ConvCritic,
}


def build(spec: dict[str, Any]) -> nn.Module:
    """A network from ``{"net": name, "kwargs": {...}}``."""
    name = spec.get("net")
    if name not in NETS:
        raise ValueError(f"unknown network {name!r}; known: {sorted(NETS)}")
    return NETS[name](**spec.get("kwargs", {}))


def spec(name: str, **kwargs: Any) -> dict[str, Any]:
    """The JSON spec :func:`build` accepts."""
    return {"net": name, "kwargs": kwargs}


def gan_specs(
    *,
    kind: str,
    width: int,
    n_classes: int,
    latent_dim: int,
    hidden: list[int],
    channels: int,
    gen_channels: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generator and discriminator specs of a conditional GAN for tables (MLPs, the
    discriminator mirroring the generator's widths) or 28x28 images (conv nets)."""
    if kind == "image":
        g = spec("conv_generator", latent_dim=latent_dim, cond_dim=n_classes, channels=gen_channels)
        d = spec("conv_critic", out_dim=1, cond_dim=n_classes, channels=channels)
    else:
        g = spec(
            "mlp", in_dim=latent_dim, out_dim=width, hidden=hidden, cond_dim=n_classes, skip=True
        )
        d = spec("mlp", in_dim=width, out_dim=1, hidden=hidden[::-1], cond_dim=n_classes)
    return g, d
