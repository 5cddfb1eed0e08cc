"""``blofin validate drift``: each tier-2 strategy's forward test against its backtest over the same period."""

from __future__ import annotations

import typer
from rich.table import Table

from blofin_stack.cli.output import console, print_json
from blofin_stack.config import get_settings
from blofin_stack.live.drift import DRIFT_FIGURES, check_drift

app = typer.Typer(help="Validation of forward tests against backtests.", no_args_is_help=True)


@app.command("drift")
def drift(
    as_json: bool = typer.Option(False, "--json", help="Print the checks and the report section as JSON."),
) -> None:
    """Compare forward metrics with a backtest of the same period; record the check; demote persistent drift."""
    report = check_drift(get_settings())
    if as_json:
        print_json(report.as_dict())
        return
    table = Table(title=f"Forward vs backtest (drift above {report.threshold_pct:g} %)")
    table.add_column("strategy")
    table.add_column("status")
    for figure in DRIFT_FIGURES:
        table.add_column(f"{figure} fwd / bt (diff %)", justify="right")
    table.add_column("in a row", justify="right")
    for check in report.checks:
        cells = [
            f"{check.forward[f]:.4g} / {check.backtest[f]:.4g} ({check.differences[f]:.1f})" if check.forward else "-"
            for f in DRIFT_FIGURES
        ]
        status = check.status + (" -> demoted to tier 1" if check.action == "demote" else "")
        table.add_row(check.strategy, status, *cells, str(check.consecutive))
    console.print(table)
    console.print(report.backtest_vs_live()["status"], soft_wrap=True)
