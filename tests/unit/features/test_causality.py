"""Causality: a feature's values up to bar t are the same whether the data ends at t or continues.

Every registered feature (plus a few family members) is computed once on a real-data slice, then on
prefixes ending at many cut points; the prefix's values must equal the full computation's on the same
bars (within 1e-9 relative, NaN == NaN). A private registry of deliberately leaky features proves the
check fails when it should.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.features import REGISTRY, compute_features
from blofin_stack.features.registry import FeatureRegistry, FeatureSpec
from blofin_stack.market.candles import resample_ohlcv

SLICE_BARS = 3000
N_CUTS = 24
RTOL = 1e-9
FAMILY_MEMBERS = (
    "rsi_21",
    "ema_200",
    "sma_7",
    "donchian_high_55",
    "donchian_low_10",
    "atr_7",
    "cci_50",
    "roc_3",
    "momentum_5",
)


def causality_violations(ohlcv: pd.DataFrame, names: list[str], registry: FeatureRegistry) -> dict[str, int]:
    """Feature name -> first cut point (bar position) where the prefix disagrees with the full run."""
    full = compute_features(ohlcv, names, registry)
    cuts = np.linspace(30, len(ohlcv) - 2, N_CUTS).astype(int)
    violations: dict[str, int] = {}
    for cut in cuts:
        prefix = compute_features(ohlcv.iloc[: cut + 1], names, registry)
        for name in names:
            same = np.allclose(
                prefix[name].to_numpy(), full[name].to_numpy()[: cut + 1], rtol=RTOL, atol=0.0, equal_nan=True
            )
            if not same and name not in violations:
                violations[name] = int(cut)
    return violations


@pytest.fixture(scope="module", params=["1m", "5m"])
def real_slice(request: pytest.FixtureRequest, btc_1m: pd.DataFrame) -> pd.DataFrame:
    """3,000 real BTC-USDT bars of the timeframe, spanning several UTC midnights."""
    bars = resample_ohlcv(btc_1m, request.param)
    return bars.iloc[len(bars) // 3 :].iloc[:SLICE_BARS]


def test_every_feature_is_causal(real_slice: pd.DataFrame) -> None:
    names = [*REGISTRY.names(), *FAMILY_MEMBERS]
    assert len(real_slice) == SLICE_BARS
    assert causality_violations(real_slice, names, REGISTRY) == {}


def _leaky_registry() -> FeatureRegistry:
    """One honest feature and four classic kinds of look-ahead bias."""
    funcs = {
        "honest_sma_5": lambda o: o["close"].rolling(5).mean(),
        "next_close": lambda o: o["close"].shift(-1),
        "full_history_zscore": lambda o: (o["close"] - o["close"].mean()) / o["close"].std(),
        "centred_sma_5": lambda o: o["close"].rolling(5, center=True).mean(),
        "backfilled_sma_50": lambda o: o["close"].rolling(50).mean().bfill(),
    }
    registry = FeatureRegistry()
    for name, func in funcs.items():
        registry.register(FeatureSpec(name, "custom", func, 0, name, "USDT", "test"))
    return registry


def test_check_catches_leaky_features(btc_1m: pd.DataFrame) -> None:
    registry = _leaky_registry()
    violations = causality_violations(btc_1m.iloc[:SLICE_BARS], registry.names(), registry)
    assert set(violations) == {"next_close", "full_history_zscore", "centred_sma_5", "backfilled_sma_50"}
