"""Backtests over stored market data: one strategy (the CLI) or every strategy per instrument (the cycle)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blofin_stack.backtest.engine import BacktestResult, CostModel, run_backtest
from blofin_stack.backtest.metrics import per_bar_returns, sharpe_ratio
from blofin_stack.features import FeatureManager, max_warmup
from blofin_stack.live.forward import run_forward
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import DAY_MS, MINUTE_MS, bars_per_year, timeframe_ms
from blofin_stack.ml.deploy import activate_trading_models
from blofin_stack.strategies import ParamError, Strategy, UnknownStrategyError, get_strategy
from blofin_stack.strategies.plugins import describe_exception, load_plugins

if TYPE_CHECKING:
    from blofin_stack.config import Settings


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
    manager: FeatureManager,
    strategy: Strategy,
    inst_id: str,
    timeframe: str,
    window: Window,
    params: Mapping[str, Any] | None = None,
    costs: CostModel = CostModel(),
    initial_capital: float = 10_000.0,
) -> BacktestResult:
    """Backtest ``strategy`` on the stored bars of ``inst_id`` over ``window`` (warm-up loaded before it).

    Features come through ``manager`` (and its cache, if any).

    Raises:
        UnknownInstrumentError, ParamError, SignalError, FeatureError, ValueError (no bars in window).
    """
    return run_forward(
        manager, strategy, params, inst_id, timeframe, window.start, window.end, costs, initial_capital
    ).result


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


def figures_since(result: BacktestResult, since_ms: int) -> dict[str, Any]:
    """The backtest's figures over its bars from ``since_ms`` (open time, ms UTC) on, costs included.

    Returns:
        ``{"since", "bars", "trades", "win_rate", "avg_pnl_pct", "total_pnl_pct", "sharpe"}``: trades
        are those entered at or after ``since_ms``; ``total_pnl_pct`` is the equity's compounded growth
        from the last close before ``since_ms`` to the end (%); ``sharpe`` is annualised as in
        :mod:`blofin_stack.backtest.metrics`; ``win_rate`` 0..1 (0 without trades).
    """
    equity = result.equity.to_numpy(dtype="float64")
    first = int(np.searchsorted(result.equity.index.to_numpy(dtype="int64"), since_ms))
    start_equity = float(equity[first - 1]) if first > 0 else result.initial_capital
    curve = equity[first:] / start_equity
    trades = result.trades[result.trades["entry_ts"] >= since_ms]
    pnl = trades["pnl_pct"].to_numpy(dtype="float64")
    return {
        "since": int(since_ms),
        "bars": len(curve),
        "trades": len(pnl),
        "win_rate": float(np.mean(pnl > 0)) if len(pnl) else 0.0,
        "avg_pnl_pct": float(pnl.mean()) if len(pnl) else 0.0,
        "total_pnl_pct": (float(curve[-1]) - 1.0) * 100.0 if len(curve) else 0.0,
        "sharpe": sharpe_ratio(per_bar_returns(curve), bars_per_year(result.timeframe)),
    }


def ml_comparison(wrapped: Strategy, results: Mapping[str, BacktestResult]) -> dict[str, Any] | None:
    """``wrapped`` (an ML-wrapped strategy, :func:`~blofin_stack.strategies.ml_filter.ml_filtered`) beside
    its plain base on the same bars, over the period its models are out of sample: from the latest
    ``available_from`` of the models it uses (or the window's start if later) to the window's end.

    Returns:
        ``{"base", "since", "strategy": figures, "base_figures": figures}`` (see :func:`figures_since`);
        ``None`` when the base was not backtested with it or no model serves it.
    """
    base = getattr(wrapped, "base_strategy", None)
    since = wrapped.out_of_sample_from() if hasattr(wrapped, "out_of_sample_from") else None
    if not isinstance(base, str) or base not in results or wrapped.name not in results or since is None:
        return None
    since = max(since, results[wrapped.name].start)  # a model out of sample before the window: the window
    return {
        "base": base,
        "since": since,
        "strategy": figures_since(results[wrapped.name], since),
        "base_figures": figures_since(results[base], since),
    }


def backtest_instrument(
    settings: Settings,
    inst_id: str,
    plan: Mapping[str, Sequence[str]],
    window: Window,
    plugins: Sequence[Path] = (),
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every strategy of ``plan`` (name -> timeframes) on one instrument: a parallel worker's task.

    The worker loads the same plugin files and active trading models as its parent; per timeframe,
    features are computed once for all its strategies. There is no feature cache here: each column is
    computed once per task anyway, and the window's data changes with every new bar, so caching would
    only cost writes.
    ``params`` overrides a strategy's defaults (the registry's current parameters). A strategy that
    fails on this instrument yields a row with ``status="error"`` and the message (with file and line)
    in ``error``; the others go on.

    Returns:
        Rows as :func:`result_row`, plus error rows.
    """
    load_plugins(plugins)
    activate_trading_models(settings.ml_models_path)
    manager = FeatureManager(MarketStore(settings.market_dir))
    costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
    strategies: dict[str, Strategy] = {}
    rows: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    for name in plan:
        try:
            strategies[name] = get_strategy(name)
            resolved[name] = strategies[name].resolve_params((params or {}).get(name))
        except (UnknownStrategyError, ParamError) as exc:  # e.g. a plugin that vanished under the worker
            rows.extend(_error_row(name, inst_id, tf, window, costs, 0, exc) for tf in plan[name])
    timeframes = sorted({tf for tfs in plan.values() for tf in tfs}, key=timeframe_ms)
    for timeframe in timeframes:
        here = [strategies[n] for n in resolved if timeframe in plan[n]]
        names = list(dict.fromkeys(f for s in here for f in s.features_for(resolved[s.name])))
        bars = load_bars(
            manager.store,
            inst_id,
            timeframe,
            start_ms=window.start,
            end_ms=window.end,
            warmup_bars=max_warmup(names, timeframe) + 1,
        )
        features = manager.features_for_bars(bars, names, inst_id=inst_id, timeframe=timeframe)
        results: dict[str, BacktestResult] = {}
        for strategy in here:
            try:
                result = run_backtest(
                    strategy,
                    bars,
                    inst_id=inst_id,
                    timeframe=timeframe,
                    params=resolved[strategy.name],
                    costs=costs,
                    start_ms=window.start,
                    features=features,
                    initial_capital=settings.backtest_initial_capital,
                )
                results[strategy.name] = result
                rows.append(result_row(result))
            except Exception as exc:  # one strategy's failure must not stop the cycle
                rows.append(_error_row(strategy.name, inst_id, timeframe, window, costs, len(bars), exc))
        for row in rows[-len(here) :] if here else []:
            comparison = ml_comparison(strategies[row["strategy_name"]], results)
            if comparison is not None:
                row["ml_comparison"] = comparison
    return rows


def _error_row(
    name: str, inst_id: str, timeframe: str, window: Window, costs: CostModel, bars: int, exc: Exception
) -> dict[str, Any]:
    return {
        "strategy_name": name,
        "inst_id": inst_id,
        "timeframe": timeframe,
        "window_start": window.start,
        "window_end": window.end,
        "params": {},
        "fee_bps": costs.fee_bps,
        "slippage_bps": costs.slippage_bps,
        "bars": bars,
        "trades": 0,
        "status": "error",
        "error": describe_exception(exc),
    }
