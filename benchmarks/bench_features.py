"""Feature computation: every feature for 16 instruments x 30 days of 1m bars (~690k bars).

Prints the time to compute all registered features cold (targets: < 10 s), from the memory cache and
from the disk cache (target: < 0.5 s), then, for a subset both libraries have, the ratio against
pandas-ta-classic run on the same frames in the same process (with ``talib=False``, so its own code is
measured, not TA-Lib's), with the largest disagreement of values after the warm-up (relative to each
indicator's median magnitude) as a sanity check that both compute the same thing.
Run: ``.venv/bin/python benchmarks/bench_features.py``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import best_of, real_data_dir
from blofin_stack.features import REGISTRY, FeatureManager, compute_features
from blofin_stack.features.cache import FeatureCache
from blofin_stack.market.store import MarketStore

# ours -> the pandas-ta-classic call computing the same indicator the same way. (MFI is left out: the two
# libraries define its money-flow comparison differently and disagree by ~9 % on real data.)
SHARED = {
    "rsi_14": lambda ta, d: ta.rsi(d.close, 14, talib=False),
    "ema_21": lambda ta, d: ta.ema(d.close, 21, talib=False),
    "sma_50": lambda ta, d: ta.sma(d.close, 50, talib=False),
    "atr_14": lambda ta, d: ta.atr(d.high, d.low, d.close, 14, talib=False),
    "macd_12_26": lambda ta, d: ta.macd(d.close, 12, 26, 9, talib=False)["MACD_12_26_9"],
    "cci_20": lambda ta, d: ta.cci(d.high, d.low, d.close, 20, talib=False),
    "williams_r": lambda ta, d: ta.willr(d.high, d.low, d.close, 14, talib=False),
    "roc_12": lambda ta, d: ta.roc(d.close, 12, talib=False),
    "momentum_10": lambda ta, d: ta.mom(d.close, 10, talib=False),
    "bbands_upper": lambda ta, d: ta.bbands(d.close, 20, 2, talib=False)["BBU_20_2.0"],
    "adx_14": lambda ta, d: ta.adx(d.high, d.low, d.close, 14, talib=False)["ADX_14"],
}


def main() -> None:
    import pandas_ta_classic as ta

    frames = {p.name[:-7]: pd.read_csv(p).set_index("ts") for p in sorted(real_data_dir().glob("*.csv.gz"))}
    bars = sum(len(f) for f in frames.values())
    names = REGISTRY.names()
    with tempfile.TemporaryDirectory() as tmp:
        store = MarketStore(Path(tmp) / "market")
        cache = FeatureCache(Path(tmp) / "cache", max_entries=len(frames) * len(names))
        manager = FeatureManager(store, cache=cache)

        def all_features(m: FeatureManager) -> None:
            for inst, frame in frames.items():
                m.features_for_bars(frame, names, inst_id=inst, timeframe="1m")

        started = time.perf_counter()
        for frame in frames.values():
            compute_features(frame, names)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        all_features(manager)
        filling = time.perf_counter() - started
        memory, _ = best_of(lambda: all_features(manager), 3)
        disk_manager = FeatureManager(store, cache=FeatureCache(Path(tmp) / "cache", max_entries=10))
        started = time.perf_counter()
        all_features(disk_manager)
        disk = time.perf_counter() - started
    print(f"{len(names)} features x {len(frames)} instruments x {bars:,} 1m bars")
    print(
        f"cold compute, no cache: {cold:.2f} s (target < 10 s); cold while filling memory+disk cache: {filling:.2f} s"
    )
    print(f"from the memory cache: {memory:.3f} s (target < 0.5 s); from the disk cache (new process): {disk:.2f} s")

    ours_time = peer_time = 0.0
    worst = 0.0
    for frame in frames.values():
        started = time.perf_counter()
        ours = compute_features(frame, list(SHARED))
        ours_time += time.perf_counter() - started
        started = time.perf_counter()
        peer = {name: call(ta, frame) for name, call in SHARED.items()}
        peer_time += time.perf_counter() - started
        for name, values in peer.items():
            warm = REGISTRY.resolve(name).warmup_bars
            a = ours[name].to_numpy()[warm:]
            b = np.asarray(values, dtype="float64")[warm:]
            ok = np.isfinite(a) & np.isfinite(b)
            worst = max(worst, float(np.max(np.abs(a[ok] - b[ok])) / np.median(np.abs(a[ok]))))
    print(f"shared subset ({len(SHARED)} indicators, same frames): ours {ours_time:.2f} s, pandas-ta-classic "
          f"{peer_time:.2f} s -> {peer_time / ours_time:.1f}x faster; largest disagreement after the warm-up "
          f"{worst:.1e} of the indicator's median magnitude")  # fmt: skip


if __name__ == "__main__":
    main()
