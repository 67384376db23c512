"""Targeted sampling speed: 10 000 rows from a region holding 1 % of the model's mass.

For each generator family — graphical (``mst``: exact conditioning), DP-SGD network
(``dpcvae``: model quantile + bounded rejection), flow (``dpflow``: its own tail sampler) —
fit on ../shared/datasets/adult_train.csv with the bundled public schema at epsilon 1,
delta 1e-9 (seed 0, default hyperparameters), then time :func:`privsynth.targeted.sample_top`
for the top 1 % of ``age`` (``--column``), 10 000 rows under a categorical condition that
holds for about 1 % of the training rows (``--where``, default ``education=5th-6th``: 1.0 % of
Adult; exact conditioning for graphical models, bounded rejection for the networks and the
flow) and, for comparison, plain sampling of 10 000 rows. Checks that every returned row lies
in the region / meets the condition. Fit time is reported but not part of the sampling time.

Run (writes bench/results/targeted_sampling.json and .md)::

    python bench/targeted_sampling.py
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from privsynth.cli.demo import bundled_adult  # noqa: E402
from privsynth.schema import load_schema  # noqa: E402
from privsynth.synthesizer import fit_table  # noqa: E402
from privsynth.tables import read_table  # noqa: E402
from privsynth.targeted import sample_top  # noqa: E402

SHARED = BENCH_DIR.parents[1] / "shared" / "datasets"
FAMILIES = {"mst": "graphical", "dpcvae": "DP-SGD network", "dpflow": "flow"}


def main(argv: list[str] | None = None) -> None:
    """Fit, time targeted and plain sampling, write JSON and markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", nargs="*", default=list(FAMILIES))
    parser.add_argument("--column", default="age")
    parser.add_argument("--q", type=float, default=0.01)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--where", default="education=5th-6th", help="COLUMN=VALUE")
    parser.add_argument(
        "--out-json", type=Path, default=BENCH_DIR / "results" / "targeted_sampling.json"
    )
    parser.add_argument(
        "--out-md", type=Path, default=BENCH_DIR / "results" / "targeted_sampling.md"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    command = "python bench/targeted_sampling.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    schema = load_schema(bundled_adult()[1])
    real = read_table(SHARED / "adult_train.csv")
    where_col, _, where_val = args.where.partition("=")
    real_share = float((real[where_col] == where_val).mean())
    rows = []
    for gen in args.generators:
        t0 = time.perf_counter()
        synth, _ = fit_table(
            real,
            schema,
            generator=gen,
            epsilon=args.epsilon,
            delta=1e-9,
            rng=np.random.default_rng(0),
        )
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        synth.sample(args.rows, rng=np.random.default_rng(1))
        plain_s = time.perf_counter() - t0
        out = sample_top(synth, args.column, args.q, args.rows, rng=np.random.default_rng(2))
        values = pd.to_numeric(out.rows[args.column]).to_numpy(float)
        t0 = time.perf_counter()
        cond = synth.sample(args.rows, rng=np.random.default_rng(3), where={where_col: [where_val]})
        where_s = time.perf_counter() - t0
        plain = synth.sample(100_000, rng=np.random.default_rng(4))
        row = {
            "generator": gen,
            "family": FAMILIES.get(gen, ""),
            "fit_s": fit_s,
            "plain_s": plain_s,
            "targeted_s": out.seconds,
            "threshold": out.threshold,
            "rows": len(out.rows),
            "all_in_region": bool((values >= out.threshold).all()),
            "method": out.method,
            "where": args.where,
            "where_s": where_s,
            "where_rows": len(cond),
            "where_all_met": bool((cond[where_col] == where_val).all()),
            "where_share_real": real_share,
            "where_share_model": float((plain[where_col] == where_val).mean()),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out_json.write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
        lines = [
            f"# Targeted sampling: {args.rows} rows from the model's top {args.q:g} of "
            f"`{args.column}` (adult, ε = {args.epsilon:g})\n\n`{command}`\n",
            "| generator | family | targeted s | plain s (same rows) | threshold | all in region "
            "| method | fit s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['generator']} | {r['family']} | {r['targeted_s']:.2f} | {r['plain_s']:.2f} "
                f"| {r['threshold']:.4g} | {r['all_in_region']} | {r['method']} | {r['fit_s']:.0f} |"
            )
        lines += [
            f"\n## {args.rows} rows `--where {args.where}` "
            f"({rows[0]['where_share_real']:.2%} of the training rows)\n",
            "| generator | family | where s | plain s (same rows) | rows | all meet it "
            "| model's share of the condition |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['generator']} | {r['family']} | {r['where_s']:.2f} | {r['plain_s']:.2f} "
                f"| {r['where_rows']} | {r['where_all_met']} | {r['where_share_model']:.2%} |"
            )
        args.out_md.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
