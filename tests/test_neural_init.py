"""Noisy marginals that start a table decoder: charged, accurate in the noiseless limit, and
reproduced by the untrained decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_generators import make_table

from privsynth.errors import BudgetExceeded
from privsynth.generators.neural.common import init_output_layer
from privsynth.generators.neural.nets import MLP
from privsynth.marginals.counting import InMemoryBackend
from privsynth.measure.rows import noisy_marginal_logits
from privsynth.privacy.ledger import Ledger
from privsynth.transforms.neural import NeuralEncoding

torch.set_num_threads(1)


def _empirical(table, encoding):
    codes = table.codes
    out = np.zeros((encoding.n_classes, encoding.width))
    for b in encoding.blocks:
        for k in range(encoding.n_classes):
            sel = codes[encoding.label] == k
            out[k, b.start : b.stop] = np.bincount(codes[b.attr][sel], minlength=b.size) / sel.sum()
    return out


def test_label_conditional_logits_are_charged_and_exact_in_the_noiseless_limit():
    table = make_table(n=4000)
    backend = InMemoryBackend(table, label="a")
    encoding = NeuralEncoding(table.domain, label="a")
    ledger = Ledger(1e6, 1e-6, composition="rdp")
    logits = noisy_marginal_logits(
        backend, ledger, np.random.default_rng(0), encoding, rho=1e4, what="t"
    )
    assert [e.label for e in ledger.entries] == ["t: noisy a-by-attribute marginals"]
    assert ledger.entries[0].event.count == len(encoding.blocks)
    # Add-one smoothing over at most 5 codes of a class of >= 700 rows moves a probability by
    # less than 5 / 700; the noise (sigma < 0.02 at this rho) is negligible.
    smallest = np.bincount(table.codes["a"]).min()
    assert np.allclose(np.exp(logits.by_class), _empirical(table, encoding), atol=5 / smallest)
    with pytest.raises(BudgetExceeded):
        noisy_marginal_logits(
            backend,
            Ledger(0.01, 1e-6, composition="rdp"),
            np.random.default_rng(0),
            encoding,
            rho=10.0,
            what="t",
        )


def test_untrained_decoder_samples_the_measured_conditionals():
    table = make_table(n=4000)
    backend = InMemoryBackend(table, label="a")
    encoding = NeuralEncoding(table.domain, label="a")
    logits = noisy_marginal_logits(
        backend,
        Ledger(1e6, 1e-6, composition="rdp"),
        np.random.default_rng(0),
        encoding,
        rho=1e4,
        what="t",
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(16, encoding.width, [32, 32], cond_dim=encoding.n_classes, skip=True)
    init_output_layer(net, logits)
    n = 20_000
    g = torch.Generator().manual_seed(1)
    for k in range(encoding.n_classes):
        cond = torch.nn.functional.one_hot(torch.full((n,), k), encoding.n_classes).float()
        with torch.no_grad():
            probs = encoding.activate(net(torch.randn(n, 16, generator=g), cond)).numpy()
        codes = encoding.decode(probs, np.random.default_rng(k))
        for b in encoding.blocks:
            freq = np.bincount(codes[b.attr], minlength=b.size) / n
            target = np.exp(logits.by_class[k, b.start : b.stop])
            # The shrunk random hidden path perturbs the logits a little; the class skip path
            # carries the measured conditionals.
            assert 0.5 * np.abs(freq - target).sum() < 0.05, (k, b.attr)
