"""Shared output helpers for the CLI: rich on stderr, machine-readable JSON on stdout."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: Human output (tables, progress, messages) goes to stderr so that ``--json`` stdout stays clean.
console = Console(stderr=True)
T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    """JSON text of ``payload``; NaN and infinities become ``null`` (strict JSON)."""
    return json.dumps(_clean(payload), default=_default, indent=2, allow_nan=False)


def print_json(payload: Any) -> None:
    """Write ``payload`` as strict JSON to stdout."""
    typer.echo(to_json(payload))


def iso(ts_ms: int | None) -> str | None:
    """ISO-8601 UTC text of an epoch-ms time (``None`` stays ``None``)."""
    if ts_ms is None:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
