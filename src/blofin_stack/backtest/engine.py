"""Run a strategy over bars: features -> signals -> kernel -> trades and metrics. Pure; no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from blofin_stack.backtest.kernel import EXIT_REASONS, simulate
from blofin_stack.backtest.metrics import Metrics, compute_metrics, entry_excursions
from blofin_stack.features import compute_features
from blofin_stack.market.timeframes import bars_per_year, timeframe_ms
from blofin_stack.strategies.base import ParamValue, Strategy, frame_with_features


@dataclass(frozen=True)
class CostModel:
    """Trading costs per fill: fee in basis points of notional and adverse slippage in basis points."""

    fee_bps: float = 6.0
    slippage_bps: float = 1.0

    @property
    def fee(self) -> float:
        return self.fee_bps / 1e4

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 1e4


TRADE_COLUMNS = (
    "entry_ts",
    "exit_ts",
    "side",
    "entry_price",
    "exit_price",
    "size",
    "pnl",
    "pnl_pct",
    "fees",
    "exit_reason",
    "hold_bars",
    "mfe_pct",
    "mae_pct",
)


@dataclass
class BacktestResult:
    """One backtest of one strategy on one instrument and timeframe.

    Attributes:
        start, end: window ``[start, end)`` as bar open times in ms UTC (``end`` = last bar's open + 1 bar).
        metrics: see :mod:`blofin_stack.backtest.metrics` for units.
        trades: one row per trade (:data:`TRADE_COLUMNS`): ``entry_ts``/``exit_ts`` are the open times
            (ms) of the fill bars (an exit at a bar's open, or within it for stops/targets/end of data);
            ``side`` ``long``/``short``; prices in USDT after slippage; ``size`` in base currency;
            ``pnl`` and ``fees`` in USDT; ``pnl_pct`` net percent of entry notional; ``mfe_pct``/
            ``mae_pct`` excursions in percent of entry price.
        equity: per-bar equity in USDT at each window bar's close.
        initial_capital: equity in USDT before the window's first bar.
    """

    strategy: str
    inst_id: str
    timeframe: str
    start: int
    end: int
    params: dict[str, ParamValue]
    costs: CostModel
    metrics: Metrics
    trades: pd.DataFrame = field(repr=False)
    equity: pd.Series = field(repr=False)
    initial_capital: float = 10_000.0

    def to_dict(self, with_trades: bool = True) -> dict[str, Any]:
        """The JSON shape of ``blofin backtest --json``."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "inst_id": self.inst_id,
            "timeframe": self.timeframe,
            "start": self.start,
            "end": self.end,
            "params": dict(self.params),
            "fee_bps": self.costs.fee_bps,
            "slippage_bps": self.costs.slippage_bps,
            "bars": len(self.equity),
            "metrics": dict(self.metrics),
        }
        if with_trades:
            out["trades"] = self.trades.to_dict(orient="records")
        return out


def run_backtest(
    strategy: Strategy,
    bars: pd.DataFrame,
    *,
    inst_id: str,
    timeframe: str,
    params: Mapping[str, Any] | None = None,
    costs: CostModel = CostModel(),
    start_ms: int | None = None,
    features: pd.DataFrame | None = None,
    initial_capital: float = 10_000.0,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` over the window that starts at ``start_ms``.

    Args:
        strategy: the strategy instance.
        bars: house OHLCV layout of ``timeframe`` (int64 ``ts`` index, ms UTC), including the warm-up
            history before ``start_ms``; the window runs to the last bar.
        inst_id, timeframe: labels of the result (``timeframe`` also sets the annualisation).
        params: overrides of the strategy's defaults (cast and range-checked).
        costs: fee and slippage.
        start_ms: open time of the first window bar; default: the first bar (no warm-up).
        features: precomputed features on ``bars`` (e.g. shared by several strategies); computed
            here when ``None``. Must contain every name of ``strategy.features_for(params)``.
        initial_capital: starting equity in USDT.

    Returns:
        :class:`BacktestResult`.

    Raises:
        ParamError, SignalError, UnknownFeatureError, FeatureError: from the strategy and features.
        ValueError: no bars in the window.
    """
    resolved = strategy.resolve_params(params)
    names = strategy.features_for(resolved)
    if features is None:
        features = compute_features(bars, names)
    signals = strategy.signals(frame_with_features(bars, features[names]), resolved)
    ts = bars.index.to_numpy(dtype="int64")
    start = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, side="left"))
    if start >= len(ts):
        raise ValueError(f"{inst_id} {timeframe}: no bars in the backtest window")
    rules = strategy.risk(resolved)
    stop = signals["stop_loss_pct"].to_numpy() if "stop_loss_pct" in signals else rules.stop_loss_pct
    take = signals["take_profit_pct"].to_numpy() if "take_profit_pct" in signals else rules.take_profit_pct
    raw = simulate(
        bars["open"].to_numpy(),
        bars["high"].to_numpy(),
        bars["low"].to_numpy(),
        bars["close"].to_numpy(),
        signals["entry_long"].to_numpy(),
        signals["exit_long"].to_numpy(),
        signals["entry_short"].to_numpy(),
        signals["exit_short"].to_numpy(),
        stop_loss_pct=stop,
        take_profit_pct=take,
        max_hold_bars=rules.max_hold_bars,
        fee=costs.fee,
        slippage=costs.slippage,
        start=start,
    )
    ratio = raw.exit_price / raw.entry_price
    gross = raw.side * (ratio - 1.0)
    fee_frac = costs.fee * (1.0 + ratio)
    net = gross - fee_frac
    # equity (fraction of the initial capital) when each trade was entered
    equity_before = np.cumprod(np.concatenate(([1.0], 1.0 + net)))[:-1] * initial_capital
    trades = pd.DataFrame(
        {
            "entry_ts": ts[raw.entry_idx],
            "exit_ts": ts[raw.exit_idx],
            "side": np.where(raw.side > 0, "long", "short"),
            "entry_price": raw.entry_price,
            "exit_price": raw.exit_price,
            "size": equity_before / raw.entry_price,
            "pnl": equity_before * net,
            "pnl_pct": net * 100.0,
            "fees": equity_before * fee_frac,
            "exit_reason": np.asarray(EXIT_REASONS, dtype=object)[raw.exit_reason],
            "hold_bars": raw.hold_bars,
            "mfe_pct": raw.mfe * 100.0,
            "mae_pct": raw.mae * 100.0,
        },
        columns=list(TRADE_COLUMNS),
    )
    entry_mfe, entry_mae = entry_excursions(
        bars["high"].to_numpy(), bars["low"].to_numpy(), raw.entry_idx, raw.side, raw.entry_price
    )
    metrics = compute_metrics(
        net,
        raw.hold_bars,
        raw.equity,
        raw.in_position,
        bars_per_year(timeframe),
        (entry_mfe, entry_mae, raw.mfe, gross),
    )
    return BacktestResult(
        strategy=strategy.name,
        inst_id=inst_id,
        timeframe=timeframe,
        start=int(ts[start]),
        end=int(ts[-1]) + timeframe_ms(timeframe),
        params=resolved,
        costs=costs,
        metrics=metrics,
        trades=trades,
        equity=pd.Series(raw.equity * initial_capital, index=bars.index[start:], name="equity"),
        initial_capital=initial_capital,
    )


def run_many(
    strategies: Sequence[Strategy],
    bars: pd.DataFrame,
    *,
    inst_id: str,
    timeframe: str,
    costs: CostModel = CostModel(),
    start_ms: int | None = None,
    initial_capital: float = 10_000.0,
) -> list[BacktestResult]:
    """Backtest several strategies (default parameters) on the same bars, computing shared features once."""
    names = [n for s in strategies for n in s.features_for(s.resolve_params())]
    features = compute_features(bars, names)
    return [
        run_backtest(
            s,
            bars,
            inst_id=inst_id,
            timeframe=timeframe,
            costs=costs,
            start_ms=start_ms,
            features=features,
            initial_capital=initial_capital,
        )
        for s in strategies
    ]
