"""Computing features: the pure :func:`compute_features` and the store-backed :class:`FeatureManager`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from blofin_stack.features.registry import GROUPS, REGISTRY, FeatureRegistry, FeatureSpec
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms


class FeatureError(ValueError):
    """A feature function failed or returned something not aligned to its input."""


def _evaluate(spec: FeatureSpec, ohlcv: pd.DataFrame) -> np.ndarray:
    try:
        result = spec.func(ohlcv)
    except Exception as exc:
        raise FeatureError(f"feature {spec.name!r} failed: {type(exc).__name__}: {exc}") from exc
    values = np.asarray(result, dtype="float64")
    if values.shape != (len(ohlcv),):
        raise FeatureError(
            f"feature {spec.name!r} returned shape {values.shape}, expected ({len(ohlcv)},) aligned to the bars"
        )
    if isinstance(result, pd.Series) and not result.index.equals(ohlcv.index):
        raise FeatureError(f"feature {spec.name!r} returned a Series whose index is not the bars' index")
    return values


def compute_features(ohlcv: pd.DataFrame, names: Iterable[str], registry: FeatureRegistry = REGISTRY) -> pd.DataFrame:
    """Compute the named features on ``ohlcv``.

    Args:
        ohlcv: house OHLCV layout (int64 ``ts`` index of bar open times in ms UTC; float64
            ``open high low close volume``).
        names: feature names (exact or family members such as ``rsi_21``); duplicates are ignored.
        registry: where names resolve (default: the process-wide registry).

    Returns:
        float64 DataFrame with the same index as ``ohlcv`` and one column per name, in the order
        given. Values inside a feature's warm-up may be NaN.

    Raises:
        UnknownFeatureError: a name does not resolve.
        FeatureError: a feature function raised or returned misaligned output.
    """
    columns: dict[str, np.ndarray] = {}
    for name in dict.fromkeys(names):
        columns[name] = _evaluate(registry.resolve(name), ohlcv)
    return pd.DataFrame(columns, index=ohlcv.index)


def max_warmup(names: Iterable[str], registry: FeatureRegistry = REGISTRY) -> int:
    """Largest declared warm-up (bars) among ``names``; 0 for none."""
    return max((registry.resolve(n).warmup_bars for n in names), default=0)


class FeatureManager:
    """Central API for features (seed 001): strategies and models ask for features, not candles."""

    def __init__(self, store: MarketStore, registry: FeatureRegistry = REGISTRY) -> None:
        self.store = store
        self.registry = registry

    def get_features(
        self,
        inst_id: str,
        timeframe: str,
        feature_list: Sequence[str],
        lookback_bars: int = 100,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """The last ``lookback_bars`` closed bars of ``inst_id`` on ``timeframe`` with the features.

        Enough earlier history is loaded for every feature's warm-up, so the returned values are the
        same as on the full history.

        Args:
            inst_id: instrument, e.g. ``BTC-USDT``.
            timeframe: ``1m 5m 15m 1H 4H 1D`` (or alias such as ``60m``).
            feature_list: feature names (see :meth:`list_available_features`).
            lookback_bars: number of bars to return (most recent closed bars).
            end_ms: only bars closed by this time (ms UTC) are used; default: all stored data.

        Returns:
            float64 DataFrame indexed by bar open time (int64 ms UTC), one column per feature.

        Raises:
            UnknownInstrumentError, UnknownFeatureError, TimeframeError, FeatureError.
        """
        step = timeframe_ms(timeframe)
        end = end_ms if end_ms is not None else self.store.last_ts(inst_id) + MINUTE_MS
        bars = load_bars(
            self.store,
            inst_id,
            timeframe,
            start_ms=(end // step - lookback_bars) * step,
            end_ms=end,
            warmup_bars=max_warmup(feature_list, self.registry) + 1,
        )
        return compute_features(bars, feature_list, self.registry).iloc[-lookback_bars:]

    def list_available_features(self) -> list[dict[str, str | int]]:
        """Every exact feature's metadata, then each family as a pattern (``rsi_{n}``)."""
        listed = [spec.describe() for spec in self.registry.specs()]
        for fam in self.registry.families():
            listed.append({"name": fam.pattern, "group": fam.group, "description": fam.description, "family": "yes"})
        return listed

    def get_feature_group(self, group_name: str) -> list[str]:
        """Names of the exact features in ``group_name`` (raises ValueError for an unknown group)."""
        if group_name not in GROUPS:
            raise ValueError(f"unknown feature group {group_name!r}; use one of {', '.join(GROUPS)}")
        return self.registry.names(group_name)
