"""``blofin strategies``: strategies written in the rule DSL (JSON or YAML)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.config import get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.lifecycle.registry import RegistryError, add_dsl_strategy
from blofin_stack.strategies.dsl import DslError, dump_strategy_spec, load_strategy_spec

app = typer.Typer(help="Strategies as data: the rule DSL (docs/STRATEGIES.md).", no_args_is_help=True)


@app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="A DSL spec file (.json, .yaml or .yml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the canonical spec as JSON."),
) -> None:
    """Check a DSL spec without registering it; every problem is named with its field path."""
    try:
        spec = load_strategy_spec(path)
    except DslError as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        print_json({"valid": True, "spec": json.loads(dump_strategy_spec(spec, "json"))})
    else:
        console.print(f"{path}: valid strategy {spec.name!r} ({', '.join(spec.timeframes)}, {spec.direction})")


@app.command("add")
def add(
    path: Path = typer.Argument(..., help="A DSL spec file (.json, .yaml or .yml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the registry row as JSON."),
) -> None:
    """Validate a DSL strategy and register it at tier 0 (library); the cycles run it from then on."""
    settings = get_settings()
    try:
        with get_engine(settings.database_url).begin() as connection:
            row, transitions, replaced = add_dsl_strategy(connection, settings, path)
    except (DslError, RegistryError) as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        print_json({"row": row, "replaced": replaced, "transitions": [t.as_dict() for t in transitions]})
        return
    verb = "updated" if replaced else "registered"
    console.print(f"{verb} {row['strategy_name']} at tier {row['tier']} from {row['file_path']}", soft_wrap=True)
