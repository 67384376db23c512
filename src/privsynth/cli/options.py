"""Options and checks shared by several ``privsynth`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Seed = Annotated[
    int | None,
    typer.Option("--seed", help="Seed for reproducible output; fresh randomness if omitted."),
]
Delimiter = Annotated[str, typer.Option("--delimiter", help="Field delimiter of the CSV.")]
LedgerPath = Annotated[
    Path | None, typer.Option("--ledger", help="SQLite file with lifetime budgets.")
]
DatasetName = Annotated[
    str | None,
    typer.Option(
        "--dataset", help="Dataset name in the --ledger file (default: the schema's name)."
    ),
]


def budget_store(ledger: Path | None):  # noqa: ANN202
    """The lifetime budget store at ``ledger`` (None without one)."""
    if ledger is None:
        return None
    from privsynth.privacy.store import SqliteBudgetStore

    return SqliteBudgetStore(ledger)


Classes = Annotated[
    int | None,
    typer.Option("--classes", help="Number of image classes (image data only; default 10)."),
]


def image_classes(classes: int | None) -> int:
    """``--classes`` or the default number of image classes."""
    from privsynth.cli.images import DEFAULT_CLASSES

    return DEFAULT_CLASSES if classes is None else classes


def tables_only(classes: int | None, data: Path) -> None:
    """``--classes`` has no meaning for tables: refuse it rather than ignore it."""
    if classes is not None:
        from privsynth.errors import InputError

        raise InputError(f"{data}: --classes applies to image data (.npz) only")
