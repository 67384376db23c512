"""Networks of ``dpflow``: a masked autoregressive model of the categorical variables and an
affine-coupling normalizing flow of the numbers conditioned on them, in one module.

:class:`TableFlow` gives the per-example negative log-likelihood that DP-SGD trains
(``-log p(categoricals) - log p(numbers | categoricals)``) and the inverse maps sampling uses.
Everything is plain ``torch`` and works under ``torch.func`` (``vmap`` over ``grad``): masks
are buffers, there is no data-dependent control flow.

Tails: every layer of the flow is affine in the coordinates it transforms, with a log-scale
bounded by ``scale_bound`` (soft clamp) and shift/scale computed from a bounded transform
(``asinh``) of the other coordinates, so the map is Lipschitz and keeps the tail class of
its base: a Gaussian base gives light tails (Jaini et al. 2020), a Student-t base with ``df``
degrees of freedom per dimension gives tails of index ``df`` (as in Laszkiewicz et al. 2022,
marginal tail-adaptive flows, where each dimension has its own tail weight).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

BASES = ("student_t", "gaussian")
DF_MIN = 0.5  # lowest degrees of freedom a learned df can reach


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (a buffer)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Masked affine map."""
        return F.linear(x, self.weight * self.mask, self.bias)


class CategoricalMADE(nn.Module):
    """Autoregressive model of categorical variables of ``sizes`` (one-hot input): the logits
    of variable k depend on variables 0..k-1 only (MADE masks, Germain et al. 2015)."""

    def __init__(self, sizes: Sequence[int], hidden: Sequence[int]) -> None:
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        k = len(self.sizes)
        deg_in = torch.cat([torch.full((s,), i + 1) for i, s in enumerate(self.sizes)])
        layers: list[nn.Module] = []
        prev = deg_in
        for h in hidden:
            # Hidden degrees cycle over 1..k-1; with one variable no hidden unit connects.
            deg = torch.arange(h) % max(k - 1, 1) + 1
            layers += [MaskedLinear((deg[:, None] >= prev[None, :]).float()), nn.ReLU()]
            prev = deg
        out_mask = (deg_in[:, None] > prev[None, :]).float()
        self.net = nn.Sequential(*layers, MaskedLinear(out_mask))
        with torch.no_grad():
            self.net[-1].weight.zero_()
        self.width = int(deg_in.numel())

    def blocks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of each variable in the one-hot layout."""
        out, start = [], 0
        for s in self.sizes:
            out.append((start, start + s))
            start += s
        return out

    def log_prob(self, onehot: torch.Tensor) -> torch.Tensor:
        """Per-example log-probability of one-hot rows ``(b, width)``."""
        logits = self.net(onehot)
        terms = [
            (onehot[:, a:b] * F.log_softmax(logits[:, a:b], dim=1)).sum(dim=1)
            for a, b in self.blocks()
        ]
        return torch.stack(terms, dim=1).sum(dim=1)


class Coupling(nn.Module):
    """Affine coupling: coordinates where ``mask`` is 1 are scaled and shifted by functions of
    the others (and of the context); identity at initialisation."""

    def __init__(self, mask: torch.Tensor, ctx_dim: int, hidden: Sequence[int], bound: float):
        super().__init__()
        d = mask.numel()
        self.register_buffer("mask", mask.to(torch.float32))
        self.bound = float(bound)
        dims = [d + ctx_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.SiLU()]
        last = nn.Linear(dims[-1], 2 * d)
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        self.net = nn.Sequential(*layers, last)

    def _st(self, x: torch.Tensor, ctx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        inp = torch.asinh(x * (1.0 - self.mask))
        if ctx is not None:
            inp = torch.cat([inp, ctx], dim=1)
        raw_s, t = self.net(inp).chunk(2, dim=1)
        s = self.bound * torch.tanh(raw_s / self.bound)
        return s * self.mask, t * self.mask

    def normalize(
        self, x: torch.Tensor, ctx: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Data to base direction, and the log-determinant per example."""
        s, t = self._st(x, ctx)
        return (x - t) * torch.exp(-s), -s.sum(dim=1)

    def generate(self, y: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        """Base to data direction (the inverse of :meth:`normalize`)."""
        s, t = self._st(y, ctx)  # the conditioning coordinates are unchanged by the layer
        return y * torch.exp(s) + t


def coupling_masks(d: int, layers: int) -> list[torch.Tensor]:
    """Alternating halves (one coordinate: transform it, conditioned on the context only)."""
    if d == 1:
        return [torch.ones(1) for _ in range(layers)]
    parity = torch.arange(d) % 2
    return [(parity == (i % 2)).float() for i in range(layers)]


class Flow(nn.Module):
    """Elementwise affine then ``layers`` affine couplings over ``d`` numbers, on a Gaussian or
    a per-dimension Student-t base."""

    def __init__(
        self,
        d: int,
        ctx_dim: int,
        *,
        layers: int,
        hidden: Sequence[int],
        bound: float,
        base: str,
        df: Sequence[float] | None,
        learn_df: bool,
    ) -> None:
        super().__init__()
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        self.d, self.base = d, base
        self.loc = nn.Parameter(torch.zeros(d))
        self.log_scale = nn.Parameter(torch.zeros(d))
        self.couplings = nn.ModuleList(
            Coupling(m, ctx_dim, hidden, bound) for m in coupling_masks(d, layers)
        )
        if base == "student_t":
            df_t = torch.as_tensor(list(df if df is not None else [5.0] * d), dtype=torch.float32)
            # df = DF_MIN + softplus(raw): inverse softplus of the initial value.
            raw = torch.log(torch.expm1((df_t - DF_MIN).clamp(min=1e-3)))
            if learn_df:
                self.raw_df = nn.Parameter(raw)
            else:
                self.register_buffer("raw_df", raw)

    def df(self) -> torch.Tensor:
        """Degrees of freedom per dimension (Student-t base)."""
        return DF_MIN + F.softplus(self.raw_df)

    def base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Per-example log-density of the base at ``z`` ``(b, d)``."""
        if self.base == "gaussian":
            return (-0.5 * z.square() - 0.5 * math.log(2 * math.pi)).sum(dim=1)
        nu = self.df()
        const = torch.lgamma((nu + 1) / 2) - torch.lgamma(nu / 2) - 0.5 * torch.log(nu * math.pi)
        return (const - (nu + 1) / 2 * torch.log1p(z.square() / nu)).sum(dim=1)

    def log_prob(self, x: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        """Per-example log-density of standardised numbers ``x`` given the context."""
        y = (x - self.loc) * torch.exp(-self.log_scale)
        logdet = -self.log_scale.sum().expand(x.shape[0])
        for c in self.couplings:
            y, ld = c.normalize(y, ctx)
            logdet = logdet + ld
        return self.base_log_prob(y) + logdet

    def generate(self, z: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        """Numbers from base draws ``z`` (the inverse of the normalising map)."""
        y = z
        for c in reversed(self.couplings):
            y = c.generate(y, ctx)
        return y * torch.exp(self.log_scale) + self.loc


class TableFlow(nn.Module):
    """Categorical factor and conditional flow as one module (DP-SGD clips them jointly).

    ``forward`` takes, in this order and only those that exist: the categorical one-hot
    ``(b, width)``; the standardised numbers ``(b, d)``, their present mask, a standard normal
    fill for missing cells and uniform dequantisation noise. It returns the per-example
    negative log-likelihood.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        d: int,
        *,
        made_hidden: Sequence[int],
        layers: int,
        hidden: Sequence[int],
        bound: float,
        base: str,
        df: Sequence[float] | None,
        learn_df: bool,
        dequant: Sequence[float],
    ) -> None:
        super().__init__()
        self.made = CategoricalMADE(sizes, made_hidden) if sizes else None
        ctx = self.made.width if self.made is not None else 0
        self.flow = (
            Flow(
                d,
                ctx,
                layers=layers,
                hidden=hidden,
                bound=bound,
                base=base,
                df=df,
                learn_df=learn_df,
            )
            if d
            else None
        )
        # Width of one integer step in standardised units (0 for continuous columns).
        self.register_buffer("dequant", torch.as_tensor(list(dequant), dtype=torch.float32))

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """Per-example negative log-likelihood (see the class docstring for the inputs)."""
        rest = list(tensors)
        nll = torch.zeros(())
        ctx = None
        if self.made is not None:
            ctx = rest.pop(0)
            nll = nll - self.made.log_prob(ctx)
        if self.flow is not None:
            x, present, fill, u = rest
            x = x + (u - 0.5) * self.dequant
            x = present * x + (1.0 - present) * fill
            nll = nll - self.flow.log_prob(x, ctx)
        return nll


__all__ = ["BASES", "CategoricalMADE", "Coupling", "Flow", "TableFlow", "coupling_masks"]
