"""``blofin ingest`` (record Blofin trades and 1m candles; ``ingest status``) and ``blofin backfill``."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.config import get_settings, split_csv
from blofin_stack.exchange.blofin.rest import BlofinApiError
from blofin_stack.live.ingestor import ContractValueError, Ingestor, backfill, read_health, select_instruments

app = typer.Typer(help="Record Blofin trades and confirmed 1m candles (ingest status: its health).")


@app.callback(invoke_without_command=True)
def ingest(
    ctx: typer.Context,
    inst: str | None = typer.Option(None, "--inst", help="Comma-separated instruments (default INGEST_INSTRUMENTS)."),
    top: int | None = typer.Option(None, "--top", min=1, help="Else the N swaps with most 24h volume."),
    ws_url: str | None = typer.Option(None, "--ws-url", help="WebSocket URL (default BLOFIN_WS_URL)."),
    rest_url: str | None = typer.Option(None, "--rest-url", help="REST base URL (default BLOFIN_REST_URL)."),
    duration: float | None = typer.Option(None, "--duration", min=0, help="Stop after S seconds (default: run)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final health as JSON."),
) -> None:
    """Ingest until --duration, SIGTERM or Ctrl-C; flushes everything and fills gaps from REST on the way out."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()

    async def main() -> dict[str, object]:
        instruments = await select_instruments(settings, rest_url, split_csv(inst), top)
        console.print(f"ingesting {len(instruments)} instruments: {', '.join(instruments)}", soft_wrap=True)
        ingestor = Ingestor(settings, instruments, ws_url=ws_url, rest_url=rest_url)
        return (await ingestor.run(duration)).as_dict()

    try:
        health = asyncio.run(main())
    except (BlofinApiError, ContractValueError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(health)
        return
    print_health(health)


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print the health as JSON.")) -> None:
    """The health a running (or the last) ingestor wrote: per instrument last trade age, last closed bar,
    trades and candles stored, gaps filled; messages per second, reconnects, malformed frames."""
    health = read_health(get_settings())
    if health is None:
        raise fail("no ingestor health yet (DATA_DIR/health/ingest.json): run blofin ingest", 2)
    if as_json:
        print_json(health)
        return
    print_health(health)


def print_health(health: dict[str, object]) -> None:
    console.print(
        f"messages {health['messages']} ({health['messages_per_s']:.1f}/s), reconnects {health['reconnects']}, "
        f"malformed {health['malformed']}, trades stored {health['trades_stored']}, "
        f"candles stored {health['candles_stored']}, errors {health['errors']}",
        soft_wrap=True,
    )
    table = Table("instrument", "last trade age s", "last closed bar", "trades", "duplicates", "candles", "gap bars")
    for entry in health["instruments"].values():  # type: ignore[attr-defined]
        table.add_row(
            entry["inst_id"],
            "-" if entry["last_trade_age_s"] is None else f"{entry['last_trade_age_s']:.1f}",
            str(entry["last_closed_bar"] or "-"),
            str(entry["trades_stored"]),
            str(entry["duplicate_trades"]),
            str(entry["candles_stored"]),
            str(entry["gap_bars_filled"]),
        )
    console.print(table)


def backfill_command(
    inst: str = typer.Option(..., "--inst", help="Comma-separated instruments."),
    days: float = typer.Option(..., "--days", min=0, help="Days of 1m candles before the newest bar."),
    rest_url: str | None = typer.Option(None, "--rest-url", help="REST base URL (default BLOFIN_REST_URL)."),
    as_json: bool = typer.Option(False, "--json", help="Print per instrument fetched/new/updated/unchanged."),
) -> None:
    """Fill the store with 1m candles from Blofin REST (idempotent: a second run finds every bar unchanged)."""
    settings = get_settings()
    try:
        result = asyncio.run(backfill(settings, split_csv(inst), days, rest_url))
    except BlofinApiError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(result)
        return
    for name, counts in result.items():
        console.print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
