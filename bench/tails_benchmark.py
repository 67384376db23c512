"""Tails of heavy-tailed columns: dpflow (Student-t base) vs dpflow (Gaussian base) vs MST/AIM.

Datasets and columns:

* ``adult``: capital-gain, capital-loss, fnlwgt, hours-per-week (``adult_train.csv``, schema
  ``src/privsynth/data/adult.yaml``);
* ``bank``: balance, duration (``bank_marketing.csv``, schema ``bench/schemas/bank_marketing.yaml``,
  declared by hand from the public attribute description);
* ``funnel``: Neal's funnel (``privsynth.toy``), columns x1 and v, 20 000 rows (seed 0).

Each fit is ``fit_table(table, schema, generator=..., epsilon=eps, delta=1e-9 (funnel: 1e-7),
rng=default_rng(seed))``, in this process, then ``.sample(n_rows, rng=default_rng(seed + 1))``.
Metrics per column, synthetic vs the table it was fitted on (present values only):

* ``q90`` / ``q99`` / ``q999``: |synthetic quantile - real quantile| divided by the real spread
  ``q99.9 - q50`` (so 0.1 means a tenth of the column's upper spread);
* ``hill``: |alpha_synth - alpha_real| / alpha_real, where alpha is the Hill estimate of the
  upper tail index of ``x - median`` from its top 1 % (at least 10) positive values (None when
  a sample has too few values above its median, or its top values tie at the bound).

MST and AIM return bin codes, decoded uniformly inside their public bin; dpflow returns real
values. Results: ``bench/results/tails.json`` and ``tails.md``, headed by the exact command.

Full run (roughly 1 to 1.5 hours on 2 cores: each dpflow fit 20 s (funnel) to about 2 min
(Adult, Bank); AIM on Adult and Bank dominates)::

    python bench/tails_benchmark.py

Quick check (3 000 rows, short training, eps 1, under a minute)::

    python bench/tails_benchmark.py --quick --out-json /tmp/tails.json --out-md /tmp/tails.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO_ROOT / "src"))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SHARED = REPO_ROOT.parent / "shared" / "datasets"
DATASETS: dict[str, dict[str, Any]] = {
    "adult": {
        "csv": SHARED / "adult_train.csv",
        "schema": REPO_ROOT / "src" / "privsynth" / "data" / "adult.yaml",
        "columns": ["capital-gain", "capital-loss", "fnlwgt", "hours-per-week"],
        "delta": 1e-9,
    },
    "bank": {
        "csv": SHARED / "bank_marketing.csv",
        "schema": BENCH_DIR / "schemas" / "bank_marketing.yaml",
        "columns": ["balance", "duration"],
        "delta": 1e-9,
    },
    "funnel": {"toy": "funnel", "rows": 20_000, "columns": ["x1", "v"], "delta": 1e-7},
}
#: Benchmark names to (registered generator, parameters).
GENERATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "dpflow-t": ("dpflow", {"base": "student_t"}),
    "dpflow-gauss": ("dpflow", {"base": "gaussian"}),
    "mst": ("mst", {}),
    "aim": ("aim", {}),
}
QUICK: dict[str, dict[str, Any]] = {
    "dpflow": {"epochs": 2, "hidden": [32], "layers": 2},
    "mst": {"iters": 300},
    "aim": {"round_iters": 30, "final_iters": 300},
}
QUANTILES = {"q90": 0.9, "q99": 0.99, "q999": 0.999}


def load(name: str, rows: int | None) -> tuple[pd.DataFrame, Any]:
    """The table (as text) and its public schema; ``rows``: a fixed random subset."""
    from privsynth.schema import load_schema
    from privsynth.tables import check_columns, read_table
    from privsynth.toy import toy_table

    spec = DATASETS[name]
    if "toy" in spec:
        df, schema = toy_table(spec["toy"], rows or spec["rows"], np.random.default_rng(0))
        return df, schema
    schema = load_schema(spec["schema"])
    df = check_columns(read_table(spec["csv"]), schema, name).reset_index(drop=True)
    if rows is not None and rows < len(df):
        idx = np.sort(np.random.default_rng(0).choice(len(df), rows, replace=False))
        df = df.iloc[idx].reset_index(drop=True)
    return df, schema


def numbers(df: pd.DataFrame, schema: Any, column: str) -> np.ndarray:
    """Present values of a numeric column, clipped to the schema's bounds."""
    from privsynth.transforms.discretize import Discretizer

    v = Discretizer(schema).numeric_values(df.astype(str).replace({"<NA>": "", "nan": ""}))[column]
    return v[~np.isnan(v)]


def hill(x: np.ndarray) -> float | None:
    """Hill estimate of the upper tail index of ``x - median`` (top 1 %, at least 10)."""
    y = np.sort(x - np.median(x))[::-1]
    y = y[y > 0]
    k = max(10, len(x) // 100)
    if len(y) <= k:
        return None
    h = float(np.mean(np.log(y[:k])) - np.log(y[k]))
    return 1.0 / h if h > 0 else None


def column_metrics(real: np.ndarray, synth: np.ndarray) -> dict[str, float | None]:
    """Quantile errors (relative to the real upper spread) and the Hill-index error."""
    spread = max(float(np.quantile(real, 0.999) - np.quantile(real, 0.5)), 1e-12)
    out: dict[str, float | None] = {}
    for key, q in QUANTILES.items():
        out[key] = float(abs(np.quantile(synth, q) - np.quantile(real, q)) / spread)
    a_r, a_s = hill(real), hill(synth)
    out["hill"] = None if a_r is None or a_s is None else abs(a_s - a_r) / a_r
    out["hill_real"], out["hill_synth"] = a_r, a_s
    return out


def run_one(
    data: str,
    bench_name: str,
    eps: float,
    seed: int,
    df: pd.DataFrame,
    schema: Any,
    quick: bool,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One fit, its sample and the metrics of every benchmarked column; ``overrides``: extra
    dpflow parameters (``--param``)."""
    import torch

    from privsynth.synthesizer import fit_table

    torch.set_num_threads(1)
    gen, params = GENERATORS[bench_name]
    params = {**params, **(QUICK.get(gen, {}) if quick else {})}
    if gen == "dpflow":
        params = {**params, **(overrides or {})}
    record: dict[str, Any] = {
        "dataset": data,
        "generator": bench_name,
        "eps": eps,
        "seed": seed,
        "params": params,
    }
    start = time.perf_counter()
    try:
        synth, _ = fit_table(
            df,
            schema,
            generator=gen,
            epsilon=eps,
            delta=DATASETS[data]["delta"],
            rng=np.random.default_rng(seed),
            params=params,
        )
        sample = synth.sample(len(df), rng=np.random.default_rng(seed + 1))
    except Exception:  # noqa: BLE001 - keep the sweep going, report the error
        record.update(status="error", error=traceback.format_exc()[-2000:])
        return record
    record["wall_s"] = time.perf_counter() - start
    record["eps_spent"] = synth.ledger.epsilon()
    record["columns"] = {
        c: column_metrics(numbers(df, schema, c), numbers(sample, schema, c))
        for c in DATASETS[data]["columns"]
    }
    record["status"] = "ok"
    return record


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def render_markdown(result: dict[str, Any]) -> str:
    """One table per dataset: rows generator x eps x column, cells the errors."""
    lines = [
        "# Heavy tails: dpflow (Student-t / Gaussian base) vs MST / AIM",
        "",
        "```",
        result["command"],
        "```",
        "",
        f"{result['date']}; {result['machine']['cpu_model']}, {result['machine']['cpu_count']} "
        "CPUs. Quantile errors are |synthetic - real| / (real q99.9 - real q50); `hill` is the "
        "relative error of the Hill upper-tail index (top 1 %). Lower is better.",
    ]
    runs = [r for r in result["runs"] if r["status"] == "ok"]
    for data in dict.fromkeys(r["dataset"] for r in runs):
        lines += [
            "",
            f"## {data}",
            "",
            "| generator | eps | column | q90 | q99 | q99.9 | hill | alpha real / synth | fit s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in (r for r in runs if r["dataset"] == data):
            for col, m in r["columns"].items():
                lines.append(
                    f"| {r['generator']} | {r['eps']:g} | {col} | {_fmt(m['q90'])} | "
                    f"{_fmt(m['q99'])} | {_fmt(m['q999'])} | {_fmt(m['hill'])} | "
                    f"{_fmt(m['hill_real'])} / {_fmt(m['hill_synth'])} | {r['wall_s']:.0f} |"
                )
    lines += summary(runs)
    for r in result["runs"]:
        if r["status"] != "ok":
            last = r["error"].strip().splitlines()[-1]
            lines.append(f"- FAILED {r['dataset']} {r['generator']} eps={r['eps']:g}: {last}")
    return "\n".join(lines) + "\n"


def summary(runs: list[dict[str, Any]]) -> list[str]:
    """The issue's comparison: 99.9 % quantile error of the Student-t flow over the Gaussian
    flow's, per column and epsilon, averaged over the seeds both ran (ratio below 0.5:
    halved), and the mean over each dataset's columns."""
    errs: dict[tuple[str, float, str], dict[int, tuple[float, ...]]] = {}
    for r in runs:
        if r["generator"] not in ("dpflow-t", "dpflow-gauss"):
            continue
        slot = 0 if r["generator"] == "dpflow-t" else 1
        for col, m in r["columns"].items():
            cell = errs.setdefault((r["dataset"], r["eps"], col), {})
            cell.setdefault(r["seed"], [None, None])[slot] = m["q999"]
    out = [
        "",
        "## Student-t base vs Gaussian base: 99.9 % quantile error",
        "",
        "Mean over the seeds where both ran (their number in the last column); "
        "t / gauss below 0.5 means the heavy-tailed base halves the error.",
        "",
        "| dataset | eps | column | dpflow-t | dpflow-gauss | t / gauss | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for (data, eps, col), by_seed in errs.items():
        pairs = [tuple(v) for v in by_seed.values() if None not in v]
        if not pairs:
            continue
        a, b = (float(np.mean(x)) for x in zip(*pairs, strict=True))
        groups.setdefault((data, eps), []).append((a, b))
        ratio = "—" if b == 0 else f"{a / b:.2f}"
        out.append(f"| {data} | {eps:g} | {col} | {a:.3f} | {b:.3f} | {ratio} | {len(pairs)} |")
    for (data, eps), cols in groups.items():
        a, b = (float(np.mean(x)) for x in zip(*cols, strict=True))
        ratio = "—" if b == 0 else f"**{a / b:.2f}**"
        out.append(f"| {data} | {eps:g} | mean of columns | {a:.3f} | {b:.3f} | {ratio} | |")
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=list(GENERATORS))
    p.add_argument("--eps", nargs="+", type=float, default=None, help="default 1 10 (quick: 1)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--rows", type=int, default=None, help="row subset (quick: 3000)")
    p.add_argument("--quick", action="store_true", help="few rows, short training, eps 1")
    p.add_argument("--out-json", type=Path, default=BENCH_DIR / "results" / "tails.json")
    p.add_argument("--out-md", type=Path, default=BENCH_DIR / "results" / "tails.md")
    p.add_argument(
        "--param",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="extra dpflow parameters (JSON values), e.g. stats_share=0.2",
    )
    p.add_argument(
        "--render",
        nargs="+",
        default=None,
        help="only re-render these JSON results (their runs merged) to --out-md and --out-json; "
        "FILE::G1,G2 takes only those generators' runs from FILE",
    )
    args = p.parse_args(argv)
    if args.eps is None:
        args.eps = [1.0] if args.quick else [1.0, 10.0]
    if args.rows is None and args.quick:
        args.rows = 3000
    try:
        args.param = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.param)}
    except json.JSONDecodeError as exc:
        p.error(f"--param: {exc}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid, rewriting the JSON and markdown after every fit."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    if args.render is not None:
        specs = [spec.partition("::") for spec in args.render]
        paths = [Path(path) for path, _, _ in specs]
        parts = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
        keep = [set(gens.split(",")) if gens else None for _, _, gens in specs]
        runs = [
            r
            for part, gens in zip(parts, keep, strict=True)
            for r in part["runs"]
            if gens is None or r["generator"] in gens
        ]
        merged = {**parts[0], "runs": runs}
        merged["command"] = " ; ".join([*(part["command"] for part in parts), command])
        merged["date"] = " / ".join(dict.fromkeys(part["date"] for part in parts))
        if args.out_json.resolve() not in {path.resolve() for path in paths}:
            _common.write_json(args.out_json, merged)
        args.out_md.write_text(render_markdown(merged), encoding="utf-8")
        return 0
    result: dict[str, Any] = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _common.machine_info(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": [],
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    for data in args.datasets:
        df, schema = load(data, args.rows)
        for eps in args.eps:
            for gen in args.generators:
                for seed in args.seeds:
                    r = run_one(data, gen, eps, seed, df, schema, args.quick, args.param)
                    result["runs"].append(r)
                    _common.write_json(args.out_json, result)
                    args.out_md.write_text(render_markdown(result), encoding="utf-8")
                    note = (
                        f"{r['wall_s']:.0f}s eps_spent={r['eps_spent']:.4g}"
                        if r["status"] == "ok"
                        else r["error"].strip().splitlines()[-1]
                    )
                    print(f"{data} {gen} eps={eps:g} seed={seed}: {note}", flush=True)
    failed = sum(r["status"] != "ok" for r in result["runs"])
    print(f"wrote {args.out_json} and {args.out_md}; {failed} failed run(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
