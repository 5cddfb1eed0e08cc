"""Backtest metrics and the composite score. All are after fees and slippage.

Units, stated once and used everywhere (reports, database, CLI):

===================  =========================================================================
trades               number of closed trades (int)
win_rate             fraction of trades with net PnL > 0, 0..1
avg_pnl_pct          mean net PnL per trade, percent of entry notional
total_pnl_pct        compounded growth of equity over the window, percent
sharpe               mean / standard deviation (ddof=1) of per-bar equity returns, annualised by
                     sqrt(bars per 365-day year) (crypto trades 24/7); 0 when undefined
sortino              mean per-bar return / downside deviation sqrt(mean(min(r, 0)^2)) (target 0;
                     Sortino & Price 1994), annualised the same way; 0 when undefined
max_drawdown_pct     largest peak-to-trough fall of the marked-to-market equity curve (start
                     included as a peak), percent (positive)
profit_factor        gross profit / gross loss of net trade PnL; +inf when there is no losing
                     trade (shown as null in JSON), None without trades
expectancy_pct       win_rate * mean win - (1 - win_rate) * mean loss (Tharp), percent per trade;
                     equal to avg_pnl_pct by construction, reported in the standard form
exposure_pct         percent of window bars with a position open during the bar
avg_hold_bars        mean bars a position was open
eep_score            entry + exit package score 0..100, about 50 = no edge; see :func:`eep_score`;
                     None without trades
score                seed 001's composite, see :func:`composite_score`
===================  =========================================================================
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np


class Metrics(TypedDict):
    """The metrics of one backtest (units in the module docstring)."""

    trades: int
    win_rate: float
    avg_pnl_pct: float
    total_pnl_pct: float
    sharpe: float
    sortino: float
    max_drawdown_pct: float
    profit_factor: float | None
    expectancy_pct: float
    exposure_pct: float
    avg_hold_bars: float
    eep_score: float | None
    score: float


#: Names of the metrics, in report order.
METRIC_NAMES: tuple[str, ...] = tuple(Metrics.__annotations__)


def per_bar_returns(equity: np.ndarray) -> np.ndarray:
    """Simple returns of an equity curve (float64, length n), the first from the starting equity 1.0."""
    curve = np.concatenate(([1.0], np.asarray(equity, dtype=np.float64)))
    return curve[1:] / curve[:-1] - 1.0


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio of per-period returns (risk-free rate 0); 0.0 when undefined."""
    if len(returns) < 2:
        return 0.0
    std = float(np.std(returns, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return 0.0
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year)


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sortino ratio (target 0, downside deviation over all periods); 0.0 when undefined."""
    if len(returns) < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return 0.0
    return float(np.mean(returns)) / downside * math.sqrt(periods_per_year)


def max_drawdown_pct(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall of ``equity`` in percent, the starting equity 1.0 counting as a peak."""
    curve = np.concatenate(([1.0], np.asarray(equity, dtype=np.float64)))
    peaks = np.maximum.accumulate(curve)
    return float(np.max(1.0 - curve / peaks) * 100.0)


#: Bars after entry over which the EEP's entry quality is measured, whatever the trade's exit.
EEP_ENTRY_HORIZON_BARS = 20


def entry_excursions(
    high: np.ndarray,
    low: np.ndarray,
    entry_idx: np.ndarray,
    side: np.ndarray,
    entry_price: np.ndarray,
    horizon: int = EEP_ENTRY_HORIZON_BARS,
) -> tuple[np.ndarray, np.ndarray]:
    """Favourable and adverse excursion of each entry over a fixed horizon, independent of its exit.

    For a trade entered at the open of bar ``i``, the extremes of bars ``i .. i + horizon - 1`` (fewer
    at the end of the data) relative to the entry price: MFE = how far price went the trade's way,
    MAE = how far against it, both fractions >= 0. A fixed horizon keeps the measure fair: over the
    trade's own life, a stop caps MAE but not MFE, which would flatter random entries.

    Args:
        high, low: float64 arrays of the bars (USDT).
        entry_idx: int per-trade bar index of the entry fill; side: +1/-1; entry_price: fill prices.
    """
    if len(entry_idx) == 0:
        return np.empty(0), np.empty(0)
    pad = np.full(horizon - 1, np.nan)
    highest = np.nanmax(np.lib.stride_tricks.sliding_window_view(np.concatenate([high, pad]), horizon), axis=1)
    lowest = np.nanmin(np.lib.stride_tricks.sliding_window_view(np.concatenate([low, pad]), horizon), axis=1)
    up = highest[entry_idx] / entry_price - 1.0
    down = 1.0 - lowest[entry_idx] / entry_price
    favourable = np.where(side > 0, up, down)
    adverse = np.where(side > 0, down, up)
    return np.maximum(favourable, 0.0), np.maximum(adverse, 0.0)


def eep_score(entry_mfe: np.ndarray, entry_mae: np.ndarray, trade_mfe: np.ndarray, gross: np.ndarray) -> float | None:
    """The entry + exit package (EEP) score of a set of trades, 0..100; about 50 means no edge.

    Built from excursions (Sweeney's MFE/MAE) and returns before fees, so it judges timing, not costs
    (those are in every PnL metric):

    * entry quality ``E = sum(MFE_h) / (sum(MFE_h) + sum(MAE_h))`` over a fixed horizon after each entry
      (:func:`entry_excursions`): 0.5 when price moves as far against the entries as for them, as it does
      after random entries whatever the exit rules; 0.5 also when neither moved;
    * exit quality ``X = sum(gross) / sum(MFE)``, MFE over each trade's life, clipped to ``[-1, 1]``: the
      share of the favourable excursion the exits kept. Without edge the expected gross return of any
      exit rule is 0 (optional stopping), so X is about 0; 1 for exits at the best price; with no
      favourable excursion at all, 0 without and -1 with a gross loss;
    * ``EEP = 50 * E + 25 * (X + 1)``: 100 for perfect entries and exits, 0 for the worst.

    Args:
        entry_mfe, entry_mae: per-trade fixed-horizon excursions, fractions of the entry price (>= 0).
        trade_mfe: per-trade maximum favourable excursion while open (>= 0).
        gross: per-trade return before fees, fraction of the entry price (fill prices).

    Returns:
        The score, or ``None`` when there are no trades.
    """
    if len(gross) == 0:
        return None
    favourable, adverse = float(np.sum(entry_mfe)), float(np.sum(entry_mae))
    entry = favourable / (favourable + adverse) if favourable + adverse > 0 else 0.5
    kept, available = float(np.sum(gross)), float(np.sum(trade_mfe))
    if available > 0:
        exit_ = min(1.0, max(-1.0, kept / available))
    else:
        exit_ = -1.0 if kept < 0 else 0.0
    return 50.0 * entry + 25.0 * (exit_ + 1.0)


def composite_score(win_rate: float, avg_pnl_pct: float, sharpe: float, max_drawdown_pct: float) -> float:
    """Seed 001's score: ``win_rate*40 + avg_pnl_pct*30 + sharpe*20 - max_drawdown*10``.

    Units chosen (and tested): ``win_rate`` as a fraction 0..1, ``avg_pnl_pct`` in percent per trade,
    ``sharpe`` annualised, ``max_drawdown`` as a fraction 0..1 (``max_drawdown_pct / 100``). Example:
    win rate 55 %, +0.2 % per trade, Sharpe 1.5, drawdown 8 % -> 22 + 6 + 30 - 0.8 = 57.2.
    """
    return win_rate * 40.0 + avg_pnl_pct * 30.0 + sharpe * 20.0 - (max_drawdown_pct / 100.0) * 10.0


def compute_metrics(
    net_returns: np.ndarray,
    hold_bars: np.ndarray,
    equity: np.ndarray,
    in_position: np.ndarray,
    periods_per_year: float,
    excursions: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Metrics:
    """All metrics of one backtest.

    Args:
        net_returns: float64 per-trade net return, fraction of entry notional (after fees).
        hold_bars: int per-trade bars held.
        equity: float64 per-bar marked-to-market equity of the window (start = 1.0).
        in_position: bool per window bar.
        periods_per_year: bars per year of the timeframe (:func:`~blofin_stack.market.timeframes.bars_per_year`).
        excursions: per-trade ``(entry_mfe, entry_mae, trade_mfe, gross)`` for :func:`eep_score`
            (fractions); without them the EEP score is None.
    """
    trades = len(net_returns)
    pnl_pct = np.asarray(net_returns, dtype=np.float64) * 100.0
    wins = pnl_pct[pnl_pct > 0]
    losses = pnl_pct[pnl_pct <= 0]
    win_rate = len(wins) / trades if trades else 0.0
    avg_pnl = float(pnl_pct.mean()) if trades else 0.0
    gross_loss = -float(losses.sum())
    if not trades:
        profit_factor: float | None = None
    elif gross_loss == 0.0:
        profit_factor = math.inf
    else:
        profit_factor = float(wins.sum()) / gross_loss
    mean_win = float(wins.mean()) if len(wins) else 0.0
    mean_loss = -float(losses.mean()) if len(losses) else 0.0
    returns = per_bar_returns(equity)
    sharpe = sharpe_ratio(returns, periods_per_year)
    drawdown = max_drawdown_pct(equity)
    return Metrics(
        trades=trades,
        win_rate=win_rate,
        avg_pnl_pct=avg_pnl,
        total_pnl_pct=(float(equity[-1]) - 1.0) * 100.0 if len(equity) else 0.0,
        sharpe=sharpe,
        sortino=sortino_ratio(returns, periods_per_year),
        max_drawdown_pct=drawdown,
        profit_factor=profit_factor,
        expectancy_pct=win_rate * mean_win - (1.0 - win_rate) * mean_loss,
        exposure_pct=float(np.mean(in_position)) * 100.0 if len(in_position) else 0.0,
        avg_hold_bars=float(np.mean(hold_bars)) if trades else 0.0,
        eep_score=eep_score(*excursions) if excursions is not None else None,
        score=composite_score(win_rate, avg_pnl, sharpe, drawdown),
    )
