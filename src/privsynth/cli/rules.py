"""``privsynth rules``: learn candidate rules with DP, and accept chosen ones into a schema.

Register with ``app.add_typer(rules_app, name="rules")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.common import errors_as_exit, make_rng, out_console, write_atomic

rules_app = typer.Typer(
    help="Rules that generated rows must respect: learn candidates with DP, accept them.",
    no_args_is_help=True,
)


@rules_app.command("learn")
def learn(
    data: Annotated[Path, typer.Argument(help="CSV file with the private table.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Public schema (YAML or JSON).")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="Budget spent on learning.")],
    delta: Annotated[float, typer.Option("--delta", help="Delta (< 1/n).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Candidates file (YAML).")],
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="Categorical column to include (repeatable; default all)."),
    ] = None,
    z: Annotated[float, typer.Option("--z", help="Noise deviations in the upper bound.")] = 3.0,
    max_fraction: Annotated[
        float,
        typer.Option(
            "--max-fraction", help="Flag when the upper bound is at most this share of rows."
        ),
    ] = 0.001,
    min_side_fraction: Annotated[
        float, typer.Option("--min-side-fraction", help="Each value must reach this share of rows.")
    ] = 0.01,
    max_ratio: Annotated[
        float,
        typer.Option(
            "--max-ratio",
            help="Flag only when the upper bound is at most this share of the count expected "
            "if the two values were independent.",
        ),
    ] = 0.2,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for reproducible noise.")] = None,
    delimiter: Annotated[str, typer.Option("--delimiter", help="Field delimiter.")] = ",",
    ledger: Annotated[
        Path | None, typer.Option("--ledger", help="SQLite file with lifetime budgets.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Dataset name in --ledger (default: schema name)."),
    ] = None,
) -> None:
    """Measure categorical 1- and 2-way marginals with DP and list value pairs that (almost)
    never occur while both values are common, strongest evidence first. Spends the whole
    (epsilon, delta)."""
    from privsynth.errors import InputError
    from privsynth.privacy.ledger import validate_budget
    from privsynth.schema import load_schema
    from privsynth.schema.learn import learn_rules, save_candidates
    from privsynth.synthesizer import open_fit_ledger
    from privsynth.tables import read_table

    with errors_as_exit():
        validate_budget(epsilon, delta)
        if output.exists():
            raise InputError(f"{output}: output exists; choose a new path")
        sch = load_schema(schema)
        df = read_table(data, delimiter=delimiter)
        store = None
        if ledger is not None:
            from privsynth.privacy.store import SqliteBudgetStore

            store = SqliteBudgetStore(ledger)
        name = dataset or sch.name or data.stem
        led = open_fit_ledger(
            None,
            epsilon,
            delta,
            n=len(df),
            what=("rows", "a row"),
            source=data,
            store=store,
            dataset=name if store else None,
        )
        learned = learn_rules(
            df,
            sch,
            led,
            make_rng(seed),
            columns=column,
            z=z,
            max_fraction=max_fraction,
            min_side_fraction=min_side_fraction,
            max_ratio=max_ratio,
            source=data,
        )
        provenance = {"data": str(data), "schema": str(schema)}
        if ledger is not None:  # a fit reusing these marginals charges the same store less
            provenance["ledger"] = str(ledger.resolve())
        write_atomic(output, lambda p: save_candidates(learned, p, provenance))
    out_console.print(
        f"{len(learned.candidates)} candidate rules in {output}; spent epsilon={led.epsilon():.6g} "
        f"at delta={led.delta:g} (rho {led.rho_spent:.6g})",
        soft_wrap=True,
    )
    for c in learned.candidates:
        (a, b), (u, v) = c.columns, c.values
        out_console.print(
            f"  {c.id}: forbid {a}={u}, {b}={v}  (noisy count {c.noisy_count:.1f}, "
            f"upper bound {c.upper_bound:.1f}, {c.expected:.0f} expected if independent, "
            f"noisy support {c.support[0]:.0f} / {c.support[1]:.0f})",
            highlight=False,
            soft_wrap=True,
        )


@rules_app.command("accept")
def accept(
    candidates: Annotated[Path, typer.Argument(help="Candidates file from `rules learn`.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Schema to extend.")],
    ids: Annotated[str, typer.Option("--ids", help="Candidate ids to accept, e.g. 1,3.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="New schema file.")],
) -> None:
    """Add chosen candidates to the schema as learned rules (with their provenance)."""
    from privsynth.errors import InputError
    from privsynth.schema import load_schema, save_schema
    from privsynth.schema.learn import accept_candidates, load_candidates

    with errors_as_exit():
        try:
            chosen = [int(x) for x in ids.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"--ids: expected numbers like 1,3, got {ids!r}") from None
        if not chosen:
            raise InputError("--ids: name at least one candidate")
        if output.exists():
            raise InputError(f"{output}: output exists; choose a new path")
        sch = load_schema(schema)
        data = load_candidates(candidates)
        new, added = accept_candidates(sch, data, chosen, str(candidates))
        fmt = "json" if output.suffix.lower() == ".json" else "yaml"
        write_atomic(output, lambda p: save_schema(new, p, fmt=fmt))
    out_console.print(
        f"added {added} learned rule(s) to {output} ({len(new.rules)} rules in all)", soft_wrap=True
    )
