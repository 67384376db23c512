"""Empirical-epsilon audits of every auditable generator and of the three broken ones.

For each target and claimed epsilon, :func:`privsynth.audit.audit` runs ``runs`` independent
fits with ``canaries`` canaries each (see ``privsynth/audit``) and reports:

* ``lower``: the assumption-free lower bound (one-run auditing, 95 % confidence);
* ``gdp``: the GDP estimate (a lower confidence bound on mu under a Gaussian trade-off
  assumption, turned into epsilon at the claimed delta): an estimate, not a guarantee;
* ``claimed / lower`` and ``claimed / gdp``: how far from tight (1 = tight).

Marginal generators are audited white-box (released noisy measurements) and black-box
(sampled rows) on a worst-case single canary column with delta 1e-9; DP-SGD generators
white-box, replaying the engine configuration of a real fit on a ``--rows``-row stand-in table
with gradient canaries, at delta 1e-5 (the MNIST/DP-SGD convention). Broken generators claim
epsilon 1.

Full run (writes bench/results/audit.json and bench/results/audit.md)::

    python bench/audit_benchmark.py

Smoke run::

    python bench/audit_benchmark.py --quick --out-json /tmp/audit.json --out-md /tmp/audit.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from privsynth.audit import audit  # noqa: E402

# (target, mode, claimed epsilon, delta, hyperparameters)
MARGINAL_CELLS = [
    (gen, mode, eps, 1e-9, {})
    for gen in ("independent", "mst", "aim")
    for eps in (0.1, 1.0, 10.0)
    for mode in ("white-box", "black-box")
]
DPSGD_CELLS = [
    (gen, "white-box", eps, 1e-5, {})
    for gen in ("dpgan", "dpgan-laplace", "dpcvae", "dpvae-mixture")
    for eps in (1.0, 10.0)
]
BROKEN_CELLS = [
    (gen, mode, 1.0, 1e-9, {})
    for gen in ("broken:no-noise", "broken:free-categories")
    for mode in ("white-box", "black-box")
] + [("broken:noise-layer-gan", "white-box", 1.0, 1e-9, {})]


def _run_cell(
    target: str,
    mode: str,
    eps: float,
    delta: float,
    params: dict[str, Any],
    args: argparse.Namespace,
    seed: int,
) -> dict[str, Any]:
    if target.startswith("broken:noise"):
        canaries, runs = args.gan_canaries, args.gan_runs
    elif target in ("dpgan", "dpgan-laplace", "dpcvae", "dpvae-mixture"):
        canaries, runs = args.dpsgd_canaries, args.dpsgd_runs
    else:
        canaries, runs = args.canaries, args.runs
    started = time.perf_counter()
    result = audit(
        target,
        epsilon=eps,
        delta=delta,
        rng=np.random.default_rng(seed),
        params=params,
        mode=mode,
        canaries=canaries,
        runs=runs,
        rows=args.rows,
    )
    data = result.to_dict()
    data["wall_s"] = time.perf_counter() - started
    data["seed"] = seed
    return data


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"# Empirical-epsilon audits\n\n`{command}`\n",
        "| target | mode | claimed ε | δ | lower bound | claimed / lower | GDP estimate | "
        "claimed / GDP | verdict | canaries × runs | score | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "**VIOLATION**" if r["violation"] else "consistent"
        lines.append(
            f"| {r['target']} | {r['mode']} | {_fmt(r['claimed_epsilon'])} | {r['delta']:g} | "
            f"{_fmt(r['epsilon_lower_bound'])} | {_fmt(r['claimed_over_lower_bound'])} | "
            f"{_fmt(r['epsilon_gdp_estimate'])} | {_fmt(r['claimed_over_gdp_estimate'])} | "
            f"{verdict} | {r['canaries_per_run']} × {r['runs']} | "
            f"{r['setting'].get('score', '')} | {r['wall_s']:.1f} |"
        )
    lines += [
        "",
        "- lower bound: one-run auditing (Steinke, Nasr & Jagielski 2023), valid for any "
        "(ε, δ)-DP mechanism, 95 % confidence, Bonferroni over the guess sizes tried.",
        "- GDP estimate: lower confidence bound on μ under a Gaussian trade-off assumption, as ε "
        "at the claimed δ; an estimate, not a guarantee.",
        "- DP-SGD rows replay the engine configuration of a real fit (see `setting.engine` in "
        "the JSON) with gradient canaries; `claimed` is the whole fit's budget.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the audits and write JSON and markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="*", default=None, help="Only these targets.")
    parser.add_argument("--canaries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--dpsgd-canaries", type=int, default=4000)
    parser.add_argument("--dpsgd-runs", type=int, default=8)
    parser.add_argument("--gan-canaries", type=int, default=500)
    parser.add_argument("--gan-runs", type=int, default=4)
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="Tiny settings (smoke test).")
    parser.add_argument("--out-json", type=Path, default=BENCH_DIR / "results" / "audit.json")
    parser.add_argument("--out-md", type=Path, default=BENCH_DIR / "results" / "audit.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.canaries, args.runs, args.dpsgd_canaries, args.dpsgd_runs = 2000, 2, 200, 2
        args.gan_canaries, args.gan_runs, args.rows = 200, 2, 2000
    torch.set_num_threads(1)
    command = "python bench/audit_benchmark.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    cells = MARGINAL_CELLS + DPSGD_CELLS + BROKEN_CELLS
    if args.targets:
        cells = [c for c in cells if c[0] in args.targets]
    rows = []
    for i, (target, mode, eps, delta, params) in enumerate(cells):
        row = _run_cell(target, mode, eps, delta, params, args, args.seed + i)
        rows.append(row)
        print(
            f"{target:24s} {mode:9s} eps={eps:<5g} lower={row['epsilon_lower_bound']:.3f} "
            f"gdp={_fmt(row['epsilon_gdp_estimate'])} {row['wall_s']:.1f}s",
            flush=True,
        )
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(
            json.dumps({"command": command, "rows": rows}, indent=2, default=float) + "\n"
        )
        args.out_md.write_text(_markdown(rows, command))


if __name__ == "__main__":
    main()
