"""The engine: strategy -> features -> kernel -> trades in USDT, on hand-built bars."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from blofin_stack.backtest.engine import TRADE_COLUMNS, CostModel, run_backtest, run_many
from blofin_stack.strategies import Param, ParamError, Strategy, signal_frame

STEP = 300_000  # 5m


class EnterAt(Strategy):
    """Enters long on the bars listed in ``entries`` (by position) and exits on ``exits``."""

    name = "enter_at"
    description = "test strategy"
    timeframes = ("5m",)
    params = {"stop": Param(0.0, 0, 50)}
    required_features = ("close",)
    entries: tuple[int, ...] = ()
    exits: tuple[int, ...] = ()

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, object]) -> pd.DataFrame:
        n = len(features)
        el = np.isin(np.arange(n), self.entries)
        xl = np.isin(np.arange(n), self.exits)
        stop = np.full(n, float(params["stop"]))  # type: ignore[arg-type]
        return signal_frame(features.index, entry_long=el, exit_long=xl, stop_loss_pct=stop)


def make_bars(opens: list[float]) -> pd.DataFrame:
    o = np.array(opens, float)
    c = np.append(o[1:], o[-1])
    ts = 1_700_000_100_000 // STEP * STEP + STEP * np.arange(len(o))
    frame = pd.DataFrame(
        {"open": o, "high": np.maximum(o, c) + 0.5, "low": np.minimum(o, c) - 0.5, "close": c, "volume": 1.0},
        index=pd.Index(ts, name="ts"),
    )
    return frame


def test_trades_in_usdt_with_fees() -> None:
    bars = make_bars([100, 100, 110, 110, 121, 121, 121])
    strat = EnterAt()
    strat.entries, strat.exits = (0, 2), (1, 3)
    result = run_backtest(
        strat, bars, inst_id="X-USDT", timeframe="5m", costs=CostModel(fee_bps=10, slippage_bps=0), initial_capital=1000
    )
    t = result.trades
    assert list(t.columns) == list(TRADE_COLUMNS)
    assert list(t["entry_ts"]) == [bars.index[1], bars.index[3]]
    assert list(t["exit_ts"]) == [bars.index[2], bars.index[4]]
    first = 110 / 100 - 1 - 0.001 * (1 + 1.1)
    assert t["pnl_pct"].iloc[0] == pytest.approx(first * 100)
    assert t["pnl"].iloc[0] == pytest.approx(1000 * first)
    assert t["fees"].iloc[0] == pytest.approx(1000 * 0.001 * 2.1)
    assert t["size"].iloc[0] == pytest.approx(1000 / 100)
    # the second trade is sized on the equity after the first
    assert t["size"].iloc[1] == pytest.approx(1000 * (1 + first) / 110)
    assert result.equity.iloc[-1] == pytest.approx(1000 * (1 + first) ** 2)
    assert result.metrics["trades"] == 2 and result.metrics["win_rate"] == 1.0
    assert result.end == bars.index[-1] + STEP


def test_window_start_ignores_warmup_signals() -> None:
    bars = make_bars([100 + i for i in range(10)])
    strat = EnterAt()
    strat.entries, strat.exits = (1, 6), (8,)
    result = run_backtest(strat, bars, inst_id="X-USDT", timeframe="5m", start_ms=int(bars.index[4]))
    assert list(result.trades["entry_ts"]) == [bars.index[7]]
    assert len(result.equity) == 6 and result.start == bars.index[4]


def test_per_bar_stop_column_is_used() -> None:
    bars = make_bars([100, 100, 100, 100, 100])
    bars.loc[bars.index[2], "low"] = 96.0
    strat = EnterAt()
    strat.entries = (0,)
    result = run_backtest(strat, bars, inst_id="X-USDT", timeframe="5m", params={"stop": 3.0}, costs=CostModel(0, 0))
    assert list(result.trades["exit_reason"]) == ["stop_loss"]
    assert result.trades["exit_price"].iloc[0] == pytest.approx(97.0)


def test_bad_params_and_empty_window() -> None:
    bars = make_bars([100, 101, 102])
    with pytest.raises(ParamError, match="has no parameter 'nope'"):
        run_backtest(EnterAt(), bars, inst_id="X-USDT", timeframe="5m", params={"nope": 1})
    with pytest.raises(ValueError, match="no bars in the backtest window"):
        run_backtest(EnterAt(), bars, inst_id="X-USDT", timeframe="5m", start_ms=int(bars.index[-1]) + STEP)


def test_run_many_equals_separate_runs(btc_1m: pd.DataFrame) -> None:
    from blofin_stack.market.candles import resample_ohlcv
    from blofin_stack.strategies import builtin_strategies

    bars = resample_ohlcv(btc_1m.iloc[-20_000:], "5m")
    start = int(bars.index[-1000])
    strategies = [s for s in builtin_strategies() if s.unavailable_reason() is None]
    together = run_many(strategies, bars, inst_id="BTC-USDT", timeframe="5m", start_ms=start)
    for strategy, shared in zip(strategies, together, strict=True):
        alone = run_backtest(strategy, bars, inst_id="BTC-USDT", timeframe="5m", start_ms=start)
        pd.testing.assert_frame_equal(alone.trades, shared.trades)
        assert alone.metrics == shared.metrics
