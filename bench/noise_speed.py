"""Time privsynth's integer noise samplers for a 10^6-cell table.

For each noise kind (discrete Gaussian with scale sigma, discrete Laplace with scale b) and
each scale in {1, 10, 1000}, one call draws noise for every cell; the reported time is the
median (and min / max) over ``--runs`` calls, after one small untimed warm-up call. Two
backends:

* ``numpy``: :func:`privsynth.measure.noise.discrete_gaussian` /
  :func:`~privsynth.measure.noise.discrete_laplace` on ``numpy.random.default_rng(0)``;
* ``opendp``: :func:`privsynth.measure.secure.secure_discrete_gaussian` /
  :func:`~privsynth.measure.secure.secure_discrete_laplace` (OpenDP's exact samplers on
  operating-system randomness).

Full run (writes bench/results/noise_speed.json and bench/results/noise_speed.md)::

    python bench/noise_speed.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _common  # noqa: E402
import numpy as np  # noqa: E402

DEFAULT_JSON = BENCH_DIR / "results" / "noise_speed.json"
DEFAULT_MD = BENCH_DIR / "results" / "noise_speed.md"
SCALES = (1.0, 10.0, 1000.0)
KINDS = ("gaussian", "laplace")


def _ensure_privsynth_importable() -> None:
    """Make ``import privsynth`` work from a source checkout without installing it."""
    try:
        import privsynth  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT / "src"))


def _samplers() -> dict[tuple[str, str], Callable[[int, float], np.ndarray]]:
    from privsynth.measure.noise import discrete_gaussian, discrete_laplace
    from privsynth.measure.secure import secure_discrete_gaussian, secure_discrete_laplace

    rng = np.random.default_rng(0)
    return {
        ("numpy", "gaussian"): lambda n, s: discrete_gaussian(n, s, rng),
        ("numpy", "laplace"): lambda n, s: discrete_laplace(n, s, rng),
        ("opendp", "gaussian"): secure_discrete_gaussian,
        ("opendp", "laplace"): secure_discrete_laplace,
    }


def time_sampler(
    fn: Callable[[int, float], np.ndarray], cells: int, scale: float, runs: int
) -> list[float]:
    """Seconds per call of ``fn(cells, scale)``, ``runs`` times, after a small warm-up."""
    fn(1000, scale)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn(cells, scale)
        times.append(time.perf_counter() - start)
        if out.shape != (cells,) or out.dtype != np.int64:
            raise RuntimeError(f"sampler returned {out.shape} {out.dtype}")
    return times


def render_markdown(result: dict[str, Any]) -> str:
    """The results table, headed by the exact command that produced it."""
    machine = result["machine"]
    lines = [
        f"`{result['command']}`",
        "",
        "# Integer noise samplers: time for one table of cells",
        "",
        f"- Date: {result['date']}",
        f"- Machine: {machine['cpu_count']} logical CPUs, {machine['cpu_model']}, "
        f"{machine['mem_gib']} GiB RAM, {machine['platform']}, Python {machine['python']}; "
        f"numpy {result['versions']['numpy']}, opendp {result['versions']['opendp']}.",
        f"- Cells per call: {result['cells']:,}. Each time is the median (min-max) of "
        f"{result['runs']} calls (OpenDP: {result['secure_runs']}) after one untimed warm-up "
        "call on 1,000 cells. numpy samplers use `numpy.random.default_rng(0)`; OpenDP draws "
        "from operating-system randomness.",
        "- Scale: sigma for the discrete Gaussian (P(y) ~ exp(-y^2 / 2 sigma^2)), b for the "
        "discrete Laplace (P(y) ~ exp(-|y| / b)).",
        "",
        "| noise | backend | scale | median s | min s | max s | cells / s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["results"]:
        lines.append(
            f"| {r['kind']} | {r['backend']} | {r['scale']:g} | {r['median_s']:.4f} | "
            f"{r['min_s']:.4f} | {r['max_s']:.4f} | {r['cells_per_s']:.3g} |"
        )
    by_key = {(r["backend"], r["kind"], r["scale"]): r for r in result["results"]}
    ratios = []
    for kind in KINDS:
        for scale in result["scales"]:
            slow, fast = by_key.get(("opendp", kind, scale)), by_key.get(("numpy", kind, scale))
            if slow and fast:
                ratios.append(f"{kind} {scale:g}: {slow['median_s'] / fast['median_s']:.0f}x")
    if ratios:
        lines += ["", "OpenDP / numpy median time: " + ", ".join(ratios) + "."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the JSON and markdown results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=1_000_000, help="Cells per call.")
    parser.add_argument("--runs", type=int, default=5, help="Timed calls per numpy case.")
    parser.add_argument(
        "--secure-runs", type=int, default=5, help="Timed calls per OpenDP case (slow)."
    )
    parser.add_argument("--no-secure", action="store_true", help="Skip the OpenDP samplers.")
    parser.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    args = parser.parse_args(argv)

    _ensure_privsynth_importable()
    samplers = _samplers()
    backends = ("numpy",) if args.no_secure else ("numpy", "opendp")
    results = []
    for backend in backends:
        runs = args.runs if backend == "numpy" else args.secure_runs
        for kind in KINDS:
            for scale in SCALES:
                times = time_sampler(samplers[(backend, kind)], args.cells, scale, runs)
                median = statistics.median(times)
                results.append(
                    {
                        "backend": backend,
                        "kind": kind,
                        "scale": scale,
                        "cells": args.cells,
                        "times_s": times,
                        "median_s": median,
                        "min_s": min(times),
                        "max_s": max(times),
                        "cells_per_s": args.cells / median,
                    }
                )
                print(f"{backend:7s} {kind:9s} scale={scale:<7g} median {median:.4f} s", flush=True)

    result: dict[str, Any] = {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _common.machine_info(),
        "versions": {
            "numpy": np.__version__,
            "opendp": importlib.metadata.version("opendp"),
        },
        "cells": args.cells,
        "runs": args.runs,
        "secure_runs": args.secure_runs,
        "scales": list(SCALES),
        "results": results,
    }
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_md.parent.mkdir(parents=True, exist_ok=True)
    _common.write_json(args.out_json, result)
    args.out_md.write_text(render_markdown(result), encoding="utf-8")
    print(f"wrote {args.out_json} and {args.out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
