"""``blofin audit lookahead``: prove every feature and strategy causal on stored bars."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from blofin_stack.audit.lookahead import audited_feature_names, run_lookahead_audit
from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.cli.plugins import load_cli_plugins, plugin_option
from blofin_stack.config import get_settings
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore, UnknownInstrumentError
from blofin_stack.market.timeframes import TimeframeError, parse_timeframe
from blofin_stack.strategies import all_strategies

app = typer.Typer(help="Leakage guards.", no_args_is_help=True)


@app.command("lookahead")
def lookahead(
    inst: str | None = typer.Option(None, "--inst", help="Instrument (default BTC-USDT, else the first stored)."),
    timeframe: str = typer.Option("5m", "--timeframe", "-t", help="Timeframe of the bars audited on."),
    bars: int = typer.Option(8000, "--bars", min=500, help="Audit on the last N bars (longer checks more warm-ups)."),
    cuts: int = typer.Option(50, "--cuts", min=50, help="Truncation cut points spread over the bars."),
    as_json: bool = typer.Option(False, "--json", help="Print {features: [...], strategies: [...]} as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Truncation and warm-up tests of every feature and strategy; exit code 1 when anything fails."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    store = MarketStore(settings.market_dir)
    stored = store.instruments()
    inst = inst or ("BTC-USDT" if "BTC-USDT" in stored else stored[0] if stored else "BTC-USDT")
    try:
        tf = parse_timeframe(timeframe)
        history = load_bars(store, inst, tf).iloc[-bars:]
    except (UnknownInstrumentError, TimeframeError) as exc:
        raise fail(str(exc), 2) from None
    names = audited_feature_names()
    strategies = all_strategies()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        runnable = sum(1 for s in strategies if s.unavailable_reason() is None)
        task = progress.add_task(f"auditing on {len(history)} {tf} bars of {inst}", total=1 + runnable)
        report = run_lookahead_audit(
            history, names, strategies, timeframe=tf, n_cuts=cuts, on_step=lambda _: progress.advance(task)
        )
    if as_json:
        print_json({"inst_id": inst, "timeframe": tf, "bars": len(history), **report.as_dict()})
    else:
        failed = [f for f in [*report.features, *report.strategies] if not f.ok]
        if failed:
            table = Table(title="Look-ahead audit: failures")
            for column in ("kind", "name", "test", "first bar", "detail"):
                table.add_column(column, overflow="fold")
            for f in failed:
                table.add_row(f.kind, f.name, f.test or "", f.as_dict()["first_time"] or "", f.detail)
            console.print(table)
        console.print(
            f"{len(report.features)} features and {len(report.strategies)} strategies audited on {len(history)} "
            f"{tf} bars of {inst}: " + ("[green]all passed[/]" if report.ok else f"[red]{len(failed)} failed[/]")
        )
        for name, reason in report.skipped.items():
            console.print(f"not audited: {name} (cannot run yet: {reason})", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
