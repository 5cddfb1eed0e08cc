"""Every built-in strategy trades on the real data and its signals are causal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.backtest.engine import run_backtest
from blofin_stack.features import compute_features, max_warmup
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.strategies import BUILTIN_STRATEGIES, builtin_strategies, get_strategy
from blofin_stack.strategies.base import frame_with_features

WEEK_MS = 7 * 86_400_000
NAMES = sorted(BUILTIN_STRATEGIES)


@pytest.fixture(scope="module")
def last_week_trades(real_data_dir: Path) -> pd.DataFrame:
    """Trades per strategy x instrument x timeframe over the data's last 7 days (default parameters)."""
    rows = []
    for path in sorted(real_data_dir.glob("*.csv.gz")):
        candles = pd.read_csv(path).set_index("ts")
        end = (int(candles.index[-1]) + 60_000) // 3_600_000 * 3_600_000
        for timeframe in ("1m", "5m", "1H"):
            bars = resample_ohlcv(candles, timeframe, until_ms=end)
            for strategy in builtin_strategies():
                result = run_backtest(
                    strategy, bars, inst_id=path.name[:-7], timeframe=timeframe, start_ms=end - WEEK_MS
                )
                rows.append((strategy.name, path.name[:-7], timeframe, result.metrics["trades"]))
    return pd.DataFrame(rows, columns=["strategy", "inst_id", "timeframe", "trades"])


def test_the_library_has_the_issue_strategies() -> None:
    assert set(NAMES) == {
        "rsi_divergence",
        "bb_squeeze",
        "macd_crossover",
        "volume_breakout",
        "momentum_reversal",
        "vwap_reversion",
        "sma_cross",
    }
    for cls in BUILTIN_STRATEGIES.values():
        assert cls.__doc__ or cls.__module__, cls
        assert cls.description and cls.timeframes and cls.params is not None


@pytest.mark.parametrize("name", NAMES)
def test_trades_on_most_instruments(name: str, last_week_trades: pd.DataFrame) -> None:
    mine = last_week_trades[last_week_trades["strategy"] == name]
    per_instrument = mine.groupby("inst_id")["trades"].sum()
    assert len(per_instrument) == 16
    assert (per_instrument > 0).sum() >= 12, per_instrument.to_dict()
    on_5m = mine[mine["timeframe"] == "5m"].set_index("inst_id")["trades"]
    assert (on_5m > 0).sum() >= 12, on_5m.to_dict()


@pytest.mark.parametrize("name", NAMES)
def test_signals_are_causal(name: str, btc_1m: pd.DataFrame) -> None:
    """A signal at bar t is the same whether the data ends at t or continues."""
    strategy = get_strategy(name)
    params = strategy.resolve_params()
    bars = resample_ohlcv(btc_1m, "5m").iloc[-3000:]
    names = strategy.features_for(params)

    def signals(data: pd.DataFrame) -> pd.DataFrame:
        return strategy.signals(frame_with_features(data, compute_features(data, names)), params)

    full = signals(bars)
    fired = np.flatnonzero(full[["entry_long", "entry_short"]].any(axis=1).to_numpy())
    assert len(fired) > 0, "the strategy must signal on this slice for the test to mean anything"
    warm = max_warmup(names)
    cuts = set(np.linspace(warm + 50, len(bars) - 1, 15).astype(int)) | set(fired[fired > warm][:10])
    for cut in sorted(cuts):
        prefix = signals(bars.iloc[: cut + 1])
        pd.testing.assert_frame_equal(prefix.iloc[warm:], full.iloc[warm : cut + 1], check_exact=False)
