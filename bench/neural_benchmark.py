"""Benchmark privsynth's deep generators against smartnoise-synth's DPCTGAN and PATECTGAN.

UCI Adult with its mixed types (integer and categorical columns, missing values), described by
the hand-declared public schema ``src/privsynth/data/adult.yaml``. Every fit runs in its own
single-threaded subprocess (pinned to one CPU with ``taskset`` when available), one at a time:

* privsynth: ``privsynth.synthesizer.fit_table(train, schema, generator=NAME, epsilon=eps,
  delta=delta, rng=numpy.random.default_rng(seed), params=...)`` then
  ``.sample(n_train, rng=rng)``, in this interpreter's environment (``_child`` subcommand);
* smartnoise-synth: ``bench/neural_reference_runner.py`` under ``--ref-python``, given the
  same public schema (categories and bounds), nothing learnt from the data, no preprocessing
  budget; see that file and bench/README.md.

Both samples are written as text with the schema's missing marker and scored here by
privsynth's own ``evaluate(train, synth, schema, test=test, seed=0)``:

* ``tvd1`` / ``tvd2`` / ``tvd3``: mean total variation distance over every 1-, 2- and 3-way
  marginal of the schema's public bins (missing is a bin), synthetic vs the training table;
* ``auc``: train on synthetic, test on real: ROC AUC on ``adult_test.csv`` of
  ``HistGradientBoostingClassifier(random_state=0)`` predicting ``income`` (positive class
  ``>50K``) from the other columns, trained on 80 % of the synthetic rows (evaluate's fixed
  split);
* ``wall_s``: fit plus sampling seconds inside the child; ``peak_mb``: the child's peak
  resident set size after fit plus sampling (imports included; ``base_mb`` is the peak before
  fitting).

Full run (writes bench/results/neural_adult.json and .md)::

    python bench/neural_benchmark.py --ref-python .venv-ref/bin/python

Smoke run::

    python bench/neural_benchmark.py --impls privsynth --generators independent --eps 1 \\
        --seeds 0 --out-json /tmp/neural.json --out-md /tmp/neural.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

OURS = "privsynth"
REFERENCE = "smartnoise-synth"
IMPLS = (OURS, REFERENCE)
REF_GENERATORS = ("dpctgan", "patectgan")
OUR_GENERATORS = ("dpgan", "dpgan-laplace", "dpcvae", "dpvae-mixture", "pategan")

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_TRAIN = SHARED_DATASETS / "adult_train.csv"
DEFAULT_TEST = SHARED_DATASETS / "adult_test.csv"
DEFAULT_SCHEMA = REPO_ROOT / "src" / "privsynth" / "data" / "adult.yaml"
DEFAULT_JSON = BENCH_DIR / "results" / "neural_adult.json"
DEFAULT_MD = BENCH_DIR / "results" / "neural_adult.md"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "privsynth-neural-adult"

#: Seed of ``evaluate`` (classifier and synthetic 80/20 split), the same for every fit.
EVAL_SEED = 0

# Relative slack when checking that a fit stayed within its epsilon.
_EPS_RTOL = 1e-6


def _ensure_privsynth_importable() -> None:
    """Make ``import privsynth`` work from a source checkout without installing it."""
    try:
        import privsynth  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT / "src"))


def _default_ref_python() -> str:
    env = os.environ.get("PRIVSYNTH_REF_PYTHON")
    if env:
        return env
    return str(REPO_ROOT / ".venv-ref" / "bin" / "python")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def normalise(df: pd.DataFrame, label: str | None) -> tuple[pd.DataFrame, dict[str, int]]:
    """Undo the quirks of UCI's raw Adult files, counting every change.

    * surrounding whitespace is stripped from every cell (``adult.data`` puts a space after
      each comma);
    * rows whose first cell starts with ``|`` are dropped (``adult.test`` opens with the
      line ``|1x3 Cross validator``);
    * a trailing ``.`` is stripped from the label (``adult.test`` writes ``>50K.``).

    The copies in shared/datasets are already clean (all counts 0), so this only guards
    against a raw UCI file being passed with ``--train`` / ``--test``.
    """
    out = df.copy()
    changes = {"cells_stripped": 0, "junk_rows_dropped": 0, "labels_dot_stripped": 0}
    for col in out.columns:
        stripped = out[col].str.strip()
        changes["cells_stripped"] += int((stripped != out[col]).sum())
        out[col] = stripped
    junk = out.iloc[:, 0].str.startswith("|").to_numpy()
    changes["junk_rows_dropped"] = int(junk.sum())
    out = out.loc[~junk].reset_index(drop=True)
    if label is not None and label in out.columns:
        dotted = out[label].str.endswith(".").to_numpy()
        changes["labels_dot_stripped"] = int(dotted.sum())
        out.loc[dotted, label] = out.loc[dotted, label].str[:-1]
    return out, changes


def load_table(path: Path, schema: Any, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a CSV as text, normalise it and check that the schema encodes it."""
    from privsynth.tables import check_columns, read_table
    from privsynth.transforms.discretize import Discretizer

    df, changes = normalise(read_table(path), schema.label)
    df = check_columns(df, schema, name).reset_index(drop=True)
    _, report = Discretizer(schema).encode(df, name)
    info = {"path": str(path), "rows": len(df), "normalised": changes}
    info["encoding"] = {k: dict(v) for k, v in report.changes.items()}
    return df, info


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Child: one privsynth fit (runs in a subprocess of the driver)
# --------------------------------------------------------------------------------------------


def _ledger_summary(ledger: Any) -> dict[str, Any]:
    """Epsilon spent and a compact view of the entries of a privsynth ledger."""
    out: dict[str, Any] = {
        "epsilon_budget": float(ledger.epsilon_budget),
        "delta": float(ledger.delta),
        "composition": getattr(ledger, "composition", "zcdp"),
        "rho_spent": float(ledger.rho_spent),
        "entries": len(ledger.entries),
    }
    try:
        out["epsilon_spent"] = float(ledger.epsilon())
    except Exception as exc:  # noqa: BLE001 - the ledger API is still moving; keep the run
        from privsynth.privacy.accountant import zcdp_to_epsilon

        out["epsilon_spent"] = float(zcdp_to_epsilon(ledger.rho_spent, ledger.delta))
        out["epsilon_note"] = f"ledger.epsilon() failed ({exc!r}); zCDP conversion used"
    labels: dict[str, int] = {}
    for entry in ledger.entries:
        labels[entry.label] = labels.get(entry.label, 0) + 1
    out["labels"] = labels
    return out


def child_main(argv: Sequence[str]) -> int:
    """Fit one privsynth generator through ``fit_table``; write the sample and a timing JSON."""
    p = argparse.ArgumentParser(prog="neural_benchmark.py _child")
    p.add_argument("--synth", required=True)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timing", required=True)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(list(argv))

    _ensure_privsynth_importable()
    from privsynth.schema.io import load_schema
    from privsynth.synthesizer import fit_table
    from privsynth.tables import read_table

    schema = load_schema(args.schema)
    train = read_table(args.train)
    n_rows = len(train) if args.rows is None else args.rows
    params = _common.parse_params(args.param)
    rng = np.random.default_rng(args.seed)
    base_mb = _common.peak_rss_mb()

    cpu0 = _common.cpu_seconds()
    t0 = time.perf_counter()
    synth, _ = fit_table(
        train,
        schema,
        generator=args.synth,
        epsilon=args.epsilon,
        delta=args.delta,
        rng=rng,
        params=params,
    )
    t1 = time.perf_counter()
    sample = synth.sample(n_rows, rng=rng)
    t2 = time.perf_counter()
    cpu1 = _common.cpu_seconds()
    peak_mb = _common.peak_rss_mb()

    from privsynth.evaluate.inputs import as_text

    as_text(sample, schema).to_csv(args.out, index=False)

    import importlib.metadata as md

    versions = {"numpy": np.__version__, "pandas": pd.__version__}
    torch_threads = None
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        versions["torch"] = torch.__version__
        torch_threads = torch.get_num_threads()
    for dist in ("privsynth", "opacus", "dp-accounting"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[dist] = md.version(dist)
    timing = {
        "impl": OURS,
        "generator": args.synth,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "seed": args.seed,
        "rows": n_rows,
        "params": params,
        "settings": synth.config,
        "fit_s": t1 - t0,
        "sample_s": t2 - t1,
        "wall_s": t2 - t0,
        "cpu_s": cpu1 - cpu0,
        "base_mb": base_mb,
        "peak_mb": peak_mb,
        "torch_threads": torch_threads,
        "ledger": _ledger_summary(synth.ledger),
        "versions": versions,
    }
    _common.write_json(args.timing, timing)
    return 0


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the driver."""
    p = argparse.ArgumentParser(
        description="privsynth deep generators vs smartnoise-synth DPCTGAN / PATECTGAN on "
        "UCI Adult.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="training CSV (text)")
    p.add_argument("--test", type=Path, default=DEFAULT_TEST, help="test CSV for TSTR")
    p.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA, help="public schema")
    p.add_argument("--eps", type=float, nargs="+", default=[1.0, 10.0], help="epsilons")
    p.add_argument("--delta", type=float, default=1e-9)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--generators",
        nargs="+",
        default=[*OUR_GENERATORS, *REF_GENERATORS],
        help=f"generator names; {' and '.join(REF_GENERATORS)} are smartnoise-synth's, any "
        "other name is a registered privsynth generator",
    )
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument(
        "--ref-python",
        default=_default_ref_python(),
        help="python of the smartnoise-synth environment (env PRIVSYNTH_REF_PYTHON)",
    )
    p.add_argument(
        "--ref-epochs",
        type=int,
        default=2,
        help="DPCTGAN epochs (smartnoise-synth's default is 300); PATECTGAN has no epoch "
        "count: it trains until its accountant reaches epsilon",
    )
    p.add_argument(
        "--ref-integers",
        choices=("auto", "onehot", "minmax"),
        default="auto",
        help="reference encoding of integer columns: 'auto' applies smartnoise-synth's own "
        "rule to the declared bounds (one-hot when they span fewer than 150 values, else "
        "MinMax with the declared bounds)",
    )
    p.add_argument(
        "--ref-calibrate-sigma",
        action="store_true",
        help="give DPCTGAN the sigma with which its own accountant reaches epsilon after "
        "--ref-epochs (default: smartnoise-synth's sigma=5, which spends far less)",
    )
    p.add_argument(
        "--cpu",
        default="0",
        help="CPU list for 'taskset -c' (same for every fit); 'none' disables pinning",
    )
    p.add_argument("--timeout", type=float, default=0.0, help="seconds per fit, 0 = none")
    p.add_argument(
        "--ours-param",
        action="append",
        default=[],
        metavar="GEN.KEY=VALUE",
        help="hyperparameter of privsynth generator GEN (JSON value), e.g. dpgan.epochs=5; "
        "repeatable; default: the generators' defaults",
    )
    p.add_argument(
        "--ref-param",
        action="append",
        default=[],
        metavar="GEN.KEY=VALUE",
        help="keyword for smartnoise-synth's Synthesizer.create(GEN, ...), e.g. "
        "dpctgan.sigma=2; repeatable; default: smartnoise-synth's defaults",
    )
    p.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    p.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK,
        help="split, schema, every sample, timing JSON and log of every fit",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip fits whose timing JSON and sample already exist in --work-dir (same "
        "settings: the file names carry a hash of them); they are scored again",
    )
    p.add_argument(
        "--report-only", action="store_true", help="only rewrite --out-md from --out-json"
    )
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        metavar="JSON",
        help="merge the runs of these result files (later files win on the same fit) into "
        "--out-json and --out-md, then stop",
    )
    args = p.parse_args(argv)
    args.params = {OURS: {}, REFERENCE: {}}
    for impl, items in ((OURS, args.ours_param), (REFERENCE, args.ref_param)):
        for item in items:
            gen, dot, rest = item.partition(".")
            if not dot or "=" not in rest:
                p.error(f"expected GEN.KEY=VALUE, got {item!r}")
            args.params[impl].setdefault(gen, []).append(rest)
    return args


def impl_of(generator: str) -> str:
    """The implementation a generator name belongs to."""
    return REFERENCE if generator in REF_GENERATORS else OURS


def _run_child(
    cmd: list[str], *, env: dict[str, str], log_path: Path, timeout: float
) -> tuple[int, float, float]:
    """Run ``cmd``; return (exit code, wall seconds, peak RSS MiB of that child)."""
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        timer: threading.Timer | None = None
        if timeout > 0:
            timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, elapsed, usage.ru_maxrss / 1024.0


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def fit_settings(
    impl: str, generator: str, eps: float, seed: int, args: argparse.Namespace, data_id: str
) -> dict[str, Any]:
    """Everything that determines a fit; its hash names the fit's files in the work dir."""
    settings: dict[str, Any] = {
        "impl": impl,
        "generator": generator,
        "eps": float(eps),
        "delta": float(args.delta),
        "seed": int(seed),
        "params": args.params[impl].get(generator, []),
        "data": data_id,
    }
    if impl == REFERENCE:
        settings["integers"] = args.ref_integers
        if generator == "dpctgan":
            settings["epochs"] = args.ref_epochs
            settings["calibrate_sigma"] = bool(args.ref_calibrate_sigma)
    return settings


def run_fit(
    settings: dict[str, Any],
    *,
    args: argparse.Namespace,
    train_path: Path,
    schema_path: Path,
    schema_json: Path,
    work: Path,
) -> tuple[dict[str, Any], Path, str]:
    """Fit in a subprocess (or reuse the files of an identical earlier fit with --resume).

    Returns (record without metrics, sample path, note).
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    impl, gen, eps, seed = (settings[k] for k in ("impl", "generator", "eps", "seed"))
    tag = f"{impl}_{gen}_eps{eps:g}_seed{seed}_{digest}"
    out, timing_path, log_path = (work / f"{tag}.csv", work / f"{tag}.json", work / f"{tag}.log")
    record: dict[str, Any] = {
        "generator": gen,
        "impl": impl,
        "eps": eps,
        "delta": settings["delta"],
        "seed": seed,
        "tag": tag,
    }
    if args.resume and timing_path.exists() and out.exists():
        timing = json.loads(timing_path.read_text(encoding="utf-8"))
        record.update(status="ok", timing=timing, proc_wall_s=None, proc_peak_mb=None)
        return record, out, "reused"
    for stale in (out, timing_path):
        stale.unlink(missing_ok=True)

    common = [
        "--synth",
        gen,
        "--epsilon",
        repr(float(eps)),
        "--delta",
        repr(float(args.delta)),
        "--seed",
        str(seed),
        "--train",
        str(train_path),
        "--out",
        str(out),
        "--timing",
        str(timing_path),
    ]
    for item in settings["params"]:
        common += ["--param", item]
    env = _common.single_thread_env()
    if impl == OURS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_child", *common]
        cmd += ["--schema", str(schema_path)]
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
    else:
        cmd = [args.ref_python, str(BENCH_DIR / "neural_reference_runner.py"), *common]
        cmd += ["--schema", str(schema_json)]
        cmd += ["--integers", settings["integers"]]
        if "epochs" in settings:
            cmd += ["--epochs", str(settings["epochs"])]
        if settings.get("calibrate_sigma"):
            cmd += ["--calibrate-sigma"]
        env.pop("PYTHONPATH", None)
    cpu = None if str(args.cpu).lower() == "none" else args.cpu
    cmd = _common.pinned_command(cmd, cpu)
    code, proc_wall, proc_peak_mb = _run_child(
        cmd, env=env, log_path=log_path, timeout=args.timeout
    )
    if code != 0 or not timing_path.exists() or not out.exists():
        record.update(status="error", exit_code=code, proc_wall_s=proc_wall, error=_tail(log_path))
        return record, out, "error"
    timing = json.loads(timing_path.read_text(encoding="utf-8"))
    record.update(status="ok", timing=timing, proc_wall_s=proc_wall, proc_peak_mb=proc_peak_mb)
    return record, out, "ok"


def evaluation_metrics(
    train: pd.DataFrame, synth: pd.DataFrame, test: pd.DataFrame, schema: Any
) -> dict[str, Any]:
    """tvd1/2/3, TSTR AUC and a few extras from privsynth's ``evaluate``."""
    from privsynth.evaluate import evaluate

    result = evaluate(train, synth, schema, test=test, seed=EVAL_SEED)
    cell = result.efficacy.cell("synthetic", "real")
    auc = cell.metrics.get("roc_auc")
    out: dict[str, Any] = {
        "tvd1": result.marginals.mean(1),
        "tvd2": result.marginals.mean(2),
        "tvd3": result.marginals.mean(3),
        # A constant classifier (single class in the synthetic rows) ranks nothing: 0.5.
        "auc": 0.5 if auc is None else float(auc),
        "auc_note": cell.reasons.get("roc_auc"),
        "tstr_accuracy": cell.metrics.get("accuracy"),
        "tstr_f1": cell.metrics.get("f1"),
        "ks_mean": result.columns.mean_ks(),
        "synthetic_encoding": result.to_dict()["inputs"]["encoding_counts"].get("synthetic"),
    }
    worst = result.marginals.worst(3)
    if worst is not None:
        out["tvd3_worst"] = {"columns": list(worst.columns), "tvd": worst.tvd}
    return out


def _dp_accounting_check(privacy: dict[str, Any], delta: float) -> float | None:
    """Epsilon of DPCTGAN's own assumptions (Poisson-sampled Gaussian) via dp-accounting."""
    try:
        from dp_accounting import dp_event
        from dp_accounting.rdp import rdp_privacy_accountant as rdp
    except ImportError:
        return None
    acc = rdp.RdpAccountant()
    event = dp_event.PoissonSampledDpEvent(
        privacy["sample_rate"], dp_event.GaussianDpEvent(privacy["noise_multiplier"])
    )
    acc.compose(event, int(privacy["steps"]))
    return float(acc.get_epsilon(delta))


def score(
    record: dict[str, Any],
    sample_path: Path,
    *,
    train: pd.DataFrame,
    test: pd.DataFrame,
    schema: Any,
) -> dict[str, Any]:
    """Metrics and checks of one successful fit."""
    from privsynth.tables import read_table
    from privsynth.transforms.discretize import Discretizer

    timing = record.pop("timing")
    synth = read_table(sample_path)
    record.update(evaluation_metrics(train, synth, test, schema))
    for key in ("wall_s", "fit_s", "sample_s", "cpu_s", "peak_mb", "base_mb", "rows"):
        record[key] = timing[key]
    for key in ("params", "settings", "torch_threads", "versions"):
        if key in timing:
            record[key] = timing[key]
    eps = float(record["eps"])
    if record["impl"] == OURS:
        ledger = timing["ledger"]
        record["ledger"] = ledger
        record["eps_spent"] = ledger["epsilon_spent"]
        record["budget_ok"] = ledger["epsilon_spent"] <= eps * (1 + _EPS_RTOL)
        record["public_schema_ok"] = True  # fit_table encodes through the schema only
        return record
    privacy = dict(timing["privacy"])
    if record["generator"] == "dpctgan":
        privacy["eps_final_dp_accounting"] = _dp_accounting_check(privacy, record["delta"])
    record["privacy"] = privacy
    record["eps_spent"] = privacy["eps_final"]
    record["eps_reported"] = privacy["eps_reported"]
    # Within budget by its own accountant, taking its sampling assumptions at face value.
    record["budget_ok"] = privacy["eps_final"] <= eps * (1 + _EPS_RTOL)
    record["public_columns"] = timing["public_columns"]
    record["public_schema_ok"] = (
        _public_columns_ok(timing["public_columns"], schema, Discretizer(schema).domain)
        and timing["preprocessor_epsilon_spent"] == 0.0
        and float(timing["epsilon_after_fit"]) == eps
    )
    return record


def _public_columns_ok(columns: list[dict[str, Any]], schema: Any, domain: Any) -> bool:
    """Whether the reference's verified encoding is exactly the public schema.

    Categorical: one-hot over as many codes as privsynth's Discretizer has (declared values,
    "other", missing). Numeric: the declared bounds; one-hot integers over every integer
    between them (plus missing when nullable).
    """
    if [c["name"] for c in columns] != list(schema.names):
        return False
    for entry, col in zip(columns, schema.columns, strict=True):
        if entry["kind"] != col.kind or entry["nullable"] != bool(col.nullable):
            return False
        if col.kind == "categorical":
            if entry["encoding"] != "onehot" or entry["size"] != domain[col.name]:
                return False
            continue
        if entry["bounds"] != [float(col.lower), float(col.upper)]:
            return False
        if entry["encoding"] == "onehot":
            span = math.floor(col.upper) - math.ceil(col.lower) + 1
            if col.kind != "integer" or entry["size"] != span + bool(col.nullable):
                return False
    return True


def baseline(train: pd.DataFrame, test: pd.DataFrame, schema: Any) -> dict[str, Any]:
    """Reference points without privacy.

    ``auc_real_train``: the TSTR classifier trained on the real training table.
    ``tvd*_bootstrap``: the TVDs of a bootstrap resample of the training table of the same size
    (``default_rng(0)``), the sampling-noise floor of a perfect generator drawing n rows.
    """
    from privsynth.evaluate import evaluate

    rows = np.random.default_rng(0).integers(0, len(train), size=len(train))
    boot = train.iloc[rows].reset_index(drop=True)
    result = evaluate(train, boot, schema, test=test, seed=EVAL_SEED)
    return {
        "auc_real_train": result.efficacy.cell("real", "real").metrics["roc_auc"],
        "auc_bootstrap": result.efficacy.cell("synthetic", "real").metrics["roc_auc"],
        "tvd1_bootstrap": result.marginals.mean(1),
        "tvd2_bootstrap": result.marginals.mean(2),
        "tvd3_bootstrap": result.marginals.mean(3),
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def _fmt(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    mean, std = _mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in runs if r.get(key) is not None]


def _privacy_values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r["privacy"][key]) for r in runs if r.get("privacy", {}).get(key) is not None]


# Metric, its column title, digits, and whether lower is better.
_METRICS: tuple[tuple[str, str, int, bool], ...] = (
    ("tvd1", "tvd1", 4, True),
    ("tvd2", "tvd2", 4, True),
    ("tvd3", "tvd3", 4, True),
    ("auc", "TSTR AUC", 4, False),
    ("wall_s", "wall s", 1, True),
    ("peak_mb", "peak MB", 0, True),
)


def _ordered_generators(result: dict[str, Any], impl: str) -> list[str]:
    listed = [g for g in result["config"]["generators"] if impl_of(g) == impl]
    seen = sorted({r["generator"] for r in result["runs"] if r["impl"] == impl} - set(listed))
    return listed + seen


def render_markdown(result: dict[str, Any]) -> str:
    """Tables per epsilon (mean ± std over seeds), ratios to the best reference, checks."""
    runs = [r for r in result["runs"] if r.get("status") == "ok"]
    failed = [r for r in result["runs"] if r.get("status") != "ok"]
    machine = result["machine"]
    cfg = result["config"]
    base = result["baseline"]
    pinned = f", pinned with `taskset -c {cfg['cpu']}`" if cfg["cpu"] != "none" else ""
    tr, te = cfg["train"], cfg["test"]
    commands = result.get("commands") or [result["command"]]
    lines = [" ; ".join(f"`{c}`" for c in commands), ""]
    lines += [
        "# Deep generators on UCI Adult: privsynth vs smartnoise-synth (DPCTGAN, PATECTGAN)",
        "",
        f"- Date: {result['date']}",
        f"- Machine: {machine['cpu_count']} logical CPUs, {machine['cpu_model']}, "
        f"{machine['mem_gib']} GiB RAM, {machine['platform']}, Python {machine['python']}.",
        "- Each fit runs in its own subprocess, one thread (OMP/MKL/OpenBLAS thread settings = "
        f"1, torch intra-op threads 1){pinned}; the fits run one after another.",
        f"- Data: train `{tr['path']}` ({tr['rows']} rows), test `{te['path']}` ({te['rows']} "
        f"rows); normalisation (whitespace, UCI junk line, trailing '.' of labels): train "
        f"{tr['normalised']}, test {te['normalised']}. Public schema `{cfg['schema']}` "
        f"(declared, not read from data); missing marker {cfg['missing_values']} = a "
        "'missing' category for both implementations. Synthetic n = train rows.",
        f"- delta = {cfg['delta']:g}; seeds {cfg['seeds']}; cells are mean ± sample std over "
        f"seeds. Evaluation seed {cfg['eval_seed']} for every fit.",
    ]
    if REFERENCE in cfg["impls"]:
        sigma = (
            "sigma calibrated so that its own accountant reaches epsilon after these epochs"
            if cfg.get("ref_calibrate_sigma")
            else "its default sigma = 5 whatever epsilon"
        )
        lines.append(
            f"- Reference: smartnoise-synth {cfg.get('reference_version') or '?'}, "
            "`Synthesizer.create(name, epsilon=eps, delta=delta, ...)`, its defaults except "
            f"DPCTGAN `epochs={cfg['ref_epochs']}` ({sigma}); PATECTGAN has no epoch count: "
            "it trains until its accountant reaches epsilon. Given the public schema: a "
            "TableTransformer built from the declared categories and bounds (categorical: "
            "label + one-hot; integer columns: "
            f"`{cfg.get('ref_integers', 'minmax')}`, where `auto` is smartnoise-synth's own "
            "rule on the declared range: one-hot below 150 values, else MinMax with the "
            "declared bounds), fitted on public values only, `preprocessor_eps=0`, checked "
            "after every fit. DPCTGAN runs are not reproducible by seed (opacus reseeds torch "
            "from os.urandom)."
        )
    lines += [
        "- tvd1/2/3: mean TVD over all 1-, 2-, 3-way marginals of the schema's public bins, "
        "sample vs train. TSTR AUC: `HistGradientBoostingClassifier(random_state=0)` trained "
        "on 80 % of the sample (privsynth `evaluate`), ROC AUC on the test file, label "
        "`income`, positive `>50K`. wall: fit + sample seconds inside the child. peak: the "
        "child's peak RSS after fit + sample (MiB, imports included). eps spent: privsynth's "
        "ledger; for the reference, its own accountant after the last step (see below: its "
        "assumptions do not hold, so this is not a guarantee).",
        f"- Baselines without privacy: AUC trained on the real train table "
        f"{base['auc_real_train']:.4f}; a bootstrap resample of the train table (same n): "
        f"tvd1 {base['tvd1_bootstrap']:.4f}, tvd2 {base['tvd2_bootstrap']:.4f}, tvd3 "
        f"{base['tvd3_bootstrap']:.4f}, AUC {base['auc_bootstrap']:.4f}.",
    ]
    settings: dict[tuple[str, str], Any] = {}
    for r in runs:
        settings.setdefault((r["impl"], r["generator"]), r.get("settings") or r.get("params"))
    for (impl, gen), shown in sorted(settings.items()):
        text = json.dumps(shown, sort_keys=True) if shown else "defaults"
        lines.append(f"- Settings of {impl} `{gen}`: `{text}`.")

    by: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault((r["impl"], r["generator"], float(r["eps"])), []).append(r)
    epsilons = sorted({float(r["eps"]) for r in result["runs"]})
    ours_gens = _ordered_generators(result, OURS)
    ref_gens = _ordered_generators(result, REFERENCE)
    header = " | ".join(title for _, title, _, _ in _METRICS)
    for eps in epsilons:
        lines += [
            "",
            f"## epsilon = {eps:g}",
            "",
            f"| impl | generator | {header} | eps spent | runs |",
            "|---|---|" + "---|" * (len(_METRICS) + 2),
        ]
        for impl, gens in ((OURS, ours_gens), (REFERENCE, ref_gens)):
            for gen in gens:
                rs = by.get((impl, gen, eps), [])
                if not rs and not any(
                    r["impl"] == impl and r["generator"] == gen and float(r["eps"]) == eps
                    for r in failed
                ):
                    continue
                cells = " | ".join(_fmt(_values(rs, k), d) for k, _, d, _ in _METRICS)
                spent = _fmt(_values(rs, "eps_spent"), 3)
                lines.append(f"| {impl} | {gen} | {cells} | {spent} | {len(rs)} |")
        ref_here = {g: by.get((REFERENCE, g, eps), []) for g in ref_gens}
        ref_here = {g: rs for g, rs in ref_here.items() if rs}
        ours_here = {g: by.get((OURS, g, eps), []) for g in ours_gens}
        ours_here = {g: rs for g, rs in ours_here.items() if rs}
        if ref_here and ours_here:
            best: dict[str, tuple[str, float]] = {}
            for key, _, _, lower in _METRICS:
                means = {g: statistics.fmean(_values(rs, key)) for g, rs in ref_here.items()}
                pick = min(means, key=means.get) if lower else max(means, key=means.get)
                best[key] = (pick, means[pick])
            lines += [
                "",
                "Ratios ours / best reference (of the means; best = lowest TVD, wall and peak, "
                "highest AUC, over the reference generators at this epsilon; the best one is "
                "named in the header):",
                "",
                "| generator | "
                + " | ".join(f"{title} (vs {best[k][0]})" for k, title, _, _ in _METRICS)
                + " |",
                "|---|" + "---|" * len(_METRICS),
            ]
            for gen, rs in ours_here.items():
                cells = []
                for key, _, _, _ in _METRICS:
                    ref_mean = best[key][1]
                    ours = statistics.fmean(_values(rs, key))
                    cells.append(f"{ours / ref_mean:.2f}" if ref_mean else "—")
                lines.append(f"| {gen} | " + " | ".join(cells) + " |")

    ref_runs = [r for r in runs if r["impl"] == REFERENCE]
    if ref_runs:
        lines += [
            "",
            "## Reference privacy accounting",
            "",
            "What smartnoise-synth reports (`eps reported`: DPCTGAN's last `epsilon_list` "
            "entry, computed at the start of its last epoch; PATECTGAN's last epsilon checked "
            "before an iteration) against its own accountant after the last step (`eps "
            "final`), both at the run's delta and taking its assumptions at face value: "
            "Poisson sampling with rate batch/n for DPCTGAN (its batches are drawn with "
            "replacement through the conditional sampler), independent teachers for "
            "PATECTGAN (all its teachers are one module). For DPCTGAN the same assumptions "
            "are also accounted with dp-accounting's RDP accountant (more orders than "
            "opacus 0.14's, which stop at 63). See bench/README.md.",
            "",
            "| generator | eps target | eps reported | eps final | eps final, dp-accounting "
            "RDP | steps / iterations | noise | sample rate | distinct teachers | runs |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for gen in ref_gens:
            for eps in epsilons:
                rs = by.get((REFERENCE, gen, eps), [])
                if not rs:
                    continue
                count = "steps" if gen == "dpctgan" else "iterations"
                teachers = (
                    f"{_fmt(_privacy_values(rs, 'distinct_teacher_modules'), 0)} of "
                    f"{_fmt(_privacy_values(rs, 'num_teachers'), 0)}"
                    if gen == "patectgan"
                    else "—"
                )
                rate = _privacy_values(rs, "sample_rate")
                lines.append(
                    f"| {gen} | {eps:g} | {_fmt(_privacy_values(rs, 'eps_reported'), 3)} | "
                    f"{_fmt(_privacy_values(rs, 'eps_final'), 3)} | "
                    f"{_fmt(_privacy_values(rs, 'eps_final_dp_accounting'), 3)} | "
                    f"{_fmt(_privacy_values(rs, count), 0)} {count} | "
                    f"{_fmt(_privacy_values(rs, 'noise_multiplier'), 3)} | "
                    f"{_fmt(rate, 4) if rate else '—'} | {teachers} | {len(rs)} |"
                )

    flagged = [r for r in runs if not (r.get("budget_ok") and r.get("public_schema_ok"))]
    lines += [
        "",
        "Checks:",
        "",
        f"- {len(runs)} successful runs; in {len(runs) - len(flagged)} of them the epsilon "
        f"spent (privsynth: ledger; reference: its own accountant) is within the target "
        f"(relative slack {_EPS_RTOL:g}) and the generator was given exactly the public schema "
        "(reference: categories, one-hot widths and bounds of its transformer verified, zero "
        "preprocessing spend, epsilon not reduced).",
    ]
    for r in flagged:
        lines.append(
            f"  - {r['impl']} {r['generator']} eps={r['eps']:g} seed={r['seed']}: eps spent "
            f"{r.get('eps_spent', float('nan')):.6g}, public_schema_ok="
            f"{r.get('public_schema_ok')}"
        )
    for r in failed:
        err = (r.get("error") or "").strip().splitlines()
        lines.append(
            f"- FAILED {r['impl']} {r['generator']} eps={r['eps']:g} seed={r['seed']} "
            f"(exit {r.get('exit_code')}): {err[-1] if err else ''}"
        )
    return "\n".join(lines) + "\n"


def _key(r: dict[str, Any]) -> tuple[str, str, float, int]:
    return (r["impl"], r["generator"], float(r["eps"]), int(r["seed"]))


def merge(paths: Sequence[Path], command: str) -> dict[str, Any]:
    """Join the runs of several result files; config lists are united, the rest taken from
    the first file."""
    results = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    merged = dict(results[0])
    runs: dict[tuple[str, str, float, int], dict[str, Any]] = {}
    commands: list[str] = []
    cfg = dict(merged["config"])
    # Reference settings come from the first file that ran the reference.
    with_ref = [r for r in results if REFERENCE in r["config"]["impls"]]
    if with_ref:
        for key, value in with_ref[0]["config"].items():
            if key.startswith("ref") or key == "reference_version":
                cfg[key] = value
    for res in results:
        for r in res["runs"]:
            runs[_key(r)] = r
        commands += res.get("commands") or [res["command"]]
        for key in ("eps", "seeds", "generators", "impls"):
            cfg[key] = list(dict.fromkeys([*cfg[key], *res["config"][key]]))
    merged["config"] = cfg
    merged["runs"] = list(runs.values())
    merged["commands"] = [*commands, command]
    merged["command"] = command
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and write the JSON and markdown results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    if args.merge:
        result = merge(args.merge, command)
        _common.write_json(args.out_json, result)
        args.out_md.write_text(render_markdown(result), encoding="utf-8")
        return 0
    if args.report_only:
        result = json.loads(args.out_json.read_text(encoding="utf-8"))
        args.out_md.write_text(render_markdown(result), encoding="utf-8")
        return 0

    _ensure_privsynth_importable()
    from privsynth.schema.io import load_schema, schema_to_dict

    generators = [g for g in args.generators if impl_of(g) in args.impls]
    if not generators:
        sys.exit(f"no generator of {args.impls} among {args.generators}")
    ours = [g for g in generators if impl_of(g) == OURS]
    if ours:
        from privsynth.generators import REGISTRY, get_generator

        for g in ours:
            try:
                get_generator(g, **_common.parse_params(args.params[OURS].get(g)))
            except Exception as exc:  # noqa: BLE001 - report any lookup failure plainly
                sys.exit(
                    f"privsynth generator {g!r} unavailable ({exc}); registered: "
                    f"{', '.join(sorted(REGISTRY))}"
                )
    if any(impl_of(g) == REFERENCE for g in generators) and not Path(args.ref_python).exists():
        sys.exit(
            f"reference python {args.ref_python} not found: see bench/README.md "
            "or pass --ref-python"
        )

    schema = load_schema(args.schema)
    train, train_info = load_table(args.train, schema, "train")
    test, test_info = load_table(args.test, schema, "test")

    ref_version = None
    if any(impl_of(g) == REFERENCE for g in generators):
        ref_version = subprocess.run(
            [
                args.ref_python,
                "-c",
                "import importlib.metadata as m; print(m.version('smartnoise-synth'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    train_path = work / "train.csv"
    train.to_csv(train_path, index=False)
    schema_json = work / "schema.json"
    schema_json.write_text(json.dumps(schema_to_dict(schema), indent=2) + "\n", encoding="utf-8")
    data_id = hashlib.sha256(
        train_path.read_bytes() + schema_json.read_bytes() + args.schema.read_bytes()
    ).hexdigest()[:16]

    config = {
        "train": train_info,
        "test": test_info,
        "schema": str(args.schema),
        "schema_sha256": _sha256(args.schema),
        "missing_values": list(schema.missing_values),
        "label": schema.label,
        "delta": args.delta,
        "eps": args.eps,
        "seeds": args.seeds,
        "generators": generators,
        "impls": args.impls,
        "cpu": str(args.cpu),
        "timeout": args.timeout,
        "ref_epochs": args.ref_epochs,
        "ref_integers": args.ref_integers,
        "ref_calibrate_sigma": bool(args.ref_calibrate_sigma),
        "reference_version": ref_version,
        "params": args.params,
        "eval_seed": EVAL_SEED,
        "work_dir": str(work),
        "single_thread_env": _common.SINGLE_THREAD_ENV,
    }
    result: dict[str, Any] = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _common.machine_info(),
        "config": config,
        "baseline": baseline(train, test, schema),
        "runs": [],
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_md.parent.mkdir(parents=True, exist_ok=True)

    grid = [(g, e, s) for e in args.eps for g in generators for s in args.seeds]
    for n, (gen, eps, seed) in enumerate(grid, 1):
        impl = impl_of(gen)
        settings = fit_settings(impl, gen, eps, seed, args, data_id)
        record, sample_path, note = run_fit(
            settings,
            args=args,
            train_path=train_path,
            schema_path=args.schema,
            schema_json=schema_json,
            work=work,
        )
        if record["status"] == "ok":
            try:
                record = score(record, sample_path, train=train, test=test, schema=schema)
            except Exception as exc:  # noqa: BLE001 - keep the sweep going, report the error
                record.pop("timing", None)
                record.update(status="error", exit_code=None, error=f"scoring: {exc!r}")
        result["runs"].append(record)
        _common.write_json(args.out_json, result)
        args.out_md.write_text(render_markdown(result), encoding="utf-8")
        if record["status"] == "ok":
            summary = (
                f"tvd1={record['tvd1']:.4f} tvd2={record['tvd2']:.4f} "
                f"tvd3={record['tvd3']:.4f} auc={record['auc']:.4f} "
                f"wall={record['wall_s']:.1f}s peak={record['peak_mb']:.0f}MB "
                f"eps_spent={record['eps_spent']:.4g}"
            )
            if impl == REFERENCE:
                summary += f" eps_reported={record['eps_reported']}"
        else:
            summary = record.get("error", "")[-300:]
        print(
            f"[{n}/{len(grid)}] {impl} {gen} eps={eps:g} seed={seed} {note}: {summary}",
            flush=True,
        )
    failed = sum(r["status"] != "ok" for r in result["runs"])
    print(f"wrote {args.out_json} and {args.out_md}; {failed} failed run(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
