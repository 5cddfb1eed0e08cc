"""``blofin paper run`` (the forward test of tier-2 strategies on closed bars) and ``blofin paper status``."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from websockets.exceptions import InvalidURI

from blofin_stack.cli.output import console, fail, iso, print_json
from blofin_stack.config import get_settings
from blofin_stack.live.paper import PaperTrader
from blofin_stack.live.paper_status import paper_status

app = typer.Typer(help="Paper trading (forward test, tier 2) with backtest parity.", no_args_is_help=True)


def _num(value: Any, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


@app.command("run")
def run(
    ws_url: str | None = typer.Option(
        None, "--ws-url", help="Subscribe to candle1m here and store the candles (default: poll the store)."
    ),
    duration: float | None = typer.Option(None, "--duration", min=0, help="Stop after S seconds (default: run)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Paper-trade every tier-2 strategy on each closed bar until --duration, SIGTERM or Ctrl-C."""
    settings = get_settings()
    mode = f"candle1m from {ws_url}" if ws_url else f"polling the store every {settings.paper_poll_seconds:g} s"
    console.print(f"paper trading tier-2 strategies, {mode}", soft_wrap=True)
    try:
        summary = PaperTrader(settings).run(duration, ws_url).as_dict()
    except (ValueError, InvalidURI) as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        print_json(summary)
        return
    print_run_summary(summary)


def print_run_summary(summary: dict[str, Any]) -> None:
    """One line: steps, bars, signals, trades opened and closed, errors, candles written, latency."""
    latency = summary["latency_ms"]
    console.print(
        f"{summary['steps']} steps: {summary['bars']} bars, {summary['signals']} signals, {summary['opened']} "
        f"opened, {summary['closed']} closed, {summary['errors']} errors; candles written "
        f"{summary['candles_written']}, malformed {summary['malformed']}; latency p50 {_num(latency['p50'], '{:.0f}')} "
        f"ms, max {_num(latency['max'], '{:.0f}')} ms",
        soft_wrap=True,
    )


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Per tier-2 strategy: forward test start, open positions, closed trades, win rate, PnL %, equity, last
    signal, last update, latency."""
    payload = paper_status(get_settings())
    if as_json:
        print_json(payload)
        return
    ml = payload["ml_confirm"]
    console.print(
        f"instruments: {', '.join(payload['instruments']) or 'none stored'}; ML confirmation "
        + (f"on ({ml['entry_classifier']})" if ml["enabled"] else "off"),
        soft_wrap=True,
    )
    table = Table(title=f"Forward test (tier 2): {len(payload['strategies'])} strategies")
    for column in ("strategy", "started", "open", "closed", "win", "PnL %", "equity", "last signal", "updated"):
        table.add_column(column, justify="left" if column in ("strategy", "last signal") else "right")
    for s in payload["strategies"]:
        signal = s["last_signal"]
        table.add_row(
            s["name"],
            _num(s["ft_started"], "{:%Y-%m-%d %H:%M}"),
            str(len(s["open_positions"])),
            str(s["closed_trades"]),
            _num(s["win_rate"]),
            _num(s["pnl_pct"]),
            _num(s["equity"], "{:,.0f}"),
            "-" if signal is None else f"{signal['signal_type']} {signal['inst_id']} {iso(signal['ts'])}",
            _num(s["ft_last_update"], "{:%Y-%m-%d %H:%M}"),
        )
    console.print(table)
    for s in payload["strategies"]:
        if not s["state"].startswith("running"):
            console.print(f"[yellow]{s['name']}[/]: {s['state']}", soft_wrap=True)
        for account, error in s["errors"].items():
            console.print(f"[red]{s['name']} {account}[/]: {error}", soft_wrap=True)
    latency = payload["latency_ms"]
    console.print(
        f"latency bar close -> recorded signal over {latency['count']} signals: p50 {_num(latency['p50'], '{:.0f}')} "
        f"ms, p95 {_num(latency['p95'], '{:.0f}')} ms, max {_num(latency['max'], '{:.0f}')} ms"
    )
