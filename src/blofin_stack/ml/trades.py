"""Datasets for the trade-based models, from a backtest's trades: one row per signal or per bar in a trade.

The entry models (``ml_entry_classifier``, ``ml_entry_confidence``) learn whether a strategy's signal is
worth taking; the exit model (``ml_exit_timing``) whether an open position should be closed now. Their
samples come from backtests of rule-based strategies (``trades_by_key[(strategy, instrument)]``, the
``trades`` frame of :func:`blofin_stack.backtest.engine.run_backtest`), pooled over strategies and
instruments like the bar datasets (so the features must be scale-free; see :mod:`blofin_stack.ml.dataset`).

**Trade inputs.** Besides the registered features, these models see the state of the (prospective)
position, :data:`TRADE_INPUTS`, which are not features of the bars (no ``FeatureManager`` computes them;
the model store's load check must be given them: ``available_features | set(TRADE_INPUTS)``):

* ``trade_side``: +1 long, -1 short (known at the signal: the strategy says which side it enters);
* ``bars_held``: bars the position has been open at the close of bar ``t``, counting its entry bar (the
  fill is at the entry bar's open, so 1 at the entry bar's close);
* ``open_return``: ``side * (close[t] / entry_price - 1)`` (fraction, before exit costs; the entry price
  includes slippage), known at the close of ``t``.

The entry dataset has ``trade_side``; the exit dataset all three.

**Rows.**

* :func:`entry_dataset`: one row per trade, at its SIGNAL bar ``s`` (the bar whose close raised the signal;
  the fill is at the open of ``s + 1``): features at ``s`` plus ``trade_side``; label from
  :func:`~blofin_stack.ml.labels.trade_outcome` (``profitable`` 1/0 or ``return``, percent after costs);
  ``t = s``; ``t_end`` = the close of the exit bar (the label is known when the trade is closed).
* :func:`exit_dataset`: one row per bar ``t`` inside a trade (entry bar ``<= t <`` exit bar, the bars
  at whose close the position is open and could be closed at the next open): features at ``t`` plus the
  three trade inputs; label :func:`~blofin_stack.ml.labels.exit_timing`; ``t_end`` = the close of the
  trade's exit bar.

Rows whose features are not finite, that fall in the features' warm-up (the first ``max_warmup`` bars of
the instrument's bars) or before ``start_ms`` are dropped. Samples are sorted by ``(t, instrument)``; rows
of several strategies on the same bar keep the order of ``trades_by_key``.

The dataset's label (:class:`~blofin_stack.ml.base.LabelSpec`) only names the target: its ``horizon`` is
the longest span from a sample's bar to its label's last bar (in bars: a conservative bound for purging,
which itself uses each sample's own ``t_end``), and its functions raise (a pooled trade label cannot be
applied to bars).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from blofin_stack.features import compute_features, max_warmup
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.ml.base import ENTRY_INPUTS, EXIT_INPUTS, TRADE_INPUTS, Dataset, LabelSpec, Task
from blofin_stack.ml.dataset import ComputeFunc, _assemble, refuse_label_features
from blofin_stack.ml.labels import exit_timing, trade_outcome

TradeKey = tuple[str, str]
EntryTarget = Literal["profitable", "return"]
_ENTRY_LABELS: dict[str, tuple[str, Task, str]] = {
    "profitable": ("trade_profitable", "classification", "1 if the trade entered on the signal at t nets > 0, else 0"),
    "return": ("trade_return", "regression", "net pnl_pct (percent of entry notional, after costs) of the trade"),
}


def pooled_trade_label(name: str, task: Task, horizon: int, description: str) -> LabelSpec:
    """The label of a pooled trade dataset: name, task and a conservative horizon; its functions raise."""

    def unavailable(ohlcv: pd.DataFrame) -> pd.Series:
        raise ValueError(
            f"label {name!r} is pooled from backtest trades of several strategies and instruments; build it with "
            "blofin_stack.ml.trades (entry_dataset / exit_dataset), it cannot be computed from bars"
        )

    return LabelSpec(name, task, max(1, int(horizon)), unavailable, unavailable, description)


def _check(features: Sequence[str], label_name: str, trades_by_key: Mapping[TradeKey, pd.DataFrame]) -> list[str]:
    features = list(dict.fromkeys(features))
    if not features:
        raise ValueError("no features given")
    clash = [f for f in features if f in TRADE_INPUTS]
    if clash:
        raise ValueError(f"{', '.join(clash)}: trade inputs are added by the trade datasets, not passed as features")
    refuse_label_features(features, [label_name])
    if not trades_by_key:
        raise ValueError("no backtest trades given")
    return features


class _Instruments:
    """Each instrument's features, computed once and shared by all strategies traded on it."""

    def __init__(
        self,
        bars_by_inst: Mapping[str, pd.DataFrame],
        features: list[str],
        timeframe: str,
        compute: ComputeFunc | None,
        warmup_bars: int | None,
    ) -> None:
        self.bars = bars_by_inst
        self.features = features
        self.compute = compute or compute_features
        self.warmup = max_warmup(features, timeframe) if warmup_bars is None else warmup_bars
        self._values: dict[str, np.ndarray] = {}

    def values(self, inst: str) -> np.ndarray:
        """float64 ``(bars, features)`` of ``inst``."""
        if inst not in self.bars:
            raise ValueError(f"trades given for {inst} but no bars")
        if inst not in self._values:
            self._values[inst] = self.compute(self.bars[inst], self.features)[self.features].to_numpy(dtype="float64")
        return self._values[inst]


def _frame(
    features: list[str],
    values: np.ndarray,
    pos: np.ndarray,
    inputs: Mapping[str, np.ndarray],
    y: np.ndarray,
    t: np.ndarray,
    t_end: np.ndarray,
    inst: str,
    keep: np.ndarray,
) -> pd.DataFrame | None:
    """The kept rows as ``_assemble`` wants them (features, trade inputs, ``__y``, ``__t``, ``__t_end``, ``__inst``)."""
    X = values[pos]
    keep = keep & np.isfinite(X).all(axis=1) & np.isfinite(y)
    for column in inputs.values():
        keep &= np.isfinite(column)
    if not keep.any():
        return None
    frame = pd.DataFrame(X[keep], columns=features)
    for name, column in inputs.items():
        frame[name] = column[keep]
    frame["__y"] = y[keep]
    frame["__t"] = t[keep]
    frame["__t_end"] = t_end[keep]
    frame["__inst"] = inst
    return frame


def _finish(
    frames: list[pd.DataFrame],
    columns: list[str],
    label_name: str,
    task: Task,
    description: str,
    timeframe: str,
    counts: list[str],
) -> Dataset:
    step = timeframe_ms(timeframe)
    longest = max((int(((f["__t_end"] - f["__t"]) // step).max()) - 1 for f in frames), default=1)
    label = pooled_trade_label(label_name, task, longest, description)
    return _assemble(frames, columns, label, timeframe, "; ".join(counts) or "no trades")


def entry_dataset(
    bars_by_inst: Mapping[str, pd.DataFrame],
    trades_by_key: Mapping[TradeKey, pd.DataFrame],
    features: Sequence[str],
    timeframe: str,
    target: EntryTarget = "profitable",
    *,
    start_ms: int | None = None,
    compute: ComputeFunc | None = None,
    warmup_bars: int | None = None,
) -> Dataset:
    """One sample per trade at its signal bar: features + ``trade_side``, label the trade's outcome.

    Args:
        bars_by_inst: instrument -> the bars the backtests ran on (house OHLCV, with warm-up history).
        trades_by_key: ``(strategy, instrument)`` -> that backtest's trades.
        features: registered feature names (scale-free when several instruments are pooled).
        timeframe: the bars' timeframe.
        target: ``profitable`` (classification 1/0 on the net PnL) or ``return`` (regression, net
            ``pnl_pct``: percent of entry notional after fees and slippage).
        start_ms: first signal time kept (ms); earlier trades are dropped.
        compute: ``compute(bars, names) -> DataFrame`` (default :func:`compute_features`), e.g. a cache.
        warmup_bars: leading bars of each instrument whose features are not trusted (default
            ``max_warmup(features)``).

    Returns:
        :class:`Dataset` with columns ``features + ["trade_side"]``, label ``trade_profitable`` or
        ``trade_return``, ``t`` = signal bar open time, ``t_end`` = close of the exit bar (ms).

    Raises:
        ValueError: unknown target, no features or trades, a feature named like a label or a trade
            input, trades of an instrument without bars, trade times that are not bars, no sample left.
    """
    if target not in _ENTRY_LABELS:
        raise ValueError(f"target must be one of {', '.join(_ENTRY_LABELS)}, got {target!r}")
    label_name, task, description = _ENTRY_LABELS[target]
    features = _check(features, label_name, trades_by_key)
    cache = _Instruments(bars_by_inst, features, timeframe, compute, warmup_bars)
    step = timeframe_ms(timeframe)
    frames, counts = [], []
    for (strategy, inst), trades in trades_by_key.items():
        values = cache.values(inst)
        bars = bars_by_inst[inst]
        outcome = trade_outcome(trades, bars)
        t = outcome.index.to_numpy(dtype="int64")
        pos = np.searchsorted(bars.index.to_numpy(dtype="int64"), t)
        keep = pos >= cache.warmup
        if start_ms is not None:
            keep &= t >= start_ms
        frame = _frame(
            features,
            values,
            pos,
            {"trade_side": outcome["side"].to_numpy(dtype="float64")},
            outcome[target].to_numpy(dtype="float64"),
            t,
            outcome["exit_ts"].to_numpy(dtype="int64") + step,
            inst,
            keep,
        )
        counts.append(f"{strategy} on {inst}: {len(trades)} trades, {0 if frame is None else len(frame)} samples")
        if frame is not None:
            frames.append(frame)
    return _finish(frames, [*features, *ENTRY_INPUTS], label_name, task, description, timeframe, counts)


def _bars_inside(entry_pos: np.ndarray, exit_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bar positions ``entry <= t < exit`` of every trade, and the trade each belongs to (vectorised)."""
    lengths = np.maximum(exit_pos - entry_pos, 0)
    trade = np.repeat(np.arange(len(lengths)), lengths)
    first = np.cumsum(lengths) - lengths
    offset = np.arange(int(lengths.sum())) - np.repeat(first, lengths)
    return entry_pos[trade] + offset, trade


def exit_dataset(
    bars_by_inst: Mapping[str, pd.DataFrame],
    trades_by_key: Mapping[TradeKey, pd.DataFrame],
    features: Sequence[str],
    timeframe: str,
    *,
    start_ms: int | None = None,
    compute: ComputeFunc | None = None,
    warmup_bars: int | None = None,
    fee_bps: float = 6.0,
    slippage_bps: float = 1.0,
) -> Dataset:
    """One sample per bar inside a trade: features + the trade inputs, label :func:`~.labels.exit_timing`.

    Args:
        bars_by_inst, trades_by_key, features, timeframe, start_ms, compute, warmup_bars: as
            :func:`entry_dataset`.
        fee_bps, slippage_bps: the backtest's costs per fill (the label compares net returns).

    Returns:
        :class:`Dataset` with columns ``features + ["trade_side", "bars_held", "open_return"]``, label
        ``exit_timing`` (1 close at the next open / 0 hold), ``t`` = the bar, ``t_end`` = close of the
        trade's exit bar (ms).

    Raises:
        ValueError: as :func:`entry_dataset`; overlapping trades within one backtest.
    """
    features = _check(features, "exit_timing", trades_by_key)
    cache = _Instruments(bars_by_inst, features, timeframe, compute, warmup_bars)
    step = timeframe_ms(timeframe)
    frames, counts = [], []
    for (strategy, inst), trades in trades_by_key.items():
        values = cache.values(inst)
        bars = bars_by_inst[inst]
        ts = bars.index.to_numpy(dtype="int64")
        label = exit_timing(trades, bars, fee_bps=fee_bps, slippage_bps=slippage_bps).to_numpy()
        entry = np.searchsorted(ts, trades["entry_ts"].to_numpy(dtype="int64"))
        exit_ = np.searchsorted(ts, trades["exit_ts"].to_numpy(dtype="int64"))
        pos, trade = _bars_inside(entry, exit_)
        side = np.where(trades["side"].to_numpy() == "short", -1.0, 1.0)[trade]
        entry_price = trades["entry_price"].to_numpy(dtype="float64")[trade]
        close = bars["close"].to_numpy(dtype="float64")[pos]
        keep = pos >= cache.warmup
        if start_ms is not None:
            keep &= ts[pos] >= start_ms
        inputs = {
            "trade_side": side,
            "bars_held": (pos - entry[trade] + 1).astype("float64"),
            "open_return": side * (close / entry_price - 1.0),
        }
        t_end = trades["exit_ts"].to_numpy(dtype="int64")[trade] + step
        frame = _frame(features, values, pos, inputs, label[pos], ts[pos], t_end, inst, keep)
        counts.append(f"{strategy} on {inst}: {len(trades)} trades, {0 if frame is None else len(frame)} samples")
        if frame is not None:
            frames.append(frame)
    description = "1 if closing at the next open beats the trade's actual exit, else 0 (bars inside a trade)"
    return _finish(frames, [*features, *EXIT_INPUTS], "exit_timing", "classification", description, timeframe, counts)
