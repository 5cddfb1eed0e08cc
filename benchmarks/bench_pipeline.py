"""Wall time of the daily cycle on the real data (target: ``pipeline run --mode strategy`` under 20 s).

Runs the CLI as a user would, in a fresh ``DATA_DIR``, as subprocesses (Python start-up and imports
included): ``blofin data import`` of the 16 files, then ``blofin pipeline run --mode strategy``
(7 strategies x 16 instruments x 3 timeframes over 7 days, all cores).
Peer: backtesting.py running the reference ``sma_cross`` on the same 48 instrument x timeframe bar sets
in this process, as backtests per hour (backtesting.py cannot run our strategies, so the comparison is
per backtest).
Run: ``.venv/bin/python benchmarks/bench_pipeline.py``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from _common import peer_sma_cross, real_data_dir
from blofin_stack.market.candles import resample_ohlcv

BIN = Path(sys.executable).parent / "blofin"
DAY_MS = 86_400_000


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def peer_backtests_per_hour(source: Path) -> tuple[float, int]:
    from backtesting import Backtest

    PeerSma = peer_sma_cross()

    frames = []
    for path in sorted(source.glob("*.csv.gz")):
        candles = pd.read_csv(path).set_index("ts")
        candles = candles[candles.index >= candles.index[-1] - 8 * DAY_MS]
        for timeframe in ("1m", "5m", "1H"):
            bars = resample_ohlcv(candles, timeframe).rename(columns=str.capitalize)
            bars.index = pd.to_datetime(bars.index, unit="ms")
            frames.append(bars)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for frame in frames:
            Backtest(frame, PeerSma, cash=1e12, commission=0.0006, exclusive_orders=True).run()
    return len(frames) / (time.perf_counter() - started) * 3600, len(frames)


def main() -> None:
    source = real_data_dir()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATA_DIR": str(Path(tmp) / "data")}
        env.pop("DATABASE_URL", None)
        import_s, _ = timed(["data", "import", str(source), "--json"], env)
        run_s, out = timed(["pipeline", "run", "--mode", "strategy", "--json"], env)
        summary = json.loads(out)
        backtests = summary["cycle"]["backtests"]
        print(f"blofin data import (16 files, process start included): {import_s:.2f} s")
        print(f"blofin pipeline run --mode strategy: {run_s:.2f} s wall, {backtests} backtests "
              f"({summary['cycle']['seconds']:.2f} s inside the cycle) (target < 20 s)")  # fmt: skip
        print(f"import + strategy cycle: {import_s + run_s:.2f} s")
        ours = backtests / run_s * 3600
        peer, n = peer_backtests_per_hour(source)
        print(
            f"ours: {ours:,.0f} backtests/hour, whole command included (strategies with stops, {os.cpu_count()} cores)"
        )
        print(f"peer backtesting.py, sma_cross on the same {n} bar sets, 1 core: {peer:,.0f} backtests/hour")
        print(f"ratio: {ours / peer:.1f}x")


if __name__ == "__main__":
    main()
