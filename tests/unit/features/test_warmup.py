"""Declared warm-ups are honest: after ``warmup_bars`` a value does not depend on where history starts.

Every registered feature (plus a few family members) is computed on a real-data slice starting at bar 0
and on the same slice starting at bar k; from ``k + warmup_bars`` on the two must agree within 1e-6
relative (relative to the larger of the two values and the feature's median magnitude, so features that
cross zero such as MACD are judged against their own scale), with NaN in the same places and no NaN left
after the warm-up. Under-declared warm-ups in a private registry prove the check fails when it should.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY, compute_features
from blofin_stack.features.registry import FeatureRegistry, FeatureSpec, ema_warmup
from blofin_stack.market.candles import resample_ohlcv

RTOL = 1e-6
STARTS = (1, 333, 1500)
MIN_COMPARED_BARS = 1000
SLICE_BARS = 8000
FAMILY_MEMBERS = ("rsi_21", "ema_200", "sma_7", "donchian_high_55", "donchian_low_10", "atr_7", "cci_50")


def _disagreement(full: np.ndarray, later: np.ndarray) -> str | None:
    """Why two runs of one feature over the same bars disagree, or None."""
    if np.isnan(full).any() or np.isnan(later).any():
        return f"{int(np.isnan(full).sum())} / {int(np.isnan(later).sum())} NaN after the warm-up"
    scale = np.maximum(np.maximum(np.abs(full), np.abs(later)), np.median(np.abs(full)))
    excess = np.abs(full - later) - RTOL * scale
    if (excess > 0).any():
        worst = int(np.argmax(excess))
        return f"{full[worst]!r} vs {later[worst]!r} at bar {worst} after the warm-up"
    return None


def warmup_violations(ohlcv: pd.DataFrame, names: list[str], registry: FeatureRegistry) -> dict[str, str]:
    """Feature name -> how its value after the declared warm-up depends on the history's start."""
    full = compute_features(ohlcv, names, registry)
    violations: dict[str, str] = {}
    for start in STARTS:
        later = compute_features(ohlcv.iloc[start:], names, registry)
        for name in names:
            warmup = registry.resolve(name).warmup_bars
            assert len(ohlcv) - start - warmup >= MIN_COMPARED_BARS, f"slice too short for {name}"
            reason = _disagreement(full[name].to_numpy()[start + warmup :], later[name].to_numpy()[warmup:])
            if reason and name not in violations:
                violations[name] = f"start {start}: {reason}"
    return violations


@pytest.fixture(scope="module", params=["1m", "5m"])
def real_slice(request: pytest.FixtureRequest, btc_1m: pd.DataFrame) -> pd.DataFrame:
    """8,000 real BTC-USDT bars of the timeframe (enough for ema_200's 1,583-bar warm-up and more)."""
    return resample_ohlcv(btc_1m, request.param).iloc[-SLICE_BARS:]


def test_declared_warmups_are_honest(real_slice: pd.DataFrame) -> None:
    assert warmup_violations(real_slice, [*REGISTRY.names(), *FAMILY_MEMBERS], REGISTRY) == {}


def test_check_catches_understated_warmups(btc_1m: pd.DataFrame) -> None:
    cases = {
        "ema_50_declared_as_sma": (lambda o: o["close"].ewm(span=50, adjust=False).mean(), 49),
        "cumulative_volume": (lambda o: o["volume"].cumsum(), 0),
        "ema_50_honest": (lambda o: o["close"].ewm(span=50, adjust=False).mean(), ema_warmup(50)),
    }
    registry = FeatureRegistry()
    for name, (func, warmup) in cases.items():
        registry.register(FeatureSpec(name, "custom", func, warmup, name, "USDT", "test"))
    violations = warmup_violations(btc_1m.iloc[:SLICE_BARS], registry.names(), registry)
    assert set(violations) == {"ema_50_declared_as_sma", "cumulative_volume"}
