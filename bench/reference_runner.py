"""Fit smartnoise-synth's MST or AIM on an integer-coded CSV; write a sample and a timing JSON.

Runs inside the reference environment (smartnoise-synth 1.0.8 with mbi 1.1.0), never in
privsynth's, as one subprocess per fit started by ``bench/marginal_benchmark.py``::

    .venv-ref/bin/python bench/reference_runner.py --synth mst --epsilon 1 --delta 1e-9 \
        --seed 0 --train train.csv --domain adult_pgm-domain.json \
        --out synth.csv --timing timing.json

Fairness with privsynth, which is given the public domain:

* Every column is declared categorical over its PUBLIC domain. smartnoise-synth otherwise
  infers the category set of each column from the private data it is fitted on (its
  ``LabelTransformer`` records the values it sees), which both leaks and shrinks the domain.
  Here a ``TableTransformer`` of one ``LabelTransformer(nullable=False)`` per column is fitted
  on a public frame holding every code ``0..size-1`` at least once, so its cardinalities are
  the public sizes and, the labels being sorted integers, code ``k`` maps to label ``k``.
  A transformer that is already fitted is used as is by ``Synthesizer._get_train_data``, which
  therefore neither infers anything from the data nor spends budget on preprocessing
  (``preprocessor_eps=0``); the runner checks both (cardinalities seen by the synthesizer,
  odometer of the transformer, epsilon left after fitting).
* Privacy spent is audited: the Gaussian-noise and exponential-mechanism calls of the
  synthesizer's module are wrapped (arguments observed, behaviour unchanged) and their zCDP
  costs summed (``1/(2 sigma^2)`` per noisy marginal of L2 sensitivity 1, ``eps^2/8`` per
  exponential-mechanism draw), so the driver can convert the total back to epsilon.

Randomness: ``numpy.random.seed(seed)`` seeds the global numpy generator that
smartnoise-synth and mbi use for selection and sampling; the Gaussian noise comes from
OpenDP's secure sampler and cannot be seeded, so reference runs are not bit-reproducible.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


class BudgetAudit:
    """Sums the zCDP cost of every noisy measurement and selection a synthesizer makes."""

    def __init__(self) -> None:
        self.rho = 0.0
        self.gaussian_calls = 0
        self.exponential_calls = 0

    def gaussian(self, noise: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap ``gaussian_noise(sigma, size)``: one call noises one marginal (sensitivity 1)."""

        def wrapped(sigma: float, size: int | None = None) -> Any:
            self.rho += 0.5 / float(sigma) ** 2
            self.gaussian_calls += 1
            return noise(sigma, size)

        return wrapped

    def exponential_function(self, mech: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap AIM's ``exponential_mechanism(qualities, epsilon, sensitivity)``."""

        def wrapped(qualities: Any, epsilon: float, *args: Any, **kwargs: Any) -> Any:
            self.rho += float(epsilon) ** 2 / 8.0
            self.exponential_calls += 1
            return mech(qualities, epsilon, *args, **kwargs)

        return wrapped

    def exponential_method(self, mech: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap MST's ``self.exponential_mechanism(q, eps, sensitivity)``."""

        def wrapped(obj: Any, q: Any, eps: float, *args: Any, **kwargs: Any) -> Any:
            self.rho += float(eps) ** 2 / 8.0
            self.exponential_calls += 1
            return mech(obj, q, eps, *args, **kwargs)

        return wrapped


def install_audit(synth: str, audit: BudgetAudit) -> None:
    """Route the privacy-spending calls of ``synth``'s module through ``audit``."""
    if synth == "mst":
        import snsynth.mst.mst as module

        module.gaussian_noise = audit.gaussian(module.gaussian_noise)
        cls = module.MSTSynthesizer
        cls.exponential_mechanism = audit.exponential_method(cls.exponential_mechanism)
    elif synth == "aim":
        import snsynth.aim.aim as module

        module.gaussian_noise = audit.gaussian(module.gaussian_noise)
        module.exponential_mechanism = audit.exponential_function(module.exponential_mechanism)
    else:
        raise ValueError(f"unknown synthesizer {synth!r}")


def public_frame(domain: dict[str, int]) -> pd.DataFrame:
    """A frame in which column ``c`` takes every code ``0..domain[c]-1`` at least once."""
    rows = max(domain.values())
    return pd.DataFrame({c: np.arange(rows, dtype=np.int64) % size for c, size in domain.items()})


def public_transformer(domain: dict[str, int]) -> Any:
    """A TableTransformer fitted on the public domain only: one categorical label per column."""
    from snsynth.transform import LabelTransformer
    from snsynth.transform.table import TableTransformer

    transformer = TableTransformer([LabelTransformer(nullable=False) for _ in domain])
    frame = public_frame(domain)
    transformer.fit(frame, epsilon=0.0)
    cards = [int(c) for c in transformer.cardinality]
    if cards != list(domain.values()):
        raise RuntimeError(f"transformer cardinalities {cards} differ from {list(domain.values())}")
    codes = np.asarray(transformer.transform(frame), dtype=np.int64)
    if not np.array_equal(codes, frame.to_numpy()):
        raise RuntimeError("the public transformer does not map code k to label k")
    if transformer.odometer.spent[0] != 0.0:
        raise RuntimeError("fitting the public transformer spent privacy budget")
    return transformer


def sample_iid(synth: Any, n_rows: int) -> Any:
    """Sample ``synth`` with mbi's ``synthetic_data(method="sample")``: i.i.d. draws.

    mbi 1.1.0's default ``method="round"`` assigns each new column by rank within the
    groups of its already-sampled parents, taking rows in their current order, so two
    columns that share parents come out comonotone within every group: a spurious
    dependence that the fitted model does not contain (later mbi releases shuffle each
    group first). Its i.i.d. option has no such coupling. Sampling is post-processing of
    the fitted model, so this costs no privacy and leaves the fit itself untouched.
    """
    from mbi import MarkovRandomField

    original = MarkovRandomField.synthetic_data

    def iid(self: Any, rows: int | None = None, method: str = "round") -> Any:
        return original(self, rows, method="sample")

    MarkovRandomField.synthetic_data = iid
    try:
        return synth.sample(n_rows)
    finally:
        MarkovRandomField.synthetic_data = original


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--synth", choices=["mst", "aim"], required=True)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--train", required=True, help="integer-coded training CSV")
    p.add_argument("--domain", required=True, help="public domain JSON {column: size}")
    p.add_argument("--out", required=True, help="where to write the synthetic CSV")
    p.add_argument("--timing", required=True, help="where to write the timing JSON")
    p.add_argument("--rows", type=int, default=None, help="rows to sample (default: train size)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter passed to Synthesizer.create (JSON value), repeatable",
    )
    p.add_argument(
        "--out-iid",
        default=None,
        help="also write a second sample of the same fitted model drawn with mbi's i.i.d. "
        "sampler (method='sample') instead of its default randomized rounding",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fit, sample, check the budget and the domain, write the outputs."""
    args = parse_args(argv)
    np.random.seed(args.seed)

    import snsynth
    from snsynth import Synthesizer
    from snsynth.utils import cdp_rho

    domain = _common.load_domain(args.domain)
    train = pd.read_csv(args.train)
    _common.check_codes(train, domain)
    n_rows = len(train) if args.rows is None else args.rows

    audit = BudgetAudit()
    install_audit(args.synth, audit)
    transformer = public_transformer(domain)
    base_mb = _common.peak_rss_mb()

    params = _common.parse_params(args.param)
    synth = Synthesizer.create(
        args.synth, epsilon=float(args.epsilon), delta=float(args.delta), **params
    )
    cpu0 = _common.cpu_seconds()
    t0 = time.perf_counter()
    synth.fit(train, transformer=transformer, preprocessor_eps=0.0)
    t1 = time.perf_counter()
    sample = synth.sample(n_rows)
    t2 = time.perf_counter()
    cpu1 = _common.cpu_seconds()
    peak_mb = _common.peak_rss_mb()

    if synth._transformer is not transformer:
        raise RuntimeError("the synthesizer replaced the public transformer")
    seen = [int(c) for c in synth._transformer.cardinality]
    if seen != list(domain.values()):
        raise RuntimeError(f"synthesizer domain {seen} differs from the public domain")
    if float(synth.epsilon) != float(args.epsilon):
        raise RuntimeError(f"epsilon left for training {synth.epsilon} != target {args.epsilon}")

    sample = pd.DataFrame(sample, columns=list(domain)).astype(np.int64)
    _common.check_codes(sample, domain)
    sample.to_csv(args.out, index=False)
    sample_iid_s = None
    if args.out_iid:
        t3 = time.perf_counter()
        second = pd.DataFrame(sample_iid(synth, n_rows), columns=list(domain)).astype(np.int64)
        sample_iid_s = time.perf_counter() - t3
        _common.check_codes(second, domain)
        second.to_csv(args.out_iid, index=False)

    import importlib.metadata as md

    timing = {
        "impl": "smartnoise-synth",
        "generator": args.synth,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "seed": args.seed,
        "rows": n_rows,
        "params": params,
        "fit_s": t1 - t0,
        "sample_s": t2 - t1,
        "wall_s": t2 - t0,
        "cpu_s": cpu1 - cpu0,
        "sample_iid_s": sample_iid_s,
        "base_mb": base_mb,
        "peak_mb": peak_mb,
        "epsilon_after_fit": float(synth.epsilon),
        "preprocessor_epsilon_spent": float(transformer.odometer.spent[0]),
        "domain_sizes": seen,
        "rho_target": float(cdp_rho(args.epsilon, args.delta)),
        "rho_spent": audit.rho,
        "gaussian_calls": audit.gaussian_calls,
        "exponential_calls": audit.exponential_calls,
        "versions": {
            "smartnoise-synth": md.version("smartnoise-synth"),
            "mbi": md.version("mbi"),
            "opendp": md.version("opendp"),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "snsynth_path": str(Path(snsynth.__file__).parent),
        },
    }
    _common.write_json(args.timing, timing)
    print(json.dumps({k: timing[k] for k in ("generator", "epsilon", "seed", "wall_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
