"""Backtests over stored market data: one strategy (the CLI) or every strategy per instrument (the cycle)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blofin_stack.backtest.engine import BacktestResult, CostModel, run_backtest
from blofin_stack.features import compute_features, max_warmup
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms
from blofin_stack.strategies import Strategy, get_strategy

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Window:
    """A backtest window ``[start, end)`` in ms UTC, aligned to every timeframe of the cycle."""

    start: int
    end: int

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY_MS


def data_end(store: MarketStore, inst_ids: Sequence[str]) -> int:
    """End (ms) of the newest stored 1m bar over ``inst_ids``."""
    return max(store.last_ts(inst) for inst in inst_ids) + MINUTE_MS


def cycle_window(end_ms: int, days: float, timeframes: Sequence[str]) -> Window:
    """The last ``days`` before ``end_ms``, its end aligned down to the longest timeframe's bar boundary,
    so every timeframe backtests the same closed-bar period."""
    step = max(timeframe_ms(tf) for tf in timeframes)
    end = end_ms // step * step
    return Window(start=end - int(days * DAY_MS), end=end)


def backtest_from_store(
    store: MarketStore,
    strategy: Strategy,
    inst_id: str,
    timeframe: str,
    window: Window,
    params: Mapping[str, Any] | None = None,
    costs: CostModel = CostModel(),
    initial_capital: float = 10_000.0,
) -> BacktestResult:
    """Backtest ``strategy`` on the stored bars of ``inst_id`` over ``window`` (warm-up loaded before it).

    Raises:
        UnknownInstrumentError, ParamError, SignalError, FeatureError, ValueError (no bars in window).
    """
    resolved = strategy.resolve_params(params)
    warmup = max_warmup(strategy.features_for(resolved)) + 1
    bars = load_bars(store, inst_id, timeframe, start_ms=window.start, end_ms=window.end, warmup_bars=warmup)
    return run_backtest(
        strategy,
        bars,
        inst_id=inst_id,
        timeframe=timeframe,
        params=resolved,
        costs=costs,
        start_ms=window.start,
        initial_capital=initial_capital,
    )


def result_row(result: BacktestResult) -> dict[str, Any]:
    """A ``strategy_backtest_results`` row (without cycle fields) of ``result``."""
    return {
        "strategy_name": result.strategy,
        "inst_id": result.inst_id,
        "timeframe": result.timeframe,
        "window_start": result.start,
        "window_end": result.end,
        "params": dict(result.params),
        "fee_bps": result.costs.fee_bps,
        "slippage_bps": result.costs.slippage_bps,
        "bars": len(result.equity),
        "status": "ok",
        **result.metrics,
    }


def backtest_instrument(
    market_dir: Path,
    inst_id: str,
    timeframes: Sequence[str],
    strategy_names: Sequence[str],
    window: Window,
    costs: CostModel,
    initial_capital: float,
) -> list[dict[str, Any]]:
    """Every strategy x timeframe on one instrument (a parallel worker's task).

    Features are computed once per timeframe for all strategies. A strategy that fails on this
    instrument yields a row with ``status="error"`` and the message in ``error``; the others go on.

    Returns:
        Rows as :func:`result_row`, plus error rows.
    """
    store = MarketStore(market_dir)
    strategies = [get_strategy(name) for name in strategy_names]
    wanted = {s.name: s.features_for(s.resolve_params()) for s in strategies}
    all_features = [n for names in wanted.values() for n in names]
    rows: list[dict[str, Any]] = []
    for timeframe in timeframes:
        bars = load_bars(
            store,
            inst_id,
            timeframe,
            start_ms=window.start,
            end_ms=window.end,
            warmup_bars=max_warmup(all_features) + 1,
        )
        features = compute_features(bars, all_features)
        for strategy in strategies:
            try:
                result = run_backtest(
                    strategy,
                    bars,
                    inst_id=inst_id,
                    timeframe=timeframe,
                    costs=costs,
                    start_ms=window.start,
                    features=features,
                    initial_capital=initial_capital,
                )
                rows.append(result_row(result))
            except Exception as exc:  # one strategy's failure must not stop the cycle
                rows.append(
                    {
                        "strategy_name": strategy.name,
                        "inst_id": inst_id,
                        "timeframe": timeframe,
                        "window_start": window.start,
                        "window_end": window.end,
                        "params": strategy.resolve_params(),
                        "fee_bps": costs.fee_bps,
                        "slippage_bps": costs.slippage_bps,
                        "bars": len(bars),
                        "trades": 0,
                        "status": "error",
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
    return rows
