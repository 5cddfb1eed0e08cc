"""The ``blofin`` command: one verb per job (parse arguments, call a service, print)."""

from __future__ import annotations

import logging

import typer
from rich.logging import RichHandler

from blofin_stack.cli import (
    audit,
    backtest,
    data,
    features,
    ingest,
    ml,
    paper,
    pipeline,
    registry,
    replay,
    report,
    serve,
    strategies,
    validate,
)
from blofin_stack.cli.output import console

app = typer.Typer(
    name="blofin",
    help="blofin-stack: research, backtest and rank trading strategies for Blofin perpetuals.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.add_typer(audit.app, name="audit")
app.add_typer(registry.app, name="registry")
app.add_typer(strategies.app, name="strategies")
app.add_typer(ml.app, name="ml")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(report.app, name="report")
app.add_typer(replay.app, name="replay")
app.add_typer(paper.app, name="paper")
app.add_typer(validate.app, name="validate")
app.command("backtest")(backtest.backtest)
app.add_typer(ingest.app, name="ingest")
app.command("backfill")(ingest.backfill_command)
app.command("serve")(serve.serve_command)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    """Set up logging (to stderr) for every command."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    for chatty in ("alembic", "httpx", "apscheduler.scheduler"):  # a line per request / per job otherwise
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)
