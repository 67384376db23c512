"""Time ``privsynth demo`` (AIM, epsilon = 1) as a user runs it, end to end in a subprocess.

Writes bench/results/demo_time.json and bench/results/demo_time.md (headed by the command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    """Run the demo ``--repeats`` times with different seeds and record wall time and memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--generator", default="aim")
    args = parser.parse_args()
    exe = shutil.which("privsynth")
    base = [exe] if exe else [sys.executable, "-m", "privsynth"]
    runs = []
    for seed in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "demo"
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            proc = subprocess.run(
                [*base, "demo", "-o", str(out), "--seed", str(seed), "-g", args.generator],
                capture_output=True,
                text=True,
                env={**os.environ},
            )
            wall = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
            summary = json.loads((out / "results.json").read_text())
            ev = summary["evaluation"]
            runs.append(
                {
                    "seed": seed,
                    "wall_s": wall,
                    "fit_s": summary["fit_seconds"],
                    "evaluate_s": summary["evaluate_seconds"],
                    "peak_mb_upper_bound": max(before, peak) / 1024,
                    "epsilon_spent": summary["epsilon_spent"],
                    "tvd3": ev["marginals"]["orders"]["3"]["mean_tvd"],
                    "auc_train_synth_test_real": ev["efficacy"]["matrix"]["train_synthetic"][
                        "test_real"
                    ]["roc_auc"],
                }
            )
            print(runs[-1], flush=True)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    result = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "generator": args.generator,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo_time.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"`{command}`",
        "",
        f"privsynth demo ({args.generator}, epsilon = 1, delta = 1e-9) on "
        f"{os.cpu_count()} CPUs, {result['date']}. Target: under 180 s.",
        "",
        "| seed | wall s | fit s | evaluate s | peak MB (max over children) | eps spent | 3-way TVD | TSTR AUC |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['wall_s']:.1f} | {r['fit_s']:.1f} | {r['evaluate_s']:.1f} | "
            f"{r['peak_mb_upper_bound']:.0f} | {r['epsilon_spent']:.4f} | {r['tvd3']:.4f} | "
            f"{r['auc_train_synth_test_real']:.4f} |"
        )
    (RESULTS / "demo_time.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
