"""``blofin replay serve``: a local server speaking Blofin's public WebSocket and REST protocol from recorded
1m candles, with optional fault injection (see ``docs/LIVE.md``)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from blofin_stack.cli.output import console, fail, to_json
from blofin_stack.config import get_settings, split_csv
from blofin_stack.live.faults import FaultPlan, parse_silence
from blofin_stack.live.ingestor import parse_contract_values
from blofin_stack.live.replay import ReplayConfig, ReplayServer

app = typer.Typer(help="Replay recorded candles through a local Blofin-protocol server.", no_args_is_help=True)


def _bars(text: str | None) -> tuple[int, ...]:
    """``--disconnect-at`` ``"3,10"`` as bar indexes; raises ValueError naming the text."""
    try:
        return tuple(int(part) for part in split_csv(text))
    except ValueError:
        raise ValueError(f"--disconnect-at {text!r}: expected comma-separated bar indexes, e.g. 3,10") from None


@app.command("serve")
def serve(
    data: Path | None = typer.Option(None, "--data", help="Folder of 1m candle files (e.g. INST.csv.gz)."),
    from_store: bool = typer.Option(False, "--from-store", help="Replay the market store (DATA_DIR/market)."),
    inst: str | None = typer.Option(None, "--inst", help="Comma-separated instruments (default: all of the source)."),
    days: float | None = typer.Option(None, "--days", help="Replay only the last N days of the data."),
    start: int | None = typer.Option(None, "--start", help="First open time to replay (epoch ms)."),
    end: int | None = typer.Option(None, "--end", help="Replay open times before this (epoch ms)."),
    history_bars: int = typer.Option(0, "--history-bars", help="Leading bars served by REST only, as history."),
    speed: float = typer.Option(1.0, "--speed", help="Bars per minute of wall time (1 = real time); 0 = max."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8790, "--port", help="TCP port (0: any free port)."),
    trades_per_bar: int = typer.Option(10, "--trades-per-bar", help="Synthetic trades per instrument and bar."),
    pushes_per_bar: int = typer.Option(2, "--pushes-per-bar", help="trades + unconfirmed candle pushes per bar."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Start the clock at the first subscription."),
    idle_timeout: float = typer.Option(30.0, "--idle-timeout", help="Close connections silent this long (s)."),
    contract_values: str | None = typer.Option(
        None, "--contract-values", help="INST=VALUE,... coins per contract (default: BLOFIN_CONTRACT_VALUES)."
    ),
    disconnect_every: int = typer.Option(0, "--disconnect-every", help="Close each connection after N frames."),
    disconnect_at: str | None = typer.Option(None, "--disconnect-at", help="Close all connections at these bars."),
    silence_at: list[str] = typer.Option([], "--silence-at", help="BAR:SECONDS of silence (repeatable)."),
    duplicates: int = typer.Option(0, "--duplicates", help="Pushes to send twice."),
    out_of_order: int = typer.Option(0, "--out-of-order", help="Pushes to swap with the next one."),
    malformed: int = typer.Option(0, "--malformed", help="Malformed frames to insert."),
    fault_rate: float = typer.Option(0.05, "--fault-rate", help="Chance per push of each counted fault."),
    rest_429_every: int = typer.Option(0, "--rest-429-every", help="Answer every k-th REST request with 429."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic trades and the fault draws."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds (default: Ctrl-C)."),
    json_output: bool = typer.Option(
        False, "--json", help="JSON lines on stdout: the URLs once serving, the counters when stopped."
    ),
) -> None:
    """Serve /ws/public and /api/v1/market/* from recorded 1m candles until Ctrl-C (or --duration)."""
    try:
        faults = FaultPlan(
            disconnect_every=disconnect_every,
            disconnect_at_bars=_bars(disconnect_at),
            silences=tuple(parse_silence(text) for text in silence_at),
            duplicates=duplicates,
            duplicate_rate=fault_rate,
            out_of_order=out_of_order,
            out_of_order_rate=fault_rate,
            malformed=malformed,
            malformed_rate=fault_rate,
            rest_429_every=rest_429_every,
        )
        settings = get_settings()
        if (data is None) == (not from_store):
            raise ValueError("give exactly one source: --data DIR or --from-store")
        config = ReplayConfig(
            data_dir=data,
            store_dir=settings.market_dir if from_store else None,
            instruments=tuple(split_csv(inst)),
            start=start,
            end=end,
            days=days,
            history_bars=history_bars,
            speed=speed,
            trades_per_bar=trades_per_bar,
            pushes_per_bar=pushes_per_bar,
            start_on_subscribe=wait,
            idle_timeout=idle_timeout,
            contract_values=parse_contract_values(
                settings.blofin_contract_values if contract_values is None else contract_values
            ),
            faults=faults,
            seed=seed,
        )
        server = ReplayServer(config, host, port)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    except (OSError, EOFError) as exc:
        raise fail(f"cannot read the replay source: {exc}") from None
    try:
        server.start()
    except OSError as exc:
        raise fail(f"cannot serve on {host}:{port}: {exc}") from None
    try:
        _announce(server, json_output)
        _run(server, duration)
    finally:
        server.stop()
    stats = server.stats
    if json_output:
        typer.echo(to_json({"event": "stopped", "stats": stats.to_dict()}, indent=None))
    faults_seen = ", ".join(f"{kind} {n}" for kind, n in stats.faults.items() if n) or "none"
    console.print(
        f"stopped: {stats.bars_replayed}/{stats.bars_total} bars, {stats.trades_sent} trades and "
        f"{stats.frames_sent} frames sent, {stats.rest_requests} REST requests; faults: {faults_seen}"
    )


def _announce(server: ReplayServer, json_output: bool) -> None:
    bars = server.stats.bars_total
    if json_output:
        payload = {
            "event": "started",
            "ws_url": server.ws_url,
            "rest_url": server.rest_url,
            "instruments": server.instruments,
            "bars": bars,
        }
        typer.echo(to_json(payload, indent=None))
    console.print(f"replaying {bars} bars of {', '.join(server.instruments)}")
    console.print(f"WebSocket {server.ws_url}   REST {server.rest_url}   (Ctrl-C stops)")


def _run(server: ReplayServer, duration: float | None) -> None:
    """Wait until ``duration`` seconds have passed (forever if ``None``) or Ctrl-C."""
    deadline = None if duration is None else time.monotonic() + duration
    announced = False
    try:
        while deadline is None or time.monotonic() < deadline:
            if server.finished.is_set() and not announced:
                announced = True
                console.print("the replay reached its last bar; REST keeps serving")
            time.sleep(0.1 if deadline is None else max(min(0.1, deadline - time.monotonic()), 0.0))
    except KeyboardInterrupt:
        console.print("stopping")
