"""Shared output helpers for the CLI: rich on stderr, machine-readable JSON on stdout."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from blofin_stack.serialize import iso, to_json

#: Human output (tables, progress, messages) goes to stderr so that ``--json`` stdout stays clean.
console = Console(stderr=True)
T = TypeVar("T")
__all__ = ["console", "fail", "iso", "print_json", "progress", "to_json", "track"]


def print_json(payload: Any) -> None:
    """Write ``payload`` as strict JSON to stdout."""
    typer.echo(to_json(payload))


@contextmanager
def progress(description: str, total: int, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callable ``advance(n=1)``."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not enabled, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def track(items: Iterable[T], description: str, total: int, enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` while showing a progress bar."""
    with progress(description, total, enabled) as advance:
        for item in items:
            yield item
            advance()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error on stderr and return the ``typer.Exit`` to raise."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)
