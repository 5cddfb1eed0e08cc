"""Shared helpers for the benchmarks: where the real data is, a temporary store, timing."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars


def real_data_dir() -> Path:
    """The real 1m candles (``SHARED_DATA_DIR``/binance-usdm-1m); exits with a message when absent."""
    root = Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data"))
    folder = root / "binance-usdm-1m"
    if not folder.is_dir():
        sys.exit(f"real market data not found at {folder} (set SHARED_DATA_DIR)")
    return folder


def best_of(fn: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """(best, median) wall time in seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def peer_sma_cross() -> type:
    """The reference ``sma_cross`` (SMA 10/30, always in the market) as a backtesting.py strategy."""
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import crossover

    class PeerSmaCross(Strategy):
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.fast = self.I(lambda: close.rolling(10).mean().to_numpy())
            self.slow = self.I(lambda: close.rolling(30).mean().to_numpy())

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.sell()

    return PeerSmaCross
