"""Shared CLI plumbing: one-line errors, seeds, progress bars, atomic file output."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from privsynth.errors import PrivsynthError

console = Console(stderr=True)
out_console = Console()


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on one line to stderr and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors_as_exit() -> Iterator[None]:
    """Turn privsynth's own errors into a one-line message and exit code 2."""
    try:
        yield
    except PrivsynthError as exc:
        fail(str(exc).replace("\n", " "))


def make_rng(seed: int | None) -> np.random.Generator:
    """``--seed`` gives reproducible output; without it, fresh OS entropy every run."""
    return np.random.default_rng(seed)


@contextmanager
def progress_bar(
    enabled: bool = True, *, echo: Callable[[str], bool] | None = None
) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar driven by ``(message, fraction)`` callbacks.

    The bar shows the latest message as its description (live, on a terminal). Messages for
    which ``echo`` returns True (e.g. one per training epoch) are also printed to stderr as a
    line each, with or without a terminal, skipping a repeat of the previous line.
    """
    printed: list[str] = []

    def line(message: str, target: Console) -> None:
        if echo is not None and echo(message) and printed[-1:] != [message]:
            printed.append(message)
            target.print(message, highlight=False, markup=False, soft_wrap=True)

    if not enabled or not sys.stderr.isatty() and os.environ.get("PRIVSYNTH_PROGRESS") != "1":
        yield lambda message, fraction: line(message, console)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def update(message: str, fraction: float) -> None:
            line(message, bar.console)
            bar.update(task, description=message, completed=min(1.0, max(0.0, fraction)))

        yield update


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary sibling then rename, so a failure leaves no partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_params(items: list[str] | None) -> dict[str, object]:
    """``--param key=value`` pairs; values parsed as int, float, bool or left as text."""
    from privsynth.errors import InputError

    out: dict[str, object] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--param: expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        value: object = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key.strip()] = value
    return out


def parse_where(items: list[str] | None) -> dict[str, list[str]]:
    """``--where col=v1,v2`` conditions."""
    from privsynth.errors import InputError

    out: dict[str, list[str]] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--where: expected column=value[,value...], got {item!r}")
        col, vals = item.split("=", 1)
        out.setdefault(col.strip(), []).extend(v for v in vals.split(","))
    return out
