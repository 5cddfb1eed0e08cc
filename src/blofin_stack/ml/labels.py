"""Labels: what a model learns to predict, each a pure function of the bars AFTER the sample's bar.

A sample at bar ``t`` (the bar that opens at ``ts[t]``, decided at its close) gets a label computed from
the close of bar ``t`` (the reference price, known at ``t``) and bars ``t+1 .. t+horizon``; some labels
also normalise by a trailing quantity known at ``t`` (a trailing volatility or return). No label reads
bar ``t + horizon + 1`` or later, so its value is known at the close of bar ``t + horizon``: that time is
the sample's ``t_end`` (see :mod:`blofin_stack.ml.dataset`), which purging uses.

Labels are never features: :func:`is_label_name` recognises every name built here, and a dataset
refuses a feature with such a name (a plugin feature called ``forward_return_12`` is the earlier
system's 100 %-accuracy leak waiting to happen).

Bar labels are built as :class:`~blofin_stack.ml.base.LabelSpec` by small factories:

===========================  ==============  =============================================  ===================
factory                      task            value at t                                     defining series
===========================  ==============  =============================================  ===================
``direction(h, dz)``         classification  1 up / 0 down beyond the dead zone, NaN inside  forward return
``forward_return(h)``        regression      ``close[t+h] / close[t] - 1`` (fraction)        itself
``forward_volatility(h)``    regression      std (ddof=1) of log returns of t+1..t+h         itself
``momentum_state(h, thr)``   classification  2 accelerating / 1 neutral / 0 decelerating     forward return
``risk_score(h)``            regression      0..100 from the forward adverse excursion       forward MAE
``regime_next(w)``           classification  0 ranging / 1 up / 2 down / 3 volatile          forward return
===========================  ==============  =============================================  ===================

Every label is NaN where it is undefined: the last ``horizon`` bars (no future yet), dead zones, and
bars whose trailing normaliser is not yet defined. All computations are vectorised (shifts, rolling
windows, ``sliding_window_view``); only the trade labels loop, over trades.

Trade labels come from a backtest's trades (:func:`blofin_stack.backtest.engine.run_backtest`):
:func:`trade_outcome` (one row per signal) and :func:`exit_timing` (one value per bar inside a trade),
and :func:`trade_label` / :func:`exit_timing_label` wrap them as ``LabelSpec`` for one instrument's bars.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.ml.base import LabelSpec, Task

#: Trailing window (bars) of the volatility that normalises :func:`risk_score`.
RISK_VOL_WINDOW = 100
#: :func:`risk_score` reaches 100 when the adverse excursion is this many trailing sigmas (scaled by sqrt(h)).
RISK_SIGMAS = 3.0
#: :func:`regime_next`: the next window is *volatile* when its realised volatility exceeds the trailing
#: window's by this factor.
REGIME_VOL_RATIO = 1.5
#: :func:`regime_next`: the next window *trends* when its return exceeds this many trailing sigmas
#: scaled by sqrt(window) (a 1-sigma move of a random walk with the trailing volatility).
REGIME_TREND_Z = 1.0
#: Trailing bars a built-in label may read before ``t`` at most (besides ``max(horizon, window)``):
#: :func:`risk_score`'s sigma window. Loaders add it to the features' warm-up.
LABEL_LOOKBACK_BARS = RISK_VOL_WINDOW

#: Regime classes of :func:`regime_next`.
REGIMES = {0: "ranging", 1: "trending_up", 2: "trending_down", 3: "volatile"}
#: Classes of :func:`momentum_state`.
MOMENTUM_STATES = {0: "decelerating", 1: "neutral", 2: "accelerating"}

#: Names every label of this module can carry (used to refuse label-named features).
LABEL_NAME_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^(direction|forward_return|forward_volatility|momentum_state|risk_score|regime_next)_\d+(_.*)?$"),
    re.compile(r"^trade_(outcome|profitable|return|hold_bars|mae)(_.*)?$"),
    re.compile(r"^exit_timing(_.*)?$"),
)


def is_label_name(name: str) -> bool:
    """True when ``name`` (or the part after a ``TIMEFRAME:`` prefix) is a name this module gives labels."""
    base = name.rpartition(":")[2]
    return any(p.match(base) for p in LABEL_NAME_PATTERNS)


# --------------------------------------------------------------------------------------------------
# building blocks (all aligned to the bars, NaN where undefined)


def _check_horizon(horizon: int, minimum: int = 1) -> int:
    if int(horizon) != horizon or horizon < minimum:
        raise ValueError(f"horizon must be an integer >= {minimum}, got {horizon!r}")
    return int(horizon)


def _bp(fraction: float) -> str:
    return f"{fraction * 1e4:g}bp"


def _close(ohlcv: pd.DataFrame) -> np.ndarray:
    return ohlcv["close"].to_numpy(dtype="float64")


def _series(values: np.ndarray, ohlcv: pd.DataFrame, name: str) -> pd.Series:
    return pd.Series(values, index=ohlcv.index, name=name, dtype="float64")


def _shift(values: np.ndarray, k: int) -> np.ndarray:
    """``out[t] = values[t + k]`` (k > 0 looks forward, k < 0 back), NaN outside."""
    out = np.full(len(values), np.nan)
    n = len(values)
    if k >= 0:
        if k < n:
            out[: n - k] = values[k:]
    elif -k < n:
        out[-k:] = values[: n + k]
    return out


def _log_returns(close: np.ndarray) -> np.ndarray:
    """``lr[i] = ln(close[i] / close[i-1])``; ``lr[0]`` NaN."""
    out = np.full(len(close), np.nan)
    if len(close) > 1:
        out[1:] = np.log(close[1:] / close[:-1])
    return out


def _window_std(values: np.ndarray, window: int) -> np.ndarray:
    """``out[i] = std(values[i-window+1 .. i], ddof=1)`` (trailing, ending at i); NaN for the first bars."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = sliding_window_view(values, window).std(axis=1, ddof=1)
    return out


def _fwd_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """``close[t+h] / close[t] - 1``."""
    return _shift(close, horizon) / close - 1.0


def _fwd_vol(close: np.ndarray, horizon: int) -> np.ndarray:
    """std (ddof=1) of the log returns of bars t+1..t+h (they use closes t..t+h)."""
    return _shift(_window_std(_log_returns(close), horizon), horizon)


def _fwd_mae(ohlcv: pd.DataFrame, horizon: int) -> np.ndarray:
    """Adverse excursion of a long entered at close[t]: ``max(0, 1 - min(low[t+1..t+h]) / close[t])``."""
    low = ohlcv["low"].to_numpy(dtype="float64")
    lowest = np.full(len(low), np.nan)
    if len(low) >= horizon:
        lowest[horizon - 1 :] = sliding_window_view(low, horizon).min(axis=1)
    return np.maximum(0.0, 1.0 - _shift(lowest, horizon) / _close(ohlcv))


def _classes(conditions: list[tuple[np.ndarray, float]], defined: np.ndarray, default: float) -> np.ndarray:
    """First matching condition's class (precedence = list order), ``default`` otherwise, NaN where undefined."""
    out = np.select([c for c, _ in conditions], [v for _, v in conditions], default=default).astype("float64")
    out[~defined] = np.nan
    return out


# --------------------------------------------------------------------------------------------------
# bar labels


def forward_return(horizon: int) -> LabelSpec:
    """Forward return over ``horizon`` bars: ``close[t+h] / close[t] - 1`` (fraction; regression)."""
    h = _check_horizon(horizon)
    name = f"forward_return_{h}"

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        return _series(_fwd_return(_close(ohlcv), h), ohlcv, name)

    return LabelSpec(name, "regression", h, func, func, f"close[t+{h}] / close[t] - 1 (fraction)")


def direction(horizon: int, dead_zone: float = 0.0) -> LabelSpec:
    """Direction over ``horizon`` bars: 1.0 when the forward return exceeds ``dead_zone``, 0.0 when it is
    below ``-dead_zone``, NaN inside ``[-dead_zone, dead_zone]`` (with ``dead_zone = 0`` only an exactly
    unchanged close). Defining series: the forward return. Name ``direction_{h}`` (``_dz{N}bp`` added
    for a dead zone, in basis points)."""
    h = _check_horizon(horizon)
    if not dead_zone >= 0:
        raise ValueError(f"dead_zone must be >= 0 (a fraction), got {dead_zone!r}")
    name = f"direction_{h}" + (f"_dz{_bp(dead_zone)}" if dead_zone > 0 else "")

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        r = _fwd_return(_close(ohlcv), h)
        return _series(_classes([(r > dead_zone, 1.0), (r < -dead_zone, 0.0)], np.isfinite(r), np.nan), ohlcv, name)

    def defining(ohlcv: pd.DataFrame) -> pd.Series:
        return _series(_fwd_return(_close(ohlcv), h), ohlcv, f"forward_return_{h}")

    desc = f"1 if close[t+{h}]/close[t]-1 > {dead_zone:g}, 0 if < {-dead_zone:g}, else NaN"
    return LabelSpec(name, "classification", h, func, defining, desc)


def forward_volatility(horizon: int) -> LabelSpec:
    """Forward realised volatility: standard deviation (ddof=1) of the 1-bar log returns of bars
    ``t+1 .. t+h`` (fraction per bar; regression). Needs ``horizon >= 2``."""
    h = _check_horizon(horizon, minimum=2)
    name = f"forward_volatility_{h}"

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        return _series(_fwd_vol(_close(ohlcv), h), ohlcv, name)

    return LabelSpec(name, "regression", h, func, func, f"std of log returns of bars t+1..t+{h} (fraction per bar)")


def momentum_state(horizon: int, threshold: float = 0.0) -> LabelSpec:
    """Momentum state: the forward return over ``h`` bars against the trailing return over the last ``h``
    bars (``close[t] / close[t-h] - 1``, known at t). ``d = forward - trailing``: 2 accelerating
    (``d > threshold``), 0 decelerating (``d < -threshold``), 1 neutral. NaN for the first and last ``h``
    bars. Defining series: the forward return (the trailing return is known at t and may be a feature)."""
    h = _check_horizon(horizon)
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0 (a fraction), got {threshold!r}")
    name = f"momentum_state_{h}" + (f"_th{_bp(threshold)}" if threshold > 0 else "")

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        close = _close(ohlcv)
        d = _fwd_return(close, h) - (close / _shift(close, -h) - 1.0)
        return _series(_classes([(d > threshold, 2.0), (d < -threshold, 0.0)], np.isfinite(d), 1.0), ohlcv, name)

    def defining(ohlcv: pd.DataFrame) -> pd.Series:
        return _series(_fwd_return(_close(ohlcv), h), ohlcv, f"forward_return_{h}")

    desc = f"2 if fwd-trailing {h}-bar return > {threshold:g}, 0 if < {-threshold:g}, else 1"
    return LabelSpec(name, "classification", h, func, defining, desc)


def risk_score(horizon: int) -> LabelSpec:
    """Risk score 0..100 of a long entered at ``close[t]`` and held ``h`` bars:
    ``100 * clip(MAE / (3 * sigma_t * sqrt(h)), 0, 1)`` with ``MAE = max(0, 1 - min(low[t+1..t+h]) /
    close[t])`` and ``sigma_t`` the standard deviation (ddof=1) of the 1-bar log returns of the last
    :data:`RISK_VOL_WINDOW` (100) bars up to t (known at t). 100 = an adverse move of 3 sigma-of-the-
    horizon or more. When ``sigma_t == 0`` the score is 100 for any adverse move, 0 without. NaN for the
    first 100 and the last ``h`` bars. Defining series: the MAE (fraction of the entry price)."""
    h = _check_horizon(horizon)
    name = f"risk_score_{h}"

    def mae(ohlcv: pd.DataFrame) -> pd.Series:
        return _series(_fwd_mae(ohlcv, h), ohlcv, f"forward_mae_{h}")

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        excursion = _fwd_mae(ohlcv, h)
        sigma = _window_std(_log_returns(_close(ohlcv)), RISK_VOL_WINDOW)
        scale = RISK_SIGMAS * sigma * np.sqrt(h)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(scale > 0, excursion / scale, np.where(excursion > 0, 1.0, 0.0))
        score = 100.0 * np.clip(ratio, 0.0, 1.0)
        score[~(np.isfinite(excursion) & np.isfinite(sigma))] = np.nan
        return _series(score, ohlcv, name)

    desc = f"100*clip(MAE over t+1..t+{h} / (3 sigma_100 sqrt({h})), 0, 1) (score 0..100)"
    return LabelSpec(name, "regression", h, func, mae, desc)


def regime_next(window: int) -> LabelSpec:
    """Regime of the next ``window`` bars (``t+1 .. t+w``), judged against the trailing window known at t.

    With ``R = close[t+w] / close[t] - 1`` (the window's return), ``vol_f`` the std (ddof=1) of the log
    returns of bars ``t+1..t+w`` and ``vol_p`` that of bars ``t-w+1..t``, first match wins:

    1. **3 volatile**: ``vol_f > 1.5 * vol_p`` (:data:`REGIME_VOL_RATIO`: volatility expands);
    2. **1 trending up**: ``R > 1.0 * vol_p * sqrt(w)`` (:data:`REGIME_TREND_Z`);
    3. **2 trending down**: ``R < -1.0 * vol_p * sqrt(w)``;
    4. **0 ranging**: otherwise.

    NaN for the first ``w`` and last ``w`` bars and where ``vol_p == 0`` (a frozen price). Needs
    ``window >= 2``. Defining series: the forward return over the window.
    """
    w = _check_horizon(window, minimum=2)
    name = f"regime_next_{w}"

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        close = _close(ohlcv)
        lr = _log_returns(close)
        vol_p = _window_std(lr, w)
        vol_f = _shift(vol_p, w)
        ret = _fwd_return(close, w)
        band = REGIME_TREND_Z * vol_p * np.sqrt(w)
        defined = np.isfinite(ret) & np.isfinite(vol_f) & np.isfinite(vol_p) & (vol_p > 0)
        with np.errstate(invalid="ignore"):
            conditions = [(vol_f > REGIME_VOL_RATIO * vol_p, 3.0), (ret > band, 1.0), (ret < -band, 2.0)]
        return _series(_classes(conditions, defined, 0.0), ohlcv, name)

    def defining(ohlcv: pd.DataFrame) -> pd.Series:
        return _series(_fwd_return(_close(ohlcv), w), ohlcv, f"forward_return_{w}")

    desc = f"next {w} bars: 3 volatile, 1 up, 2 down, 0 ranging (vs trailing {w}-bar volatility)"
    return LabelSpec(name, "classification", w, func, defining, desc)


# --------------------------------------------------------------------------------------------------
# trade labels

TRADE_OUTCOME_COLUMNS = ("profitable", "return", "hold_bars", "mae_pct", "side", "entry_ts", "exit_ts")


def _positions(index: pd.Index, ts: np.ndarray, what: str) -> np.ndarray:
    bar_ts = index.to_numpy(dtype="int64")
    pos = np.searchsorted(bar_ts, ts)
    bad = (pos >= len(bar_ts)) | (bar_ts[np.minimum(pos, len(bar_ts) - 1)] != ts)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} trade {what} times are not bar open times of the given bars")
    return pos


def trade_outcome(trades: pd.DataFrame, bars: pd.DataFrame | str) -> pd.DataFrame:
    """The outcome of each trade, indexed by its SIGNAL bar (the bar before the entry fill).

    The kernel fills a signal of bar ``s`` at the open of bar ``s + 1`` (``entry_ts``), so the features a
    model sees for the entry decision are those at ``s``. ``bars`` (the backtest's bars) locate ``s``
    exactly, also across gaps; a timeframe string uses ``entry_ts - bar length`` instead.

    Returns:
        DataFrame indexed by ``ts`` (int64 signal-bar open time, ms) with ``profitable`` (1.0 when the
        net ``pnl_pct > 0``, else 0.0), ``return`` (net ``pnl_pct``, percent of entry notional after
        fees), ``hold_bars``, ``mae_pct`` (percent of entry price), ``side`` (+1 long / -1 short),
        ``entry_ts`` and ``exit_ts`` (fill bars' open times). The label is known at the close of the
        exit bar. Sorted by signal time.

    Raises:
        ValueError: an entry is not a bar of ``bars`` or is its first bar; two trades share a signal bar.
    """
    entry = trades["entry_ts"].to_numpy(dtype="int64")
    if isinstance(bars, str):
        signal = entry - timeframe_ms(bars)
    else:
        pos = _positions(bars.index, entry, "entry")
        if (pos == 0).any():
            raise ValueError("a trade enters on the first bar: its signal bar is not in the given bars")
        signal = bars.index.to_numpy(dtype="int64")[pos - 1]
    if len(np.unique(signal)) != len(signal):
        raise ValueError("two trades share a signal bar: pass the trades of one strategy and instrument")
    out = pd.DataFrame(
        {
            "profitable": (trades["pnl_pct"].to_numpy(dtype="float64") > 0).astype("float64"),
            "return": trades["pnl_pct"].to_numpy(dtype="float64"),
            "hold_bars": trades["hold_bars"].to_numpy(dtype="float64"),
            "mae_pct": trades["mae_pct"].to_numpy(dtype="float64"),
            "side": np.where(trades["side"].to_numpy() == "short", -1.0, 1.0),
            "entry_ts": entry,
            "exit_ts": trades["exit_ts"].to_numpy(dtype="int64"),
        },
        index=pd.Index(signal, name="ts", dtype="int64"),
        columns=list(TRADE_OUTCOME_COLUMNS),
    )
    return out.sort_index()


def exit_timing(
    trades: pd.DataFrame,
    bars: pd.DataFrame,
    strategy_side: str = "both",
    *,
    fee_bps: float = 6.0,
    slippage_bps: float = 1.0,
) -> pd.Series:
    """Exit-timing label: for each bar t inside an open trade (entry bar <= t < exit bar), 1.0 when
    closing at the next open (bar t+1, the earliest fill of a decision at t's close) gives a better net
    return than the trade's actual exit, else 0.0; NaN on bars with no open trade.

    The hypothetical exit pays the same costs as the backtest (defaults = ``CostModel()``): fill
    ``open[t+1] * (1 - side * slippage)``, net ``side * (fill / entry - 1) - fee * (1 + fill / entry)``,
    compared with the trade's ``pnl_pct / 100`` (strictly better by more than 1e-12). It reads bar t+1
    and the trade's exit, i.e. bars after t only (plus the entry price, known at t). For the last bar
    before a signal exit both are the same fill, so the label is 0 (hold).

    Args:
        trades: one backtest's trades (``entry_ts``, ``exit_ts``, ``side``, ``entry_price``, ``pnl_pct``).
        bars: the bars the backtest ran on.
        strategy_side: ``long``, ``short`` or ``both``: which trades count.
        fee_bps, slippage_bps: costs per fill, as in ``CostModel``.

    Raises:
        ValueError: unknown side, trade times not in ``bars``, or overlapping trades.
    """
    if strategy_side not in ("long", "short", "both"):
        raise ValueError(f"strategy_side must be long, short or both, got {strategy_side!r}")
    chosen = trades if strategy_side == "both" else trades[trades["side"] == strategy_side]
    open_ = bars["open"].to_numpy(dtype="float64")
    out = np.full(len(bars), np.nan)
    fee, slip = fee_bps / 1e4, slippage_bps / 1e4
    entries = _positions(bars.index, chosen["entry_ts"].to_numpy(dtype="int64"), "entry")
    exits = _positions(bars.index, chosen["exit_ts"].to_numpy(dtype="int64"), "exit")
    sides = np.where(chosen["side"].to_numpy() == "short", -1.0, 1.0)
    entry_px = chosen["entry_price"].to_numpy(dtype="float64")
    actual = chosen["pnl_pct"].to_numpy(dtype="float64") / 100.0
    for a, e, side, ep, net in zip(entries, exits, sides, entry_px, actual, strict=True):
        if e <= a:
            continue  # exited within its entry bar: no bar strictly inside the trade
        if np.isfinite(out[a:e]).any():
            raise ValueError("overlapping trades: pass the trades of one strategy and instrument")
        fill = open_[a + 1 : e + 1] * (1.0 - side * slip)
        now = side * (fill / ep - 1.0) - fee * (1.0 + fill / ep)
        out[a:e] = (now > net + 1e-12).astype("float64")
    return pd.Series(out, index=bars.index, name="exit_timing", dtype="float64")


class _BarsGuard:
    """Refuses a trade label applied to bars other than the ones it was built on (another instrument)."""

    def __init__(self, bars: pd.DataFrame, ts: np.ndarray) -> None:
        self.ts = ts
        self.close = bars["close"].reindex(ts).to_numpy(dtype="float64")

    def check(self, ohlcv: pd.DataFrame, name: str) -> None:
        here = ohlcv["close"].reindex(self.ts).to_numpy(dtype="float64")
        if not np.array_equal(here, self.close, equal_nan=True):
            raise ValueError(f"label {name!r} was built from trades on other bars (another instrument or period)")


def _span(bars: pd.DataFrame, start_ts: np.ndarray, end_ts: np.ndarray) -> int:
    if len(start_ts) == 0:
        return 1
    a = _positions(bars.index, start_ts, "start")
    b = _positions(bars.index, end_ts, "exit")
    return max(1, int((b - a).max()))


def trade_label(trades: pd.DataFrame, bars: pd.DataFrame, target: str = "profitable") -> LabelSpec:
    """:func:`trade_outcome` as a label on ``bars`` (one instrument): value at each signal bar, NaN elsewhere.

    ``target``: ``profitable`` (classification), ``return``, ``hold_bars`` or ``mae_pct`` (regression).
    ``horizon`` = the longest signal-to-exit span in bars (a conservative ``t_end`` for purging); the
    defining series is the trade's return. Applying it to other bars raises ValueError.
    """
    if target not in ("profitable", "return", "hold_bars", "mae_pct"):
        raise ValueError(f"target must be profitable, return, hold_bars or mae_pct, got {target!r}")
    outcome = trade_outcome(trades, bars)
    name = "trade_profitable" if target == "profitable" else f"trade_{target.removesuffix('_pct')}"
    guard = _BarsGuard(bars, outcome["exit_ts"].to_numpy())
    horizon = _span(bars, outcome.index.to_numpy(), outcome["exit_ts"].to_numpy())

    def column(col: str) -> Callable[[pd.DataFrame], pd.Series]:
        def func(ohlcv: pd.DataFrame) -> pd.Series:
            guard.check(ohlcv, name)
            return outcome[col].reindex(ohlcv.index).astype("float64").rename(name)

        return func

    task: Task = "classification" if target == "profitable" else "regression"
    return LabelSpec(name, task, horizon, column(target), column("return"), f"trade {target} at the signal bar")


def exit_timing_label(
    trades: pd.DataFrame, bars: pd.DataFrame, strategy_side: str = "both", **costs: float
) -> LabelSpec:
    """:func:`exit_timing` as a classification label on ``bars`` (one instrument). ``horizon`` = the
    longest trade in bars (conservative ``t_end``); the defining series is the label itself."""
    values = exit_timing(trades, bars, strategy_side, **costs)
    name = "exit_timing" if strategy_side == "both" else f"exit_timing_{strategy_side}"
    guard = _BarsGuard(bars, trades["exit_ts"].to_numpy(dtype="int64"))
    horizon = _span(bars, trades["entry_ts"].to_numpy(dtype="int64"), trades["exit_ts"].to_numpy(dtype="int64"))

    def func(ohlcv: pd.DataFrame) -> pd.Series:
        guard.check(ohlcv, name)
        return values.reindex(ohlcv.index).rename(name)

    return LabelSpec(name, "classification", horizon, func, func, "1 if closing at the next open beats the exit")
