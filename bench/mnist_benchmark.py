"""MNIST: TSTR accuracy of privsynth's DP image generators at fixed recipes.

Each (generator, epsilon) fit runs in its own subprocess (peak RSS measured there) on the
60 000 training images with delta = 1e-5; 20 000 images are then sampled (classes by the
model's noisy class weights) and the fixed SmallCNN of ``privsynth.evaluate.images`` is trained
on them (5 epochs, seed 0) and tested on the 10 000 real test images. Every hyperparameter is
fixed in this file before any run (``RECIPES``); nothing is chosen by looking at test accuracy.

    python bench/mnist_benchmark.py --generators dpgan dpcvae --eps 1 10 \
        --out-json bench/results/mnist.json --out-md bench/results/mnist.md

A baseline row trains the same CNN on 20 000 real training images (the ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "datasets" / "mnist.npz"
DELTA = 1e-5
N_SYNTH = 20_000

# Fixed in advance for 2 CPU cores and under an hour of training per fit.
RECIPES: dict[str, dict[str, Any]] = {
    "dpgan": {"epochs": 3, "batch_size": 128, "channels": 32, "gen_channels": 32},
    "dpgan-laplace": {"epochs": 1, "batch_size": 512, "channels": 16, "gen_channels": 32},
    "dpcvae": {"epochs": 3, "batch_size": 256},
    "dpvae-mixture": {"epochs": 3, "batch_size": 256},
    "pategan": {},
    "dppca": {},
}


def child(args: argparse.Namespace) -> int:
    """Fit, sample, score one configuration; print one JSON line."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "src"))
    torch.set_num_threads(args.threads)
    from privsynth.evaluate.images import tstr_accuracy
    from privsynth.generators import get_generator
    from privsynth.images import load_images
    from privsynth.images.png import write_grid
    from privsynth.marginals.images import ImageBackend
    from privsynth.privacy.ledger import Ledger

    train = load_images(args.data, "train")
    test = load_images(args.data, "test")
    params = {**RECIPES.get(args.generator, {}), **json.loads(args.params)}
    gen = get_generator(args.generator, **params)
    ledger = Ledger(args.epsilon, DELTA, composition=gen.composition)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    log = []

    def progress(message: str, fraction: float) -> None:
        log.append(message)
        print(f"[{time.perf_counter() - t0:7.0f}s] {message}", file=sys.stderr, flush=True)

    model = gen.fit(
        ImageBackend(train.images, train.labels, 10), ledger, rng=rng, progress=progress
    )
    fit_s = time.perf_counter() - t0
    images, labels = model.sample_images(N_SYNTH, rng=np.random.default_rng(args.seed + 1))
    sample_s = time.perf_counter() - t0 - fit_s
    grid = Path(args.grid)
    grid.parent.mkdir(parents=True, exist_ok=True)
    order = np.argsort(labels[:2000], kind="stable")
    picks = np.concatenate([order[labels[order] == k][:10] for k in range(10)])
    write_grid(images[picks], grid, labels=labels[picks], ncol=10)
    tstr = tstr_accuracy(
        images, labels, test.images, test.labels, seed=0, epochs=5, threads=args.threads
    )
    out = {
        "generator": args.generator,
        "epsilon": args.epsilon,
        "delta": DELTA,
        "seed": args.seed,
        "params": gen.config(),
        "epsilon_spent": ledger.epsilon(),
        "ledger": ledger.to_dict(),
        "fit_seconds": fit_s,
        "sample_seconds": sample_s,
        "tstr_accuracy": tstr["accuracy"],
        "per_class_accuracy": tstr["per_class_accuracy"],
        "grid": str(grid.relative_to(ROOT)) if grid.is_relative_to(ROOT) else str(grid),
        "progress": log[-3:],
    }
    print(json.dumps(out))
    return 0


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The same CNN trained on real images: the ceiling for TSTR."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "src"))
    from privsynth.evaluate.images import tstr_accuracy
    from privsynth.images import load_images

    train = load_images(args.data, "train")
    test = load_images(args.data, "test")
    idx = np.random.default_rng(0).choice(len(train.labels), N_SYNTH, replace=False)
    t = tstr_accuracy(
        train.images[idx], train.labels[idx], test.images, test.labels, seed=0, epochs=5, threads=1
    )
    return {"generator": "real (20 000 training images)", "tstr_accuracy": t["accuracy"]}


def run_one(args: argparse.Namespace, generator: str, epsilon: float, seed: int) -> dict[str, Any]:
    tag = f"_{args.tag}" if args.tag else ""
    tag += f"_seed{seed}" if seed else ""
    grid = ROOT / "bench" / "results" / "mnist" / f"{generator}{tag}_eps{epsilon:g}.png"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--generator",
        generator,
        "--epsilon",
        str(epsilon),
        "--seed",
        str(seed),
        "--data",
        str(args.data),
        "--grid",
        str(grid),
        "--threads",
        str(args.threads),
        "--params",
        json.dumps(args.param.get(generator, {})),
    ]
    if args.cpu != "none":
        cmd = ["taskset", "-c", args.cpu, *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        return {
            "generator": generator,
            "epsilon": epsilon,
            "seed": seed,
            "error": proc.stderr.strip().splitlines()[-1:],
        }
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    # ru_maxrss of children is the max over all children so far: exact when it grew.
    result["peak_rss_mb"] = peak / 1024 if peak > before else None
    print(
        f"{generator} eps={epsilon:g} seed={seed}: TSTR {result['tstr_accuracy']:.4f} "
        f"fit {result['fit_seconds']:.0f}s",
        flush=True,
    )
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        f"`{result['command']}`",
        "",
        f"MNIST, delta = {DELTA:g}, {N_SYNTH} synthetic images, fixed SmallCNN (5 epochs, "
        "seed 0) tested on the 10 000 real test images. Machine: "
        f"{result['machine']}. Hyperparameters fixed in advance (`RECIPES`).",
        "",
        "| generator | epsilon | seed | epsilon spent | TSTR accuracy | fit (s) | peak RSS (MB) "
        "| grid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        seed = r.get("seed", 0)
        if "error" in r:
            lines.append(
                f"| {r['generator']} | {r['epsilon']:g} | {seed} | failed: {r['error']} | | | | |"
            )
            continue
        peak = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") else "n/a"
        lines.append(
            f"| {r['generator']} | {r['epsilon']:g} | {seed} | {r['epsilon_spent']:.4f} | "
            f"{r['tstr_accuracy']:.4f} | {r['fit_seconds']:.0f} | {peak} | "
            f"![]({Path(r['grid']).relative_to('bench/results')}) |"
        )
    b = result.get("baseline")
    if b:
        lines.append(f"| {b['generator']} | — | — | — | {b['tstr_accuracy']:.4f} | | | |")
    lines += summary(result["runs"])
    return "\n".join(lines) + "\n"


def summary(runs: list[dict[str, Any]]) -> list[str]:
    """Mean and spread of TSTR accuracy over seeds, per (generator, epsilon) with > 1 seed."""
    groups: dict[tuple[str, float], list[float]] = {}
    for r in runs:
        if "error" not in r:
            groups.setdefault((r["generator"], r["epsilon"]), []).append(r["tstr_accuracy"])
    rows = [(k, v) for k, v in groups.items() if len(v) > 1]
    if not rows:
        return []
    out = [
        "",
        "| generator | epsilon | seeds | mean TSTR accuracy | min | max |",
        "|---|---|---|---|---|---|",
    ]
    for (gen, eps), accs in rows:
        out.append(
            f"| {gen} | {eps:g} | {len(accs)} | {sum(accs) / len(accs):.4f} | {min(accs):.4f} "
            f"| {max(accs):.4f} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--generator", help=argparse.SUPPRESS)
    p.add_argument("--epsilon", type=float, help=argparse.SUPPRESS)
    p.add_argument("--grid", help=argparse.SUPPRESS)
    p.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--generators", nargs="+", default=["dpgan", "dpcvae"])
    p.add_argument("--eps", nargs="+", type=float, default=[1.0, 10.0])
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--data", default=str(MNIST))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cpu", default="0", help="CPU list for taskset, or 'none'")
    p.add_argument("--param", action="append", default=[], help="GEN.KEY=JSON override")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--tag", default="", help="suffix for the PNG grid names of this run")
    p.add_argument("--out-json", default=str(ROOT / "bench" / "results" / "mnist.json"))
    p.add_argument("--out-md", default=str(ROOT / "bench" / "results" / "mnist.md"))
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    overrides: dict[str, dict[str, Any]] = {}
    for item in args.param:
        key, _, value = item.partition("=")
        gen, _, name = key.partition(".")
        overrides.setdefault(gen, {})[name] = json.loads(value)
    args.param = overrides
    command = "python bench/mnist_benchmark.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    result: dict[str, Any] = {
        "command": command,
        "machine": f"{os.cpu_count()} CPUs, {args.threads} torch thread(s) per fit",
        "runs": [],
        "baseline": None,
    }
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        # After every fit, so a long sweep stopped early keeps what it measured.
        Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
        Path(args.out_md).write_text(render(result))

    if not args.no_baseline:
        result["baseline"] = baseline(args)
        write()
    for g in args.generators:
        for e in args.eps:
            for seed in args.seeds:
                result["runs"].append(run_one(args, g, e, seed))
                write()
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
