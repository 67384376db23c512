"""Keep a GAN generator on the noisy marginals it was started from.

A table GAN's generator starts at the measured one-way (or label-conditional) frequencies
(:func:`~privsynth.generators.neural.common.init_output_layer`), but a discriminator trained
under heavy noise pushes it in near-random directions and the marginals drift far from where
they started. :class:`MarginalAnchor` adds to the generator's loss the KL divergence from those
noisy frequencies to the batch's average output distribution, block by block. The target is a
charged DP measurement and the generator never sees a real row, so the penalty is
post-processing: it costs no budget.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from privsynth.measure.rows import MarginalLogits
from privsynth.transforms.neural import ONEHOT, NeuralEncoding


class MarginalAnchor:
    """KL(noisy marginal ‖ mean generated distribution), summed over one-hot blocks."""

    def __init__(self, encoding: NeuralEncoding, logits: MarginalLogits) -> None:
        self.blocks = [(b.start, b.stop) for b in encoding.blocks if b.kind == ONEHOT]
        self.base = self._normalised(torch.as_tensor(logits.base)[None, :])[0]
        self.by_class = (
            None if logits.by_class is None else self._normalised(torch.as_tensor(logits.by_class))
        )

    def _normalised(self, logp: torch.Tensor) -> torch.Tensor:
        """Probabilities per block (rows of ``logp`` are log-frequencies)."""
        out = torch.zeros_like(logp, dtype=torch.float32)
        for start, stop in self.blocks:
            out[:, start:stop] = torch.softmax(logp[:, start:stop].float(), dim=1)
        return out

    def __call__(self, raw: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The penalty for a batch of raw generator outputs (logits) and their one-hot classes;
        the target mixes the class-conditional frequencies in the batch's class proportions."""
        if self.by_class is not None and cond is not None:
            target = cond.float().mean(dim=0) @ self.by_class
        else:
            target = self.base
        total = raw.new_zeros(())
        for start, stop in self.blocks:
            mean = torch.softmax(raw[:, start:stop], dim=1).mean(dim=0)
            p = target[start:stop]
            total = total + torch.sum(p * (torch.log(p + 1e-12) - torch.log(mean + 1e-12)))
        return total


def weighted_anchor(
    encoding: NeuralEncoding | None, logits: MarginalLogits | None, weight: float
) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None:
    """``weight`` times the anchor's penalty, or None when off (weight 0, or no marginals
    were measured: images, ``marginal_share=0``)."""
    if weight <= 0 or encoding is None or logits is None:
        return None
    anchor = MarginalAnchor(encoding, logits)
    return lambda raw, cond: weight * anchor(raw, cond)
