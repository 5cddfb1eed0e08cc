"""An ML-wrapped strategy beside its plain base over the out-of-sample period, on hand-built bars."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from blofin_stack.backtest.engine import CostModel, run_backtest
from blofin_stack.pipeline.backtests import figures_since, ml_comparison
from blofin_stack.pipeline.reporter import ml_filter_comparison
from blofin_stack.strategies import Strategy, signal_frame

STEP = 300_000  # 5m
OPENS = [100.0, 100.0, 110.0, 110.0, 121.0, 121.0, 121.0]
FIRST = 110 / 100 - 1 - 0.001 * (1 + 1.1)  # each trade: +10 % less 10 bps on both fills


class LongAt(Strategy):
    """Enters long at the bars (positions) of ``entries``, exits at ``exits``."""

    name = "long_at"
    description = "test strategy"
    timeframes = ("5m",)
    required_features = ("close",)
    entries: tuple[int, ...] = (0, 2)
    exits: tuple[int, ...] = (1, 3)

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, object]) -> pd.DataFrame:
        n = np.arange(len(features))
        return signal_frame(features.index, entry_long=np.isin(n, self.entries), exit_long=np.isin(n, self.exits))


class WrappedOnce(LongAt):
    """Its "model" kept only the second entry; out of sample from bar 3."""

    name = "long_at_ml"
    base_strategy = "long_at"
    entries = (2,)
    since = 0

    def out_of_sample_from(self) -> int | None:
        return self.since


def bars() -> pd.DataFrame:
    o = np.array(OPENS)
    c = np.append(o[1:], o[-1])
    ts = 1_700_000_100_000 // STEP * STEP + STEP * np.arange(len(o))
    return pd.DataFrame(
        {"open": o, "high": np.maximum(o, c) + 0.5, "low": np.minimum(o, c) - 0.5, "close": c, "volume": 1.0},
        index=pd.Index(ts, name="ts"),
    )


def backtest(strategy: Strategy) -> object:
    return run_backtest(
        strategy, bars(), inst_id="X-USDT", timeframe="5m", costs=CostModel(10, 0), initial_capital=1000.0
    )


def test_figures_since_count_trades_entered_from_then_and_equity_growth_from_the_close_before() -> None:
    result = backtest(LongAt())
    ts = bars().index
    late = figures_since(result, int(ts[3]))  # the second trade fills at bar 3's open
    assert late["trades"] == 1 and late["win_rate"] == 1.0 and late["bars"] == 4
    assert late["total_pnl_pct"] == pytest.approx(FIRST * 100)
    assert late["avg_pnl_pct"] == pytest.approx(FIRST * 100)
    whole = figures_since(result, int(ts[0]) - STEP)  # before the window: from the initial capital
    assert whole["trades"] == 2 and whole["total_pnl_pct"] == pytest.approx(((1 + FIRST) ** 2 - 1) * 100)
    assert whole["total_pnl_pct"] == pytest.approx(result.metrics["total_pnl_pct"])
    after = figures_since(result, int(ts[-1]) + STEP)
    assert after["trades"] == 0 and after["bars"] == 0 and after["total_pnl_pct"] == 0.0


def test_ml_comparison_needs_the_base_and_a_serving_model() -> None:
    wrapped = WrappedOnce()
    wrapped.since = int(bars().index[3])
    results = {"long_at": backtest(LongAt()), "long_at_ml": backtest(wrapped)}
    comparison = ml_comparison(wrapped, results)
    assert comparison is not None and comparison["base"] == "long_at" and comparison["since"] == wrapped.since
    assert comparison["strategy"] == comparison["base_figures"]  # the same trade after ``since``
    assert ml_comparison(LongAt(), results) is None  # not wrapped
    assert ml_comparison(wrapped, {"long_at_ml": results["long_at_ml"]}) is None  # base not run
    wrapped.since = None
    assert ml_comparison(wrapped, results) is None  # no model serves it


def figures(trades: int, win_rate: float, total: float, sharpe: float) -> dict[str, float]:
    return {"trades": trades, "win_rate": win_rate, "total_pnl_pct": total, "sharpe": sharpe}


def test_report_pools_instruments_per_strategy_and_timeframe() -> None:
    since = 1_700_000_000_000
    rows = [
        {
            "strategy_name": "x_ml",
            "timeframe": "5m",
            "inst_id": inst,
            "ml_comparison": {"base": "x", "since": since, "strategy": ml, "base_figures": plain},
        }
        for inst, ml, plain in (
            ("A-USDT", figures(2, 1.0, 3.0, 1.0), figures(4, 0.25, -1.0, -1.0)),
            ("B-USDT", figures(6, 0.5, -2.0, -0.5), figures(6, 0.5, -1.0, -0.2)),
        )
    ]
    rows.append({"strategy_name": "x", "timeframe": "5m", "inst_id": "A-USDT"})  # plain rows carry nothing
    (entry,) = ml_filter_comparison(rows)
    assert (entry["strategy"], entry["base"], entry["timeframe"], entry["instruments"]) == ("x_ml", "x", "5m", 2)
    assert entry["since_iso"] == "2023-11-14T22:13:20Z" and entry["beats_base"] == 1
    assert entry["with_ml"] == {"trades": 8, "win_rate": 5 / 8, "median_total_pnl_pct": 0.5, "median_sharpe": 0.25}
    assert entry["plain"]["trades"] == 10 and entry["plain"]["win_rate"] == pytest.approx(4 / 10)
    assert ml_filter_comparison(rows[2:]) == []
