"""Fit smartnoise-synth's DPCTGAN or PATECTGAN on a text CSV; write a sample and a timing JSON.

Runs inside the reference environment (smartnoise-synth 1.0.8, opacus 0.14), never in
privsynth's, as one subprocess per fit started by ``bench/neural_benchmark.py``::

    .venv-ref/bin/python bench/neural_reference_runner.py --synth dpctgan --epsilon 10 \
        --delta 1e-9 --seed 0 --epochs 2 --train train.csv --schema schema.json \
        --out synth.csv --timing timing.json

Fairness with privsynth, which is given the public schema:

* smartnoise-synth otherwise builds its ``TableTransformer`` from the private data it is
  fitted on: ``TableTransformer.create`` infers the column types, each ``LabelTransformer``
  records the categories it sees, and ``MinMaxTransformer`` needs epsilon to estimate bounds.
  Here the transformer is built from the declared schema instead: one
  ``ChainTransformer([LabelTransformer(nullable), OneHotEncoder()])`` per categorical column
  and one ``MinMaxTransformer(lower, upper, nullable)`` per numeric column with the declared
  bounds, fitted on a *public* frame that holds exactly the declared category values (and a
  null in nullable columns, so that the one-hot code has a slot for it). A transformer that
  is already fitted is used as is by ``Synthesizer._get_train_data``; ``preprocessor_eps=0``.
  The runner asserts, for every fit, that every categorical column has exactly the declared
  categories (sorted, null last when nullable) and one-hot width, every numeric column the
  declared bounds, that the transformer's odometer spent nothing, that the synthesizer kept
  this transformer, and that its epsilon was not reduced by any preprocessing spend.
* Missing values: the schema's missing markers (``?`` in Adult) become ``None`` for the
  reference, i.e. the nullable LabelTransformer's own null category, the counterpart of the
  "missing" code of privsynth's Discretizer. In the sample, ``None`` is written back as the
  schema's first missing marker, exactly as privsynth's sample is written.
* Integer columns are rounded to the nearest integer after sampling (post-processing;
  privsynth's decoder emits integers too). Values are clipped to the declared bounds by
  MinMaxTransformer, as privsynth's Discretizer clips (``on_out_of_range: clip``).

Privacy reported by smartnoise-synth is recorded, not trusted (see bench/README.md):

* DPCTGAN: the opacus ``PrivacyEngine`` it creates is captured; its RDP accountant gives the
  epsilon after the last step (``eps_final``), next to the value DPCTGAN itself last logged in
  ``epsilon_list`` (computed at the *start* of the last epoch), the step count, sample rate
  and noise multiplier.
* PATECTGAN: ``moments_acc`` and ``pate`` are wrapped (behaviour unchanged) to accumulate the
  same moments PATECTGAN accumulates, so the epsilon after its last iteration can be computed
  by its own formula, and to count distinct teacher discriminators and unanimous votes.

Randomness: ``numpy.random.seed``, ``random.seed`` and ``torch.manual_seed`` are set to
``--seed``; but both Discriminator constructors call ``torch.manual_seed(0)``. PATECTGAN is
then reproducible (numpy drives its sampling and Laplace noise); DPCTGAN is not: opacus 0.14
reseeds torch's global generator from ``os.urandom`` when its PrivacyEngine is created and
draws the gradient noise from it.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SYNTHS = ("dpctgan", "patectgan")
NUMERIC_KINDS = ("integer", "continuous")


# --------------------------------------------------------------------------------------------
# Schema and data
# --------------------------------------------------------------------------------------------


def load_schema(path: str | Path) -> dict[str, Any]:
    """The public schema as privsynth's ``schema_to_dict`` writes it (JSON)."""
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    for col in schema["columns"]:
        if col["type"] not in ("categorical", *NUMERIC_KINDS):
            raise ValueError(f"column {col['name']!r}: type {col['type']!r} is not supported")
    return schema


def categories(col: dict[str, Any]) -> list[str]:
    """Declared values of a categorical column, plus its "other" label when it has one."""
    values = [str(v) for v in col["values"]]
    if col.get("on_unknown", "error") == "other":
        values.append(str(col.get("other_label", "__other__")))
    return values


def integer_range(col: dict[str, Any]) -> tuple[int, int]:
    """The integers a numeric column's declared bounds allow."""
    return math.ceil(col["lower"]), math.floor(col["upper"])


def encoding_plan(schema: dict[str, Any], integers: str) -> list[dict[str, Any]]:
    """How the reference encodes each column, decided from the public schema alone.

    Categorical columns: label + one-hot over the declared values (null last when nullable),
    as smartnoise-synth's "gan" style does. Numeric columns: ``MinMaxTransformer`` with the
    declared bounds, except integer columns that smartnoise-synth would itself treat as
    ordinal (label + one-hot) when ``integers`` is "auto": its ``TypeMap.infer_column_types``
    makes an integer column ordinal when it has fewer than 150 distinct values spanning less
    than 150; here the declared range stands in for the data's. ``integers`` "onehot" or
    "minmax" forces one encoding for every integer column.
    """
    plan = []
    for col in schema["columns"]:
        nullable = bool(col.get("nullable", False))
        entry: dict[str, Any] = {"name": col["name"], "kind": col["type"], "nullable": nullable}
        if col["type"] == "categorical":
            entry.update(encoding="onehot", values=categories(col))
        else:
            entry["bounds"] = [float(col["lower"]), float(col["upper"])]
            lo, hi = integer_range(col) if col["type"] == "integer" else (0, 0)
            onehot = col["type"] == "integer" and (
                integers == "onehot" or (integers == "auto" and hi - lo < 150)
            )
            if onehot:
                entry.update(encoding="onehot", values=list(range(lo, hi + 1)))
            else:
                entry["encoding"] = "minmax"
        if entry["encoding"] == "onehot":
            entry["size"] = len(entry["values"]) + nullable
        plan.append(entry)
    return plan


def read_private(path: str | Path, schema: dict[str, Any], plan: list[dict[str, Any]]):
    """Read the training CSV as text and type it by the schema.

    Missing markers become ``None``. Categorical values outside the declared set map to the
    "other" label where declared and raise otherwise. Numbers outside the declared bounds are
    clipped to them (raise with ``on_out_of_range: error``), as privsynth's Discretizer does;
    integer columns encoded one-hot become Python ints, the others floats.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    names = [c["name"] for c in schema["columns"]]
    if list(raw.columns) != names:
        raise ValueError(f"columns {list(raw.columns)} differ from the schema's {names}")
    markers = set(schema.get("missing_values", [""]))
    out = {}
    for col, entry in zip(schema["columns"], plan, strict=True):
        text = raw[col["name"]]
        missing = text.isin(markers).to_numpy()
        if missing.any() and not col.get("nullable", False):
            raise ValueError(f"column {col['name']!r} has missing values but is not nullable")
        if col["type"] == "categorical":
            declared = categories(col)
            values = text.to_numpy(dtype=object).copy()
            unknown = ~missing & ~text.isin(declared).to_numpy()
            if unknown.any():
                if col.get("on_unknown", "error") != "other":
                    bad = values[np.flatnonzero(unknown)[0]]
                    raise ValueError(f"column {col['name']!r}: undeclared value {bad!r}")
                values[unknown] = str(col.get("other_label", "__other__"))
            values[missing] = None
        else:
            numbers = pd.to_numeric(text.mask(missing), errors="raise").to_numpy(dtype=float)
            lo, hi = float(col["lower"]), float(col["upper"])
            outside = ~missing & ((numbers < lo) | (numbers > hi))
            if outside.any() and col.get("on_out_of_range", "clip") == "error":
                raise ValueError(f"column {col['name']!r}: values outside [{lo}, {hi}]")
            numbers = np.clip(numbers, lo, hi)
            if entry["encoding"] == "onehot":
                ilo, ihi = integer_range(col)
                ints = np.clip(np.rint(np.nan_to_num(numbers)), ilo, ihi).astype(np.int64)
                values = np.array([int(v) for v in ints], dtype=object)
            else:
                values = numbers.astype(object)
            values[missing] = None
        out[col["name"]] = pd.Series(values, dtype=object)
    return pd.DataFrame(out)


def public_frame(plan: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame built from the schema alone.

    A one-hot column holds each of its public values at least once (``None`` too when
    nullable, so that the one-hot encoder gets a slot for it); a MinMax column holds its
    declared bounds (MinMaxTransformer ignores them when the bounds are given).
    """
    columns: dict[str, list[Any]] = {}
    for entry in plan:
        vals = list(entry["values"]) if entry["encoding"] == "onehot" else list(entry["bounds"])
        if entry["nullable"]:
            vals = [*vals, None]
        columns[entry["name"]] = vals
    rows = max(len(v) for v in columns.values())
    return pd.DataFrame(
        {
            name: pd.Series([v[i % len(v)] for i in range(rows)], dtype=object)
            for name, v in columns.items()
        }
    )


def public_transformer(plan: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """A TableTransformer fitted on the public frame only, checked against the plan.

    Returns the transformer and, per column, what was verified.
    """
    from snsynth.transform import ChainTransformer, LabelTransformer, MinMaxTransformer
    from snsynth.transform.onehot import OneHotEncoder
    from snsynth.transform.table import TableTransformer

    transformers = []
    for entry in plan:
        if entry["encoding"] == "onehot":
            t = ChainTransformer([LabelTransformer(nullable=entry["nullable"]), OneHotEncoder()])
        else:
            lower, upper = entry["bounds"]
            t = MinMaxTransformer(lower=lower, upper=upper, nullable=entry["nullable"])
        transformers.append(t)
    transformer = TableTransformer(transformers)
    if transformer.needs_epsilon:
        raise RuntimeError("the public transformer would need epsilon to fit")
    transformer.fit(public_frame(plan), epsilon=0.0)
    return transformer, check_transformer(transformer, plan)


def check_transformer(transformer: Any, plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raise unless ``transformer`` encodes exactly the public plan and spent nothing.

    One-hot columns: exactly the public values (sorted, null last when nullable), cardinality
    and one-hot width = their number. MinMax columns: the declared bounds, no budget spent.
    Returns the plan entries as verified (without the value lists).
    """
    from snsynth.transform import ChainTransformer, MinMaxTransformer

    if not transformer.fit_complete or transformer.needs_epsilon:
        raise RuntimeError("the public transformer is not fitted, or still needs epsilon")
    spent = tuple(float(x) for x in transformer.odometer.spent)
    if spent != (0.0, 0.0):
        raise RuntimeError(f"the public transformer spent privacy budget: {spent}")
    checked = []
    width = 0
    for entry, t in zip(plan, transformer.transformers, strict=True):
        name = entry["name"]
        if entry["encoding"] == "onehot":
            if not isinstance(t, ChainTransformer):
                raise RuntimeError(f"{name}: not a label + one-hot chain")
            label, onehot = t.transformers
            want = sorted(entry["values"]) + ([None] if entry["nullable"] else [])
            if list(label.categories) != want:
                raise RuntimeError(f"{name}: categories {label.categories} != {want}")
            size = entry["size"]
            if label.cardinality != [size] or onehot.output_width != size:
                raise RuntimeError(
                    f"{name}: cardinality {label.cardinality}, one-hot width "
                    f"{onehot.output_width}, expected {size}"
                )
            width += size
        else:
            if not isinstance(t, MinMaxTransformer):
                raise RuntimeError(f"{name}: not a MinMaxTransformer")
            bounds = [float(t.fit_lower), float(t.fit_upper)]
            if bounds != entry["bounds"] or t.budget_spent:
                raise RuntimeError(f"{name}: bounds {bounds} are not the declared ones")
            if t.output_width != 1 + entry["nullable"]:
                raise RuntimeError(f"{name}: output width {t.output_width}")
            width += t.output_width
        checked.append({k: v for k, v in entry.items() if k != "values"})
    if transformer.output_width != width:
        raise RuntimeError(f"output width {transformer.output_width} != {width}")
    return checked


def to_text(sample: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """The decoded sample as text: ``None`` -> first missing marker, integers rounded."""
    marker = schema.get("missing_values", [""])[0]
    out = {}
    for col in schema["columns"]:
        values = sample[col["name"]].to_numpy(dtype=object)
        missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in values])
        text = np.empty(len(values), dtype=object)
        present = values[~missing]
        if col["type"] == "categorical":
            text[~missing] = [str(v) for v in present]
        elif col["type"] == "integer":
            lo, hi = integer_range(col)
            ints = np.clip(np.rint(present.astype(float)), lo, hi).astype(np.int64)
            text[~missing] = [str(v) for v in ints]
        else:
            text[~missing] = [repr(float(v)) for v in present]
        text[missing] = marker
        out[col["name"]] = text
    return pd.DataFrame(out)


def calibrate_sigma(epsilon: float, delta: float, n: int, batch_size: int, epochs: int) -> float:
    """Smallest DPCTGAN ``sigma`` whose own accountant ends at or below ``epsilon``.

    DPCTGAN takes two opacus steps per iteration (fake, then real batch) and ``n //
    batch_size`` iterations per epoch; it accounts them with opacus's RDP of the Poisson
    subsampled Gaussian at rate ``batch_size / n`` over the orders below (dpctgan.py).
    """
    from opacus import privacy_analysis

    alphas = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    q = batch_size / n
    steps = 2 * max(n // batch_size, 1) * epochs

    def eps_of(sigma: float) -> float:
        rdp = privacy_analysis.compute_rdp(q, sigma, steps, alphas)
        return float(privacy_analysis.get_privacy_spent(alphas, rdp, delta)[0])

    lo, hi = 0.05, 1.0
    while eps_of(hi) > epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError(f"no sigma reaches epsilon {epsilon} at delta {delta}")
    if eps_of(lo) <= epsilon:
        return lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if eps_of(mid) <= epsilon else (mid, hi)
    return hi


# --------------------------------------------------------------------------------------------
# Privacy as the reference accounts it
# --------------------------------------------------------------------------------------------


class PrivacyAudit:
    """Records the privacy accounting state of a DPCTGAN or PATECTGAN fit (behaviour unchanged)."""

    def __init__(self) -> None:
        self.engines: list[Any] = []
        self.moment_calls = 0
        self.alphas: Any = None
        self.l_list: Any = None
        self.eps_history: list[float] = []
        self.delta: float | None = None
        self.pate_calls = 0
        self.teachers: int | None = None
        self.distinct_teachers: int | None = None
        self.votes = 0
        self.unanimous_votes = 0

    def install(self, synth: str, delta: float) -> None:
        """Patch the module of ``synth`` so its accounting goes through this audit."""
        self.delta = delta
        if synth == "dpctgan":
            import opacus

            audit = self
            base = opacus.PrivacyEngine

            class RecordingPrivacyEngine(base):  # type: ignore[misc, valid-type]
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    super().__init__(*args, **kwargs)
                    audit.engines.append(self)

            # dpctgan.py calls ``opacus.PrivacyEngine(...)``, looked up at call time.
            opacus.PrivacyEngine = RecordingPrivacyEngine
        elif synth == "patectgan":
            import snsynth.pytorch.nn.patectgan as module

            module.moments_acc = self._moments(module.moments_acc)
            module.pate = self._pate(module.pate)
        else:
            raise ValueError(f"unknown synthesizer {synth!r}")

    def _moments(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(num_teachers: int, votes: Any, lap_scale: float, l_list: Any, **kw: Any):
            out = fn(num_teachers, votes, lap_scale, l_list, **kw)
            self.alphas = out.clone() if self.alphas is None else self.alphas + out
            self.l_list = l_list
            self.moment_calls += 1
            self.eps_history.append(self.epsilon())
            v = votes.detach().cpu().numpy().ravel()
            self.votes += v.size
            self.unanimous_votes += int(np.sum((v == 0) | (v == num_teachers)))
            return out

        return wrapped

    def _pate(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(data: Any, teachers: Any, lap_scale: float, **kw: Any) -> Any:
            self.pate_calls += 1
            self.teachers = len(teachers)
            self.distinct_teachers = len({id(t) for t in teachers})
            return fn(data, teachers, lap_scale, **kw)

        return wrapped

    def epsilon(self) -> float:
        """PATECTGAN's own conversion, ``min_l (alpha_l - log delta) / l``, of the moments so far."""
        if self.alphas is None:
            return 0.0
        alphas = self.alphas.detach().cpu().numpy().astype(float)
        orders = np.asarray(self.l_list.detach().cpu().numpy(), dtype=float)
        return float(np.min((alphas - math.log(self.delta)) / orders))

    def report(self, synth: str, model: Any) -> dict[str, Any]:
        """What the reference says it spent, and what its own accountant gives after training."""
        if synth == "dpctgan":
            if len(self.engines) != 1:
                raise RuntimeError(f"expected one opacus PrivacyEngine, saw {len(self.engines)}")
            engine = self.engines[0]
            eps_final, alpha = engine.get_privacy_spent(self.delta)
            logged = [float(e) for e in model.epsilon_list]
            return {
                "accountant": "opacus 0.14 RDP, sampled Gaussian (as if Poisson sampling)",
                "eps_reported": logged[-1] if logged else None,
                "eps_reported_note": "DPCTGAN's epsilon_list: epsilon computed at the start of "
                "each epoch, before that epoch's steps",
                "epsilon_list": logged,
                "eps_final": float(eps_final),
                "best_alpha": float(alpha),
                "steps": int(engine.steps),
                "sample_rate": float(engine.sample_rate),
                "noise_multiplier": float(engine.noise_multiplier),
                "max_grad_norm": float(engine.max_grad_norm),
                "epochs_run": len(model.loss_d_list),
                "steps_per_epoch": int(engine.steps) // max(len(model.loss_d_list), 1),
            }
        iterations = self.moment_calls // max(int(model.student_iters), 1)
        reported = None
        if iterations:
            k = (iterations - 1) * int(model.student_iters)
            reported = self.eps_history[k - 1] if k > 0 else 0.0
        return {
            "accountant": "PATECTGAN's moments accountant (privacy_utils.moments_acc)",
            "eps_reported": reported,
            "eps_reported_note": "the last epsilon PATECTGAN compared with its budget before "
            "training an iteration (computed before that iteration's queries)",
            "eps_final": self.epsilon(),
            "iterations": iterations,
            "student_queries": self.votes,
            "num_teachers": self.teachers,
            "distinct_teacher_modules": self.distinct_teachers,
            "unanimous_vote_fraction": self.unanimous_votes / self.votes if self.votes else None,
            "noise_multiplier": float(model.noise_multiplier),
        }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--synth", choices=SYNTHS, required=True)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--train", required=True, help="training CSV (text, schema columns)")
    p.add_argument("--schema", required=True, help="public schema JSON (privsynth format)")
    p.add_argument("--out", required=True, help="where to write the synthetic CSV")
    p.add_argument("--timing", required=True, help="where to write the timing JSON")
    p.add_argument("--rows", type=int, default=None, help="rows to sample (default: train size)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs (DPCTGAN; PATECTGAN ignores it); default: smartnoise-synth's",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter passed to Synthesizer.create (JSON value), repeatable",
    )
    p.add_argument(
        "--integers",
        choices=("auto", "onehot", "minmax"),
        default="auto",
        help="encoding of integer columns: 'auto' = smartnoise-synth's own rule (one-hot "
        "when the declared range spans fewer than 150 values, else MinMax)",
    )
    p.add_argument(
        "--calibrate-sigma",
        action="store_true",
        help="DPCTGAN: set sigma so that its own accountant reaches epsilon after --epochs "
        "(by default sigma is smartnoise-synth's 5, whatever epsilon)",
    )
    args = p.parse_args(argv)
    if args.calibrate_sigma and (args.synth != "dpctgan" or args.epochs is None):
        p.error("--calibrate-sigma needs --synth dpctgan and --epochs")
    return args


def main(argv: list[str] | None = None) -> int:
    """Fit, sample, check the public encoding, record the accounting, write the outputs."""
    args = parse_args(argv)
    np.random.seed(args.seed)
    random.seed(args.seed)

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    import snsynth
    from snsynth import Synthesizer

    schema = load_schema(args.schema)
    plan = encoding_plan(schema, args.integers)
    train = read_private(args.train, schema, plan)
    n_rows = len(train) if args.rows is None else args.rows

    audit = PrivacyAudit()
    audit.install(args.synth, args.delta)
    transformer, checked = public_transformer(plan)
    base_mb = _common.peak_rss_mb()

    params = _common.parse_params(args.param)
    if args.epochs is not None and args.synth == "dpctgan":
        # PATECTGAN accepts ``epochs`` but never reads it: it trains until its accountant
        # reaches epsilon (patectgan.py, ``while eps.item() < self.epsilon``).
        params.setdefault("epochs", args.epochs)
    calibrated = None
    if args.calibrate_sigma:
        # Public inputs only, except n (the row count), which DPCTGAN itself uses unnoised
        # for its sample rate.
        calibrated = calibrate_sigma(
            args.epsilon, args.delta, len(train), int(params.get("batch_size", 500)), args.epochs
        )
        params["sigma"] = calibrated
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
    check_transformer(transformer, plan)
    if float(synth.epsilon) != float(args.epsilon):
        raise RuntimeError(f"epsilon left for training {synth.epsilon} != target {args.epsilon}")

    frame = to_text(pd.DataFrame(sample), schema)
    if len(frame) != n_rows:
        raise RuntimeError(f"sampled {len(frame)} rows, asked for {n_rows}")
    frame.to_csv(args.out, index=False)

    import importlib.metadata as md

    privacy = audit.report(args.synth, synth)
    settings = {
        k: getattr(synth, a)
        for k, a in (
            ("epochs", "_epochs"),
            ("batch_size", "_batch_size"),
            ("sigma", "sigma"),
            ("noise_multiplier", "noise_multiplier"),
            ("max_per_sample_grad_norm", "max_per_sample_grad_norm"),
            ("teacher_iters", "teacher_iters"),
            ("student_iters", "student_iters"),
            ("sample_per_teacher", "sample_per_teacher"),
            ("loss", "loss"),
            ("pac", "pac"),
            ("embedding_dim", "_embedding_dim"),
            ("generator_dim", "_generator_dim"),
            ("discriminator_dim", "_discriminator_dim"),
        )
        if hasattr(synth, a) and not (args.synth == "patectgan" and k == "epochs")
    }
    settings["integers"] = args.integers
    timing = {
        "impl": "smartnoise-synth",
        "generator": args.synth,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "seed": args.seed,
        "rows": n_rows,
        "params": params,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "fit_s": t1 - t0,
        "sample_s": t2 - t1,
        "wall_s": t2 - t0,
        "cpu_s": cpu1 - cpu0,
        "base_mb": base_mb,
        "peak_mb": peak_mb,
        "torch_threads": torch.get_num_threads(),
        "epsilon_after_fit": float(synth.epsilon),
        "preprocessor_epsilon_spent": float(transformer.odometer.spent[0]),
        "integers": args.integers,
        "sigma_calibrated": calibrated,
        "public_columns": checked,
        "privacy": privacy,
        "versions": {
            "smartnoise-synth": md.version("smartnoise-synth"),
            "opacus": md.version("opacus"),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "snsynth_path": str(Path(snsynth.__file__).parent),
        },
    }
    _common.write_json(args.timing, timing)
    print(
        json.dumps(
            {
                "generator": args.synth,
                "epsilon": args.epsilon,
                "seed": args.seed,
                "wall_s": timing["wall_s"],
                "eps_final": privacy["eps_final"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
