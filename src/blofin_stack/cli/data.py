"""``blofin data``: import 1m candle files into the market store and list what it holds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from blofin_stack.cli.output import console, fail, iso, print_json, progress
from blofin_stack.config import get_settings
from blofin_stack.market.importer import ImportReport, expand_paths, import_paths
from blofin_stack.market.store import MarketStore

app = typer.Typer(help="Market data: import 1m candles and list the store.", no_args_is_help=True)


def _store() -> MarketStore:
    return MarketStore(get_settings().market_dir)


def _import_table(report: ImportReport) -> Table:
    table = Table(title="Import")
    table.add_column("file", overflow="fold")
    table.add_column("status", no_wrap=True)
    for name in ("rows", "new", "updated", "same", "gaps (bars)"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    for f in report.files:
        name = (
            f.path.name if f.inst_id is None or f.path.name.startswith(f.inst_id) else f"{f.path.name} -> {f.inst_id}"
        )
        if f.status == "imported":
            missing = sum(g["missing_bars"] for g in f.gaps)
            counts = [str(f.new), str(f.updated), str(f.unchanged), f"{len(f.gaps)} ({missing})"]
        else:
            counts = ["-"] * 4
        status = Text(f.status, style="green" if f.status == "imported" else "red")
        table.add_row(Text(name), status, str(f.rows), *counts)
    return table


@app.command("import")
def import_command(
    paths: list[Path] = typer.Argument(
        ..., help="Candle files or folders (CSV, CSV.gz, Binance zip, feather, parquet)."
    ),
    inst: str | None = typer.Option(None, "--inst", help="Instrument to store under (default: from the file name)."),
    json_output: bool = typer.Option(False, "--json", help="Print the import report as JSON on stdout."),
) -> None:
    """Validate and merge 1m candle files into the store (a rejected file stores nothing; exit code 1)."""
    files = expand_paths(paths)
    if not files:
        raise fail(f"no supported candle files in {', '.join(map(str, paths))}")
    with progress(f"Importing {len(files)} file(s)", total=len(files)) as advance:
        try:
            report = import_paths(files, _store(), inst_id=inst, on_file=lambda _: advance())
        except ValueError as exc:
            raise fail(str(exc), code=2) from exc
    if json_output:
        print_json(report.to_dict())
    else:
        console.print(_import_table(report))
        for f in report.files:
            if f.error:
                console.print(Text(f.error, style="red"))
        totals = report.totals()
        console.print(
            f"{totals['files_imported']} imported, {totals['files_rejected']} rejected; "
            f"{totals['rows']} rows read, {totals['new_bars']} new bars"
        )
    if report.files_rejected:
        raise typer.Exit(1)


@app.command("list")
def list_command(
    json_output: bool = typer.Option(False, "--json", help="Print a JSON list of instruments on stdout."),
) -> None:
    """Per instrument: first and last 1m bar (ms and UTC), bar count, gaps, missing bars, funding settlements."""
    store = _store()
    rows = []
    for inst_id in store.instruments():
        summary = store.summary(inst_id)
        rows.append(
            {
                "inst_id": inst_id,
                "first_ts": summary.first_ts,
                "first": iso(summary.first_ts),
                "last_ts": summary.last_ts,
                "last": iso(summary.last_ts),
                "bars": summary.bars,
                "gaps": len(summary.gaps),
                "missing_bars": sum(g.missing_bars for g in summary.gaps),
                "funding_settlements": 0 if (funding := store.read_funding(inst_id)) is None else len(funding),
            }
        )
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print(f"the store at {store.root} holds no candles; import some with 'blofin data import'")
        return
    table = Table(title=f"Market store {store.root}")
    for name in rows[0]:
        table.add_column(name, justify="right" if name not in ("inst_id", "first", "last") else "left")
    for row in rows:
        table.add_row(*map(str, row.values()))
    console.print(table)
