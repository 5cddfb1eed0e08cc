"""Strategies that use the entry classifier: they say why they cannot run without it; with it, ``ml_gbt_5m``
enters exactly where the model is confident, an ML-filtered strategy keeps a subset of its base's entries,
both trade only on out-of-sample bars and pass the look-ahead audit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from blofin_stack.audit.lookahead import audit_strategy
from blofin_stack.backtest.engine import CostModel, run_backtest
from blofin_stack.features import compute_features
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.ml.serving import POSITION_MODELS, PositionModel, model_feature_specs, register_model_features
from blofin_stack.strategies import get_strategy
from blofin_stack.strategies.base import ParamValue, Strategy, frame_with_features, signal_frame
from blofin_stack.strategies.ema_crossover import EmaCrossover
from blofin_stack.strategies.ml_filter import ml_filtered
from helpers import toy_entry_model

LONG, SHORT = "ml:ml_entry_classifier:long", "ml:ml_entry_classifier:short"
INPUTS = ["rsi_14", "roc_10", "trade_side"]


@pytest.fixture(scope="module")
def bars(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m.iloc[: 12 * 1440], "5m")


@pytest.fixture
def with_model(bars: pd.DataFrame, isolated_plugins: None) -> int:
    """Registers a toy entry classifier fitted on the first half; returns where its predictions start."""
    half = len(bars) // 2
    start = int(bars.index[half])
    model = toy_entry_model(bars.iloc[:half], INPUTS)
    register_model_features(model_feature_specs("ml_entry_classifier", model, INPUTS, "5m", start))
    return start


def signals_of(name: str, bars: pd.DataFrame, **params: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    strategy = get_strategy(name)
    resolved = strategy.resolve_params(params)
    frame = frame_with_features(bars, compute_features(bars, strategy.features_for(resolved)))
    return frame, strategy.signals(frame, resolved)


@pytest.mark.parametrize("name", ["ml_gbt_5m", "ema_crossover_ml", "macd_crossover_mlexit"])
def test_without_a_model_they_say_why(name: str) -> None:
    reason = get_strategy(name).unavailable_reason()
    assert reason is not None and "ML cycle" in reason


def test_ml_gbt_5m_enters_where_the_model_is_confident(bars: pd.DataFrame, with_model: int) -> None:
    assert get_strategy("ml_gbt_5m").unavailable_reason() is None
    frame, signals = signals_of("ml_gbt_5m", bars, threshold=0.52)
    long_p, short_p = frame[LONG].to_numpy(), frame[SHORT].to_numpy()
    with np.errstate(invalid="ignore"):
        expected_long = (long_p >= 0.52) & (long_p > short_p)
        expected_short = (short_p >= 0.52) & (short_p > long_p)
    np.testing.assert_array_equal(signals["entry_long"].to_numpy(), expected_long)
    np.testing.assert_array_equal(signals["entry_short"].to_numpy(), expected_short)
    entries = signals["entry_long"] | signals["entry_short"]
    assert entries.sum() > 10 and not entries[bars.index < with_model].any()  # out of sample only
    result = run_backtest(
        get_strategy("ml_gbt_5m"), bars, inst_id="BTC-USDT", timeframe="5m", params={"threshold": 0.52}
    )
    assert len(result.trades) > 0 and (result.trades["entry_ts"] > with_model).all()
    finding = audit_strategy(bars, get_strategy("ml_gbt_5m"), {"threshold": 0.52}, n_cuts=15)
    assert finding.ok, finding.detail


def test_ml_filter_keeps_a_subset_of_the_base_entries(bars: pd.DataFrame, with_model: int) -> None:
    wrapped = ml_filtered(EmaCrossover)
    assert wrapped.name == "ema_crossover_ml" and wrapped.base_strategy == "ema_crossover"
    assert set(wrapped.params) == {*EmaCrossover.params, "ml_threshold"}
    frame, filtered = signals_of("ema_crossover_ml", bars, ml_threshold=0.5)
    _, plain = signals_of("ema_crossover", bars)
    for side, feature in (("long", LONG), ("short", SHORT)):
        with np.errstate(invalid="ignore"):
            confident = frame[feature].to_numpy() >= 0.5
        np.testing.assert_array_equal(filtered[f"entry_{side}"], plain[f"entry_{side}"].to_numpy() & confident)
        pd.testing.assert_series_equal(filtered[f"exit_{side}"], plain[f"exit_{side}"])
    kept = filtered[["entry_long", "entry_short"]].to_numpy().sum()
    assert 0 < kept < plain[["entry_long", "entry_short"]].to_numpy()[bars.index >= with_model].sum()
    assert audit_strategy(bars, get_strategy("ema_crossover_ml"), n_cuts=15).ok


# ------------------------------------------------------------------------------------------------ exit model
class HeldFor:
    """A stand-in exit model: "close" (probability 1) once the position has been held ``k`` bars; records
    every input row it is shown."""

    classes_ = np.array([0, 1])

    def __init__(self, k: int) -> None:
        self.k, self.seen = k, []

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self.seen.append(X.copy())
        close = (X[:, 1] >= self.k).astype(float)
        return np.column_stack([1 - close, close])


class Hand(Strategy):
    """Long on bars 2, 5 and 12, exit signal on bar 20; no stops."""

    name, description, timeframes = "hand", "hand-made signals", ("1m",)

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        n = len(features)
        return signal_frame(
            features.index,
            entry_long=np.isin(np.arange(n), [2, 5, 12]),
            exit_long=np.arange(n) == 20,
        )


def hand_bars(n: int = 30) -> pd.DataFrame:
    close = 100.0 + np.arange(n, dtype=float)
    return pd.DataFrame(
        {"open": close - 0.5, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0},
        index=pd.Index(np.arange(n, dtype="int64") * 60_000, name="ts"),
    )


@pytest.mark.parametrize(
    ("available_from_bar", "expected"),
    [
        # held 3 bars at the close of 5 -> out at 6; the entry signal at 5 is not taken (exit wins); 12 -> 13..16
        (0, [(3, 6), (13, 16)]),
        # the model sees nothing before bar 10: the first position is closed at the close of 10 (held 8 bars)
        (10, [(3, 11), (13, 16)]),
    ],
)
def test_exit_model_closes_each_position_where_it_says(
    monkeypatch: pytest.MonkeyPatch, available_from_bar: int, expected: list[tuple[int, int]]
) -> None:
    bars = hand_bars()
    stub = HeldFor(3)
    inputs = ("trade_side", "bars_held", "open_return")
    model = PositionModel("ml_exit_timing", stub, inputs, int(bars.index[available_from_bar]), "model_009")
    monkeypatch.setitem(POSITION_MODELS, "ml_exit_timing", model)
    wrapped = ml_filtered(Hand, entry_filter=False, exit_model=True)()
    assert wrapped.name == "hand_mlexit" and wrapped.unavailable_reason() is None
    plain = run_backtest(Hand(), bars, inst_id="X-USDT", timeframe="1m", features=bars)
    assert [
        (int(a), int(b))
        for a, b in zip(plain.trades["entry_ts"] // 60_000, plain.trades["exit_ts"] // 60_000, strict=True)
    ] == [(3, 21)]
    result = run_backtest(wrapped, bars, inst_id="X-USDT", timeframe="1m", features=bars)
    trades = result.trades
    assert [
        (int(a), int(b)) for a, b in zip(trades["entry_ts"] // 60_000, trades["exit_ts"] // 60_000, strict=True)
    ] == expected
    # the model was told the position as the kernel filled it: side, bars held, return on the slipped entry
    side, held, open_return = np.vstack(stub.seen)[0]
    entry_price = bars["open"].iloc[3] * (1 + CostModel().slippage)
    assert side == 1.0 and held == 1 + max(0, available_from_bar - 3)  # first bar the model may see
    assert open_return == pytest.approx(bars["close"].iloc[3 + int(held) - 1] / entry_price - 1)
    assert trades["entry_price"].iloc[0] == pytest.approx(entry_price)


def test_exit_model_decides_at_the_last_closed_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Live, the newest closed bar is where the exit is decided: its signal must not wait for a later bar
    (the look-ahead audit found this: the exit at the last bar was missing when the data ended there)."""
    bars = hand_bars()
    model = PositionModel("ml_exit_timing", HeldFor(3), ("trade_side", "bars_held", "open_return"), 0)
    monkeypatch.setitem(POSITION_MODELS, "ml_exit_timing", model)
    wrapped = ml_filtered(Hand, entry_filter=False, exit_model=True)()
    full = wrapped.generate_signals(bars, wrapped.resolve_params())
    for last in range(4, 12):  # the data ends at bar ``last``: the first position is held from bar 3
        cut = wrapped.generate_signals(bars.iloc[: last + 1], wrapped.resolve_params())
        assert cut["exit_long"].to_numpy().tolist() == full["exit_long"].iloc[: last + 1].to_numpy().tolist()
    assert full["exit_long"].iloc[5]


def test_exit_model_wrapper_on_real_data(bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = ["rsi_14", "trade_side", "bars_held", "open_return"]
    x = compute_features(bars, ["rsi_14"]).to_numpy()[:, 0]
    ok = np.isfinite(x)
    rng = np.random.default_rng(7)
    X = np.column_stack(
        [x[ok], rng.choice([-1.0, 1.0], ok.sum()), rng.integers(1, 60, ok.sum()), rng.normal(0, 0.01, ok.sum())]
    )
    y = (X[:, 2] > 24).astype(int)  # "close" after two hours held: a rule the model can learn
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    start = int(bars.index[len(bars) // 2])
    monkeypatch.setitem(
        POSITION_MODELS, "ml_exit_timing", PositionModel("ml_exit_timing", estimator, tuple(inputs), start)
    )
    wrapped = get_strategy("macd_crossover_mlexit")
    assert "rsi_14" in wrapped.features_for(wrapped.resolve_params())
    plain = run_backtest(get_strategy("macd_crossover"), bars, inst_id="BTC-USDT", timeframe="5m")
    result = run_backtest(wrapped, bars, inst_id="BTC-USDT", timeframe="5m")
    before = plain.trades[plain.trades["exit_ts"] < start]
    pd.testing.assert_frame_equal(result.trades.iloc[: len(before)], before)  # identical before the model may act
    later = result.trades.iloc[len(before) :]
    held = (later["exit_ts"] - later["entry_ts"]) // 300_000
    assert len(later) and held.max() <= 26 and "signal" in set(later["exit_reason"])
    assert audit_strategy(bars, wrapped, n_cuts=15).ok
