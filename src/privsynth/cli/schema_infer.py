"""``privsynth schema infer``: a public schema, declared from public data or paid for with DP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.common import errors_as_exit, make_rng, out_console, write_atomic
from privsynth.cli.options import DatasetName, Delimiter, LedgerPath, Seed, budget_store

schema_app = typer.Typer(help="Build a public schema.", no_args_is_help=True)


@schema_app.command("infer")
def schema_infer(
    data: Annotated[Path, typer.Argument(help="CSV file to describe.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Schema file to write (.yaml or .json).")
    ],
    public: Annotated[
        bool, typer.Option("--public", help="The data is already public: read it freely.")
    ] = False,
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="Budget spent on DP inference.")
    ] = None,
    delta: Annotated[
        float | None, typer.Option("--delta", help="Delta spent on DP inference.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Label column for machine-learning evaluation.")
    ] = None,
    missing: Annotated[
        list[str] | None,
        typer.Option("--missing", help="Text that marks a missing value (repeatable)."),
    ] = None,
    bins: Annotated[int, typer.Option("--bins", help="Bins per numeric column.")] = 16,
    seed: Seed = None,
    delimiter: Delimiter = ",",
    ledger: LedgerPath = None,
    dataset: DatasetName = None,
) -> None:
    """Build a schema either with a DP mechanism (--epsilon/--delta) or, for public data, --public."""
    from privsynth.errors import InputError
    from privsynth.schema import save_schema
    from privsynth.schema.infer import infer_dp, infer_public
    from privsynth.tables import read_table

    with errors_as_exit():
        if public == (epsilon is not None):
            raise InputError(
                "schema infer: choose exactly one of --public (data already public) or "
                "--epsilon/--delta (spend privacy budget on DP inference)"
            )
        if output.exists():
            raise InputError(f"{output}: output exists; choose a new path")
        df = read_table(data, delimiter=delimiter)
        missing_values = tuple(missing) if missing else ("",)
        if label is not None and label not in df.columns:
            raise InputError(
                f"{data}: column {label!r}: --label names a column absent from the data"
            )
        name = dataset or data.stem
        if public:
            sch = infer_public(df, label=label, missing_values=missing_values, bins=bins, name=name)
        else:
            from privsynth.schema.infer import dp_inference_ledger

            if delta is None:
                raise InputError("schema infer: --delta is required with --epsilon")
            store = budget_store(ledger)
            led = dp_inference_ledger(epsilon, delta, store=store, dataset=name if store else None)
            sch = infer_dp(
                df,
                led,
                rng=make_rng(seed),
                label=label,
                missing_values=missing_values,
                bins=bins,
                name=name,
                source=str(data),
            )
        fmt = "json" if output.suffix.lower() == ".json" else "yaml"
        write_atomic(output, lambda p: save_schema(sch, p, fmt=fmt))
    how = "public (read freely)" if public else f"DP, epsilon={epsilon:g}, delta={delta:g}"
    out_console.print(f"wrote schema with {len(sch.columns)} columns to {output} ({how})")
