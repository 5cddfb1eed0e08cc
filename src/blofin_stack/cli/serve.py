"""``blofin serve``: the ingestor, the paper trader and the scheduler together or each alone."""

from __future__ import annotations

import asyncio

import typer

from blofin_stack.cli.ingest import print_health
from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.cli.paper import print_run_summary
from blofin_stack.config import get_settings, split_csv
from blofin_stack.exchange.blofin.rest import BlofinApiError
from blofin_stack.live.ingestor import ContractValueError
from blofin_stack.pipeline.serve import log_path, serve


def serve_command(
    ingest: bool = typer.Option(True, "--ingest/--no-ingest", help="Record trades and 1m candles."),
    paper: bool = typer.Option(True, "--paper/--no-paper", help="Paper-trade tier-2 strategies on closed bars."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="Run the strategy, ML and daily cycles."),
    inst: str | None = typer.Option(None, "--inst", help="Instruments to ingest (default INGEST_INSTRUMENTS)."),
    top: int | None = typer.Option(None, "--top", min=1, help="Else the N swaps with most 24h volume."),
    ws_url: str | None = typer.Option(None, "--ws-url", help="WebSocket URL (default BLOFIN_WS_URL)."),
    rest_url: str | None = typer.Option(None, "--rest-url", help="REST base URL (default BLOFIN_REST_URL)."),
    duration: float | None = typer.Option(None, "--duration", min=0, help="Stop after S seconds (default: run)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Run the services until --duration, SIGTERM or Ctrl-C; logs also go to DATA_DIR/logs/serve-<services>.log.
    Exits 1 if a service failed."""
    settings = get_settings()
    services = [name for name, on in (("ingest", ingest), ("paper", paper), ("scheduler", scheduler)) if on]
    if not services:
        raise fail("nothing to serve: keep at least one of --ingest, --paper, --scheduler", 2)
    console.print(f"serving {', '.join(services)}; log {log_path(settings, services)}", soft_wrap=True)
    run = serve(
        settings, services, instruments=split_csv(inst), top=top, ws_url=ws_url, rest_url=rest_url, duration_s=duration
    )
    try:
        result = asyncio.run(run)
    except (BlofinApiError, ContractValueError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(result)
    else:
        console.print(f"stopped by {result['stopped_by']}", soft_wrap=True)
        if result["ingest"] is not None:
            print_health(result["ingest"])
        if result["paper"] is not None:
            print_run_summary(result["paper"])
        for name, error in result["failures"].items():
            console.print(f"[red]{name}[/]: {error}", soft_wrap=True)
    if result["failures"]:
        raise typer.Exit(1)
