"""Computing features: the pure :func:`compute_features` and the store-backed :class:`FeatureManager`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from blofin_stack.features.cache import FeatureCache, bars_fingerprint
from blofin_stack.features.registry import GROUPS, REGISTRY, FeatureRegistry, FeatureSpec
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms

if TYPE_CHECKING:
    from blofin_stack.config import Settings


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


def max_warmup(names: Iterable[str], timeframe: str | None = None, registry: FeatureRegistry = REGISTRY) -> int:
    """Largest warm-up among ``names``, in bars of ``timeframe`` (0 for none).

    A higher-timeframe feature (``1H:ema_21``) needs its warm-up in its own bars plus two more (a first
    higher bar the data may only partly cover, and the one still forming), converted into bars of
    ``timeframe``.

    Raises:
        ValueError: a higher-timeframe feature is named but ``timeframe`` is not given.
        UnknownFeatureError: a name does not resolve.
    """
    longest = 0
    for name in names:
        spec = registry.resolve(name)
        bars = spec.warmup_bars
        if spec.timeframe is not None:
            if timeframe is None:
                raise ValueError(f"the warm-up of {name!r} depends on the bars' timeframe: pass timeframe")
            ratio = -(-timeframe_ms(spec.timeframe) // timeframe_ms(timeframe))
            bars = (spec.warmup_bars + 2) * ratio
        longest = max(longest, bars)
    return longest


class FeatureManager:
    """Central API for features (seed 001): strategies and models ask for features, not candles.

    With a :class:`~blofin_stack.features.cache.FeatureCache`, every computed column is cached by
    instrument, timeframe, feature, data fingerprint and code fingerprint.
    """

    def __init__(
        self, store: MarketStore, registry: FeatureRegistry = REGISTRY, cache: FeatureCache | None = None
    ) -> None:
        self.store = store
        self.registry = registry
        self.cache = cache

    @classmethod
    def from_settings(cls, settings: Settings) -> FeatureManager:
        """A manager over ``Settings.market_dir`` with the cache ``FEATURE_CACHE_*`` asks for."""
        cache = (
            FeatureCache(settings.feature_cache_dir, settings.feature_cache_size)
            if settings.feature_cache_enabled
            else None
        )
        return cls(MarketStore(settings.market_dir), cache=cache)

    def features_for_bars(
        self, bars: pd.DataFrame, names: Iterable[str], *, inst_id: str, timeframe: str
    ) -> pd.DataFrame:
        """:func:`compute_features` on ``bars`` of ``inst_id``/``timeframe``, through the cache if any."""
        if self.cache is None:
            return compute_features(bars, names, self.registry)
        fingerprint = bars_fingerprint(bars)
        columns: dict[str, np.ndarray] = {}
        for name in dict.fromkeys(names):
            spec = self.registry.resolve(name)
            values = self.cache.get(inst_id, timeframe, spec, fingerprint)
            if values is None:
                values = _evaluate(spec, bars)
                self.cache.put(inst_id, timeframe, spec, fingerprint, values)
            columns[name] = values
        return pd.DataFrame(columns, index=bars.index)

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
            feature_list: feature names (see :meth:`list_available_features`), including
                higher-timeframe ones such as ``1H:ema_21``.
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
            warmup_bars=max_warmup(feature_list, timeframe, self.registry) + 1,
        )
        features = self.features_for_bars(bars, feature_list, inst_id=inst_id, timeframe=timeframe)
        return features.iloc[-lookback_bars:]

    def list_available_features(self) -> list[dict[str, str | int | None]]:
        """Every exact feature's metadata (by group, in :data:`GROUPS` order), then each family as a pattern."""
        specs = sorted(self.registry.specs(), key=lambda spec: GROUPS.index(spec.group))
        listed: list[dict[str, str | int | None]] = [spec.describe() for spec in specs]
        for fam in self.registry.families():
            listed.append({"name": fam.pattern, "group": fam.group, "description": fam.description, "family": "yes"})
        return listed

    def get_feature_group(self, group_name: str) -> list[str]:
        """Names of the exact features in ``group_name`` (raises ValueError for an unknown group)."""
        if group_name not in GROUPS:
            raise ValueError(f"unknown feature group {group_name!r}; use one of {', '.join(GROUPS)}")
        return self.registry.names(group_name)
