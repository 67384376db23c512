"""The marginal anchor: zero exactly at the measured frequencies, free of budget, and it keeps
a GAN trained under heavy Laplace noise on the measured one-way marginals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_generators import make_table

from privsynth.generators import get_generator
from privsynth.generators.neural.anchor import MarginalAnchor
from privsynth.marginals.counting import InMemoryBackend
from privsynth.measure.rows import MarginalLogits
from privsynth.privacy.ledger import Ledger
from privsynth.transforms.neural import NeuralEncoding

torch.set_num_threads(1)


def _logits(encoding: NeuralEncoding, seed: int) -> MarginalLogits:
    rng = np.random.default_rng(seed)
    base = np.zeros(encoding.width, np.float32)
    by_class = np.zeros((encoding.n_classes, encoding.width), np.float32)
    for b in encoding.blocks:
        by_class[:, b.start : b.stop] = np.log(rng.dirichlet(np.ones(b.size), encoding.n_classes))
        base[b.start : b.stop] = np.log(np.exp(by_class[:, b.start : b.stop]).mean(axis=0))
    return MarginalLogits(base, by_class)


def test_penalty_is_zero_at_the_target_and_positive_elsewhere():
    table = make_table(n=100)
    encoding = NeuralEncoding(table.domain, label="a")
    logits = _logits(encoding, 0)
    anchor = MarginalAnchor(encoding, logits)
    classes = torch.tensor([0, 0, 1, 2, 2, 2])
    cond = torch.nn.functional.one_hot(classes, encoding.n_classes).float()
    # Every row outputs the base frequencies: the batch mean equals the class mix only if the
    # mix is the target's; with the class-conditional rows it is exact.
    exact = torch.as_tensor(logits.by_class)[classes]
    assert float(anchor(exact, cond)) == pytest.approx(0.0, abs=1e-5)
    shifted = exact.clone()
    block = encoding.blocks[0]
    shifted[:, block.start] += 2.0
    assert float(anchor(shifted, cond)) > 0.01
    # Without classes the target is the base frequencies.
    plain = MarginalAnchor(encoding, MarginalLogits(logits.base, None))
    base_rows = torch.as_tensor(logits.base)[None, :].repeat(5, 1)
    assert float(plain(base_rows, None)) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("anchor", [0.0, 1.0])
def test_anchor_spends_nothing(anchor):
    table = make_table(n=1500)
    ledger = Ledger(5.0, 1e-6, composition="rdp")
    gen = get_generator("dpgan-laplace", epochs=1, batch_size=256, anchor=anchor)
    gen.fit(InMemoryBackend(table, label="a"), ledger, rng=np.random.default_rng(0))
    assert ledger.epsilon() == pytest.approx(5.0, rel=1e-6)
    assert len(ledger.entries) == 3  # counts, marginals, DP-SGD: the anchor adds nothing


def test_anchored_laplace_gan_keeps_the_measured_one_way_marginals():
    n = 3000
    table = make_table(n=n)
    gen = get_generator("dpgan-laplace", epochs=2, batch_size=256, anchor=1.0)
    model = gen.fit(
        InMemoryBackend(table, label="a"),
        Ledger(20.0, 1e-6, composition="rdp"),
        rng=np.random.default_rng(0),
    )
    sample = model.sample(n, rng=np.random.default_rng(1))
    for attr in table.domain.attributes:
        size = table.domain[attr]
        real = np.bincount(table.codes[attr], minlength=size) / n
        synth = np.bincount(sample[attr], minlength=size) / n
        # Two samples of n rows over at most 5 codes differ by about sqrt(5 / n) < 0.05 in
        # TVD; the marginal noise at this budget is a few rows per cell.
        assert 0.5 * np.abs(real - synth).sum() < 0.08, attr
