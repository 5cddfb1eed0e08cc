"""Datasets: features at bar t (from bars <= t) beside a label at t (from bars > t), pooled over instruments.

Pooling. One model learns from every instrument at once: the samples of all instruments are stacked and
sorted by (bar time, instrument), so a walk-forward split cuts them all at the same instant. Pooling is
only sound with **scale-free** features, whose values mean the same on a 0.3 USDT coin as on a 100 000
USDT one: returns, ratios and percents of the price, oscillators bounded to a fixed range, z-scores,
volatilities per bar, relative volume, flags. A raw price level (``close``, ``ema_21``, ``vwap``,
``atr_14`` in USDT) or a raw volume (``volume_sma_20`` in base currency) would let a model tell the
instruments apart and learn their price ranges instead of their behaviour, so :func:`build_dataset`
refuses such features when it pools more than one instrument. A feature is accepted as scale-free when
it is known to be (:func:`is_scale_free`) or when it passes the empirical test of
:func:`scale_violations` on the first instrument's bars: multiplying all prices and the volume by a
factor leaves its values unchanged (relative 1e-9). For a per-instrument model, pass a mapping with one
instrument; any feature is then allowed.

:data:`SCALE_FREE_FEATURES` is the curated default list of the model zoo; all of its members also
pass the test with the factor 1000 on the real data (tested). Not in it, though scale-free in the
mathematical sense: ``adx_14``/``plus_di_14``/``minus_di_14``/``dx_14`` and the flags built on them, and
the candlestick patterns: they compare prices with ties and thresholds, so a rounding change flips them
(×1000 moves ADX by up to 2 points on a 0.0001-tick coin); ``vwap_distance``/``vwap_zscore``: their
declared warm-up of 1440 bars costs 5 days of 5m data; ``volatility_regime`` and friends: 762 bars.

Rows: every bar from the warm-up on (``max_warmup`` of the features, so values do not depend on how much
history was loaded) and from ``start_ms`` on, where every feature and the label are finite.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from blofin_stack.features import FeatureManager, compute_features, max_warmup
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.ml.base import Dataset, LabelSpec
from blofin_stack.ml.labels import LABEL_LOOKBACK_BARS, is_label_name

ComputeFunc = Callable[[pd.DataFrame, Sequence[str]], pd.DataFrame]

#: Default features of pooled models: scale-free, warm-up at most 358 bars (``macd_hist_pct``).
SCALE_FREE_FEATURES: tuple[str, ...] = (
    # returns and bar shape (fractions, percents of the price)
    "returns",
    "log_returns",
    "returns_5",
    "returns_20",
    "range_pct",
    "close_position",
    # momentum and oscillators (bounded ranges)
    "rsi_14",
    "rsi_7",
    "roc_12",
    "bop",
    "stoch_k",
    "cci_20",
    "williams_r",
    # volatility (per bar, percents, z-scores)
    "atr_pct_14",
    "bbands_width",
    "bbands_percent_b",
    "close_zscore_20",
    "returns_zscore_20",
    "realized_vol_20",
    "parkinson_vol_20",
    # MACD as a percent of the price
    "macd_pct",
    "macd_hist_pct",
    # trend and regime (distances in percent, ratios)
    "close_to_sma_50",
    "ema_9_21_spread",
    "linreg_slope_14",
    "efficiency_ratio_10",
    "choppiness_14",
    # volume (relative to its own history)
    "volume_ratio",
    "volume_zscore_20",
    "obv_slope_20",
    "cmf_20",
    "mfi_14",
)

#: Further features known to be homogeneous of degree 0 in price and volume (see the module docstring
#: for why they are not defaults).
_MORE_SCALE_FREE = frozenset(
    {
        "body_pct",
        "upper_wick_pct",
        "lower_wick_pct",
        "gap_pct",
        "cmo_14",
        "ppo",
        "trix_15",
        "aroon_up_25",
        "aroon_down_25",
        "aroon_osc_25",
        "ultosc",
        "stoch_d",
        "stoch_fast_k",
        "stoch_fast_d",
        "stochrsi_k",
        "stochrsi_d",
        "cci_14",
        "macd_signal_pct",
        "keltner_width",
        "garman_klass_vol_20",
        "rogers_satchell_vol_20",
        "adx_14",
        "plus_di_14",
        "minus_di_14",
        "dx_14",
        "is_trending_up",
        "is_trending_down",
        "is_ranging",
        "volatility_regime",
        "is_volatile",
        "is_quiet",
        "trend_regime",
        "funding_rate",
        "trend_direction",
        "close_to_ema_21",
        "donchian_width_20",
        "sar_distance",
        "ichimoku_cloud_position",
        "volume_change",
        "vwap_distance",
        "vwap_zscore",
        "volume_weighted_momentum",
        "close_to_vwma_20",
    }
)
#: Parameterised families whose members are all scale-free.
_SCALE_FREE_FAMILIES = re.compile(r"^(rsi|roc|cci|williams_r|returns|bbands_width|volume_zscore)_\d+$")

#: Relative tolerance of the empirical scale test (relative to the larger of the two values and the
#: feature's median magnitude, so values crossing zero are judged on their own scale).
SCALE_RTOL = 1e-9


def is_scale_free(name: str) -> bool:
    """True when feature ``name`` is known to be scale-free: invariant when all prices (and the volume)
    are multiplied by a constant. ``TIMEFRAME:`` prefixes are looked through (``1H:rsi_14``). A feature
    not known here may still pass :func:`scale_violations` (that is what :func:`build_dataset` tries)."""
    base = name.rpartition(":")[2]
    return (
        base in SCALE_FREE_FEATURES
        or base in _MORE_SCALE_FREE
        or base.startswith("cdl_")
        or bool(_SCALE_FREE_FAMILIES.match(base))
    )


def scale_violations(
    bars: pd.DataFrame,
    names: Sequence[str],
    *,
    factor: float = 1024.0,
    rtol: float = SCALE_RTOL,
    compute: ComputeFunc | None = None,
) -> dict[str, float]:
    """The features among ``names`` that change when prices and volume are multiplied by ``factor``.

    Compares the features on ``bars`` with those on bars whose open/high/low/close and volume are all
    multiplied by ``factor`` (a power of two such as the default 1024 scales exactly in floating point,
    so only true scale dependence shows; 1000 also exposes features that flip on rounding ties).

    Returns:
        name -> largest relative difference ``|a - b| / max(|a|, |b|, median |a|)`` (``inf`` where one
        is NaN and the other not), for the features above ``rtol`` only.
    """
    compute = compute or compute_features
    scaled = bars.copy()
    scaled[["open", "high", "low", "close", "volume"]] *= factor
    a, b = compute(bars, list(names)), compute(scaled, list(names))
    out: dict[str, float] = {}
    for name in names:
        x, y = a[name].to_numpy(dtype="float64"), b[name].to_numpy(dtype="float64")
        if (np.isnan(x) != np.isnan(y)).any():
            out[name] = float("inf")
            continue
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        x, y = x[ok], y[ok]
        floor = float(np.median(np.abs(x)))
        denom = np.maximum(np.maximum(np.abs(x), np.abs(y)), floor)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(denom > 0, np.abs(x - y) / np.where(denom > 0, denom, 1.0), 0.0)
        worst = float(rel.max())
        if worst > rtol:
            out[name] = worst
    return out


def refuse_label_features(features: Sequence[str], label_names: Sequence[str] = ()) -> None:
    """Raise ValueError naming every feature called like a label (``label_names`` or any name of
    :mod:`blofin_stack.ml.labels`): labels are never features."""
    bad = [f for f in features if f in label_names or f.rpartition(":")[2] in label_names or is_label_name(f)]
    if bad:
        raise ValueError(
            f"feature(s) {', '.join(repr(f) for f in bad)} carry a label's name: a label is a function of "
            "future bars and can never be a feature; rename the feature if it is causal"
        )


def _label_for(label: LabelSpec | Mapping[str, LabelSpec], inst: str) -> LabelSpec:
    if isinstance(label, LabelSpec):
        return label
    if inst not in label:
        raise ValueError(f"no label given for instrument {inst}")
    return label[inst]


def _instrument_rows(
    inst: str,
    bars: pd.DataFrame,
    values: pd.DataFrame,
    label: LabelSpec,
    step: int,
    start_ms: int | None,
    warmup: int,
) -> pd.DataFrame | None:
    ts = bars.index.to_numpy(dtype="int64")
    if len(ts) and not (np.diff(ts) > 0).all():
        raise ValueError(f"{inst}: bars must be sorted by open time with unique times")
    y = np.asarray(label.func(bars), dtype="float64")
    if y.shape != (len(ts),):
        raise ValueError(f"label {label.name!r} returned shape {y.shape} for {len(ts)} bars of {inst}")
    n, h = len(ts), label.horizon
    # the close of the last bar the label uses: ts[i + h] + one bar (= t + (h + 1) bars without gaps)
    t_end = ts + (h + 1) * step
    if h < n:
        t_end[: n - h] = np.maximum(t_end[: n - h], ts[h:] + step)
    keep = np.isfinite(y) & np.isfinite(values.to_numpy(dtype="float64")).all(axis=1)
    keep &= np.arange(n) >= warmup
    if start_ms is not None:
        keep &= ts >= start_ms
    if not keep.any():
        return None
    frame = values.loc[keep].reset_index(drop=True).astype("float64")
    frame["__y"] = y[keep]
    frame["__t"] = ts[keep]
    frame["__t_end"] = t_end[keep]
    frame["__inst"] = inst
    return frame


def _assemble(
    frames: list[pd.DataFrame], features: list[str], label: LabelSpec, timeframe: str, counts: str
) -> Dataset:
    if not frames:
        raise ValueError(f"no samples with finite features and label {label.name!r} ({counts})")
    pooled = pd.concat(frames, ignore_index=True)
    insts = pooled["__inst"].to_numpy(dtype=object)
    order = np.lexsort((np.unique(insts, return_inverse=True)[1], pooled["__t"].to_numpy()))
    pooled = pooled.iloc[order].reset_index(drop=True)
    return Dataset(
        X=pooled[features].astype("float64"),
        y=pooled["__y"].astype("float64").rename(label.name),
        t=pooled["__t"].to_numpy(dtype="int64"),
        t_end=pooled["__t_end"].to_numpy(dtype="int64"),
        inst=pooled["__inst"].to_numpy(dtype=object),
        label=label,
        timeframe=timeframe,
        features=list(features),
    )


def build_dataset(
    bars_by_inst: Mapping[str, pd.DataFrame],
    features: Sequence[str],
    label: LabelSpec | Mapping[str, LabelSpec],
    timeframe: str,
    *,
    start_ms: int | None = None,
    compute: ComputeFunc | None = None,
    warmup_bars: int | None = None,
    check_scale_free: bool = True,
) -> Dataset:
    """Features and label per instrument, pooled and sorted by (bar time, instrument).

    Args:
        bars_by_inst: instrument -> house OHLCV bars of ``timeframe`` (sorted, with warm-up history).
        features: feature names (computed on each instrument's bars).
        label: the label, or one per instrument sharing a name (e.g. :func:`~blofin_stack.ml.labels.trade_label`
            built on each instrument's trades); ``Dataset.label`` is then the one with the longest horizon.
        timeframe: the bars' timeframe (sets ``t_end``).
        start_ms: first sample time (ms); earlier bars only warm the features up.
        compute: ``compute(bars, names) -> DataFrame`` (default :func:`compute_features`).
        warmup_bars: bars dropped at the start of each instrument (default ``max_warmup(features)``).
        check_scale_free: when pooling more than one instrument, refuse features that are not scale-free.

    Returns:
        :class:`Dataset` with ``t`` = bar open time and ``t_end`` = close of the last bar the label uses
        (``t + (horizon + 1) * bar`` without gaps in the bars).

    Raises:
        ValueError: a feature carries a label's name; a pooled feature is not scale-free (named, with
            how much it changed); unsorted bars; no sample left.
    """
    features = list(dict.fromkeys(features))
    if not features:
        raise ValueError("no features given")
    if not bars_by_inst:
        raise ValueError("no instruments given")
    specs = [_label_for(label, inst) for inst in bars_by_inst]
    names = {spec.name for spec in specs}
    if len(names) != 1:
        raise ValueError(f"per-instrument labels must share one name, got {sorted(names)}")
    refuse_label_features(features, sorted(names))
    compute = compute or compute_features
    if warmup_bars is None:
        warmup_bars = max_warmup(features, timeframe)
    if check_scale_free and len(bars_by_inst) > 1:
        unknown = [f for f in features if not is_scale_free(f)]
        if unknown:
            first = next(iter(bars_by_inst.values()))
            sample = first.iloc[-max(2000, 2 * warmup_bars) :]
            bad = scale_violations(sample, unknown, compute=compute)
            if bad:
                detail = ", ".join(f"{name} (changes by {rel:.2g} relative)" for name, rel in bad.items())
                raise ValueError(
                    f"feature(s) not scale-free cannot be pooled across {len(bars_by_inst)} instruments: {detail}; "
                    "use a ratio or percent of the price, or build one dataset per instrument"
                )
    step = timeframe_ms(timeframe)
    frames, counts = [], []
    for inst, bars in bars_by_inst.items():
        values = compute(bars, features)[features]
        frame = _instrument_rows(inst, bars, values, _label_for(label, inst), step, start_ms, warmup_bars)
        counts.append(f"{inst}: {len(bars)} bars, {0 if frame is None else len(frame)} samples")
        if frame is not None:
            frames.append(frame)
    return _assemble(frames, features, max(specs, key=lambda s: s.horizon), timeframe, "; ".join(counts))


def load_dataset(
    store_or_manager: MarketStore | FeatureManager,
    instruments: Sequence[str],
    timeframe: str,
    features: Sequence[str],
    label: LabelSpec,
    start_ms: int | None = None,
    end_ms: int | None = None,
    *,
    check_scale_free: bool = True,
) -> Dataset:
    """:func:`build_dataset` on bars loaded from the market store.

    Loads each instrument's closed ``timeframe`` bars in ``[start_ms, end_ms)`` plus the features'
    warm-up (``max_warmup + 1`` bars) and the labels' trailing look-back
    (``max(LABEL_LOOKBACK_BARS, horizon)`` bars) before ``start_ms``. Labels whose bars after t reach
    past ``end_ms`` are undefined, so those samples are dropped. With a :class:`FeatureManager` the
    features go through its cache.

    Raises:
        UnknownInstrumentError, UnknownFeatureError, ValueError: as :func:`load_bars` and
            :func:`build_dataset`.
    """
    if isinstance(store_or_manager, FeatureManager):
        manager: FeatureManager | None = store_or_manager
        store = store_or_manager.store
    else:
        manager, store = None, store_or_manager
    warmup = max_warmup(features, timeframe)
    history = warmup + 1 + max(LABEL_LOOKBACK_BARS, label.horizon)
    bars_by_inst = {
        inst: load_bars(store, inst, timeframe, start_ms=start_ms, end_ms=end_ms, warmup_bars=history)
        for inst in instruments
    }
    if manager is None:
        return build_dataset(
            bars_by_inst, features, label, timeframe, start_ms=start_ms, check_scale_free=check_scale_free
        )
    cached = {
        inst: manager.features_for_bars(bars, features, inst_id=inst, timeframe=timeframe)
        for inst, bars in bars_by_inst.items()
    }
    lookup = {id(bars): cached[inst] for inst, bars in bars_by_inst.items()}

    def compute(bars: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
        known = lookup.get(id(bars))
        return known[list(names)] if known is not None else compute_features(bars, names, manager.registry)

    return build_dataset(
        bars_by_inst,
        features,
        label,
        timeframe,
        start_ms=start_ms,
        compute=compute,
        warmup_bars=warmup,
        check_scale_free=check_scale_free,
    )
