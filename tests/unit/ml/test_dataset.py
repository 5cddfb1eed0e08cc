"""Pooled datasets on real instruments: order, t_end, dropped rows, causal features, refused label-named
and price-level features, and the scale-free default features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY, FeatureManager, compute_features, feature, max_warmup
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.market.store import MarketStore
from blofin_stack.ml.dataset import (
    SCALE_FREE_FEATURES,
    build_dataset,
    is_scale_free,
    load_dataset,
    scale_violations,
)
from blofin_stack.ml.labels import direction, forward_return, risk_score
from blofin_stack.ml.splits import WalkForward

pytestmark = pytest.mark.slow

STEP = 300_000
INSTS = ("BTC-USDT", "ETH-USDT", "XRP-USDT")
FEATURES = ["rsi_14", "returns", "atr_pct_14", "volume_ratio", "macd_hist_pct"]


@pytest.fixture(scope="module")
def bars_5m(real_data_dir: Path) -> dict[str, pd.DataFrame]:
    return {inst: resample_ohlcv(pd.read_csv(real_data_dir / f"{inst}.csv.gz").set_index("ts"), "5m") for inst in INSTS}


def test_pooled_dataset_order_t_end_and_dropped_rows(bars_5m: dict[str, pd.DataFrame]) -> None:
    label = direction(12, dead_zone=0.0005)
    data = build_dataset(bars_5m, FEATURES, label, "5m")
    assert list(data.X.columns) == FEATURES and data.features == FEATURES
    assert isinstance(data.X.index, pd.RangeIndex) and data.y.name == label.name
    assert len(data) == len(data.X) == len(data.t) == len(data.t_end) == len(data.inst)
    # sorted by (t, inst)
    order = pd.DataFrame({"t": data.t, "inst": data.inst})
    assert order.equals(order.sort_values(["t", "inst"]).reset_index(drop=True))
    assert set(data.inst) == set(INSTS)
    # the label is known at the close of bar t + h
    np.testing.assert_array_equal(data.t_end, data.t + 13 * STEP)
    assert np.isfinite(data.X.to_numpy()).all() and set(np.unique(data.y)) == {0.0, 1.0}
    # rows kept: from the warm-up on, where features and label are finite (dead zone and tail dropped)
    warmup = max_warmup(FEATURES, "5m")
    expected = 0
    for inst, bars in bars_5m.items():
        values = compute_features(bars, FEATURES)
        y = label.func(bars)
        keep = np.isfinite(values.to_numpy()).all(axis=1) & np.isfinite(y.to_numpy())
        keep[:warmup] = False
        expected += int(keep.sum())
        mine = data.t[data.inst == inst]
        assert mine.min() == bars.index[warmup]
        assert mine.max() <= bars.index[-13]
        np.testing.assert_array_equal(mine, bars.index.to_numpy()[keep])
    assert len(data) == expected
    # start_ms drops earlier samples (they only warm the features up)
    start = int(bars_5m["BTC-USDT"].index[5000])
    later = build_dataset(bars_5m, FEATURES, label, "5m", start_ms=start)
    assert later.t.min() == start and len(later) == int((data.t >= start).sum())


def test_features_at_t_use_bars_up_to_t_only(bars_5m: dict[str, pd.DataFrame]) -> None:
    label = forward_return(6)
    data = build_dataset(bars_5m, FEATURES, label, "5m")
    rng = np.random.default_rng(0)
    for row in rng.choice(len(data), 12, replace=False):
        inst, t = data.inst[row], int(data.t[row])
        bars = bars_5m[inst]
        upto = compute_features(bars.loc[:t], FEATURES).iloc[-1]
        np.testing.assert_allclose(data.X.iloc[row].to_numpy(), upto.to_numpy(), rtol=1e-12)
        close = bars["close"]
        pos = bars.index.get_loc(t)
        assert data.y.iloc[row] == pytest.approx(close.iloc[pos + 6] / close.iloc[pos] - 1, rel=1e-12)


def test_a_label_named_feature_is_refused(bars_5m: dict[str, pd.DataFrame], isolated_plugins: None) -> None:
    @feature("forward_return_12", group="custom", description="a leak: the future return")
    def leak(ohlcv: pd.DataFrame) -> pd.Series:
        return ohlcv["close"].shift(-12) / ohlcv["close"] - 1

    assert REGISTRY.resolve("forward_return_12")
    with pytest.raises(ValueError, match="'forward_return_12' carry a label's name"):
        build_dataset(bars_5m, ["rsi_14", "forward_return_12"], forward_return(12), "5m")
    # also under another horizon, and any name labels.py gives labels
    with pytest.raises(ValueError, match="forward_return_12"):
        build_dataset(bars_5m, ["forward_return_12"], direction(3), "5m")
    with pytest.raises(ValueError, match="risk_score_3"):
        build_dataset(bars_5m, ["rsi_14", "risk_score_3"], direction(3), "5m")


def test_price_levels_are_not_pooled(bars_5m: dict[str, pd.DataFrame], isolated_plugins: None) -> None:
    with pytest.raises(ValueError, match=r"not scale-free cannot be pooled across 3 instruments: close .*ema_21"):
        build_dataset(bars_5m, ["rsi_14", "close", "ema_21"], direction(6), "5m")
    with pytest.raises(ValueError, match="volume_sma_20"):
        build_dataset(bars_5m, ["volume_sma_20"], direction(6), "5m")
    # one instrument: a per-instrument dataset may use levels
    single = build_dataset({"BTC-USDT": bars_5m["BTC-USDT"]}, ["close", "ema_21"], direction(6), "5m")
    assert len(single) > 1000

    # a plugin feature not known to be scale-free passes when it is (checked on the data)
    @feature("close_over_open_3", group="custom", warmup_bars=3, description="close / open 3 bars ago")
    def ratio(ohlcv: pd.DataFrame) -> pd.Series:
        return ohlcv["close"] / ohlcv["open"].shift(3)

    assert not is_scale_free("close_over_open_3")
    pooled = build_dataset(bars_5m, ["rsi_14", "close_over_open_3"], direction(6), "5m")
    assert len(pooled) > 3 * 8000


def test_scale_free_features_resolve_and_are_scale_free_on_real_data(real_data_dir: Path) -> None:
    assert 25 <= len(SCALE_FREE_FEATURES) <= 35 and len(set(SCALE_FREE_FEATURES)) == len(SCALE_FREE_FEATURES)
    for name in SCALE_FREE_FEATURES:
        assert REGISTRY.resolve(name).name == name
        assert is_scale_free(name) and is_scale_free(f"1H:{name}")
    assert max_warmup(SCALE_FREE_FEATURES, "5m") <= 400
    for name in ("close", "ema_21", "vwap", "atr_14", "volume", "volume_sma_20", "macd_12_26", "obv_20"):
        assert not is_scale_free(name)
    # all prices x1000 (and x0.001): every default feature unchanged within 1e-9 relative, on a
    # 100 000 USDT and a 0.27 USDT instrument
    levels = ["close", "ema_21", "vwap", "atr_14"]
    for inst in ("BTC-USDT", "XLM-USDT"):
        bars = resample_ohlcv(pd.read_csv(real_data_dir / f"{inst}.csv.gz").set_index("ts"), "5m")
        for factor in (1000.0, 0.001):
            scaled = bars.copy()
            scaled[["open", "high", "low", "close"]] *= factor
            a = compute_features(bars, SCALE_FREE_FEATURES)
            b = compute_features(scaled, SCALE_FREE_FEATURES)
            for name in SCALE_FREE_FEATURES:
                x, y = a[name].to_numpy(), b[name].to_numpy()
                np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
                ok = np.isfinite(x)
                # relative to the larger value, floored at the feature's median magnitude (zero crossings)
                scale = np.maximum(np.maximum(np.abs(x[ok]), np.abs(y[ok])), np.median(np.abs(x[ok])))
                assert (np.abs(x[ok] - y[ok]) <= 1e-9 * scale).all(), (inst, factor, name)
            # price levels do change
            assert set(scale_violations(bars, levels, factor=factor)) == set(levels)
        # prices and volume x1000 together: the defaults pass the helper's test too
        assert scale_violations(bars, SCALE_FREE_FEATURES, factor=1000.0) == {}


def test_walk_forward_on_the_real_5m_data(bars_5m: dict[str, pd.DataFrame]) -> None:
    data = build_dataset(bars_5m, SCALE_FREE_FEATURES, direction(12), "5m")
    folds = WalkForward().split(data)
    # 30 days - 358 warm-up bars: 7 + 1 + 3 days, then every 3 days; the 7th test window is partial
    assert len(folds) == 7 and folds[-1].partial and not folds[-2].partial
    for fold in folds:
        assert data.t_end[fold.train].max() <= fold.train_end
        assert data.t[fold.test].min() >= fold.train_end + 24 * 3_600_000
        assert fold.purged == 12 * len(INSTS)


def test_load_dataset_from_the_store(tmp_path: Path, real_data_dir: Path, bars_5m: dict[str, pd.DataFrame]) -> None:
    store = MarketStore(tmp_path / "market")
    for inst in INSTS[:2]:
        store.write_candles(inst, pd.read_csv(real_data_dir / f"{inst}.csv.gz").set_index("ts"))
    label = risk_score(12)
    start = int(bars_5m["BTC-USDT"].index[3000])
    end = int(bars_5m["BTC-USDT"].index[6000])
    data = load_dataset(store, INSTS[:2], "5m", FEATURES, label, start, end)
    assert data.t.min() == start and data.t.max() < end and data.t_end.max() <= end
    # the same samples as building on the full bars from start_ms (features warmed up, labels inside end)
    full = build_dataset({i: bars_5m[i] for i in INSTS[:2]}, FEATURES, label, "5m", start_ms=start)
    inside = full.t_end <= end
    np.testing.assert_array_equal(data.t, full.t[inside])
    np.testing.assert_allclose(data.X.to_numpy(), full.X.to_numpy()[inside], rtol=1e-6)  # warm-up tolerance
    np.testing.assert_allclose(data.y.to_numpy(), full.y.to_numpy()[inside], rtol=1e-12)
    via_manager = load_dataset(FeatureManager(store), INSTS[:2], "5m", FEATURES, label, start, end)
    np.testing.assert_array_equal(via_manager.X.to_numpy(), data.X.to_numpy())
    np.testing.assert_array_equal(via_manager.y.to_numpy(), data.y.to_numpy())


def test_trade_outcomes_pool_with_one_label_per_instrument(bars_5m: dict[str, pd.DataFrame]) -> None:
    from blofin_stack.backtest.engine import run_backtest
    from blofin_stack.ml.labels import trade_label
    from blofin_stack.strategies import get_strategy

    strategy = get_strategy("ema_crossover")
    labels = {}
    for inst, bars in bars_5m.items():
        trades = run_backtest(strategy, bars, inst_id=inst, timeframe="5m").trades
        labels[inst] = trade_label(trades, bars, "profitable")
    data = build_dataset(bars_5m, FEATURES, labels, "5m")
    assert data.label.name == "trade_profitable"
    assert data.label.horizon == max(spec.horizon for spec in labels.values())
    for inst, spec in labels.items():
        signals = spec.func(bars_5m[inst]).dropna()
        mine = data.t[data.inst == inst]
        assert set(mine) <= set(signals.index) and len(mine) >= 0.9 * len(signals)
        np.testing.assert_array_equal(mine, np.sort(mine))
    # one instrument's trades applied to another's bars: refused
    with pytest.raises(ValueError, match="other bars"):
        build_dataset(bars_5m, FEATURES, labels["BTC-USDT"], "5m")
