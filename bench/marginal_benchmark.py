"""Benchmark privsynth's marginal generators against smartnoise-synth's MST and AIM.

Both implementations are fitted side by side in one run on the same training split, each fit
in its own single-threaded subprocess (pinned to one CPU with ``taskset`` when available), and
their samples are scored here, identically:

* ``tvd3`` / ``tvd2``: mean total variation distance ``0.5 * ||p - q||_1`` over every 3-way /
  2-way marginal between the synthetic sample and the training split;
* ``auc``: train-on-synthetic, test-on-real ROC AUC of
  ``HistGradientBoostingClassifier(random_state=0)`` (all features categorical) predicting
  ``income>50K`` on the held-out 20 % split;
* ``wall_s``: seconds of fit plus sampling, timed inside the child (interpreter start-up,
  imports and data loading excluded); ``peak_mb``: the child's own peak resident set size
  (``ru_maxrss``) right after fit plus sampling, imports included, so ``base_mb`` (peak
  before fitting) is recorded too, and ``proc_peak_mb`` (``os.wait4``) for the whole child.

The reference child also draws a second sample of its fitted model with mbi's i.i.d.
sampler (``*_iid`` metrics); see ``bench/reference_runner.py``.

Split: rows of the dataset are permuted with ``numpy.random.default_rng(0).permutation``; the
first ``int(0.8 * n)`` permuted rows are the training split, the rest the test split. The
synthetic sample has as many rows as the training split.

privsynth runs in this interpreter's environment (``privsynth.generators.get_generator``);
the reference runs ``bench/reference_runner.py`` under ``--ref-python`` (see bench/README.md).

Full run (writes bench/results/marginal.json and bench/results/marginal.md)::

    python bench/marginal_benchmark.py --ref-python .venv-ref/bin/python

Smoke run::

    python bench/marginal_benchmark.py --eps 1 --seeds 0 --generators mst \\
        --out-json /tmp/smoke.json --out-md /tmp/smoke.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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
REF_GENERATORS = ("mst", "aim")

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_DATA = SHARED_DATASETS / "adult_pgm.csv"
DEFAULT_DOMAIN = SHARED_DATASETS / "adult_pgm-domain.json"
DEFAULT_JSON = BENCH_DIR / "results" / "marginal.json"
DEFAULT_MD = BENCH_DIR / "results" / "marginal.md"

# Relative tolerance when checking that an implementation spent exactly its epsilon.
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
# Child: one privsynth fit (runs in a subprocess of the driver)
# --------------------------------------------------------------------------------------------


def child_main(argv: Sequence[str]) -> int:
    """Fit one privsynth generator on a CSV; write the sample and a timing JSON.

    Same arguments and outputs as ``bench/reference_runner.py``.
    """
    p = argparse.ArgumentParser(prog="marginal_benchmark.py _child")
    p.add_argument("--synth", required=True)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timing", required=True)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(list(argv))

    _ensure_privsynth_importable()
    from privsynth.domain import Domain
    from privsynth.generators import get_generator
    from privsynth.marginals import EncodedTable, InMemoryBackend
    from privsynth.privacy import Ledger

    domain_dict = _common.load_domain(args.domain)
    train = pd.read_csv(args.train)
    _common.check_codes(train, domain_dict)
    n_rows = len(train) if args.rows is None else args.rows
    domain = Domain.from_dict(domain_dict)
    codes = {c: train[c].to_numpy(dtype=np.int64) for c in domain_dict}
    backend = InMemoryBackend(EncodedTable(domain, codes))
    ledger = Ledger(args.epsilon, args.delta)
    params = _common.parse_params(args.param)
    generator = get_generator(args.synth, **params)
    rng = np.random.default_rng(args.seed)
    base_mb = _common.peak_rss_mb()

    cpu0 = _common.cpu_seconds()
    t0 = time.perf_counter()
    model = generator.fit(backend, ledger, rng=rng)
    t1 = time.perf_counter()
    sample = model.sample(n_rows, rng=rng)
    t2 = time.perf_counter()
    cpu1 = _common.cpu_seconds()
    peak_mb = _common.peak_rss_mb()

    frame = pd.DataFrame({c: np.asarray(sample[c], dtype=np.int64) for c in domain_dict})
    _common.check_codes(frame, domain_dict)
    frame.to_csv(args.out, index=False)

    import importlib.metadata as md

    timing = {
        "impl": OURS,
        "generator": args.synth,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "seed": args.seed,
        "rows": n_rows,
        "params": generator.config() if hasattr(generator, "config") else params,
        "fit_s": t1 - t0,
        "sample_s": t2 - t1,
        "wall_s": t2 - t0,
        "cpu_s": cpu1 - cpu0,
        "base_mb": base_mb,
        "peak_mb": peak_mb,
        "domain_sizes": list(domain.sizes),
        "rho_target": ledger.rho_budget,
        "rho_spent": ledger.rho_spent,
        "ledger_entries": len(ledger.entries),
        "versions": {"mbi": md.version("mbi"), "numpy": np.__version__, "pandas": pd.__version__},
    }
    _common.write_json(args.timing, timing)
    return 0


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the driver."""
    p = argparse.ArgumentParser(
        description="privsynth vs smartnoise-synth marginal generators (MST, AIM).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="integer-coded CSV")
    p.add_argument("--domain", type=Path, default=DEFAULT_DOMAIN, help="public domain JSON")
    p.add_argument("--eps", type=float, nargs="+", default=[0.1, 1.0, 10.0], help="epsilons")
    p.add_argument("--delta", type=float, default=1e-9)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--generators", nargs="+", default=list(REF_GENERATORS))
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument(
        "--ref-python",
        default=_default_ref_python(),
        help="python of the smartnoise-synth environment (env PRIVSYNTH_REF_PYTHON)",
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
        help="hyperparameter of privsynth generator GEN (JSON value), e.g. aim.degree=2; "
        "repeatable; default: the generators' defaults",
    )
    p.add_argument(
        "--ref-param",
        action="append",
        default=[],
        metavar="GEN.KEY=VALUE",
        help="keyword for smartnoise-synth's Synthesizer.create(GEN, ...), e.g. aim.degree=3; "
        "repeatable; default: smartnoise-synth's defaults",
    )
    p.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep splits, samples and logs here (default: a temporary directory)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse successful runs already in --out-json for the same settings",
    )
    p.add_argument(
        "--report-only", action="store_true", help="only rewrite --out-md from --out-json"
    )
    args = p.parse_args(argv)
    if REFERENCE in args.impls and any(g not in REF_GENERATORS for g in args.generators):
        p.error(f"the reference implements only {REF_GENERATORS}; drop {REFERENCE} from --impls")
    args.params = {OURS: {}, REFERENCE: {}}
    for impl, items in ((OURS, args.ours_param), (REFERENCE, args.ref_param)):
        for item in items:
            gen, dot, rest = item.partition(".")
            if not dot or "=" not in rest:
                p.error(f"expected GEN.KEY=VALUE, got {item!r}")
            args.params[impl].setdefault(gen, []).append(rest)
    return args


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


def run_one(
    impl: str,
    generator: str,
    eps: float,
    seed: int,
    *,
    args: argparse.Namespace,
    train_path: Path,
    train: pd.DataFrame,
    test: pd.DataFrame,
    domain: dict[str, int],
    work: Path,
) -> dict[str, Any]:
    """Fit one (impl, generator, eps, seed) in a subprocess and score its sample."""
    from privsynth.privacy.accountant import zcdp_to_epsilon

    tag = f"{impl}_{generator}_eps{eps:g}_seed{seed}"
    out, timing_path, log_path = (work / f"{tag}.csv", work / f"{tag}.json", work / f"{tag}.log")
    out_iid = work / f"{tag}_iid.csv"
    common = [
        "--synth",
        generator,
        "--epsilon",
        repr(float(eps)),
        "--delta",
        repr(float(args.delta)),
        "--seed",
        str(seed),
        "--train",
        str(train_path),
        "--domain",
        str(args.domain),
        "--out",
        str(out),
        "--timing",
        str(timing_path),
    ]
    for item in args.params[impl].get(generator, []):
        common += ["--param", item]
    env = _common.single_thread_env()
    if impl == OURS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_child", *common]
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
    else:
        cmd = [args.ref_python, str(BENCH_DIR / "reference_runner.py"), *common]
        cmd += ["--out-iid", str(out_iid)]
        env.pop("PYTHONPATH", None)
    cpu = None if str(args.cpu).lower() == "none" else args.cpu
    cmd = _common.pinned_command(cmd, cpu)

    record: dict[str, Any] = {
        "generator": generator,
        "impl": impl,
        "eps": eps,
        "delta": args.delta,
        "seed": seed,
    }
    code, proc_wall, proc_peak_mb = _run_child(
        cmd, env=env, log_path=log_path, timeout=args.timeout
    )
    if code != 0 or not timing_path.exists():
        record.update(status="error", exit_code=code, proc_wall_s=proc_wall, error=_tail(log_path))
        return record

    timing = json.loads(timing_path.read_text(encoding="utf-8"))
    synth = pd.read_csv(out)
    _common.check_codes(synth, domain)
    eps_spent = zcdp_to_epsilon(timing["rho_spent"], args.delta) if timing["rho_spent"] else 0.0
    record.update(
        status="ok",
        tvd3=_common.mean_kway_tvd(train, synth, domain, 3),
        tvd2=_common.mean_kway_tvd(train, synth, domain, 2),
        auc=_common.tstr_auc(synth, test, domain),
        wall_s=timing["wall_s"],
        fit_s=timing["fit_s"],
        sample_s=timing["sample_s"],
        cpu_s=timing["cpu_s"],
        proc_wall_s=proc_wall,
        peak_mb=timing["peak_mb"],
        proc_peak_mb=proc_peak_mb,
        base_mb=timing["base_mb"],
        rows=timing["rows"],
        rho_target=timing["rho_target"],
        rho_spent=timing["rho_spent"],
        eps_spent=eps_spent,
        budget_ok=abs(eps_spent - eps) <= _EPS_RTOL * eps,
        domain_ok=timing["domain_sizes"] == list(domain.values()),
    )
    if timing.get("sample_iid_s") is not None and out_iid.exists():
        synth_iid = pd.read_csv(out_iid)
        _common.check_codes(synth_iid, domain)
        record.update(
            tvd3_iid=_common.mean_kway_tvd(train, synth_iid, domain, 3),
            tvd2_iid=_common.mean_kway_tvd(train, synth_iid, domain, 2),
            auc_iid=_common.tstr_auc(synth_iid, test, domain),
            sample_iid_s=timing["sample_iid_s"],
        )
    for key in ("params", "gaussian_calls", "exponential_calls", "ledger_entries", "versions"):
        if key in timing:
            record[key] = timing[key]
    return record


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def _fmt(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    mean, std = _mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _ratio(ours: list[float], ref: list[float]) -> str:
    if not ours or not ref or statistics.fmean(ref) == 0:
        return "—"
    return f"{statistics.fmean(ours) / statistics.fmean(ref):.2f}"


# Rows of the results table: label, implementation, and the record keys of its metrics.
_ROWS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (OURS, OURS, {"tvd3": "tvd3", "tvd2": "tvd2", "auc": "auc"}),
    (REFERENCE, REFERENCE, {"tvd3": "tvd3", "tvd2": "tvd2", "auc": "auc"}),
    (
        f"{REFERENCE}, i.i.d. sample",
        REFERENCE,
        {"tvd3": "tvd3_iid", "tvd2": "tvd2_iid", "auc": "auc_iid"},
    ),
)


def _values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in runs if r.get(key) is not None]


def render_markdown(result: dict[str, Any]) -> str:
    """The results table: per (generator, eps) means ± std over seeds, then ratios."""
    runs = [r for r in result["runs"] if r.get("status") == "ok"]
    failed = [r for r in result["runs"] if r.get("status") != "ok"]
    machine = result["machine"]
    cfg = result["config"]
    base = result["baseline"]
    pinned = f", pinned with `taskset -c {cfg['cpu']}`" if cfg["cpu"] != "none" else ""
    lines = [
        f"`{result['command']}`",
        "",
        "# privsynth vs smartnoise-synth: MST and AIM",
        "",
        f"- Date: {result['date']}",
        f"- Machine: {machine['cpu_count']} logical CPUs, {machine['cpu_model']}, "
        f"{machine['mem_gib']} GiB RAM, {machine['platform']}, Python {machine['python']}.",
        "- Each fit runs in its own subprocess, one thread (OMP/MKL/OpenBLAS/XLA thread "
        f"settings = 1){pinned}; the fits run one after another.",
        f"- Data: `{cfg['data']}` ({cfg['n_rows']} rows), public domain `{cfg['domain']}`. "
        f"Split: `numpy.random.default_rng({cfg['split_seed']}).permutation(n)`, the first "
        f"`int({cfg['train_fraction']} * n)` = {cfg['n_train']} permuted rows are the train "
        f"split, the other {cfg['n_test']} the test split. Synthetic n = {cfg['n_train']}.",
        f"- delta = {cfg['delta']:g}; seeds {cfg['seeds']}; cells are mean ± sample std over "
        "seeds.",
        f"- Reference: smartnoise-synth {cfg.get('reference_version') or '?'}, "
        "`Synthesizer.create(name, epsilon=eps, delta=delta)`; every column categorical over "
        "its public domain (pre-fitted TableTransformer), `preprocessor_eps=0`. Its Gaussian "
        "noise comes from OpenDP's unseedable sampler, so its seeds fix only selection and "
        "sampling.",
        f"- `{REFERENCE}, i.i.d. sample`: the same fitted reference model, sampled a second "
        "time with mbi's `synthetic_data(method=\"sample\")`. mbi 1.1.0's default randomized "
        "rounding couples columns that share parents (each column is assigned by rank within "
        "its parent groups in row order), which inflates the reference's TVDs; see "
        "bench/README.md.",
        "- tvd3 / tvd2: mean over all 3-way / 2-way marginals of 0.5 * L1 between normalized "
        "marginals of the sample and of the train split. AUC: train-on-synthetic ROC AUC of "
        "`HistGradientBoostingClassifier(random_state=0)`, all features categorical, predicting "
        "`income>50K` on the test split. wall: fit + sample seconds inside the child. peak: "
        "the child's peak RSS after fit + sample (MiB, imports included).",
        "- Baselines without privacy: AUC trained on the real train split "
        f"{base['auc_real_train']:.4f}; a bootstrap resample of the train split (same n) has "
        f"tvd3 {base['tvd3_bootstrap']:.4f} and tvd2 {base['tvd2_bootstrap']:.4f} (sampling "
        "noise floor).",
    ]
    settings: dict[tuple[str, str], Any] = {}
    for r in runs:
        settings.setdefault((r["impl"], r["generator"]), r.get("params"))
    for (impl, gen), params in sorted(settings.items()):
        shown = json.dumps(params, sort_keys=True) if params else "library defaults"
        lines.append(f"- Settings of {impl} {gen}: `{shown}`.")
    lines += [
        "",
        "| generator | eps | impl | tvd3 | tvd2 | AUC | wall s | peak MB | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    combos = sorted({(r["generator"], float(r["eps"])) for r in result["runs"]})
    by: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault((r["generator"], float(r["eps"]), r["impl"]), []).append(r)
    for gen, eps in combos:
        for label, impl, keys in _ROWS:
            if impl not in cfg["impls"]:
                continue
            rs = by.get((gen, eps, impl), [])
            if label != impl and not _values(rs, keys["tvd3"]):
                continue
            wall = (
                _values(rs, "wall_s")
                if label == impl
                else [r["fit_s"] + r["sample_iid_s"] for r in rs if "sample_iid_s" in r]
            )
            lines.append(
                f"| {gen} | {eps:g} | {label} | {_fmt(_values(rs, keys['tvd3']), 4)} | "
                f"{_fmt(_values(rs, keys['tvd2']), 4)} | {_fmt(_values(rs, keys['auc']), 4)} | "
                f"{_fmt(wall, 1)} | {_fmt(_values(rs, 'peak_mb'), 0)} | {len(rs)} |"
            )
    if OURS in cfg["impls"] and REFERENCE in cfg["impls"]:
        lines += [
            "",
            "Ratios ours / reference, of the means (tvd3 against the reference as shipped and "
            "against its i.i.d. sample):",
            "",
            "| generator | eps | tvd3 | tvd3 vs i.i.d. sample | wall | peak memory |",
            "|---|---|---|---|---|---|",
        ]
        for gen, eps in combos:
            o, f = by.get((gen, eps, OURS), []), by.get((gen, eps, REFERENCE), [])
            lines.append(
                f"| {gen} | {eps:g} | {_ratio(_values(o, 'tvd3'), _values(f, 'tvd3'))} | "
                f"{_ratio(_values(o, 'tvd3'), _values(f, 'tvd3_iid'))} | "
                f"{_ratio(_values(o, 'wall_s'), _values(f, 'wall_s'))} | "
                f"{_ratio(_values(o, 'peak_mb'), _values(f, 'peak_mb'))} |"
            )
    flagged = [r for r in runs if not (r.get("budget_ok") and r.get("domain_ok"))]
    lines += [
        "",
        "Checks:",
        "",
        f"- {len(runs)} successful runs; in {len(runs) - len(flagged)} of them the epsilon "
        f"spent (zCDP total converted at delta) equals the target within {_EPS_RTOL:g} relative "
        "and the generator saw the full public domain.",
    ]
    for r in flagged:
        lines.append(
            f"  - {r['impl']} {r['generator']} eps={r['eps']:g} seed={r['seed']}: "
            f"eps spent {r.get('eps_spent', float('nan')):.6g}, domain_ok={r.get('domain_ok')}"
        )
    for r in failed:
        err = (r.get("error") or "").strip().splitlines()
        lines.append(
            f"- FAILED {r['impl']} {r['generator']} eps={r['eps']:g} seed={r['seed']} "
            f"(exit {r.get('exit_code')}): {err[-1] if err else ''}"
        )
    return "\n".join(lines) + "\n"


def baseline(train: pd.DataFrame, test: pd.DataFrame, domain: dict[str, int]) -> dict[str, float]:
    """Reference points for the metrics, without privacy.

    ``auc_real_train``: the TSTR classifier trained on the real training split.
    ``tvd3_bootstrap`` / ``tvd2_bootstrap``: the same TVDs for a bootstrap resample of the
    training split of the same size (``default_rng(0)``), i.e. the sampling-noise floor that
    even a perfect generator sampling n rows would show.
    """
    rows = np.random.default_rng(0).integers(0, len(train), size=len(train))
    boot = train.iloc[rows].reset_index(drop=True)
    return {
        "auc_real_train": _common.tstr_auc(train, test, domain),
        "tvd3_bootstrap": _common.mean_kway_tvd(train, boot, domain, 3),
        "tvd2_bootstrap": _common.mean_kway_tvd(train, boot, domain, 2),
    }


def _key(r: dict[str, Any]) -> tuple[str, str, float, int]:
    return (r["impl"], r["generator"], float(r["eps"]), int(r["seed"]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark grid and write the JSON and markdown results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    if args.report_only:
        result = json.loads(args.out_json.read_text(encoding="utf-8"))
        args.out_md.write_text(render_markdown(result), encoding="utf-8")
        return 0

    _ensure_privsynth_importable()
    if OURS in args.impls:
        try:
            from privsynth.generators import get_generator

            for g in args.generators:
                get_generator(g, **_common.parse_params(args.params[OURS].get(g)))
        except Exception as exc:  # noqa: BLE001 - report any import/lookup failure plainly
            sys.exit(
                f"privsynth generators unavailable ({exc!r}); "
                f"run with --impls {REFERENCE} until they exist"
            )
    if REFERENCE in args.impls and not Path(args.ref_python).exists():
        sys.exit(
            f"reference python {args.ref_python} not found: see bench/README.md "
            "or pass --ref-python"
        )

    domain = _common.load_domain(args.domain)
    data = pd.read_csv(args.data)
    _common.check_codes(data, domain)
    train, test = _common.split_train_test(data)

    ref_version = None
    if REFERENCE in args.impls:
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

    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    config = {
        "data": str(args.data),
        "domain": str(args.domain),
        "n_rows": len(data),
        "n_train": len(train),
        "n_test": len(test),
        "split_seed": _common.SPLIT_SEED,
        "train_fraction": _common.TRAIN_FRACTION,
        "delta": args.delta,
        "eps": args.eps,
        "seeds": args.seeds,
        "generators": args.generators,
        "impls": args.impls,
        "cpu": str(args.cpu),
        "timeout": args.timeout,
        "reference_version": ref_version,
        "params": args.params,
        "single_thread_env": _common.SINGLE_THREAD_ENV,
    }
    previous: dict[tuple[str, str, float, int], dict[str, Any]] = {}
    if args.resume and args.out_json.exists():
        old = json.loads(args.out_json.read_text(encoding="utf-8"))
        same = all(old["config"].get(k) == config[k] for k in ("data", "domain", "delta", "cpu"))
        if same:
            previous = {_key(r): r for r in old["runs"] if r.get("status") == "ok"}

    result: dict[str, Any] = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _common.machine_info(),
        "config": config,
        "baseline": baseline(train, test, domain),
        "runs": [],
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_md.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="privsynth-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        train_path = work / "train.csv"
        train.to_csv(train_path, index=False)
        grid = [
            (g, e, s, i)
            for e in args.eps
            for g in args.generators
            for s in args.seeds
            for i in args.impls
        ]
        for n, (gen, eps, seed, impl) in enumerate(grid, 1):
            key = (impl, gen, float(eps), int(seed))
            if key in previous:
                record = previous[key]
                note = "reused"
            else:
                record = run_one(
                    impl,
                    gen,
                    eps,
                    seed,
                    args=args,
                    train_path=train_path,
                    train=train,
                    test=test,
                    domain=domain,
                    work=work,
                )
                note = record["status"]
            result["runs"].append(record)
            _common.write_json(args.out_json, result)
            args.out_md.write_text(render_markdown(result), encoding="utf-8")
            summary = (
                f"tvd3={record['tvd3']:.4f} tvd2={record['tvd2']:.4f} auc={record['auc']:.4f} "
                f"wall={record['wall_s']:.1f}s peak={record['peak_mb']:.0f}MB "
                f"eps_spent={record['eps_spent']:.6g}"
                if record["status"] == "ok"
                else record.get("error", "")[-300:]
            )
            print(
                f"[{n}/{len(grid)}] {impl} {gen} eps={eps:g} seed={seed} {note}: {summary}",
                flush=True,
            )
    failed = sum(r["status"] != "ok" for r in result["runs"])
    print(f"wrote {args.out_json} and {args.out_md}; {failed} failed run(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
