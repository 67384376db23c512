"""How long the full evaluation of one 30 000-row synthetic table takes.

Real: the first 30 000 rows of ../shared/datasets/adult_train.csv; holdout (non-members for the
attacks, real test rows for efficacy): adult_test.csv; synthetic: 30 000 rows sampled from an
MST fit (epsilon 1, delta 1e-9, seed 0) on the real rows. The evaluation is
:func:`privsynth.evaluate.evaluate` with every part on: all 1-, 2-, 3-way marginals, columns,
Wasserstein, correlations, detection, the 2 x 2 efficacy matrix, and the privacy attacks; once
without the shadow-model attack and once with it (which refits MST three times on holdout rows).
Each part's share is timed through the progress callback. Wall time and peak RSS of this
process are recorded; the machine has 2 cores.

Run (writes bench/results/evaluation_time.json and .md)::

    python bench/evaluation_time.py
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "src"))

import numpy as np  # noqa: E402

from privsynth.cli.demo import bundled_adult  # noqa: E402
from privsynth.evaluate import evaluate  # noqa: E402
from privsynth.evaluate.shadow import release_shadow  # noqa: E402
from privsynth.schema import load_schema  # noqa: E402
from privsynth.synthesizer import fit_table  # noqa: E402
from privsynth.tables import read_table  # noqa: E402

SHARED = BENCH_DIR.parents[1] / "shared" / "datasets"
ROWS = 30_000


def _timed_evaluation(real, synth, schema, test, shadow) -> dict:  # noqa: ANN001
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    result = evaluate(
        real,
        synth,
        schema,
        test=test,
        seed=0,
        attacks=True,
        shadow=shadow,
        progress=lambda message, fraction: marks.append((message, time.perf_counter())),
    )
    total = time.perf_counter() - started
    parts = {}
    for (message, t0), (_, t1) in zip(marks, marks[1:], strict=False):
        parts[message] = round(t1 - t0, 2)
    attacks = result.to_dict()["attacks"]
    return {
        "wall_s": total,
        "parts_s": parts,
        "attacks_run": sorted(attacks["attacks"]),
        "attacks_skipped": attacks["skipped"],
    }


def main() -> None:
    """Fit, sample, evaluate twice; write JSON and markdown."""
    schema = load_schema(bundled_adult()[1])
    real = read_table(SHARED / "adult_train.csv").iloc[:ROWS].reset_index(drop=True)
    test = read_table(SHARED / "adult_test.csv")
    synth_model, _ = fit_table(
        real, schema, generator="mst", epsilon=1.0, delta=1e-9, rng=np.random.default_rng(0)
    )
    synth = synth_model.sample(ROWS, rng=np.random.default_rng(1))
    runs = {
        "without shadow-model attack": _timed_evaluation(real, synth, schema, test, None),
        "with shadow-model attack (3 MST refits)": _timed_evaluation(
            real, synth, schema, test, release_shadow(synth_model)
        ),
    }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    command = "python bench/evaluation_time.py"
    out = {
        "command": command,
        "rows": {"real": len(real), "synthetic": len(synth), "test": len(test)},
        "runs": runs,
        "peak_rss_mb": peak_mb,
    }
    (BENCH_DIR / "results" / "evaluation_time.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# Full evaluation of a 30 000-row synthetic table\n\n`{command}`\n",
        f"real {len(real)} rows, synthetic {len(synth)} rows, holdout {len(test)} rows; "
        f"peak RSS {peak_mb:.0f} MB; 2-core machine\n",
        "| run | wall s | slowest parts (s) |",
        "|---|---|---|",
    ]
    for name, r in runs.items():
        slow = sorted(r["parts_s"].items(), key=lambda kv: -kv[1])[:4]
        text = "; ".join(f"{k.removeprefix('evaluate: ')} {v}" for k, v in slow)
        lines.append(f"| {name} | {r['wall_s']:.1f} | {text} |")
    (BENCH_DIR / "results" / "evaluation_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
