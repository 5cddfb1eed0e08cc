"""Metrics and the composite score on hand-computed values."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from blofin_stack.backtest.metrics import (
    composite_score,
    compute_metrics,
    max_drawdown_pct,
    per_bar_returns,
    sharpe_ratio,
    sortino_ratio,
)


def test_score_formula_units() -> None:
    # win rate 55 % as a fraction, +0.2 % per trade, Sharpe 1.5, drawdown 8 % as a fraction
    assert composite_score(0.55, 0.2, 1.5, 8.0) == pytest.approx(22 + 6 + 30 - 0.8)
    assert composite_score(0.0, 0.0, 0.0, 0.0) == 0.0
    assert composite_score(1.0, 0.0, 0.0, 100.0) == pytest.approx(40 - 10)


def test_per_bar_returns_start_from_one() -> None:
    np.testing.assert_allclose(per_bar_returns(np.array([1.1, 0.99])), [0.1, -0.1])


def test_sharpe_matches_statistics_module() -> None:
    r = np.array([0.01, -0.01, 0.02, 0.0])
    expected = statistics.mean(r) / statistics.stdev(r) * math.sqrt(365 * 24 * 12)
    assert sharpe_ratio(r, 365 * 24 * 12) == pytest.approx(expected)
    assert sharpe_ratio(np.zeros(10), 100) == 0.0
    assert sharpe_ratio(np.array([0.01]), 100) == 0.0


def test_sortino_uses_downside_deviation() -> None:
    r = np.array([0.02, -0.01, 0.03, -0.02])
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    assert sortino_ratio(r, 1) == pytest.approx(np.mean(r) / downside)
    assert sortino_ratio(np.array([0.01, 0.02]), 1) == 0.0


def test_max_drawdown_counts_the_start_as_a_peak() -> None:
    assert max_drawdown_pct(np.array([1.1, 0.99, 1.2, 0.9])) == pytest.approx(25.0)
    assert max_drawdown_pct(np.array([0.8, 0.9])) == pytest.approx(20.0)
    assert max_drawdown_pct(np.array([1.0, 1.1])) == 0.0


def test_compute_metrics_by_hand() -> None:
    net = np.array([0.02, -0.01, 0.01, 0.0])  # a zero trade is not a win
    equity = np.array([1.0, 1.02, 1.02, 1.0098, 1.0098, 1.019898, 1.019898, 1.019898])
    m = compute_metrics(net, np.array([2, 1, 3, 1]), equity, np.array([0, 1, 1, 1, 0, 1, 1, 0], bool), 8760)
    assert m["trades"] == 4
    assert m["win_rate"] == 0.5
    assert m["avg_pnl_pct"] == pytest.approx(0.5)
    assert m["profit_factor"] == pytest.approx(3.0)
    assert m["expectancy_pct"] == pytest.approx(0.5 * 1.5 - 0.5 * 0.5)
    assert m["expectancy_pct"] == pytest.approx(m["avg_pnl_pct"])
    assert m["total_pnl_pct"] == pytest.approx(1.9898)
    assert m["exposure_pct"] == pytest.approx(62.5)
    assert m["avg_hold_bars"] == pytest.approx(1.75)
    assert m["max_drawdown_pct"] == pytest.approx((1 - 1.0098 / 1.02) * 100)
    assert m["score"] == pytest.approx(composite_score(0.5, 0.5, m["sharpe"], m["max_drawdown_pct"]))


def test_profit_factor_edge_cases() -> None:
    flat = np.ones(3)
    no_trades = compute_metrics(np.array([]), np.array([], int), flat, np.zeros(3, bool), 1)
    assert no_trades["profit_factor"] is None and no_trades["win_rate"] == 0.0 and no_trades["score"] == 0.0
    only_wins = compute_metrics(np.array([0.01]), np.array([1]), np.array([1.0, 1.01, 1.01]), np.ones(3, bool), 1)
    assert only_wins["profit_factor"] == math.inf


def test_eep_score_by_hand() -> None:
    from blofin_stack.backtest.metrics import eep_score

    # E = 0.03 / (0.03 + 0.04) over the entry horizon; X = (0.01 - 0.02) / (0.025 + 0.005) over the trades
    expected = 50 * (0.03 / 0.07) + 25 * (-0.01 / 0.03 + 1)
    got = eep_score(np.array([0.02, 0.01]), np.array([0.01, 0.03]), np.array([0.025, 0.005]), np.array([0.01, -0.02]))
    assert got == pytest.approx(expected)
    perfect = eep_score(np.array([0.05]), np.array([0.0]), np.array([0.05]), np.array([0.05]))
    worst = eep_score(np.array([0.0]), np.array([0.05]), np.array([0.0]), np.array([-0.05]))
    assert perfect == pytest.approx(100.0) and worst == pytest.approx(0.0)
    assert eep_score(np.array([0.04]), np.array([0.04]), np.array([0.04]), np.array([0.0])) == pytest.approx(50.0)
    assert eep_score(np.array([]), np.array([]), np.array([]), np.array([])) is None


def test_entry_excursions_use_a_fixed_horizon() -> None:
    from blofin_stack.backtest.metrics import entry_excursions

    high = np.array([101.0, 104, 102, 110, 100])
    low = np.array([99.0, 97, 98, 99, 90])
    # a long at 100 on bar 0 and a short at 104 on bar 3, horizon 3: bars 0-2 and bars 3-4 (data ends)
    mfe, mae = entry_excursions(high, low, np.array([0, 3]), np.array([1, -1]), np.array([100.0, 104.0]), horizon=3)
    np.testing.assert_allclose(mfe, [0.04, 1 - 90 / 104])
    np.testing.assert_allclose(mae, [0.03, 110 / 104 - 1])


def _walk_trades(seed: int, oracle: bool, stop: float | None = None) -> float | None:
    """EEP on a driftless random walk: random entries, or entries that peek 10 bars ahead; exits after 10
    bars, or at a stop (which caps the adverse excursion of a trade but must not flatter random entries)."""
    from blofin_stack.backtest.kernel import simulate
    from blofin_stack.backtest.metrics import eep_score, entry_excursions

    rng = np.random.default_rng(seed)
    n = 20_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, n)))
    if oracle:  # long when the open 10 bars after the fill is higher: look-ahead on purpose
        future = np.concatenate((open_[11:], np.full(11, np.nan)))
        want_long = future > np.concatenate((open_[1:], [np.nan]))
        entry_long, entry_short = want_long, ~want_long
    else:
        entry_long = rng.random(n) < 0.05
        entry_short = (rng.random(n) < 0.05) & ~entry_long
    none = np.zeros(n, bool)
    hold = 200 if stop else 10
    r = simulate(
        open_, high, low, close, entry_long, none, entry_short, none, stop_loss_pct=stop, max_hold_bars=hold, fee=0.0
    )
    gross = r.side * (r.exit_price / r.entry_price - 1)
    entry_mfe, entry_mae = entry_excursions(high, low, r.entry_idx, r.side, r.entry_price)
    return eep_score(entry_mfe, entry_mae, r.mfe, gross)


@pytest.mark.parametrize("stop", [None, 0.3, 1.5])
def test_eep_is_about_50_without_edge_whatever_the_exit(stop: float | None) -> None:
    scores = [_walk_trades(seed, oracle=False, stop=stop) for seed in range(3)]
    assert all(s is not None and 46 < s < 54 for s in scores), scores


def test_eep_is_high_with_edge() -> None:
    for stop in (None, 0.5):
        score = _walk_trades(7, oracle=True, stop=stop)
        assert score is not None and score > 65
