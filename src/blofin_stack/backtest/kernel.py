"""The simulation kernel: one position per strategy and instrument, next-bar fills, stops within bars.

Rules (see ``docs/BACKTESTING.md``), for bars ``start .. n-1`` of the arrays:

1. A signal on bar ``t`` (decided at its close) acts at the **open of bar t+1**; signals before
   ``start`` (the warm-up) are ignored, so the first possible fill is at the open of ``start + 1``.
2. At an open, an open long is closed by ``exit_long`` or ``entry_short`` of the previous bar (and an
   open short by ``exit_short`` or ``entry_long``), or when it has been held ``max_hold`` bars.
   Then, if flat, ``entry_long`` opens a long unless the same bar also says ``entry_short`` or
   ``exit_long`` (conflicting signals are ignored, as in freqtrade); likewise for shorts. A reversal
   therefore closes and opens at the same open.
3. During every bar a position is open (its entry bar included), the stop-loss and take-profit are
   checked against the bar's low/high. When both are touched in one bar the stop is assumed first.
   A bar that opens beyond the stop (a gap) fills at its open; likewise for a take-profit.
4. A position still open after the last bar is closed at the last close (``end_of_data``).
5. Every fill pays ``fee`` (fraction of notional per side) and suffers ``slip`` (fraction of price,
   always adverse). A trade's net return, in fractions of the entry notional, is
   ``side * (exit/entry - 1) - fee * (1 + exit/entry)`` with fill prices.
6. Equity compounds: each trade puts the whole current equity at risk (1x, no leverage). The equity
   curve is marked to market at every bar's close (entry fee paid, exit fee not yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

EXIT_REASONS = ("signal", "stop_loss", "take_profit", "max_hold", "end_of_data")
_SIGNAL, _STOP, _TAKE, _HOLD, _END = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class KernelResult:
    """Raw kernel output. Trade arrays have one entry per closed trade, in time order.

    Attributes:
        entry_idx, exit_idx: int64 bar indices of the entry fill and of the exit fill.
        side: int8, +1 long / -1 short.
        entry_price, exit_price: float64 fill prices (slippage applied), USDT.
        exit_reason: int8 index into :data:`EXIT_REASONS`.
        hold_bars: int64 bars during which the position was open (entry bar included; an exit at an
            open does not count that bar).
        mfe, mae: float64 maximum favourable / adverse excursion as fractions of the entry price
            (>= 0), over the bars the position was open.
        equity: float64 per-bar equity (start = 1.0) at each close of bars ``start .. n-1``.
        in_position: bool per bar ``start .. n-1``: a position was open during the bar.
    """

    entry_idx: np.ndarray
    exit_idx: np.ndarray
    side: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    exit_reason: np.ndarray
    hold_bars: np.ndarray
    mfe: np.ndarray
    mae: np.ndarray
    equity: np.ndarray
    in_position: np.ndarray


# columns of the kernel's trade records
_C_ENTRY, _C_EXIT, _C_SIDE, _C_EP, _C_XP, _C_REASON, _C_HOLD, _C_MFE, _C_MAE = range(9)


@numba.njit(cache=True, nogil=True)
def _record(rec, k, entry_i, exit_i, side, ep, price, slip, reason, hold, best, worst):  # fmt: skip
    """Write trade ``k`` (exit at raw ``price``) and return its net return (fraction of entry notional).

    On the exit bar only the exit price counts towards MFE/MAE: the order of the bar's other extreme
    relative to the exit is unknown.
    """
    fill = price * (1.0 - side * slip)
    rec[k, _C_ENTRY] = entry_i
    rec[k, _C_EXIT] = exit_i
    rec[k, _C_SIDE] = side
    rec[k, _C_EP] = ep
    rec[k, _C_XP] = fill
    rec[k, _C_REASON] = reason
    rec[k, _C_HOLD] = hold
    if side == 1:
        rec[k, _C_MFE] = max(0.0, (max(best, price) - ep) / ep)
        rec[k, _C_MAE] = max(0.0, (ep - min(worst, price)) / ep)
    else:
        rec[k, _C_MFE] = max(0.0, (ep - min(best, price)) / ep)
        rec[k, _C_MAE] = max(0.0, (max(worst, price) - ep) / ep)
    return side * (fill / ep - 1.0)


@numba.njit(cache=True, nogil=True)
def _simulate(open_, high, low, close, entry_long, exit_long, entry_short, exit_short,
              stop_pct, take_pct, max_hold, fee, slip, start):  # fmt: skip
    n = len(open_)
    rec = np.empty((n - start + 1, 9), np.float64)
    equity = np.empty(n - start, np.float64)
    in_pos = np.zeros(n - start, np.bool_)
    k = 0
    pos = 0  # +1 long, -1 short, 0 flat
    eq = 1.0  # equity after the last closed trade
    eq_entry = 1.0  # equity when the open position was entered
    entry_i = 0
    ep = 0.0  # entry fill price
    stop = np.nan
    take = np.nan
    best = 0.0  # most favourable price seen while open (before the current bar)
    worst = 0.0  # most adverse price seen while open

    for i in range(start, n):
        s = i - 1
        # 1) the open of bar i: act on the signals of bar i-1 (never on warm-up signals)
        if s >= start:
            if pos != 0:
                reason = -1
                if (pos == 1 and (exit_long[s] or entry_short[s])) or (pos == -1 and (exit_short[s] or entry_long[s])):
                    reason = _SIGNAL
                elif max_hold > 0 and i - entry_i >= max_hold:
                    reason = _HOLD
                if reason >= 0:
                    ret = _record(rec, k, entry_i, i, pos, ep, open_[i], slip, reason, i - entry_i, best, worst)
                    ratio = rec[k, _C_XP] / ep
                    eq = eq_entry * (1.0 + ret - fee * (1.0 + ratio))
                    k += 1
                    pos = 0
            if pos == 0:
                side = 0
                if entry_long[s] and not entry_short[s] and not exit_long[s]:
                    side = 1
                elif entry_short[s] and not entry_long[s] and not exit_short[s]:
                    side = -1
                if side != 0:
                    pos = side
                    entry_i = i
                    ep = open_[i] * (1.0 + side * slip)
                    eq_entry = eq
                    stop = ep * (1.0 - side * stop_pct[s] / 100.0) if stop_pct[s] > 0 else np.nan
                    take = ep * (1.0 + side * take_pct[s] / 100.0) if take_pct[s] > 0 else np.nan
                    best = open_[i]
                    worst = open_[i]
        # 2) during bar i: the stop-loss is assumed hit before the take-profit
        if pos != 0:
            in_pos[i - start] = True
            reason = -1
            price = 0.0
            if pos == 1:
                if low[i] <= stop:
                    reason, price = _STOP, min(open_[i], stop)
                elif high[i] >= take:
                    reason, price = _TAKE, max(open_[i], take)
            else:
                if high[i] >= stop:
                    reason, price = _STOP, max(open_[i], stop)
                elif low[i] <= take:
                    reason, price = _TAKE, min(open_[i], take)
            if reason >= 0:
                ret = _record(rec, k, entry_i, i, pos, ep, price, slip, reason, i - entry_i + 1, best, worst)
                ratio = rec[k, _C_XP] / ep
                eq = eq_entry * (1.0 + ret - fee * (1.0 + ratio))
                k += 1
                pos = 0
            elif pos == 1:
                best = max(best, high[i])
                worst = min(worst, low[i])
            else:
                best = min(best, low[i])
                worst = max(worst, high[i])
        # 3) the close of bar i: mark to market (entry fee paid, exit fee not yet)
        if pos != 0:
            equity[i - start] = eq_entry * (1.0 + pos * (close[i] / ep - 1.0) - fee)
        else:
            equity[i - start] = eq

    # 4) close what is still open at the last close
    if pos != 0:
        last = n - 1
        ret = _record(rec, k, entry_i, last, pos, ep, close[last], slip, _END, last - entry_i + 1, best, worst)
        ratio = rec[k, _C_XP] / ep
        eq = eq_entry * (1.0 + ret - fee * (1.0 + ratio))
        equity[last - start] = eq
        k += 1
    return rec[:k], equity, in_pos


def simulate(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    *,
    stop_loss_pct: np.ndarray | float | None = None,
    take_profit_pct: np.ndarray | float | None = None,
    max_hold_bars: int | None = None,
    fee: float = 0.0006,
    slippage: float = 0.0,
    start: int = 0,
) -> KernelResult:
    """Simulate one strategy on one instrument (rules in the module docstring).

    Args:
        open_, high, low, close: float64 arrays of length n (USDT), bar order.
        entry_long, exit_long, entry_short, exit_short: bool arrays of length n.
        stop_loss_pct, take_profit_pct: percent distance from the entry fill, scalar or per signal
            bar (float64 array of length n, NaN or <= 0 = none); ``None`` = none.
        max_hold_bars: close at the open after this many bars held; ``None`` = no limit.
        fee: fee per side as a fraction of notional (0.0006 = Blofin taker 0.06 %).
        slippage: adverse price slippage per fill as a fraction (0.0001 = 1 bp).
        start: index of the first bar of the backtest window (bars before it are warm-up).

    Returns:
        :class:`KernelResult`.

    Raises:
        ValueError: arrays of different lengths, or ``start`` outside ``[0, n)``.
    """
    n = len(open_)
    arrays = (high, low, close, entry_long, exit_long, entry_short, exit_short)
    if any(len(a) != n for a in arrays):
        raise ValueError("all kernel input arrays must have the same length")
    if not 0 <= start < n:
        raise ValueError(f"start={start} outside the {n} bars")

    def per_bar(value: np.ndarray | float | None) -> np.ndarray:
        if value is None:
            return np.full(n, np.nan)
        if np.ndim(value) == 0:
            return np.full(n, float(value))
        out = np.asarray(value, dtype=np.float64)
        if len(out) != n:
            raise ValueError("per-bar stop/take arrays must have the same length as the bars")
        return out

    raw = _simulate(
        np.ascontiguousarray(open_, dtype=np.float64),
        np.ascontiguousarray(high, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(entry_long, dtype=np.bool_),
        np.ascontiguousarray(exit_long, dtype=np.bool_),
        np.ascontiguousarray(entry_short, dtype=np.bool_),
        np.ascontiguousarray(exit_short, dtype=np.bool_),
        per_bar(stop_loss_pct),
        per_bar(take_profit_pct),
        int(max_hold_bars or 0),
        float(fee),
        float(slippage),
        int(start),
    )
    rec, equity, in_position = raw
    return KernelResult(
        entry_idx=rec[:, _C_ENTRY].astype(np.int64),
        exit_idx=rec[:, _C_EXIT].astype(np.int64),
        side=rec[:, _C_SIDE].astype(np.int8),
        entry_price=rec[:, _C_EP],
        exit_price=rec[:, _C_XP],
        exit_reason=rec[:, _C_REASON].astype(np.int8),
        hold_bars=rec[:, _C_HOLD].astype(np.int64),
        mfe=rec[:, _C_MFE],
        mae=rec[:, _C_MAE],
        equity=equity,
        in_position=in_position,
    )
