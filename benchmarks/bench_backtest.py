"""Backtest throughput: ``sma_cross`` on 16 instruments x 7 days of 5m bars.

Ours (numba kernel, features by TA-Lib) against two peers run in the same process on the same bars:
backtesting.py 0.6.6 (event-driven) and vectorbt 1.0.0 (vectorised, ``Portfolio.from_signals``).
All three compute their own SMAs; the trade counts are printed side by side as a sanity check.
Run: ``.venv/bin/python benchmarks/bench_backtest.py``
"""

from __future__ import annotations

import time
import warnings

import pandas as pd

from _common import best_of, peer_sma_cross, real_data_dir
from blofin_stack.backtest.engine import CostModel, run_backtest
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.strategies import get_strategy

DAY_MS = 86_400_000


def load() -> dict[str, pd.DataFrame]:
    bars = {}
    for path in sorted(real_data_dir().glob("*.csv.gz")):
        candles = pd.read_csv(path).set_index("ts")
        end = int(candles.index[-1]) + 60_000
        bars[path.name[:-7]] = resample_ohlcv(candles[candles.index >= end - 8 * DAY_MS], "5m")
    return bars


def main() -> None:
    data = load()
    strategy = get_strategy("sma_cross")
    costs = CostModel(fee_bps=6, slippage_bps=0)

    def ours() -> int:
        return sum(
            run_backtest(strategy, b, inst_id=i, timeframe="5m", costs=costs).metrics["trades"] for i, b in data.items()
        )

    from backtesting import Backtest

    PeerSma = peer_sma_cross()

    frames = {}
    for inst, b in data.items():
        frame = b.rename(columns=str.capitalize)
        frame.index = pd.to_datetime(b.index, unit="ms")
        frames[inst] = frame

    def backtesting_py() -> int:
        total = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in frames.values():
                bt = Backtest(frame, PeerSma, cash=1e12, commission=0.0006, exclusive_orders=True)
                total += int(bt.run()["# Trades"])
        return total

    import vectorbt as vbt

    def vectorbt_() -> int:
        total = 0
        for frame in frames.values():
            fast = vbt.MA.run(frame["Close"], 10)
            slow = vbt.MA.run(frame["Close"], 30)
            up = fast.ma_crossed_above(slow)
            down = fast.ma_crossed_below(slow)
            pf = vbt.Portfolio.from_signals(
                frame["Close"], up.shift(1, fill_value=False), down.shift(1, fill_value=False),
                short_entries=down.shift(1, fill_value=False), short_exits=up.shift(1, fill_value=False),
                price=frame["Open"], fees=0.0006, freq="5min",
            )  # fmt: skip
            total += int(pf.trades.count())
        return total

    started = time.perf_counter()
    ours()  # first call compiles nothing new (numba cache) but warms imports
    print(f"first run (incl. warm-up): {time.perf_counter() - started:.2f} s")
    n = len(data)
    results = {}
    for name, fn, repeat in (("ours", ours, 5), ("backtesting.py", backtesting_py, 1), ("vectorbt", vectorbt_, 3)):
        fn()
        best, _ = best_of(fn, repeat)
        results[name] = best
        print(f"{name:>15}: {n} backtests in {best:.3f} s = {n / best * 3600:,.0f} backtests/hour "
              f"({fn():,} trades)")  # fmt: skip
    for peer in ("backtesting.py", "vectorbt"):
        print(f"ours vs {peer}: {results[peer] / results['ours']:.1f}x faster")


if __name__ == "__main__":
    main()
