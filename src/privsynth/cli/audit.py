"""``privsynth audit``: an empirical lower bound on a generator's epsilon from canaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.common import (
    errors_as_exit,
    make_rng,
    out_console,
    parse_params,
    progress_bar,
    write_atomic,
)


def audit_command(
    generator: Annotated[
        str,
        typer.Option(
            "--generator",
            "-g",
            help="Generator to audit (mst, aim, independent, dpgan, dpgan-laplace, dpcvae, "
            "dpvae-mixture) or a deliberately broken one (broken:no-noise, "
            "broken:free-categories, broken:noise-layer-gan).",
        ),
    ],
    epsilon: Annotated[float, typer.Option("--epsilon", help="Claimed epsilon.")] = 1.0,
    delta: Annotated[float, typer.Option("--delta", help="Claimed delta.")] = 1e-9,
    mode: Annotated[
        str, typer.Option("--mode", help="white-box (noisy internals) or black-box (samples).")
    ] = "white-box",
    canaries: Annotated[
        int, typer.Option("--canaries", help="Canaries per run (each in with probability 1/2).")
    ] = 1000,
    runs: Annotated[int, typer.Option("--runs", help="Independent fits.")] = 4,
    rows: Annotated[
        int,
        typer.Option("--rows", help="Rows of the stand-in table a DP-SGD generator is fitted on."),
    ] = 10_000,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Generator hyperparameter key=value (repeatable)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the audit as JSON.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for a reproducible audit.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 3 when the claim is refuted.")
    ] = False,
) -> None:
    """Fit a generator many times on canaries and bound its epsilon from below.

    The auditor builds worst-case data itself; no private data is read and nothing is charged
    to any lifetime ledger. A lower bound above the claimed epsilon refutes the claim.
    """
    from rich.table import Table

    from privsynth.audit import audit
    from privsynth.errors import InputError
    from privsynth.privacy.ledger import validate_budget

    with errors_as_exit():
        validate_budget(epsilon, delta)
        if canaries < 2 or runs < 1 or rows < 100:
            raise InputError(
                f"audit: need --canaries >= 2, --runs >= 1 and --rows >= 100, got "
                f"{canaries}, {runs}, {rows}"
            )
        if mode not in ("white-box", "black-box"):
            raise InputError(f"--mode: white-box or black-box, got {mode!r}")
        params = parse_params(param)
        with progress_bar() as progress:
            result = audit(
                generator,
                epsilon=epsilon,
                delta=delta,
                rng=make_rng(seed),
                params=params,
                mode=mode,
                canaries=canaries,
                runs=runs,
                rows=rows,
                progress=progress,
            )
        data = result.to_dict()
        if output:
            write_atomic(output, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))
    table = Table(title=f"Audit of {generator} ({mode})", title_justify="left")
    table.add_column("")
    table.add_column("epsilon", justify="right")
    table.add_row("claimed", f"{result.claimed_epsilon:.4g}")
    table.add_row("lower bound (95%, no assumption)", f"{result.bound.epsilon:.4g}")
    gdp = result.gdp.epsilon
    table.add_row(
        "GDP estimate (Gaussian trade-off assumed)", "n/a" if gdp is None else f"{gdp:.4g}"
    )
    out_console.print(table)
    out_console.print(result.verdict, highlight=False)
    if strict and result.violation:
        raise typer.Exit(3)
