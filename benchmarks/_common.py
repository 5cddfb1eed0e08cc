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
