"""The look-ahead audit: every built-in feature and strategy passes it on real data; planted leaks fail it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from blofin_stack.audit.lookahead import (
    audit_features,
    audit_strategy,
    audited_feature_names,
    run_lookahead_audit,
)
from blofin_stack.features.registry import REGISTRY, FeatureRegistry, FeatureSpec, ema_warmup
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.strategies import Strategy, all_strategies, signal_frame
from blofin_stack.strategies.base import ParamValue


@pytest.fixture(scope="module", params=["1m", "5m"])
def real_bars(request: pytest.FixtureRequest, btc_1m: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """8,000 real BTC-USDT bars: long enough to check even KAMA's 3,323-bar warm-up from three starts."""
    return request.param, resample_ohlcv(btc_1m, request.param).iloc[-8000:]


def test_every_feature_passes(real_bars: tuple[str, pd.DataFrame]) -> None:
    timeframe, bars = real_bars
    names = audited_feature_names()
    assert len(names) >= len(REGISTRY.names()) + len(REGISTRY.families())
    failed = {f.name: f.detail for f in audit_features(bars, names, timeframe=timeframe) if not f.ok}
    assert failed == {}


def test_every_strategy_passes(btc_1m: pd.DataFrame) -> None:
    bars = resample_ohlcv(btc_1m, "5m").iloc[-4000:]
    report = run_lookahead_audit(bars, [], all_strategies(), timeframe="5m")
    assert {f.name: f.detail for f in [*report.features, *report.strategies] if not f.ok} == {}
    assert len(report.strategies) >= 7 and report.ok


def _registry(funcs: Mapping[str, tuple[object, int]]) -> FeatureRegistry:
    registry = FeatureRegistry()
    for name, (func, warmup) in funcs.items():
        registry.register(FeatureSpec(name, "custom", func, warmup, name, "USDT", "test"))  # type: ignore[arg-type]
    return registry


def test_planted_feature_leaks_are_caught(btc_1m: pd.DataFrame) -> None:
    bars = btc_1m.iloc[-3000:]
    registry = _registry(
        {
            "honest_sma_5": (lambda o: o["close"].rolling(5).mean(), 4),
            "next_close": (lambda o: o["close"].shift(-1), 0),
            "centred_sma_5": (lambda o: o["close"].rolling(5, center=True).mean(), 4),
            "full_history_zscore": (lambda o: (o["close"] - o["close"].mean()) / o["close"].std(), 0),
            "backfilled_sma_50": (lambda o: o["close"].rolling(50).mean().bfill(), 0),
            "ema_50_declared_as_sma": (lambda o: o["close"].ewm(span=50, adjust=False).mean(), 49),
            "ema_50_honest": (lambda o: o["close"].ewm(span=50, adjust=False).mean(), ema_warmup(50)),
            "cumulative_volume": (lambda o: o["volume"].cumsum(), 0),
        }
    )
    findings = {f.name: f for f in audit_features(bars, registry.names(), registry=registry)}
    assert {n for n, f in findings.items() if f.ok} == {"honest_sma_5", "ema_50_honest"}
    for name in ("next_close", "centred_sma_5", "full_history_zscore", "backfilled_sma_50"):
        finding = findings[name]
        assert finding.test == "truncation" and "look-ahead" in finding.detail, name
        assert finding.first_ts in bars.index and finding.difference and finding.difference > 0
    # the next-close leak shows at the cut itself: NaN there once the data ends, a number otherwise
    assert findings["next_close"].difference == float("inf")
    for name in ("ema_50_declared_as_sma", "cumulative_volume"):
        assert findings[name].test == "warmup" and "warm-up too short" in findings[name].detail
    assert findings["ema_50_declared_as_sma"].first_ts is not None
    assert findings["ema_50_declared_as_sma"].as_dict()["first_time"].startswith("2025-")


def test_a_feature_that_raises_is_named_and_the_others_are_still_audited(btc_1m: pd.DataFrame) -> None:
    registry = _registry(
        {"fine": (lambda o: o["close"].rolling(3).mean(), 2), "broken": (lambda o: o["no_such_column"], 0)}
    )
    findings = {f.name: f for f in audit_features(btc_1m.iloc[-1000:], registry.names(), registry=registry)}
    assert findings["fine"].ok
    assert not findings["broken"].ok and findings["broken"].test == "error"
    assert "no_such_column" in findings["broken"].detail


class PeekingStrategy(Strategy):
    """Enters long when the NEXT close is higher: the classic leak."""

    name = "peeking"
    description = "leaky on purpose"
    timeframes = ("5m",)
    required_features = ("close",)

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        up = features["close"].shift(-1) > features["close"]
        return signal_frame(features.index, entry_long=up, exit_long=~up)


class CentredStrategy(PeekingStrategy):
    """Uses a centred rolling maximum of highs: a subtler leak."""

    name = "centred"

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        peak = features["high"].rolling(9, center=True).max()
        return signal_frame(features.index, entry_short=features["high"] >= peak)


class HonestStrategy(PeekingStrategy):
    name = "honest"

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        up = features["close"] > features["close"].shift(1)
        return signal_frame(features.index, entry_long=up, exit_long=~up)


@pytest.mark.parametrize("strategy", [PeekingStrategy(), CentredStrategy()], ids=lambda s: s.name)
def test_planted_strategy_leaks_are_caught(strategy: Strategy, btc_1m: pd.DataFrame) -> None:
    bars = resample_ohlcv(btc_1m, "5m").iloc[-1500:]
    finding = audit_strategy(bars, strategy)
    assert not finding.ok and finding.test == "truncation"
    assert "look-ahead: entry_" in finding.detail and finding.first_ts in bars.index


def test_honest_strategy_passes_with_every_signal_bar_cut(btc_1m: pd.DataFrame) -> None:
    bars = resample_ohlcv(btc_1m, "5m").iloc[-600:]
    finding = audit_strategy(bars, HonestStrategy())
    assert finding.ok, finding.detail
    cuts = int(finding.detail.split(": ")[1].split()[0])
    assert cuts >= 50 + 100  # the spread cut points plus (well over) a hundred signal bars


def test_cut_points_cover_the_data() -> None:
    from blofin_stack.audit.lookahead import cut_points

    cuts = cut_points(1000, 50, extra=[5, 999, 998])
    assert len(cuts) >= 50 and cuts.min() >= 1 and cuts.max() == 998
    assert np.all(np.diff(cuts) > 0)
