"""The feature library's breadth and metadata, and hand computations of a handful of its formulas.

Causality and warm-up of every registered feature are checked by ``test_causality.py`` and
``test_warmup.py``, which iterate the whole registry; ``test_new_features_are_registered`` makes sure the
features added here are in it (and so covered). The new families' members are checked here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import GROUPS, REGISTRY, compute_features
from blofin_stack.features.patterns import CANDLE_PATTERNS

MINUTE_MS = 60_000
#: The features this library round added, by group (the candle patterns are in ``price`` too).
NEW_FEATURES: dict[str, str] = {
    "price": "wclprice avgprice range_pct body_pct upper_wick_pct lower_wick_pct close_position gap_pct returns_5 "
    "returns_20 " + " ".join(CANDLE_PATTERNS),
    "volume": "volume_sma_50 volume_change quote_volume obv_20 adosc cmf_20 force_index_13",
    "momentum": "cmo_14 ppo trix_15 apo bop aroon_up_25 aroon_down_25 aroon_osc_25 ultosc roc_1 rsi_21 momentum_20",
    "trend": "ema_50 ema_200 sma_20 sma_100 close_to_sma_50 close_to_ema_21 ema_9_21_spread linreg_slope_14 "
    "sar_distance ichimoku_tenkan ichimoku_kijun ichimoku_senkou_a ichimoku_senkou_b ichimoku_cloud_position "
    "donchian_width_20",
    "volatility": "parkinson_vol_20 garman_klass_vol_20 rogers_satchell_vol_20 realized_vol_20 true_range "
    "close_zscore_20 returns_zscore_20 keltner_upper keltner_lower",
    "macd": "macd_pct macd_signal_pct macd_hist_pct macd_hist_slope",
    "oscillators": "stochrsi_k stochrsi_d stoch_fast_k stoch_fast_d cci_14 dpo_20",
    "volume_weighted": "mfi_14 vwma_20 close_to_vwma_20 vwap_upper_2 vwap_lower_2 eom_14",
    "regime": "is_volatile is_quiet efficiency_ratio_10 choppiness_14 trend_regime dx_14",
}


def _bars(rows: list[tuple[float, float, float, float, float]]) -> pd.DataFrame:
    """1m OHLCV bars from (open, high, low, close, volume) rows, starting at ts 0."""
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], dtype="float64")
    frame.index = pd.Index(np.arange(len(rows), dtype="int64") * MINUTE_MS, name="ts")
    return frame


def _random_walk(count: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, count)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, count))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, count))
    return _bars(list(zip(open_, high, low, close, rng.uniform(1, 10, count), strict=True)))


def test_library_is_broad() -> None:
    assert len(REGISTRY.names()) >= 100
    for group in GROUPS:
        if group != "custom":
            assert len(REGISTRY.names(group)) >= 4, group


def test_every_spec_is_documented() -> None:
    for spec in REGISTRY.specs():
        assert spec.description.strip() and spec.units.strip() and spec.source.strip(), spec.name
    for fam in REGISTRY.families():
        assert fam.description.strip(), fam.pattern


def test_new_features_are_registered() -> None:
    """Registered exact features (in their groups) are what the causality and warm-up tests iterate."""
    for group, names in NEW_FEATURES.items():
        assert set(names.split()) <= set(REGISTRY.names(group)), group
    assert "chikou" not in " ".join(REGISTRY.names())  # the lagging span looks ahead when aligned


def test_bar_shape_by_hand() -> None:
    bars = _bars([(100, 110, 90, 105, 1), (105, 105, 105, 105, 1), (110, 120, 100, 100, 1)])
    out = compute_features(bars, ["range_pct", "close_position", "gap_pct", "body_pct", "upper_wick_pct"])
    np.testing.assert_allclose(out["range_pct"], [20 / 105 * 100, 0.0, 20 / 100 * 100])
    np.testing.assert_allclose(out["close_position"], [0.75, 0.5, 0.0])  # high == low gives 0.5
    assert math.isnan(out["gap_pct"].iloc[0])
    np.testing.assert_allclose(out["gap_pct"].iloc[1:], [0.0, (110 / 105 - 1) * 100])
    np.testing.assert_allclose(out["body_pct"], [5.0, 0.0, 10 / 110 * 100])
    np.testing.assert_allclose(out["upper_wick_pct"], [5.0, 0.0, 10 / 110 * 100])


def test_efficiency_ratio_by_hand() -> None:
    closes = [10, 11, 10, 12, 13, 12, 14, 15, 14, 16, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17]
    bars = _bars([(c, c, c, c, 1.0) for c in closes])
    out = compute_features(bars, ["efficiency_ratio_10"])["efficiency_ratio_10"].to_numpy()
    assert np.isnan(out[:10]).all()
    # bar 10: net move 17 - 10 = 7 over the path 1+1+2+1+1+2+1+1+2+1 = 13
    assert out[10] == pytest.approx(7 / 13)
    # bar 11: 17 - 11 = 6 over the path 1+2+1+1+2+1+1+2+1+0 = 12
    assert out[11] == pytest.approx(6 / 12)
    assert out[21] == 0.0  # ten bars without a move: no efficiency, not NaN


def test_obv_window_by_hand() -> None:
    closes, volumes = [10, 11, 11, 10, 12, 13], [1, 2, 3, 4, 5, 6]
    bars = _bars([(c, c, c, c, v) for c, v in zip(closes, volumes, strict=True)])
    out = compute_features(bars, ["obv_3"])["obv_3"].to_numpy()
    # signed volumes: bar 1 +2, bar 2 0 (unchanged), bar 3 -4, bar 4 +5, bar 5 +6
    assert np.isnan(out[:3]).all()
    np.testing.assert_allclose(out[3:], [2 + 0 - 4, 0 - 4 + 5, -4 + 5 + 6])


def test_ichimoku_leading_span_a_is_displayed_26_bars_later() -> None:
    bars = _random_walk(140)
    high, low = bars["high"].to_numpy(), bars["low"].to_numpy()
    out = compute_features(bars, ["ichimoku_senkou_a", "ichimoku_senkou_b"])

    def midpoint(t: int, n: int) -> float:
        return (high[t - n + 1 : t + 1].max() + low[t - n + 1 : t + 1].min()) / 2

    span_a, span_b = out["ichimoku_senkou_a"].to_numpy(), out["ichimoku_senkou_b"].to_numpy()
    assert np.isnan(span_a[:51]).all() and np.isnan(span_b[:77]).all()
    for t in range(51, len(bars)):
        assert span_a[t] == pytest.approx((midpoint(t - 26, 9) + midpoint(t - 26, 26)) / 2, rel=1e-12)
    for t in range(77, len(bars)):
        assert span_b[t] == pytest.approx(midpoint(t - 26, 52), rel=1e-12)


def test_parkinson_volatility_by_hand() -> None:
    bars = _random_walk(60)
    out = compute_features(bars, ["parkinson_vol_20"])["parkinson_vol_20"].to_numpy()
    squared = np.log(bars["high"].to_numpy() / bars["low"].to_numpy()) ** 2
    assert np.isnan(out[:19]).all()
    for t in range(19, len(bars)):
        expected = math.sqrt(squared[t - 19 : t + 1].mean() / (4 * math.log(2)))
        assert out[t] == pytest.approx(expected, rel=1e-9)


def test_candle_flags_on_real_data(btc_1m: pd.DataFrame) -> None:
    out = compute_features(btc_1m, list(CANDLE_PATTERNS))
    fired = []
    for name in CANDLE_PATTERNS:
        warmup = REGISTRY.resolve(name).warmup_bars
        values = out[name].to_numpy()
        assert np.isnan(values[:warmup]).all(), name
        assert set(np.unique(values[warmup:])) <= {-1.0, 0.0, 1.0}, name
        if (values[warmup:] != 0).any():
            fired.append(name)
    assert len(fired) >= 12, fired
    assert {-1.0, 1.0} <= set(out["cdl_engulfing"].dropna().unique())
