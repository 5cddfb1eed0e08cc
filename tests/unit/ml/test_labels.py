"""Labels by hand on small bars, their NaN tails and dead zones, and causality in reverse: a label at t
reads bars t+1..t+h (and close[t]; a documented trailing normaliser), never bar t+h+1 or later."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from blofin_stack.backtest.engine import run_backtest
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.ml.base import LabelSpec
from blofin_stack.ml.labels import (
    RISK_VOL_WINDOW,
    direction,
    exit_timing,
    exit_timing_label,
    forward_return,
    forward_volatility,
    is_label_name,
    momentum_state,
    regime_next,
    risk_score,
    trade_label,
    trade_outcome,
)
from blofin_stack.strategies import get_strategy

STEP = 300_000  # 5m
T0 = 1_700_000_000_000 - 1_700_000_000_000 % STEP


def bars_from_close(close, *, low=None, high=None, open_=None) -> pd.DataFrame:
    """5m bars: open = previous close, high/low = the larger/smaller of open and close unless given."""
    close = np.asarray(close, dtype="float64")
    if open_ is None:
        open_ = np.concatenate(([close[0]], close[:-1]))
    open_ = np.asarray(open_, dtype="float64")
    high = np.maximum(open_, close) if high is None else np.asarray(high, dtype="float64")
    low = np.minimum(open_, close) if low is None else np.asarray(low, dtype="float64")
    index = pd.Index(T0 + STEP * np.arange(len(close)), name="ts", dtype="int64")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(len(close))}, index=index
    )


def bars_from_log_returns(lr) -> pd.DataFrame:
    return bars_from_close(100.0 * np.exp(np.concatenate(([0.0], np.cumsum(lr)))))


def random_bars(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, n))
    return bars_from_close(close, low=low, high=high, open_=open_)


def values(spec: LabelSpec, bars: pd.DataFrame) -> np.ndarray:
    out = spec.func(bars)
    assert isinstance(out, pd.Series) and out.index.equals(bars.index)
    return out.to_numpy()


# ---------------------------------------------------------------------------------------------- by hand


def test_forward_return_by_hand() -> None:
    bars = bars_from_close([100, 110, 99, 121])
    spec = forward_return(2)
    assert (spec.name, spec.task, spec.horizon) == ("forward_return_2", "regression", 2)
    np.testing.assert_allclose(values(spec, bars), [-0.01, 0.1, np.nan, np.nan], rtol=1e-12)
    np.testing.assert_array_equal(spec.defining_series(bars).to_numpy(), values(spec, bars))


def test_direction_by_hand_dead_zone_and_nan_tail() -> None:
    bars = bars_from_close([100, 110, 99, 121, 100, 100, 100])
    spec = direction(2)
    assert (spec.name, spec.task, spec.horizon) == ("direction_2", "classification", 2)
    # returns: -0.01, +0.1, +0.0101, -0.1736, 0.0 (unchanged: undefined), then the tail
    np.testing.assert_array_equal(values(spec, bars), [0, 1, 1, 0, np.nan, np.nan, np.nan])
    wide = direction(2, dead_zone=0.05)
    assert wide.name == "direction_2_dz500bp"
    np.testing.assert_array_equal(values(wide, bars), [np.nan, 1, np.nan, 0, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(wide.defining_series(bars).to_numpy()[:2], [-0.01, 0.1], rtol=1e-12)
    with pytest.raises(ValueError, match="dead_zone"):
        direction(2, dead_zone=-0.1)
    with pytest.raises(ValueError, match="horizon"):
        direction(0)


def test_forward_volatility_by_hand() -> None:
    close = np.array([100, 110, 99, 121, 121.0])
    lr = np.log(close[1:] / close[:-1])
    expected = [np.std(lr[0:2], ddof=1), np.std(lr[1:3], ddof=1), np.std(lr[2:4], ddof=1), np.nan, np.nan]
    spec = forward_volatility(2)
    assert spec.name == "forward_volatility_2"
    np.testing.assert_allclose(values(spec, bars_from_close(close)), expected, rtol=1e-12)
    with pytest.raises(ValueError, match=">= 2"):
        forward_volatility(1)


def test_momentum_state_by_hand() -> None:
    bars = bars_from_close([100, 100, 100, 110, 100, 90, 100, 120])
    # t=2: fwd 0, trailing 0 -> neutral; t=3: fwd -18 %, trailing +10 % -> decelerating;
    # t=4: fwd 0, trailing 0 -> neutral; t=5: fwd +33 %, trailing -18 % -> accelerating
    spec = momentum_state(2, threshold=0.01)
    assert (spec.name, spec.task) == ("momentum_state_2_th100bp", "classification")
    np.testing.assert_array_equal(values(spec, bars), [np.nan, np.nan, 1, 0, 1, 2, np.nan, np.nan])
    np.testing.assert_allclose(spec.defining_series(bars).to_numpy()[:4], [0, 0.1, 0, 90 / 110 - 1], rtol=1e-12)
    # a difference inside the threshold is neutral
    small = bars_from_close([100, 100, 100, 100, 100.5])
    assert values(momentum_state(2, threshold=0.01), small)[2] == 1
    assert values(momentum_state(2), small)[2] == 2


def test_risk_score_by_hand() -> None:
    a, h, n = 0.01, 3, RISK_VOL_WINDOW + 10
    bars = bars_from_log_returns(np.tile([a, -a], n // 2)[: n - 1])
    close, low = bars["close"].to_numpy(), bars["low"].to_numpy().copy()
    t = RISK_VOL_WINDOW + 1
    sigma = np.std(np.tile([a, -a], 50), ddof=1)
    # lows of t+1..t+h: the worst is 1.5 sigma sqrt(h) below close[t] -> score 50
    low[t + 1 : t + h + 1] = close[t] * np.array([1.0, 1 - 1.5 * sigma * np.sqrt(h), 1.0])
    low[t + h + 1] = close[t] * 0.5  # after the horizon: must not count
    bars["low"] = low
    spec = risk_score(h)
    assert (spec.name, spec.task, spec.horizon) == ("risk_score_3", "regression", 3)
    got = values(spec, bars)
    lr = np.log(close[1:] / close[:-1])
    assert np.std(lr[t - RISK_VOL_WINDOW : t], ddof=1) == pytest.approx(sigma, rel=1e-12)
    assert got[t] == pytest.approx(50.0, rel=1e-9)
    assert spec.defining_series(bars).to_numpy()[t] == pytest.approx(1.5 * sigma * np.sqrt(h), rel=1e-9)
    # clipped at 100 (the 50 % drop at t+h+1 is inside the horizon of t+1) and 0 without adverse move
    assert got[t + 1] == 100.0
    lows_up = bars.copy()
    lows_up["low"] = np.maximum(lows_up["low"], lows_up["close"].max())
    assert values(spec, lows_up)[t] == 0.0
    # undefined: the first 100 bars (no trailing sigma) and the last h bars
    assert np.isnan(got[:RISK_VOL_WINDOW]).all() and np.isfinite(got[RISK_VOL_WINDOW])
    assert np.isnan(got[-h:]).all() and np.isfinite(got[-h - 1])
    # a frozen price: any adverse move scores 100, none scores 0
    flat = bars_from_close(np.full(RISK_VOL_WINDOW + 5, 100.0))
    assert values(spec, flat)[RISK_VOL_WINDOW] == 0.0
    flat.iloc[RISK_VOL_WINDOW + 1, flat.columns.get_loc("low")] = 99.9
    assert values(spec, flat)[RISK_VOL_WINDOW] == 100.0


@pytest.mark.parametrize(
    ("future", "expected"),
    [
        ([0.01, -0.01, 0.01, -0.01], 0),  # same volatility, no move: ranging
        ([0.01] * 4, 1),  # +4 % > 1 sigma_trailing * sqrt(4) = 2.3 %: trending up
        ([-0.01] * 4, 2),  # trending down
        ([0.03, -0.03, 0.03, -0.03], 3),  # volatility x3: volatile
        ([0.06, 0.0, 0.06, 0.0], 3),  # volatile AND up: volatile takes precedence
        ([0.004, 0.0, 0.004, 0.0], 0),  # calmer, small move (0.8 % < 2.3 %): ranging
    ],
)
def test_regime_next_by_hand(future: list[float], expected: int) -> None:
    w, t = 4, 4
    bars = bars_from_log_returns([0.01, -0.01, 0.01, -0.01, *future, 0.0])
    spec = regime_next(w)
    assert (spec.name, spec.task, spec.horizon) == ("regime_next_4", "classification", 4)
    got = values(spec, bars)
    assert got[t] == expected
    assert np.isnan(got[:w]).all() and np.isnan(got[-w:]).all()
    close = bars["close"].to_numpy()
    assert spec.defining_series(bars).to_numpy()[t] == pytest.approx(close[t + w] / close[t] - 1, rel=1e-12)


def test_regime_next_undefined_on_a_frozen_trailing_window() -> None:
    bars = bars_from_log_returns([0, 0, 0, 0, 0.01, 0.02, -0.01, 0.01, 0])
    assert np.isnan(values(regime_next(4), bars)[4])


def test_label_names_are_recognised() -> None:
    for spec in (direction(12), direction(3, 0.001), forward_return(12), forward_volatility(5),
                 momentum_state(6, 0.002), risk_score(12), regime_next(24)):  # fmt: skip
        assert is_label_name(spec.name), spec.name
        assert is_label_name(f"1H:{spec.name}")
    for name in ("trade_profitable", "trade_return", "exit_timing", "exit_timing_long"):
        assert is_label_name(name)
    for feature in ("returns", "returns_5", "roc_12", "rsi_14", "momentum_10", "volatility_regime", "close"):
        assert not is_label_name(feature)


# ---------------------------------------------------------------------------------------------- causality

# (label, trailing bars before t it may read besides close[t], two perturbations of bars t+1..t+h that
# must give different values)
Perturb = Callable[[pd.DataFrame, int, int], pd.DataFrame]


def _set_close(factor: float) -> Perturb:
    def apply(bars: pd.DataFrame, t: int, h: int) -> pd.DataFrame:
        out = bars.copy()
        out.iloc[t + h, out.columns.get_loc("close")] = bars["close"].iloc[t] * factor
        return out

    return apply


def _set_path(steps: list[float]) -> Perturb:
    """Bars t+1..t+h follow close[t] with the given log returns (cycled)."""

    def apply(bars: pd.DataFrame, t: int, h: int) -> pd.DataFrame:
        out = bars.copy()
        lr = np.resize(np.asarray(steps), h)
        path = bars["close"].iloc[t] * np.exp(np.cumsum(lr))
        out.iloc[t + 1 : t + h + 1, out.columns.get_loc("close")] = path
        out.iloc[t + 1 : t + h + 1, out.columns.get_loc("low")] = path * 0.999
        return out

    return apply


CASES = [
    (direction(6), 0, _set_close(1.05), _set_close(0.95)),
    (direction(6, dead_zone=0.002), 0, _set_close(1.05), _set_close(0.95)),
    (forward_return(6), 0, _set_close(1.05), _set_close(0.95)),
    (forward_volatility(6), 0, _set_path([0.001]), _set_path([0.02, -0.02])),
    (momentum_state(6), 6, _set_close(1.2), _set_close(0.8)),
    (risk_score(6), RISK_VOL_WINDOW, _set_path([0.001]), _set_path([-0.01])),
    (regime_next(6), 6, _set_path([0.003]), _set_path([0.05, -0.05])),
]


@pytest.mark.parametrize(("spec", "lookback", "first", "second"), CASES, ids=[c[0].name for c in CASES])
def test_label_at_t_reads_only_bars_t_plus_1_to_t_plus_h(
    spec: LabelSpec, lookback: int, first: Perturb, second: Perturb
) -> None:
    bars = random_bars()
    full = values(spec, bars)
    h = spec.horizon
    rng = np.random.default_rng(1)
    for t in (150, 220, 300):
        # no bar after t + h counts: the label on bars cut after t + h is the same, and NaN when cut earlier
        assert values(spec, bars.iloc[: t + h + 1])[t] == pytest.approx(full[t], rel=1e-12)
        assert np.isnan(values(spec, bars.iloc[: t + h])[t])
        later = bars.copy()
        later.iloc[t + h + 1 :] *= rng.uniform(0.5, 1.5, size=later.iloc[t + h + 1 :].shape)
        assert values(spec, later)[t] == pytest.approx(full[t], rel=1e-12)
        # bars up to t (besides close[t] and the documented trailing window) do not count
        earlier = bars.copy()
        cut = t - lookback
        earlier.iloc[:cut] *= rng.uniform(0.5, 1.5, size=earlier.iloc[:cut].shape)
        for column in ("open", "high", "low", "volume"):
            earlier.iloc[t, earlier.columns.get_loc(column)] *= 1.01
        assert values(spec, earlier)[t] == pytest.approx(full[t], rel=1e-12)
        # bars t+1..t+h do count
        a, b = values(spec, first(bars, t, h))[t], values(spec, second(bars, t, h))[t]
        assert np.isfinite(a) and np.isfinite(b) and a != b


def test_labels_are_nan_in_their_tail_only() -> None:
    bars = random_bars()
    for spec, lookback, *_ in CASES:
        got = values(spec, bars)
        assert np.isnan(got[-spec.horizon :]).all(), spec.name
        body = got[lookback + 1 : -spec.horizon]
        if spec.name == "direction_6_dz20bp":  # NaN exactly inside the dead zone
            r = spec.defining_series(bars).to_numpy()[lookback + 1 : -spec.horizon]
            np.testing.assert_array_equal(np.isnan(body), np.abs(r) <= 0.002)
            assert 0.05 < np.isnan(body).mean() < 0.5
        else:
            assert np.isfinite(body).all(), spec.name


# ---------------------------------------------------------------------------------------------- trades


def _trades(rows: list[tuple[int, int, str, float, float, float]]) -> pd.DataFrame:
    """(entry bar, exit bar, side, entry price, exit price, pnl_pct) -> trades in the engine's layout."""
    return pd.DataFrame(
        {
            "entry_ts": [T0 + STEP * r[0] for r in rows],
            "exit_ts": [T0 + STEP * r[1] for r in rows],
            "side": [r[2] for r in rows],
            "entry_price": [r[3] for r in rows],
            "exit_price": [r[4] for r in rows],
            "pnl_pct": [r[5] for r in rows],
            "hold_bars": [r[1] - r[0] for r in rows],
            "mae_pct": [0.5 for _ in rows],
        }
    )


def test_trade_outcome_is_indexed_by_the_signal_bar() -> None:
    bars = bars_from_close(np.linspace(100, 110, 12))
    trades = _trades([(1, 5, "long", 100.0, 99.0, -1.12), (6, 9, "short", 105.0, 104.0, 0.83)])
    out = trade_outcome(trades, bars)
    assert list(out.index) == [T0, T0 + 5 * STEP]  # the bar before each entry
    np.testing.assert_array_equal(out["profitable"], [0.0, 1.0])
    np.testing.assert_array_equal(out["return"], [-1.12, 0.83])
    np.testing.assert_array_equal(out["hold_bars"], [4, 3])
    np.testing.assert_array_equal(out["mae_pct"], [0.5, 0.5])
    np.testing.assert_array_equal(out["side"], [1.0, -1.0])
    assert trade_outcome(trades, "5m").index.equals(out.index)
    with pytest.raises(ValueError, match="first bar"):
        trade_outcome(_trades([(0, 3, "long", 100.0, 99.0, -1.0)]), bars)


def test_exit_timing_by_hand() -> None:
    open_ = [100, 100, 102, 104, 101, 99, 100, 100, 98, 97, 99, 100]
    bars = bars_from_close([*open_[1:], 100], open_=open_)
    trades = _trades([(1, 5, "long", 100.0, 99.0, -1.0), (6, 10, "short", 100.0, 99.0, 1.0)])
    got = exit_timing(trades, bars, fee_bps=0, slippage_bps=0).to_numpy()
    # long from 100, exit 99 (-1 %): closing at 102, 104, 101 beats it; at bar 4 the next open IS the exit
    # short from 100, exit 99 (+1 %): next opens 100, 98 (+2 %), 97 (+3 %), 99 (= the exit)
    np.testing.assert_array_equal(got, [np.nan, 1, 1, 1, 0, np.nan, 0, 1, 1, 0, np.nan, np.nan])
    only_long = exit_timing(trades, bars, "long", fee_bps=0, slippage_bps=0).to_numpy()
    assert np.isnan(only_long[6:]).all() and (only_long[1:5] == got[1:5]).all()
    # costs: with 10 bp fees the hypothetical exit pays them too; 101 vs an actual -1 % - fees still wins
    costly = exit_timing(trades, bars, fee_bps=10, slippage_bps=0).to_numpy()
    assert costly[3] == 1
    with pytest.raises(ValueError, match="strategy_side"):
        exit_timing(trades, bars, "up")
    with pytest.raises(ValueError, match="overlapping"):
        exit_timing(_trades([(1, 5, "long", 100.0, 99.0, -1.0), (3, 7, "long", 100.0, 99.0, -1.0)]), bars)


def test_trade_labels_from_a_real_backtest(btc_1m: pd.DataFrame) -> None:
    bars = resample_ohlcv(btc_1m, "5m").iloc[:3000]
    result = run_backtest(get_strategy("ema_crossover"), bars, inst_id="BTC-USDT", timeframe="5m")
    trades = result.trades
    assert len(trades) > 5
    ts = bars.index.to_numpy()
    outcome = trade_outcome(trades, bars)
    entry_pos = np.searchsorted(ts, trades["entry_ts"].to_numpy())
    np.testing.assert_array_equal(outcome.index.to_numpy(), ts[entry_pos - 1])
    np.testing.assert_array_equal(outcome["profitable"], (trades["pnl_pct"] > 0).astype(float))
    # exit timing with the backtest's own costs: at the bar before a signal exit both exits are one fill
    timing = exit_timing(trades, bars, fee_bps=result.costs.fee_bps, slippage_bps=result.costs.slippage_bps)
    inside = int((trades["exit_ts"] > trades["entry_ts"]).sum())
    assert np.isfinite(timing).sum() == int(
        (np.searchsorted(ts, trades["exit_ts"]) - entry_pos)[trades["exit_ts"] > trades["entry_ts"]].sum()
    )
    assert inside > 0
    signal_exits = trades[trades["exit_reason"] == "signal"]
    before_exit = np.searchsorted(ts, signal_exits["exit_ts"].to_numpy()) - 1
    assert (timing.to_numpy()[before_exit] == 0).all()
    # as LabelSpecs: values at the signal bars; refused on other bars
    spec = trade_label(trades, bars, "profitable")
    assert spec.task == "classification" and spec.horizon >= int(trades["hold_bars"].max())
    y = spec.func(bars)
    assert y.dropna().index.equals(outcome.index)
    assert exit_timing_label(trades, bars).func(bars).equals(timing)
    other = bars.copy()
    other[["open", "high", "low", "close"]] *= 1.01
    with pytest.raises(ValueError, match="other bars"):
        spec.func(other)
