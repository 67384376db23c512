"""Merge two sweeps of marginal_benchmark.py that ran side by side on separate CPUs.

The reference sweep (smartnoise-synth, slow) and ours ran at the same time, each pinned to its
own core; this joins their runs into bench/results/marginal.json and re-renders the table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import marginal_benchmark  # noqa: E402


def main() -> int:
    """Join ``--inputs`` into ``--out-json`` and write ``--out-md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", nargs="+", type=Path, required=True)
    parser.add_argument("--out-json", type=Path, default=Path("bench/results/marginal.json"))
    parser.add_argument("--out-md", type=Path, default=Path("bench/results/marginal.md"))
    args = parser.parse_args()
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in args.inputs]
    base = parts[0]
    for other in parts[1:]:
        for key in ("data", "domain", "delta", "n_train", "n_test", "split_seed"):
            if other["config"][key] != base["config"][key]:
                raise SystemExit(f"{key} differs between sweeps; refusing to merge")
    merged = dict(base)
    merged["runs"] = [r for p in parts for r in p["runs"]]
    merged["config"] = dict(base["config"])
    merged["config"]["impls"] = sorted({i for p in parts for i in p["config"]["impls"]})
    merged["config"]["cpu"] = " / ".join(
        f"{p['config']['cpu']} ({', '.join(p['config']['impls'])})" for p in parts
    )
    here = shlex.join([Path(sys.executable).name, *sys.argv])
    merged["command"] = " & ".join(p["command"] for p in parts) + f"; wait; {here}"
    merged["sweeps"] = [{"command": p["command"], "date": p["date"]} for p in parts]
    args.out_json.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    text = marginal_benchmark.render_markdown(merged)
    text = text.replace(
        "the fits run one after another.",
        "the sweeps ran at the same time, each on its own core; within a sweep, fits run one "
        "after another.",
    )
    args.out_md.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
