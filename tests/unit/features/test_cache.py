"""The feature cache returns a column only for the same data and the same code, from memory or disk."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY, FeatureManager, compute_features
from blofin_stack.features.cache import FeatureCache, bars_fingerprint
from blofin_stack.features.registry import FeatureRegistry, FeatureSpec
from blofin_stack.market.store import MarketStore


@pytest.fixture
def bars(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return btc_1m.iloc[-2_000:]


def test_memory_then_disk_hits(tmp_path: Path, bars: pd.DataFrame) -> None:
    spec = REGISTRY.resolve("rsi_14")
    values = compute_features(bars, ["rsi_14"])["rsi_14"].to_numpy()
    fp = bars_fingerprint(bars)
    first = FeatureCache(tmp_path, max_entries=10)
    assert first.get("BTC-USDT", "1m", spec, fp) is None and first.stats.misses == 1
    first.put("BTC-USDT", "1m", spec, fp, values)
    np.testing.assert_array_equal(first.get("BTC-USDT", "1m", spec, fp), values)
    assert first.stats.memory_hits == 1
    second = FeatureCache(tmp_path, max_entries=10)  # another process: only the disk is shared
    np.testing.assert_array_equal(second.get("BTC-USDT", "1m", spec, fp), values)
    assert second.stats.disk_hits == 1
    assert second.get("BTC-USDT", "5m", spec, fp) is None  # other timeframe, other entry


def test_other_data_misses(tmp_path: Path, bars: pd.DataFrame) -> None:
    spec = REGISTRY.resolve("ema_21")
    cache = FeatureCache(tmp_path)
    cache.put("BTC-USDT", "1m", spec, bars_fingerprint(bars), np.ones(len(bars)))
    longer = bars.copy()
    longer.loc[int(bars.index[-1]) + 60_000] = bars.iloc[-1].to_numpy()
    changed = bars.copy()
    changed.iloc[-1, changed.columns.get_loc("close")] += 1.0
    for other in (longer, changed, bars.iloc[1:]):
        assert bars_fingerprint(other) != bars_fingerprint(bars)
        assert cache.get("BTC-USDT", "1m", spec, bars_fingerprint(other)) is None


def test_lru_evicts_oldest(bars: pd.DataFrame) -> None:
    cache = FeatureCache(None, max_entries=2)
    fp = bars_fingerprint(bars)
    specs = [REGISTRY.resolve(n) for n in ("close", "hl2", "hlc3")]
    for spec in specs:
        cache.put("X-USDT", "1m", spec, fp, np.zeros(3))
    assert cache.get("X-USDT", "1m", specs[0], fp) is None
    assert cache.get("X-USDT", "1m", specs[2], fp) is not None


def test_corrupt_disk_entry_is_a_miss(tmp_path: Path, bars: pd.DataFrame) -> None:
    spec = REGISTRY.resolve("close")
    fp = bars_fingerprint(bars)
    FeatureCache(tmp_path).put("X-USDT", "1m", spec, fp, np.zeros(3))
    (tmp_path / "X-USDT" / "1m" / "close.npz").write_bytes(b"not a numpy file")
    assert FeatureCache(tmp_path).get("X-USDT", "1m", spec, fp) is None


def test_editing_the_feature_code_invalidates(tmp_path: Path, bars: pd.DataFrame) -> None:
    source = tmp_path / "my_feature.py"

    def load(body: str) -> FeatureSpec:
        source.write_text(f"def value(ohlcv):\n    return ohlcv['close'] * {body}\n")
        spec_ = importlib.util.spec_from_file_location("my_feature", source)
        assert spec_ and spec_.loader
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
        registry = FeatureRegistry()
        return registry.register(FeatureSpec("mine", "custom", module.value, 0, "test", "USDT", "test"))

    fp = bars_fingerprint(bars)
    cache = FeatureCache(tmp_path / "cache")
    old = load("2")
    cache.put("X-USDT", "1m", old, fp, compute_features(bars, ["close"])["close"].to_numpy() * 2)
    assert cache.get("X-USDT", "1m", old, fp) is not None
    time.sleep(0.01)
    new = load("3")  # same name, edited code
    assert cache.get("X-USDT", "1m", new, fp) is None


def test_manager_uses_the_cache_and_sees_new_bars(tmp_path: Path, btc_1m: pd.DataFrame) -> None:
    store = MarketStore(tmp_path / "market")
    history = btc_1m.iloc[-6_000:-5]
    store.write_candles("BTC-USDT", history)
    manager = FeatureManager(store, cache=FeatureCache(tmp_path / "cache", max_entries=100))
    names = ["rsi_14", "1H:ema_21", "vwap_zscore"]
    first = manager.get_features("BTC-USDT", "5m", names, lookback_bars=200)
    again = manager.get_features("BTC-USDT", "5m", names, lookback_bars=200)
    pd.testing.assert_frame_equal(first, again)
    assert manager.cache is not None and manager.cache.stats.memory_hits == 3
    # five new 1m bars close a new 5m bar: the cache must not serve the old columns
    store.write_candles("BTC-USDT", btc_1m.iloc[-5:])
    fresh = manager.get_features("BTC-USDT", "5m", names, lookback_bars=200)
    uncached = FeatureManager(store).get_features("BTC-USDT", "5m", names, lookback_bars=200)
    pd.testing.assert_frame_equal(fresh, uncached)
    assert fresh.index[-1] > first.index[-1]
