"""``blofin backtest STRATEGY``: one strategy on one instrument and timeframe, from the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from blofin_stack.backtest.engine import BacktestResult, CostModel
from blofin_stack.cli.output import console, fail, iso, print_json
from blofin_stack.cli.plugins import load_cli_plugins, plugin_option
from blofin_stack.config import get_settings
from blofin_stack.features import FeatureError, FeatureManager, UnknownFeatureError
from blofin_stack.market.store import UnknownInstrumentError
from blofin_stack.market.timeframes import DAY_MS, TimeframeError, parse_timeframe
from blofin_stack.pipeline.backtests import Window, backtest_from_store, data_end
from blofin_stack.strategies import ParamError, SignalError, UnknownStrategyError, get_strategy
from blofin_stack.strategies.plugins import describe_exception


def parse_time(text: str) -> int:
    """Epoch ms from ``text``: an integer (ms) or an ISO date/datetime (UTC when no offset is given).

    Raises:
        typer.BadParameter: not a time.
    """
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither epoch ms nor an ISO date such as 2025-05-27") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _params(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param {pair!r}: write it as name=value")
        parsed[key.strip()] = value.strip()
    return parsed


def _show(result: BacktestResult) -> None:
    m = result.metrics
    table = Table(
        title=f"{result.strategy} {result.inst_id} {result.timeframe}  {iso(result.start)} .. {iso(result.end)}"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in m.items():
        table.add_row(key, "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(
        f"params {result.params}; fee {result.costs.fee_bps:g} bps, slippage {result.costs.slippage_bps:g} bps"
    )


def backtest(
    strategy: str = typer.Argument(..., help="Strategy name (see the report or docs/STRATEGIES.md)."),
    inst: str = typer.Option("BTC-USDT", "--inst", help="Instrument, e.g. BTC-USDT."),
    timeframe: str = typer.Option("5m", "--timeframe", "-t", help="1m 5m 15m 1H 4H 1D (60m = 1H)."),
    days: float | None = typer.Option(None, "--days", help="Window: the last N days of stored data."),
    start: str | None = typer.Option(None, "--start", help="Window start: ISO date/time (UTC) or epoch ms."),
    end: str | None = typer.Option(None, "--end", help="Window end (exclusive): ISO date/time or epoch ms."),
    param: list[str] = typer.Option([], "--param", help="Parameter override name=value (repeatable)."),
    fee_bps: float | None = typer.Option(None, "--fee-bps", help="Fee per side in bps (default BACKTEST_FEE_BPS)."),
    slippage_bps: float | None = typer.Option(None, "--slippage-bps", help="Slippage per fill in bps."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (with trades) as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Backtest STRATEGY on stored candles: next-bar fills, fees and slippage in every PnL."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    manager = FeatureManager.from_settings(settings)
    store = manager.store
    if days is not None and (start or end):
        raise fail("use either --days or --start/--end", 2)
    overrides = _params(param)
    start_at = parse_time(start) if start else None
    end_at = parse_time(end) if end else None
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise fail("--start must be before --end", 2)
    try:
        tf = parse_timeframe(timeframe)
        chosen = get_strategy(strategy)
        end_ms = end_at if end_at is not None else data_end(store, [inst])
        start_ms = (
            start_at if start_at is not None else end_ms - int((days or settings.backtest_lookback_days) * DAY_MS)
        )
        costs = CostModel(
            settings.backtest_fee_bps if fee_bps is None else fee_bps,
            settings.backtest_slippage_bps if slippage_bps is None else slippage_bps,
        )
        result = backtest_from_store(
            manager,
            chosen,
            inst,
            tf,
            Window(start_ms, end_ms),
            params=overrides,
            costs=costs,
            initial_capital=settings.backtest_initial_capital,
        )
    except (UnknownStrategyError, UnknownInstrumentError, UnknownFeatureError, TimeframeError, ParamError) as exc:
        raise fail(str(exc), 2) from None  # bad input
    except (FeatureError, SignalError) as exc:
        raise fail(str(exc)) from None  # a feature or strategy broke its contract
    except ValueError as exc:
        raise fail(str(exc), 2) from None  # e.g. no bars in the window
    except Exception as exc:  # a strategy's own code failed (plugins may raise anything)
        raise fail(f"strategy {strategy!r} failed: {describe_exception(exc)}") from None
    if as_json:
        print_json(result.to_dict())
    else:
        _show(result)
