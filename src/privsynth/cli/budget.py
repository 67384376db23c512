"""``privsynth budget``: lifetime privacy budgets kept in a SQLite ledger file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from privsynth.cli.common import errors_as_exit, out_console

budget_app = typer.Typer(
    help="Lifetime privacy budgets kept in a SQLite ledger file.", no_args_is_help=True
)


@budget_app.command("set")
def budget_set(
    ledger: Annotated[
        Path, typer.Option("--ledger", help="SQLite ledger file (created if absent).")
    ],
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset name.")],
    epsilon: Annotated[float, typer.Option("--epsilon", help="Lifetime epsilon.")],
    delta: Annotated[float, typer.Option("--delta", help="Lifetime delta.")],
) -> None:
    """Set the lifetime budget of a dataset."""
    from privsynth.privacy.ledger import validate_budget
    from privsynth.privacy.store import SqliteBudgetStore

    with errors_as_exit():
        validate_budget(epsilon, delta)
        SqliteBudgetStore(ledger).set_budget(dataset, epsilon, delta)
    out_console.print(
        f"{dataset}: lifetime budget epsilon={epsilon:g}, delta={delta:g} in {ledger}"
    )


@budget_app.command("show")
def budget_show(
    ledger: Annotated[Path, typer.Option("--ledger", help="SQLite ledger file.")],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Dataset name (default: all).")
    ] = None,
    history: Annotated[bool, typer.Option("--history", help="List every charge.")] = False,
) -> None:
    """Show lifetime budgets, what has been spent and (optionally) every charge."""
    from rich.table import Table

    from privsynth.errors import InputError
    from privsynth.privacy.store import SqliteBudgetStore

    with errors_as_exit():
        if not ledger.is_file():
            raise InputError(f"{ledger}: ledger file not found")
        store = SqliteBudgetStore(ledger)
        names = [dataset] if dataset else store.datasets()
        table = Table(title=f"privacy budgets in {ledger}")
        for col in ("dataset", "epsilon budget", "delta", "epsilon spent", "rho spent / budget"):
            table.add_column(col)
        rows = []
        for name in names:
            st = store.status(name)
            table.add_row(
                name,
                f"{st['epsilon_budget']:g}",
                f"{st['delta']:g}",
                f"{st['epsilon_spent']:.6g}",
                f"{st['rho_spent']:.6g} / {st['rho_budget']:.6g}",
            )
            if history:
                rows.extend((name, h) for h in store.history(name))
    out_console.print(table)
    for name, h in rows:
        cost = f"epsilon={h['epsilon']:.6g} (basic)" if h.get("epsilon") else f"rho={h['rho']:.6g}"
        out_console.print(f"{name}  {h['timestamp']}  {cost}  {h['label']}")
