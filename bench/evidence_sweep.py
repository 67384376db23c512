"""The "Evidence" sweep: every generator x epsilon on four public datasets.

For every (dataset, generator, epsilon) cell, one fresh single-threaded subprocess (``_child``)
runs, under a wall-clock ``--timeout``:

1. ``privsynth.synthesizer.fit_table(train, schema, generator=G, epsilon=eps, delta=delta,
   rng=numpy.random.default_rng(seed), params=...)``, then ``.sample(len(train), rng=rng)``;
   fit + sample seconds and the child's peak RSS (``ru_maxrss``) are taken right after;
2. ``privsynth.evaluate.evaluate(train, sample, schema, test=holdout, seed=0, attacks=True,
   shadow=...)``: ``shadow`` is ``release_shadow(synth)`` (the shadow-model attack refits the
   release's own algorithm three times) for the marginal generators only; for the neural ones
   it is ``None`` (three more DP-SGD fits per cell would dominate the sweep), so their
   shadow-model attack is reported as skipped.

The child writes its fit record as soon as the fit is done, so a cell that times out during
the evaluation still reports its fit; a cell that times out is recorded with its elapsed time,
never dropped. The driver writes ``evidence.json`` after every cell (resumable: cells already
there are skipped unless ``--force``), ``evidence.md`` (one table set per dataset, headed by the
exact command) and ``evidence_error_vs_eps.svg`` (3-way TVD and 1 - TSTR ROC AUC against
epsilon, per generator and dataset).

Datasets (``--datasets-dir``, default ``../shared/datasets``; see its README.md):

* ``adult``: ``adult_train.csv`` to fit, ``adult_test.csv`` as holdout, the bundled public
  schema ``src/privsynth/data/adult.yaml``, label ``income``;
* ``adult_pgm``: ``adult_pgm.csv`` with a categorical schema built from the public domain file
  ``adult_pgm-domain.json`` only (codes ``0..size-1``), label ``income>50K``;
* ``bank_marketing``: ``bank_marketing.csv`` with the hand-declared
  ``bench/schemas/bank_marketing.yaml``, label ``y``;
* ``nist_national2019``: ``nist_national2019.csv`` with the hand-declared
  ``bench/schemas/nist_national2019.yaml``, label ``OWN_RENT``.

The last three are split 80/20 by ``numpy.random.default_rng(0).permutation(n)`` (the first
``int(0.8 n)`` permuted rows fit, the rest are the holdout), as ``bench/_common.py`` does.

Full sweep (writes bench/results/evidence.{json,md} and evidence_error_vs_eps.svg)::

    python bench/evidence_sweep.py

Smoke run (a couple of minutes; writes to $TMPDIR/privsynth-evidence-quick/)::

    python bench/evidence_sweep.py --quick
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import html
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
SCHEMA_DIR = BENCH_DIR / "schemas"
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_AUDIT = RESULTS_DIR / "audit.json"
ADULT_SCHEMA = REPO_ROOT / "src" / "privsynth" / "data" / "adult.yaml"
CONFTEST = REPO_ROOT / "tests" / "conftest.py"

JSON_NAME = "evidence.json"
MD_NAME = "evidence.md"
SVG_NAME = "evidence_error_vs_eps.svg"

DATASETS = ("adult", "adult_pgm", "bank_marketing", "nist_national2019")
#: Generators that get the shadow-model attack (their refits take seconds to minutes).
MARGINAL_GENERATORS = ("independent", "mst", "aim")
#: Preferred order of the generators in tables and plots; others follow alphabetically.
GENERATOR_ORDER = (
    "independent",
    "mst",
    "aim",
    "dpgan",
    "dpgan-laplace",
    "dpcvae",
    "dpvae-mixture",
    "pategan",
    "dpflow",
)
EPSILONS = (0.1, 1.0, 10.0)
DELTA = 1e-9
FIT_SEED = 0
#: Seed of ``evaluate`` (classifiers, splits, attack targets): the same for every cell.
EVAL_SEED = 0
DEFAULT_TIMEOUT = 1800.0

#: ``--quick``: rows of the training split and of the holdout, epsilons, timeout per cell.
QUICK_TRAIN_ROWS = 1500
QUICK_TEST_ROWS = 500
QUICK_EPSILONS = (1.0,)
QUICK_TIMEOUT = 300.0

ATTACKS = (
    "classifier",
    "density_ratio",
    "shadow_model",
    "attribute_inference",
    "distance_to_closest_record",
)
ATTACK_TITLES = {
    "classifier": "classifier",
    "density_ratio": "density ratio",
    "shadow_model": "shadow model",
    "attribute_inference": "attribute inf.",
    "distance_to_closest_record": "DCR",
}


def _ensure_privsynth_importable() -> None:
    """Make ``import privsynth`` work from a source checkout without installing it."""
    try:
        import privsynth  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT / "src"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fast_params() -> dict[str, dict[str, Any]]:
    """``FAST_NEURAL`` of tests/conftest.py, read as a literal (conftest is not imported)."""
    tree = ast.parse(CONFTEST.read_text(encoding="utf-8"))
    for node in tree.body:
        target = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target = node.target.id
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            first = node.targets[0]
            target = first.id if isinstance(first, ast.Name) else None
        if target == "FAST_NEURAL" and node.value is not None:
            value = ast.literal_eval(node.value)
            return {str(k): dict(v) for k, v in value.items()}
    raise RuntimeError(f"{CONFTEST}: no FAST_NEURAL literal found")


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A training split and a holdout (text, as ``read_table`` gives them) and their schema."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    schema: Any  # privsynth.schema.columns.Schema
    info: dict[str, Any] = field(default_factory=dict)


def _adult_pgm_schema(domain_path: Path) -> Any:
    """A categorical schema over codes ``0..size-1`` from the public domain file alone."""
    from privsynth.schema.io import schema_from_dict

    domain = _common.load_domain(domain_path)
    columns = [
        {"name": col, "type": "categorical", "values": [str(i) for i in range(size)]}
        for col, size in domain.items()
    ]
    return schema_from_dict(
        {
            "name": "adult_pgm",
            "label": "income>50K",
            "missing_values": [""],
            "columns": columns,
            "provenance": {
                "how": "declared",
                "source": f"built from the public domain file {domain_path.name} only",
            },
        },
        where=str(domain_path),
    )


def _split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    train, test = _common.split_train_test(df)
    how = (
        f"numpy.random.default_rng({_common.SPLIT_SEED}).permutation(n); the first "
        f"int({_common.TRAIN_FRACTION} * n) = {len(train)} permuted rows fit, the other "
        f"{len(test)} are the holdout"
    )
    return train, test, {"split": how}


def load_dataset(name: str, data_dir: Path) -> Dataset:
    """Read one dataset, split it, and check that its schema loads and matches the CSV."""
    from privsynth.schema.io import load_schema
    from privsynth.tables import check_columns, read_table
    from privsynth.transforms.discretize import Discretizer

    files: list[Path]
    if name == "adult":
        files = [data_dir / "adult_train.csv", data_dir / "adult_test.csv", ADULT_SCHEMA]
        schema = load_schema(ADULT_SCHEMA)
        train, test = read_table(files[0]), read_table(files[1])
        info: dict[str, Any] = {
            "split": f"{files[0].name} fits, {files[1].name} is the holdout",
            "schema_source": str(ADULT_SCHEMA.relative_to(REPO_ROOT)),
        }
    elif name == "adult_pgm":
        domain_path = data_dir / "adult_pgm-domain.json"
        files = [data_dir / "adult_pgm.csv", domain_path]
        schema = _adult_pgm_schema(domain_path)
        train, test, info = _split(read_table(files[0]))
        info["schema_source"] = (
            f"every column categorical over codes 0..size-1 of {domain_path.name} (built in "
            "evidence_sweep.py; nothing read from the rows)"
        )
    elif name in ("bank_marketing", "nist_national2019"):
        schema_path = SCHEMA_DIR / f"{name}.yaml"
        files = [data_dir / f"{name}.csv", schema_path]
        schema = load_schema(schema_path)
        train, test, info = _split(read_table(files[0]))
        info["schema_source"] = str(schema_path.relative_to(REPO_ROOT))
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    # The schema must name exactly the CSV's columns and encode every row (errors raise).
    train = check_columns(train, schema, f"{name} train").reset_index(drop=True)
    test = check_columns(test, schema, f"{name} holdout").reset_index(drop=True)
    disc = Discretizer(schema)
    info.update(
        files={str(p): _sha256(p) for p in files},
        label=schema.label,
        columns=len(schema.columns),
        domain_sizes=dict(zip(disc.domain.attributes, map(int, disc.domain.sizes), strict=True)),
        schema_check="loaded; columns equal the CSV header; every row encodes",
    )
    ds = Dataset(name, train, test, schema, info)
    record_encoding(ds)
    return ds


def record_encoding(ds: Dataset) -> None:
    """Encode both parts through the schema (raises on a value it refuses) and record the
    row counts and the per-column changes (clipped, mapped to other, missing) in ``ds.info``."""
    from privsynth.transforms.discretize import Discretizer

    disc = Discretizer(ds.schema)
    encoding = {}
    for part, frame in (("train", ds.train), ("holdout", ds.test)):
        _, report = disc.encode(frame, f"{ds.name} {part}")
        encoding[part] = {c: dict(v) for c, v in report.changes.items() if any(v.values())}
    ds.info.update(n_train=len(ds.train), n_test=len(ds.test), encoding_changes=encoding)


def quick_subset(ds: Dataset, n_train: int, n_test: int) -> Dataset:
    """A seeded random subset of both parts (``--quick``)."""
    train = ds.train.sample(n=min(n_train, len(ds.train)), random_state=0).reset_index(drop=True)
    test = ds.test.sample(n=min(n_test, len(ds.test)), random_state=0).reset_index(drop=True)
    info = dict(ds.info)
    info["quick"] = f"random subset (random_state=0) of {len(train)} train / {len(test)} holdout"
    small = Dataset(ds.name, train, test, ds.schema, info)
    record_encoding(small)
    return small


def bootstrap_floor(ds: Dataset) -> dict[str, float | None]:
    """Mean 1/2/3-way TVD of a bootstrap resample of the training split (sampling noise)."""
    from privsynth.evaluate.inputs import prepare
    from privsynth.evaluate.marginals import marginal_fidelity

    rows = np.random.default_rng(0).integers(0, len(ds.train), size=len(ds.train))
    boot = ds.train.iloc[rows].reset_index(drop=True)
    prepared = prepare({"real": ds.train, "synthetic": boot}, ds.schema)
    r, s = prepared.tables["real"], prepared.tables["synthetic"]
    fid = marginal_fidelity(r.codes, s.codes, prepared.domain, 3)
    return {f"tvd{k}_bootstrap": fid.mean(k) for k in (1, 2, 3)}


# --------------------------------------------------------------------------------------------
# Child: one cell (fit, sample, evaluate) in a subprocess
# --------------------------------------------------------------------------------------------


def _ledger_summary(ledger: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "epsilon_budget": float(ledger.epsilon_budget),
        "delta": float(ledger.delta),
        "composition": getattr(ledger, "composition", "zcdp"),
        "entries": len(ledger.entries),
    }
    try:
        out["epsilon_spent"] = float(ledger.epsilon())
    except Exception as exc:  # noqa: BLE001 - keep the cell; say why the number is missing
        out["epsilon_spent"] = None
        out["epsilon_note"] = f"ledger.epsilon() failed: {exc!r}"
    return out


def _attack_summary(attacks: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per attack: AUC, advantage and privacy loss with their CIs (no ROC curves)."""
    if not attacks:
        return {"attacks": {}, "skipped": {"all": "attacks did not run"}}
    keep = (
        "auc",
        "auc_ci",
        "advantage",
        "advantage_ci",
        "privacy_loss",
        "privacy_loss_ci",
        "n_members",
        "n_nonmembers",
        "evidence",
    )
    return {
        "attacks": {
            name: {k: a.get(k) for k in keep} for name, a in attacks.get("attacks", {}).items()
        },
        "skipped": dict(attacks.get("skipped", {})),
    }


def metrics_from_evaluation(data: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's numbers out of ``EvaluationResult.to_dict()``."""
    orders = data["marginals"]["orders"]
    out: dict[str, Any] = {}
    for k in (1, 2, 3):
        out[f"tvd{k}"] = orders.get(str(k), {}).get("mean_tvd")
    worst = orders.get("3", {}).get("worst")
    out["tvd3_worst"] = worst["tvd"] if worst else None
    out["tvd3_worst_columns"] = worst["columns"] if worst else None
    out["ks_mean"] = data["columns"].get("mean_ks")
    out["wasserstein_mean"] = (data.get("wasserstein") or {}).get("mean_wasserstein")
    det = data.get("detection") or {}
    out["detection_auc"] = det.get("roc_auc")
    out["detection_auc_se"] = det.get("roc_auc_se")
    eff = data["efficacy"]
    if "skipped" in eff:
        out["efficacy_skipped"] = eff["skipped"]
    else:
        tstr = eff["matrix"]["train_synthetic"]["test_real"]
        real = eff["matrix"]["train_real"]["test_real"]
        out.update(
            tstr_accuracy=tstr.get("accuracy"),
            tstr_f1=tstr.get("f1"),
            tstr_auc=tstr.get("roc_auc"),
            tstr_reasons=tstr.get("reasons"),
            trtr_accuracy=real.get("accuracy"),
            trtr_f1=real.get("f1"),
            trtr_auc=real.get("roc_auc"),
            accuracy_loss=eff.get("accuracy_loss"),
            efficacy_label=eff.get("label"),
            efficacy_averaging=eff.get("averaging"),
        )
    out["privacy_attacks"] = _attack_summary(data.get("attacks"))
    return out


def child_main(argv: Sequence[str]) -> int:
    """Fit, sample and evaluate one cell; write the fit record, then the full record."""
    p = argparse.ArgumentParser(prog="evidence_sweep.py _child")
    p.add_argument("--dir", type=Path, required=True, help="dataset folder of the work dir")
    p.add_argument("--generator", required=True)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--params", default="{}", help="generator hyperparameters as JSON")
    p.add_argument("--shadow", action="store_true", help="enable the shadow-model attack")
    p.add_argument("--fit-json", type=Path, required=True)
    p.add_argument("--result-json", type=Path, required=True)
    p.add_argument("--eval-json", type=Path, required=True)
    p.add_argument("--sample", type=Path, required=True)
    args = p.parse_args(list(argv))

    _ensure_privsynth_importable()
    from privsynth.evaluate import evaluate
    from privsynth.evaluate.inputs import as_text
    from privsynth.evaluate.shadow import release_shadow
    from privsynth.schema.io import load_schema
    from privsynth.synthesizer import fit_table
    from privsynth.tables import read_table

    schema = load_schema(args.dir / "schema.yaml")
    train = read_table(args.dir / "train.csv")
    test = read_table(args.dir / "test.csv")
    params = json.loads(args.params)
    rng = np.random.default_rng(args.seed)
    base_mb = _common.peak_rss_mb()

    cpu0 = _common.cpu_seconds()
    t0 = time.perf_counter()
    synth, _ = fit_table(
        train,
        schema,
        generator=args.generator,
        epsilon=args.epsilon,
        delta=args.delta,
        rng=rng,
        params=params,
        source=args.dir.name,
    )
    t1 = time.perf_counter()
    sample = synth.sample(len(train), rng=rng)
    t2 = time.perf_counter()
    fit = {
        "fit_s": t1 - t0,
        "sample_s": t2 - t1,
        "wall_s": t2 - t0,
        "cpu_s": _common.cpu_seconds() - cpu0,
        "base_mb": base_mb,
        "peak_mb": _common.peak_rss_mb(),
        "rows_sampled": len(sample),
        "settings": synth.config,
        "ledger": _ledger_summary(synth.ledger),
        "torch_threads": (
            sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
        ),
    }
    _common.write_json(args.fit_json, fit)
    as_text(sample, schema).to_csv(args.sample, index=False)

    shadow = release_shadow(synth) if args.shadow else None
    t3 = time.perf_counter()
    result = evaluate(train, sample, schema, test=test, seed=EVAL_SEED, attacks=True, shadow=shadow)
    t4 = time.perf_counter()
    data = result.to_dict()
    _common.write_json(args.eval_json, data)
    record = {
        "fit": fit,
        "eval_s": t4 - t3,
        "eval_peak_mb": _common.peak_rss_mb(),
        "shadow": bool(args.shadow),
        "metrics": metrics_from_evaluation(data),
    }
    _common.write_json(args.result_json, record)
    return 0


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def parse_gen_params(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["GEN:key=value", ...]`` to ``{GEN: {key: value}}`` (values read as JSON when they
    parse, else kept as text)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        gen, colon, rest = item.partition(":")
        if not colon or not gen or "=" not in rest:
            raise ValueError(f"expected GEN:KEY=VALUE, got {item!r}")
        out.setdefault(gen, {}).update(_common.parse_params([rest]))
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line arguments of the driver."""
    p = argparse.ArgumentParser(
        description="Every generator x epsilon on four public datasets: fidelity, utility, "
        "privacy attacks, cost.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument(
        "--generators",
        nargs="+",
        default=None,
        help="registered privsynth generators (default: every one in the registry)",
    )
    p.add_argument("--eps", type=float, nargs="+", default=None, help=f"default {EPSILONS}")
    p.add_argument("--delta", type=float, default=DELTA)
    p.add_argument("--seed", type=int, default=FIT_SEED, help="seed of every fit's rng")
    p.add_argument(
        "--params",
        action="append",
        default=[],
        metavar="GEN:KEY=VALUE",
        help="hyperparameter of generator GEN (JSON value), e.g. dpgan:epochs=5; repeatable",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke settings: {QUICK_TRAIN_ROWS} train / {QUICK_TEST_ROWS} holdout rows, "
        f"eps {list(QUICK_EPSILONS)} (unless --eps), FAST_NEURAL parameters of "
        f"tests/conftest.py, timeout {QUICK_TIMEOUT:g} s (unless --timeout), outputs in "
        "$TMPDIR (unless --out-dir)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds per cell, default {DEFAULT_TIMEOUT:g}; 0 = none",
    )
    p.add_argument("--jobs", type=int, default=1, help="cells run at the same time")
    p.add_argument(
        "--cpu", default="none", help="CPU list for 'taskset -c' of every cell; 'none': no pinning"
    )
    p.add_argument("--datasets-dir", type=Path, default=SHARED_DATASETS)
    p.add_argument("--out-dir", type=Path, default=None, help="default bench/results")
    p.add_argument("--work-dir", type=Path, default=None, help="splits, samples, logs")
    p.add_argument(
        "--audit-json",
        type=Path,
        default=DEFAULT_AUDIT,
        help="rows of bench/audit_benchmark.py merged into the tables when the file exists",
    )
    p.add_argument("--force", action="store_true", help="rerun cells already in the JSON")
    p.add_argument("--report-only", action="store_true", help="only rewrite the markdown and SVG")
    args = p.parse_args(list(argv))
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    try:
        args.gen_params = parse_gen_params(args.params)
    except ValueError as exc:
        p.error(str(exc))
    tag = "privsynth-evidence-quick" if args.quick else "privsynth-evidence"
    if args.out_dir is None:
        args.out_dir = Path(tempfile.gettempdir()) / tag if args.quick else RESULTS_DIR
    if args.work_dir is None:
        args.work_dir = Path(tempfile.gettempdir()) / f"{tag}-work"
    if args.eps is None:
        args.eps = list(QUICK_EPSILONS if args.quick else EPSILONS)
    if args.timeout is None:
        args.timeout = QUICK_TIMEOUT if args.quick else DEFAULT_TIMEOUT
    return args


def _ordered(names: Sequence[str]) -> list[str]:
    known = [g for g in GENERATOR_ORDER if g in names]
    return known + sorted(g for g in names if g not in GENERATOR_ORDER)


def _run_child(
    cmd: list[str], *, env: dict[str, str], log_path: Path, timeout: float
) -> tuple[int, float, float, bool]:
    """Run ``cmd`` in its own process group; return (exit code, wall seconds, peak RSS MiB
    from ``wait4``, whether it was killed at ``timeout``)."""
    timed_out = threading.Event()
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill) if timeout > 0 else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, elapsed, usage.ru_maxrss / 1024.0, timed_out.is_set()


def _tail(path: Path, n: int = 12) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _cell_key(dataset: str, generator: str, eps: float) -> str:
    return f"{dataset}|{generator}|{float(eps):g}"


def cell_settings(
    dataset: str, generator: str, eps: float, args: argparse.Namespace, params: dict[str, Any]
) -> dict[str, Any]:
    """Everything that determines a cell; a stored cell is reused only if these match."""
    return {
        "dataset": dataset,
        "generator": generator,
        "eps": float(eps),
        "delta": float(args.delta),
        "seed": int(args.seed),
        "params": params,
        "quick": bool(args.quick),
        "shadow": generator in MARGINAL_GENERATORS,
    }


def run_cell(
    settings: dict[str, Any], *, data_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one cell in a subprocess and turn its files into a record."""
    gen, eps = settings["generator"], settings["eps"]
    tag = f"{gen}_eps{eps:g}"
    paths = {k: data_dir / f"{tag}.{k}.json" for k in ("fit", "result", "eval")}
    sample_path, log_path = data_dir / f"{tag}.sample.csv", data_dir / f"{tag}.log"
    for stale in (*paths.values(), sample_path):
        stale.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_child",
        "--dir",
        str(data_dir),
        "--generator",
        gen,
        "--epsilon",
        repr(float(eps)),
        "--delta",
        repr(float(settings["delta"])),
        "--seed",
        str(settings["seed"]),
        "--params",
        json.dumps(settings["params"]),
        "--fit-json",
        str(paths["fit"]),
        "--result-json",
        str(paths["result"]),
        "--eval-json",
        str(paths["eval"]),
        "--sample",
        str(sample_path),
    ]
    if settings["shadow"]:
        cmd.append("--shadow")
    env = _common.single_thread_env()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    cpu = None if str(args.cpu).lower() == "none" else args.cpu
    code, elapsed, proc_peak, timed_out = _run_child(
        _common.pinned_command(cmd, cpu), env=env, log_path=log_path, timeout=args.timeout
    )
    record: dict[str, Any] = {
        **settings,
        "elapsed_s": elapsed,
        "proc_peak_mb": proc_peak,
        "timeout_s": args.timeout,
        "log": str(log_path),
        "finished": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if paths["fit"].exists():
        record["fit"] = json.loads(paths["fit"].read_text(encoding="utf-8"))
    if code == 0 and paths["result"].exists():
        result = json.loads(paths["result"].read_text(encoding="utf-8"))
        record.update(status="ok", stage="done", **result)
        record["eval_json"] = str(paths["eval"])
        return record
    record["stage"] = "evaluation" if "fit" in record else "fit"
    if timed_out:
        record.update(
            status="timeout", error=f"killed after {elapsed:.0f} s during the {record['stage']}"
        )
    else:
        record.update(status="error", exit_code=code, error=_tail(log_path))
    return record


def _reusable(old: dict[str, Any] | None, settings: dict[str, Any], timeout: float) -> bool:
    """Whether a stored cell stands for these settings (errors are always rerun; a timeout
    only stands if it was given at least as long as now)."""
    if old is None or any(old.get(k) != v for k, v in settings.items()):
        return False
    if old.get("status") == "ok":
        return True
    if old.get("status") == "timeout":
        was = float(old.get("timeout_s") or 0)
        return timeout > 0 and was >= timeout
    return False


def _eps_key(eps: Any) -> float:
    return float(f"{float(eps):.6g}")


def load_audit(path: Path) -> dict[tuple[str, float], list[dict[str, Any]]]:
    """Rows of bench/audit_benchmark.py by (target, claimed epsilon to 6 significant digits:
    the audit records the epsilon its fits spent, e.g. 0.0999999999948); empty if absent."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for row in data.get("rows", []):
        try:
            key = (str(row["target"]), _eps_key(row["claimed_epsilon"]))
        except (KeyError, TypeError, ValueError):
            continue
        out.setdefault(key, []).append(row)
    return out


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(value: Any, ci: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if ci and None not in ci:
        return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return f"{value:.{digits}f}"


def _status_cell(r: Mapping[str, Any]) -> str:
    if r["status"] == "ok":
        return "ok"
    if r["status"] == "timeout":
        return f"TIMEOUT ({r['stage']}, {r['elapsed_s']:.0f} s)"
    return f"ERROR ({r.get('stage')})"


def _audit_cells(
    audit: Mapping[tuple[str, float], list[dict[str, Any]]], gen: str, eps: float
) -> tuple[str, str]:
    rows = audit.get((gen, _eps_key(eps)), [])
    if not rows:
        return "—", "—"
    short = {"white-box": "wb", "black-box": "bb"}

    def cell(key: str) -> str:
        parts = [
            f"{_f(r.get(key))} ({short.get(str(r.get('mode')), r.get('mode'))})"
            for r in sorted(rows, key=lambda r: str(r.get("mode")))
        ]
        return ", ".join(parts)

    return cell("epsilon_lower_bound"), cell("epsilon_gdp_estimate")


def _dataset_tables(
    name: str,
    cells: list[dict[str, Any]],
    info: Mapping[str, Any],
    audit: Mapping[tuple[str, float], list[dict[str, Any]]],
) -> list[str]:
    lines = [f"## {name}", ""]
    label = info.get("label")
    floor = info.get("baseline") or {}
    real_auc = next((c["metrics"].get("trtr_auc") for c in cells if c["status"] == "ok"), None)
    lines += [
        f"- Data: {info.get('split')}; {info.get('n_train')} rows fit, {info.get('n_test')} "
        f"holdout rows; {info.get('columns')} columns. Schema: {info.get('schema_source')}. "
        f"Label `{label}`.",
        f"- Without privacy: TSTR ROC AUC of the classifier trained on the real training "
        f"split {_f(real_auc)}; a bootstrap resample of the training split has TVD1/2/3 "
        f"{_f(floor.get('tvd1_bootstrap'), 4)} / {_f(floor.get('tvd2_bootstrap'), 4)} / "
        f"{_f(floor.get('tvd3_bootstrap'), 4)} (sampling-noise floor).",
    ]
    if info.get("quick"):
        lines.append(f"- Quick run: {info['quick']}.")
    changes = info.get("encoding_changes") or {}
    shown = {part: v for part, v in changes.items() if v}
    if shown:
        lines.append(
            f"- Encoding (values clipped / mapped to other / missing): `{json.dumps(shown)}`."
        )
    rank = {g: i for i, g in enumerate(_ordered([c["generator"] for c in cells]))}
    cells = sorted(cells, key=lambda c: (rank[c["generator"]], c["eps"]))
    lines += [
        "",
        "| generator | ε | status | ε spent | fit s | fit peak MB | eval s | TVD1 | TVD2 | TVD3 "
        "| worst TVD3 | KS | W1 | detection AUC | TSTR acc | TSTR F1 | TSTR AUC | acc loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        fit = c.get("fit") or {}
        m = c.get("metrics") or {}
        spent = (fit.get("ledger") or {}).get("epsilon_spent")
        lines.append(
            f"| {c['generator']} | {c['eps']:g} | {_status_cell(c)} | {_f(spent, 4)} | "
            f"{_f(fit.get('wall_s'), 1)} | {_f(fit.get('peak_mb'), 0)} | {_f(c.get('eval_s'), 1)} "
            f"| {_f(m.get('tvd1'), 4)} | {_f(m.get('tvd2'), 4)} | {_f(m.get('tvd3'), 4)} | "
            f"{_f(m.get('tvd3_worst'), 3)} | {_f(m.get('ks_mean'), 3)} | "
            f"{_f(m.get('wasserstein_mean'), 4)} | {_f(m.get('detection_auc'), 3)} | "
            f"{_f(m.get('tstr_accuracy'), 3)} | {_f(m.get('tstr_f1'), 3)} | "
            f"{_f(m.get('tstr_auc'), 3)} | {_f(m.get('accuracy_loss'), 3)} |"
        )
    attack_header = " | ".join(ATTACK_TITLES[a] for a in ATTACKS)
    for title, key, ci_key, extra in (
        (
            "Membership-inference attack ROC AUC [95 % CI] (0.5 = the attacker learns nothing)",
            "auc",
            "auc_ci",
            False,
        ),
        (
            "Privacy loss of the attacks [95 % CI] (0 = none), and audits of the generator",
            "privacy_loss",
            "privacy_loss_ci",
            True,
        ),
    ):
        audit_head = " | audit ε lower bound | audit ε GDP estimate" if extra else ""
        lines += [
            "",
            title + ":",
            "",
            f"| generator | ε | {attack_header}{audit_head} |",
            "|---|---|" + "---|" * (len(ATTACKS) + (2 if extra else 0)),
        ]
        for c in cells:
            pa = (c.get("metrics") or {}).get("privacy_attacks") or {}
            found, skipped = pa.get("attacks", {}), pa.get("skipped", {})
            row = []
            for a in ATTACKS:
                if a in found:
                    row.append(_ci(found[a].get(key), found[a].get(ci_key)))
                elif a in skipped:
                    row.append("skipped")
                else:
                    row.append("—")
            if extra:
                row += list(_audit_cells(audit, c["generator"], c["eps"]))
            lines.append(f"| {c['generator']} | {c['eps']:g} | " + " | ".join(row) + " |")
    return lines


def render_markdown(result: Mapping[str, Any], audit_path: Path) -> str:
    """evidence.md: the command, notes, then the tables of every dataset."""
    audit = load_audit(audit_path)
    cfg = result["config"]
    machine = result["machine"]
    cells = list(result["cells"].values())
    lines = [
        f"`{result['command']}`",
        "",
        "# Evidence: every generator × ε on four datasets",
        "",
        f"- Date: {result['date']}. Machine: {machine['cpu_count']} logical CPUs, "
        f"{machine['cpu_model']}, {machine['mem_gib']} GiB RAM, {machine['platform']}, "
        f"Python {machine['python']}.",
        f"- Each cell (fit + sample + evaluation) runs in its own subprocess with "
        f"OMP/MKL/OpenBLAS threads = 1, {cfg['jobs']} cell(s) at a time, timeout "
        f"{cfg['timeout']:g} s per cell; a cell killed at the timeout is listed as TIMEOUT with "
        "its elapsed time and the stage it reached (its fit numbers are kept when the fit had "
        "finished).",
        f"- Fit: `fit_table(train, schema, generator=G, epsilon=ε, delta={cfg['delta']:g}, "
        f"rng=default_rng({cfg['seed']}), params=...)`, then as many rows as the training split. "
        "ε spent: the fit's ledger (`Ledger.epsilon()`). fit s: fit + sample seconds inside the "
        "child; fit peak MB: the child's peak RSS right after (imports included). eval s: seconds of "
        "the evaluation (attacks, and shadow fits where run, included) that follows in the "
        "same child.",
        f"- Evaluation: `evaluate(train, sample, schema, test=holdout, seed={EVAL_SEED}, "
        "attacks=True, shadow=...)`. TVD1/2/3: mean total variation distance over all 1-, 2-, "
        "3-way marginals of the schema's public bins (missing is a bin), sample vs training "
        "split; worst TVD3: the largest 3-way TVD. KS / W1: mean Kolmogorov–Smirnov statistic "
        "and mean range-normalised Wasserstein-1 of the numeric columns. detection AUC: a "
        "classifier telling real training rows from synthetic ones (0.5 = indistinguishable). "
        "TSTR: `HistGradientBoostingClassifier` trained on 80 % of the sample, tested on the "
        "holdout (binary labels: positive class = the label's second declared value; "
        "multi-class: macro averages). acc loss: accuracy trained on real minus trained on "
        "synthetic, both tested on the holdout (p1 − p2).",
        "- Privacy attacks (membership inference, and attribute inference) on the release: "
        "members are training rows, non-members holdout rows. The shadow-model attack refits "
        "the release's own generator (`release_shadow`) and runs for the marginal generators "
        f"({', '.join(MARGINAL_GENERATORS)}) only: for the neural generators the three extra "
        "DP-SGD fits per cell would take too long, so `shadow=None` and that attack shows as "
        "skipped. DCR is a similarity measure, not privacy evidence.",
    ]
    if audit:
        deltas = sorted({float(r.get("delta", float("nan"))) for rs in audit.values() for r in rs})
        lines.append(
            f"- Audit columns: `{audit_path.relative_to(REPO_ROOT) if audit_path.is_relative_to(REPO_ROOT) else audit_path}` "
            "(bench/audit_benchmark.py), the row of the same generator and claimed ε, per mode "
            "(wb = white-box, bb = black-box): the assumption-free empirical lower bound and the "
            "GDP estimate. Audits are per generator, not per dataset (they run on their own "
            f"worst-case tables), at δ in {deltas}."
        )
    else:
        lines.append(
            f"- Audit columns: no audit results at `{audit_path}` when this was written "
            "(run bench/audit_benchmark.py, then `--report-only`)."
        )
    if cfg.get("quick"):
        lines.append(
            "- QUICK RUN (smoke settings, not results): few rows, FAST_NEURAL parameters of "
            "tests/conftest.py."
        )
    settings: dict[str, Any] = {}
    for c in cells:
        if c.get("fit"):
            settings.setdefault(c["generator"], c["fit"].get("settings"))
    for gen in _ordered(list(settings)):
        lines.append(f"- Settings of `{gen}`: `{json.dumps(settings[gen], sort_keys=True)}`.")
    if len(result.get("commands", [])) > 1:
        lines.append("- Cells were written by these commands, in order:")
        lines += [f"  - `{cmd}`" for cmd in result["commands"]]
    for name in DATASETS:
        mine = [c for c in cells if c["dataset"] == name]
        if not mine:
            continue
        lines.append("")
        lines += _dataset_tables(name, mine, result["datasets"].get(name, {}), audit)
    bad = [c for c in cells if c["status"] != "ok"]
    lines += ["", "## Cells that did not finish", ""]
    if not bad:
        lines.append("None.")
    for c in bad:
        err = (c.get("error") or "").strip().splitlines()
        lines.append(
            f"- {c['dataset']} {c['generator']} ε={c['eps']:g}: {c['status']} after "
            f"{c['elapsed_s']:.0f} s (stage {c.get('stage')}): {err[-1] if err else ''}"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# SVG
# --------------------------------------------------------------------------------------------

PALETTE = (
    "#3b6fb6",
    "#e07b39",
    "#2a9d8f",
    "#8e5ea2",
    "#c44e52",
    "#d4a017",
    "#6c757d",
    "#17becf",
    "#8c564b",
    "#bcbd22",
)


def _nice_max(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def _t(
    x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11, extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" {extra}>'
        f"{html.escape(text)}</text>"
    )


PLOT_METRICS: tuple[tuple[str, str, Callable[[Mapping[str, Any]], float | None]], ...] = (
    ("tvd3", "mean 3-way TVD", lambda m: m.get("tvd3")),
    (
        "1-auc",
        "1 − TSTR ROC AUC",
        lambda m: None if m.get("tstr_auc") is None else 1.0 - float(m["tstr_auc"]),
    ),
)


def render_svg(result: Mapping[str, Any]) -> str:
    """Error against ε (log axis), one panel per dataset and metric, one line per generator."""
    cells = [c for c in result["cells"].values() if c["status"] == "ok"]
    datasets = [d for d in DATASETS if any(c["dataset"] == d for c in result["cells"].values())]
    gens = _ordered(sorted({c["generator"] for c in result["cells"].values()}))
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(gens)}
    eps_all = sorted({float(c["eps"]) for c in result["cells"].values()}) or [1.0]
    lo, hi = math.log10(eps_all[0]), math.log10(eps_all[-1])
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pw, ph, left, gap_x, gap_y = 300.0, 190.0, 58.0, 70.0, 70.0
    width = left + 2 * pw + gap_x + 20
    legend: list[tuple[float, float, str]] = []  # (x, baseline y, generator), wrapped rows
    x, y = 10.0, 40.0
    for g in gens:
        w = 26 + 6.5 * len(g)
        if x > 10.0 and x + w > width - 10:
            x, y = 10.0, y + 18
        legend.append((x, y, g))
        x += w
    top = y + 30
    height = top + len(datasets) * (ph + gap_y) + 10
    parts = [
        _t(
            10,
            20,
            "Error vs ε per generator (lower is better; missing point = timeout or error)",
            anchor="start",
            size=13,
            extra='font-weight="600"',
        )
    ]
    for x, y, g in legend:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 6:.1f}" width="12" height="4" fill="{colors[g]}"/>'
        )
        parts.append(_t(x + 16, y, g, anchor="start"))
    for row, name in enumerate(datasets):
        for col, (_key, title, getter) in enumerate(PLOT_METRICS):
            x0 = left + col * (pw + gap_x)
            y0 = top + row * (ph + gap_y) + 18
            values: dict[str, list[tuple[float, float]]] = {}
            for c in cells:
                if c["dataset"] != name:
                    continue
                v = getter(c.get("metrics") or {})
                if v is not None and math.isfinite(v):
                    values.setdefault(c["generator"], []).append((float(c["eps"]), float(v)))
            ymax = _nice_max(max((v for pts in values.values() for _, v in pts), default=1.0))

            def px(eps: float, x0: float = x0) -> float:
                return x0 + pw * (math.log10(eps) - lo) / (hi - lo) * 0.9 + pw * 0.05

            def py(v: float, y0: float = y0, ymax: float = ymax) -> float:
                return y0 + ph * (1 - v / ymax)

            parts.append(
                _t(
                    x0,
                    y0 - 8,
                    f"{name}: {title}",
                    anchor="start",
                    size=12,
                    extra='font-weight="600"',
                )
            )
            parts.append(
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{pw:.1f}" height="{ph:.1f}" '
                'fill="none" stroke="#555"/>'
            )
            for i in range(5):
                v = ymax * i / 4
                parts.append(
                    f'<line x1="{x0:.1f}" x2="{x0 + pw:.1f}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                    'stroke="#e3e3e3"/>'
                )
                parts.append(_t(x0 - 5, py(v) + 4, f"{v:g}", anchor="end", size=10))
            for e in eps_all:
                parts.append(_t(px(e), y0 + ph + 14, f"{e:g}", size=10))
            parts.append(_t(x0 + pw / 2, y0 + ph + 30, "ε (log scale)", size=11))
            for g in gens:
                pts = sorted(values.get(g, []))
                if not pts:
                    continue
                coords = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in pts)
                parts.append(
                    f'<polyline points="{coords}" fill="none" stroke="{colors[g]}" '
                    'stroke-width="2"/>'
                )
                for e, v in pts:
                    parts.append(
                        f'<circle cx="{px(e):.1f}" cy="{py(v):.1f}" r="3" fill="{colors[g]}">'
                        f"<title>{html.escape(f'{g}, ε={e:g}: {v:.4f}')}</title></circle>"
                    )
    body = "".join(parts)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        'font-family="sans-serif" role="img" aria-label="error vs epsilon">'
        '<rect width="100%" height="100%" fill="white"/>'
        f"{body}</svg>\n"
    )


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def write_outputs(result: dict[str, Any], out_dir: Path, audit_path: Path) -> None:
    """evidence.json, evidence.md and the SVG, each written whole (JSON atomically)."""
    _common.write_json(out_dir / JSON_NAME, result)
    (out_dir / MD_NAME).write_text(render_markdown(result, audit_path), encoding="utf-8")
    (out_dir / SVG_NAME).write_text(render_svg(result), encoding="utf-8")


def _summary(r: Mapping[str, Any]) -> str:
    if r["status"] != "ok":
        return f"{r['status']} after {r['elapsed_s']:.0f} s: {(r.get('error') or '')[-300:]}"
    m, fit = r["metrics"], r["fit"]
    return (
        f"tvd3={_f(m.get('tvd3'), 4)} tstr_auc={_f(m.get('tstr_auc'))} "
        f"fit={fit['wall_s']:.1f}s eval={r['eval_s']:.1f}s peak={fit['peak_mb']:.0f}MB "
        f"eps_spent={_f(fit['ledger'].get('epsilon_spent'), 4)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep (or a child cell) and write the results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    out_json = args.out_dir / JSON_NAME
    if args.report_only:
        result = json.loads(out_json.read_text(encoding="utf-8"))
        write_outputs(result, args.out_dir, args.audit_json)
        return 0

    _ensure_privsynth_importable()
    from privsynth.generators import REGISTRY, get_generator
    from privsynth.schema.io import save_schema

    generators = _ordered(args.generators or list(REGISTRY))
    fast = fast_params() if args.quick else {}
    params: dict[str, dict[str, Any]] = {}
    for g in generators:
        params[g] = {**fast.get(g, {}), **args.gen_params.get(g, {})}
        try:
            get_generator(g, **params[g])
        except Exception as exc:  # noqa: BLE001 - report any lookup failure plainly
            sys.exit(f"generator {g!r} unavailable ({exc}); registered: {sorted(REGISTRY)}")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"cells": {}, "datasets": {}, "commands": []}
    if out_json.exists():
        result = json.loads(out_json.read_text(encoding="utf-8"))
        if bool(result.get("config", {}).get("quick")) != bool(args.quick):
            sys.exit(
                f"{out_json} holds a {'quick' if not args.quick else 'full'} run; "
                "use another --out-dir"
            )
    result.update(
        command=command,
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=_common.machine_info(),
        config={
            "datasets_dir": str(args.datasets_dir),
            "delta": args.delta,
            "seed": args.seed,
            "eval_seed": EVAL_SEED,
            "timeout": args.timeout,
            "jobs": args.jobs,
            "cpu": str(args.cpu),
            "quick": bool(args.quick),
            "work_dir": str(args.work_dir),
            "single_thread_env": _common.SINGLE_THREAD_ENV,
        },
    )
    result["commands"] = [*result.get("commands", []), command]

    data_dirs: dict[str, Path] = {}
    for name in args.datasets:
        ds = load_dataset(name, args.datasets_dir)
        if args.quick:
            ds = quick_subset(ds, QUICK_TRAIN_ROWS, QUICK_TEST_ROWS)
        if args.delta >= 1.0 / len(ds.train):
            sys.exit(f"{name}: --delta {args.delta:g} is not below 1/n = 1/{len(ds.train)}")
        folder = args.work_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        ds.train.to_csv(folder / "train.csv", index=False)
        ds.test.to_csv(folder / "test.csv", index=False)
        save_schema(ds.schema, folder / "schema.yaml")
        old = result["datasets"].get(name, {})
        same = old.get("files") == ds.info["files"] and old.get("n_train") == len(ds.train)
        ds.info["baseline"] = old["baseline"] if same and "baseline" in old else bootstrap_floor(ds)
        result["datasets"][name] = ds.info
        data_dirs[name] = folder
        print(
            f"{name}: {len(ds.train)} train / {len(ds.test)} holdout rows, label "
            f"{ds.schema.label!r}; schema checked",
            flush=True,
        )

    todo: list[dict[str, Any]] = []
    for name in args.datasets:
        for g in generators:
            for eps in args.eps:
                settings = cell_settings(name, g, eps, args, params[g])
                key = _cell_key(name, g, eps)
                if not args.force and _reusable(result["cells"].get(key), settings, args.timeout):
                    print(f"skip {key} (in {out_json})", flush=True)
                    continue
                todo.append(settings)
    write_outputs(result, args.out_dir, args.audit_json)

    lock = threading.Lock()
    done = 0

    def work(settings: dict[str, Any]) -> None:
        nonlocal done
        record = run_cell(settings, data_dir=data_dirs[settings["dataset"]], args=args)
        with lock:
            done += 1
            key = _cell_key(settings["dataset"], settings["generator"], settings["eps"])
            result["cells"][key] = record
            write_outputs(result, args.out_dir, args.audit_json)
            print(f"[{done}/{len(todo)}] {key}: {_summary(record)}", flush=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(work, s) for s in todo]:
            future.result()
    bad = sum(c["status"] != "ok" for c in result["cells"].values())
    print(
        f"wrote {out_json}, {args.out_dir / MD_NAME}, {args.out_dir / SVG_NAME}; "
        f"{bad} cell(s) not ok"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
