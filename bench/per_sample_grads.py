"""Per-example gradients: torch.func (privsynth's engine) vs Opacus's GradSampleModule.

The measured reason the DP-SGD engine computes per-example gradients with ``torch.func``
(``vmap(grad(functional_call))``) rather than wrapping modules in Opacus's
``GradSampleModule``: same gradients (checked here and in tests/test_dpsgd.py), less time,
and no hooks to switch off for the public loss terms of a step.

    python bench/per_sample_grads.py --out-json bench/results/per_sample_grads.json \
        --out-md bench/results/per_sample_grads.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out-json", default=str(ROOT / "bench/results/per_sample_grads.json"))
    p.add_argument("--out-md", default=str(ROOT / "bench/results/per_sample_grads.md"))
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    import torch
    from opacus.grad_sample import GradSampleModule
    from torch.func import functional_call, grad, vmap
    from torch.nn import functional as F

    from privsynth.generators.neural.nets import MLP, ConvCritic

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    cases = {
        "MLP critic (adult width 400, hidden 256x256, conditional)": (
            lambda: MLP(400, 1, [256, 256], 2),
            (400,),
            2,
        ),
        "Conv critic (MNIST 28x28, 32 channels, conditional)": (
            lambda: ConvCritic(1, 10, 32),
            (1, 28, 28),
            10,
        ),
    }
    rows = []
    for name, (make, shape, classes) in cases.items():
        torch.manual_seed(0)  # same initial weights for both implementations
        base = make()
        x = torch.randn(args.batch, *shape, generator=gen)
        c = F.one_hot(torch.randint(0, classes, (args.batch,), generator=gen), classes).float()
        params = {k: v.detach() for k, v in base.named_parameters()}

        def one(p, xi, ci, module=base):  # noqa: ANN001, ANN202
            return F.softplus(-functional_call(module, p, (xi[None], ci[None]))).sum()

        per_example = vmap(grad(one), in_dims=(None, 0, 0))
        ours = per_example(params, x, c)
        t = time.perf_counter()
        for _ in range(args.repeats):
            per_example(params, x, c)
        t_ours = (time.perf_counter() - t) / args.repeats

        gsm_module = make()
        gsm_module.load_state_dict(base.state_dict())
        gsm = GradSampleModule(gsm_module, loss_reduction="sum")
        t = time.perf_counter()
        for _ in range(args.repeats):
            for q in gsm.parameters():
                q.grad = None
                q.grad_sample = None
            F.softplus(-gsm(x, c)).sum().backward()
        t_opacus = (time.perf_counter() - t) / args.repeats
        diff = max(
            float((ours[k] - q.grad_sample).abs().max()) for k, q in gsm_module.named_parameters()
        )
        rows.append(
            {
                "model": name,
                "batch": args.batch,
                "torch_func_s": t_ours,
                "opacus_s": t_opacus,
                "ratio": t_ours / t_opacus,
                "max_abs_diff": diff,
            }
        )
    command = "python bench/per_sample_grads.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    result = {"command": command, "torch_threads": 1, "rows": rows}
    Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
    md = [
        f"`{command}`",
        "",
        "Seconds per batch of per-example gradients, one torch thread, mean of "
        f"{args.repeats} repeats after one warm-up (ours only).",
        "",
        "| model | batch | torch.func (s) | Opacus GradSampleModule (s) | ours / Opacus | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['model']} | {r['batch']} | {r['torch_func_s']:.4f} | {r['opacus_s']:.4f} | "
            f"{r['ratio']:.2f} | {r['max_abs_diff']:.1e} |"
        )
    Path(args.out_md).write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
