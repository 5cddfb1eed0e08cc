"""``blofin pipeline run``: the daily research cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.cli.plugins import plugin_option
from blofin_stack.config import get_settings
from blofin_stack.pipeline.daily import MODES, PipelineRun, run_pipeline
from blofin_stack.pipeline.strategy_cycle import NoMarketDataError

app = typer.Typer(help="Run the research pipeline.", no_args_is_help=True)


def _top_table(top: list[dict[str, Any]]) -> Table:
    table = Table(title="Top strategies (median composite score over all backtests)")
    for column in ("rank", "strategy", "score", "trades", "win rate", "avg PnL %", "best on"):
        table.add_column(column, justify="left" if column in ("strategy", "best on") else "right")
    for e in top:
        table.add_row(
            str(e["rank"]),
            e["strategy_name"],
            f"{e['score']:.1f}",
            str(e["trades"]),
            f"{e['win_rate'] * 100:.1f} %",
            f"{e['avg_pnl_pct']:.3f}",
            f"{e['best']['inst_id']} {e['best']['timeframe']}",
        )
    return table


def _summary(run: PipelineRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mode": run.mode,
        "dry_run": run.dry_run,
        "seconds": run.seconds,
        "messages": run.messages,
        "report_path": str(run.report_paths[0]) if run.report_paths else None,
        "markdown_path": str(run.report_paths[1]) if run.report_paths else None,
    }
    if run.cycle is not None:
        out["cycle"] = {
            "cycle_id": run.cycle.cycle_id,
            "backtests": len(run.cycle.rows),
            "errors": len(run.cycle.errors),
            "seconds": run.cycle.seconds,
            "window": {"start": run.cycle.window.start, "end": run.cycle.window.end},
        }
    if run.report is not None:
        out["top_5_strategies"] = run.report["performance"]["top_5_strategies"]
        if run.dry_run:
            out["report"] = run.report
    return out


@app.command("run")
def run(
    mode: str = typer.Option("all", "--mode", help=f"One of {', '.join(MODES)}."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Compute everything, write nothing to the database or files."
    ),
    days: float | None = typer.Option(None, "--days", help="Backtest window in days (default BACKTEST_LOOKBACK_DAYS)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Backtest every strategy on every instrument and timeframe, rank, and report."""
    if mode not in MODES:
        raise fail(f"unknown mode {mode!r}; use one of {', '.join(MODES)}", 2)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("backtesting instruments", total=None, visible=False)

        def start(total: int) -> None:
            bar.update(task, total=total, visible=True)

        try:
            result = run_pipeline(
                get_settings(),
                mode,
                dry_run=dry_run,
                days=days,
                plugins=plugin,
                on_start=start,
                on_progress=lambda n: bar.advance(task, n),
            )
        except NoMarketDataError as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json(_summary(result))
        return
    for message in result.messages:
        console.print(message)
    if result.report is not None:
        console.print(_top_table(result.report["performance"]["top_5_strategies"]))
    if result.report_paths:
        console.print(f"report: [bold]{result.report_paths[0]}[/] (summary: {result.report_paths[1]})")
