"""Cross-check: ``sma_cross`` through our engine and through backtesting.py gives the same trades.

Both run on the same real BTC-USDT 5m bars with fees and slippage zero. backtesting.py fills market
orders at the next bar's open (``trade_on_close=False``) and ``exclusive_orders=True`` makes each new
order close the open position first, which is our reversal rule. The one convention that differs is
the position still open after the last bar, which the test leaves out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtStrategy
from backtesting.lib import crossover

from blofin_stack.backtest.engine import CostModel, run_backtest
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.strategies import get_strategy

FAST, SLOW = 10, 30


class _PeerSmaCross(BtStrategy):
    def init(self) -> None:
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(FAST).mean().to_numpy())
        self.slow = self.I(lambda: close.rolling(SLOW).mean().to_numpy())

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            self.sell()


@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m, "5m").iloc[-4000:]


def _peer_trades(bars: pd.DataFrame) -> pd.DataFrame:
    data = bars.rename(columns=str.capitalize)
    data.index = pd.to_datetime(bars.index, unit="ms")
    peer = Backtest(data, _PeerSmaCross, cash=1e12, commission=0.0, exclusive_orders=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some trades remain open")
        stats = peer.run()
    trades = stats["_trades"]
    return pd.DataFrame(
        {
            "entry_ts": trades["EntryTime"].astype("int64") // 1_000_000,
            "exit_ts": trades["ExitTime"].astype("int64") // 1_000_000,
            "side": np.where(trades["Size"] > 0, "long", "short"),
            "entry_price": trades["EntryPrice"].to_numpy(),
            "exit_price": trades["ExitPrice"].to_numpy(),
            "return_pct": trades["ReturnPct"].to_numpy() * 100,
        }
    )


def test_sma_cross_matches_backtesting_py(bars: pd.DataFrame) -> None:
    ours = run_backtest(
        get_strategy("sma_cross"),
        bars,
        inst_id="BTC-USDT",
        timeframe="5m",
        params={"fast": FAST, "slow": SLOW},
        costs=CostModel(fee_bps=0, slippage_bps=0),
    ).trades
    # The position still open after the last bar is a convention: we close it at the last close
    # (end_of_data); backtesting.py leaves it open (or, with finalize_trades, fills at the last open).
    assert ours["exit_reason"].iloc[-1] == "end_of_data"
    ours = ours.iloc[:-1]
    peer = _peer_trades(bars)

    assert len(ours) > 100, "the reference strategy must trade a lot on 4,000 real bars"
    assert len(ours) == len(peer)
    np.testing.assert_array_equal(ours["entry_ts"], peer["entry_ts"])
    np.testing.assert_array_equal(ours["exit_ts"], peer["exit_ts"])
    np.testing.assert_array_equal(ours["side"], peer["side"])
    np.testing.assert_allclose(ours["entry_price"], peer["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(ours["exit_price"], peer["exit_price"], rtol=1e-12)
    np.testing.assert_allclose(ours["pnl_pct"], peer["return_pct"], rtol=1e-9, atol=1e-12)
