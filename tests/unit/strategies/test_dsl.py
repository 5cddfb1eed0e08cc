"""The strategy DSL: validation with field paths, exact round trips, evaluation, and one engine for all."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from blofin_stack.audit.lookahead import audit_strategy
from blofin_stack.backtest.engine import CostModel, run_backtest
from blofin_stack.features import compute_features
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.strategies import Param, ParamError, get_strategy
from blofin_stack.strategies.base import frame_with_features
from blofin_stack.strategies.dsl import (
    DslError,
    DslStrategy,
    StrategySpec,
    dump_strategy_spec,
    load_strategy_spec,
    load_strategy_text,
    strategy_from_file,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "docs" / "examples" / "rsi_dip_buyer.yaml"
NO_COSTS = CostModel(fee_bps=0.0, slippage_bps=0.0)
MINUTE = 60_000

UP = {"cross": "above", "left": "sma_10", "right": "sma_30"}
DOWN = {"cross": "below", "left": "sma_10", "right": "sma_30"}
SMA_CROSS = {
    "name": "sma_cross_dsl",
    "description": "sma_cross written as data",
    "timeframes": ["5m", "1H"],
    "direction": "both",
    "entry_long": UP,
    "exit_short": UP,
    "entry_short": DOWN,
    "exit_long": DOWN,
}

BASE = {
    "name": "rsi_dip_buyer",
    "description": "Buy RSI dips in an uptrend",
    "timeframes": ["5m"],
    "direction": "long",
    "params": {"rsi_low": {"default": 30, "low": 10, "high": 45, "step": 1}},
    "entry_long": {
        "all": [
            {"left": "rsi_14", "op": "<", "right": "$rsi_low"},
            {"left": "close", "op": ">", "right": "1H:ema_50"},
        ]
    },
    "exit_long": {"cross": "above", "left": "rsi_14", "right": 55},
    "stop_loss": {"atr": 2.0},
    "take_profit": {"atr": 3.0},
    "max_hold_bars": 48,
}

COMPLEX = {
    "name": "kitchen_sink_2",
    "description": 'Every form once: ünïcödé, "quotes", a: colon, #hash, 1e5',
    "timeframes": ["1m", "5m"],
    "direction": "both",
    "params": {
        "rsi_low": {"default": 30, "low": 10, "high": 45, "step": 1, "description": "dip level"},
        "ratio": {"default": 1.5, "low": 1e-05, "high": 10.0},
        "stop": {"default": 0.8, "low": 0.1, "high": 5.0, "step": 0.1},
        "hold": {"default": 30, "low": 1, "high": 500},
    },
    "entry_long": {
        "all": [
            {
                "any": [
                    {"left": "rsi_14", "op": "<=", "right": "$rsi_low"},
                    {"cross": "above", "left": 50, "right": "rsi_7"},
                ]
            },
            {"not": {"left": "volume_ratio", "op": "<", "right": "$ratio"}},
            {"left": "close", "op": ">", "right": {"feature": "close", "shift": 3}},
            {"left": "close", "op": "!=", "right": {"feature": "1H:ema_50", "shift": 0}},
        ]
    },
    "exit_long": {"cross": "below", "left": "close", "right": "ema_21"},
    "entry_short": {"left": "rsi_14", "op": ">=", "right": 70.5},
    "exit_short": {"left": "rsi_14", "op": "==", "right": 0},
    "stop_loss": {"pct": "$stop"},
    "take_profit": {"pct": 2.25},
    "max_hold_bars": "$hold",
}

MINIMAL = {
    "name": "tiny",
    "timeframes": ["60m"],
    "direction": "short",
    "entry_short": {"left": "rsi_14", "op": ">", "right": 80},
    "max_hold_bars": 5,
}


def spec_of(data: dict[str, Any]) -> StrategySpec:
    return StrategySpec.model_validate(copy.deepcopy(data))


def problems(data: dict[str, Any] | str, fmt: str = "yaml", source: str = "spec.yaml") -> DslError:
    text = data if isinstance(data, str) else json.dumps(data) if fmt == "json" else yaml.safe_dump(data)
    with pytest.raises(DslError) as info:
        load_strategy_text(text, fmt, source)
    return info.value


def with_(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.fixture(scope="module")
def bars_5m(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m, "5m")


def flat_bars(n: int, price: float = 100.0, spread: float = 0.5) -> pd.DataFrame:
    """``n`` quiet 1m bars around ``price`` (high/low +-``spread``), open times from 0."""
    close = np.full(n, price)
    return pd.DataFrame(
        {"open": close, "high": close + spread, "low": close - spread, "close": close, "volume": np.full(n, 10.0)},
        index=pd.Index(np.arange(n, dtype="int64") * MINUTE, name="ts"),
    )


def frame(**columns: Any) -> pd.DataFrame:
    """A features frame with the given columns (OHLCV filled with 1.0 where not given)."""
    n = len(next(iter(columns.values())))
    data = {c: np.ones(n) for c in ("open", "high", "low", "close", "volume")}
    data.update({k: np.asarray(v, dtype="float64") for k, v in columns.items()})
    return pd.DataFrame(data, index=pd.Index(np.arange(n, dtype="int64") * MINUTE, name="ts"))


def signals_of(spec: dict[str, Any], features: pd.DataFrame, **params: Any) -> pd.DataFrame:
    strategy = DslStrategy.from_spec(spec_of(spec))
    return strategy.signals(features, strategy.resolve_params(params))


def one_condition(condition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "probe",
        "timeframes": ["1m"],
        "direction": "long",
        "entry_long": condition,
        "max_hold_bars": 1,
        **extra,
    }


# --- equivalence with a Python strategy -----------------------------------------------------------------------------


def test_sma_cross_as_data_is_identical_to_the_python_strategy(bars_5m: pd.DataFrame) -> None:
    dsl = DslStrategy.from_spec(spec_of(SMA_CROSS))
    python = get_strategy("sma_cross")
    assert dsl.features_for(dsl.resolve_params()) == python.features_for(python.resolve_params())

    features = compute_features(bars_5m, ["sma_10", "sma_30"])
    frame_ = frame_with_features(bars_5m, features)
    pd.testing.assert_frame_equal(dsl.signals(frame_, {}), python.signals(frame_, python.resolve_params()))

    ours = run_backtest(dsl, bars_5m, inst_id="BTC-USDT", timeframe="5m")
    theirs = run_backtest(python, bars_5m, inst_id="BTC-USDT", timeframe="5m")
    assert len(theirs.trades) > 100
    pd.testing.assert_frame_equal(ours.trades, theirs.trades)
    assert ours.metrics == theirs.metrics
    np.testing.assert_array_equal(ours.equity.to_numpy(), theirs.equity.to_numpy())


# --- the strategy built from a spec ---------------------------------------------------------------------------------


def test_from_spec_sets_the_strategy_attributes() -> None:
    spec = spec_of(BASE)
    strategy = DslStrategy.from_spec(spec)
    assert isinstance(strategy, DslStrategy)
    assert strategy.spec is spec
    assert strategy.name == "rsi_dip_buyer"
    assert strategy.description == "Buy RSI dips in an uptrend"
    assert strategy.timeframes == ("5m",)
    assert strategy.params == {"rsi_low": Param(30, 10, 45, 1, "")}
    assert strategy.params["rsi_low"].kind is int
    assert strategy.required_features == ("rsi_14", "close", "1H:ema_50", "atr_pct_14")
    assert strategy.max_hold_bars == 48
    cls = DslStrategy.class_from_spec(spec)
    assert cls().name == "rsi_dip_buyer" and cls.spec is spec  # catalogs instantiate classes without arguments
    with pytest.raises(TypeError, match="from_spec"):
        DslStrategy()


def test_pct_stops_use_the_scalar_risk_settings() -> None:
    strategy = DslStrategy.from_spec(spec_of(COMPLEX))
    assert "atr_pct_14" not in strategy.required_features
    rules = strategy.risk(strategy.resolve_params())
    assert (rules.stop_loss_pct, rules.take_profit_pct, rules.max_hold_bars) == (0.8, 2.25, 30)
    rules = strategy.risk(strategy.resolve_params({"stop": 1.2, "hold": "7"}))
    assert (rules.stop_loss_pct, rules.max_hold_bars) == (1.2, 7)


def test_a_dsl_strategy_pickles_through_its_spec() -> None:
    strategy = DslStrategy.from_spec(spec_of(BASE))
    again = pickle.loads(pickle.dumps(strategy))
    assert again.spec == strategy.spec and again.name == strategy.name


# --- evaluation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("<", [True, False, False, False]),
        ("<=", [True, True, False, False]),
        (">", [False, False, True, False]),
        (">=", [False, True, True, False]),
        ("==", [False, True, False, False]),
        ("!=", [True, False, True, False]),  # NaN compares false, even for "!="
    ],
)
def test_comparisons_and_nan(op: str, expected: list[bool]) -> None:
    features = frame(rsi_14=[10, 30, 50, np.nan])
    out = signals_of(one_condition({"left": "rsi_14", "op": op, "right": 30}), features)
    assert out["entry_long"].tolist() == expected
    mirrored = signals_of(one_condition({"left": 30, "op": op, "right": "rsi_14"}), features)
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    assert (
        mirrored["entry_long"].tolist()
        == signals_of(one_condition({"left": "rsi_14", "op": flip, "right": 30}), features)["entry_long"].tolist()
    )


def test_all_any_not_combine_vectorised() -> None:
    features = frame(rsi_14=[10, 10, 50, 50], volume_ratio=[1, 3, 1, 3])
    low, loud = {"left": "rsi_14", "op": "<", "right": 30}, {"left": "volume_ratio", "op": ">", "right": 2}
    assert signals_of(one_condition({"all": [low, loud]}), features)["entry_long"].tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert signals_of(one_condition({"any": [low, loud]}), features)["entry_long"].tolist() == [True, True, False, True]
    assert signals_of(one_condition({"not": low}), features)["entry_long"].tolist() == [False, False, True, True]
    nested = {"all": [{"not": {"any": [low, loud]}}, {"left": "rsi_14", "op": ">", "right": 0}]}
    assert signals_of(one_condition(nested), features)["entry_long"].tolist() == [False, False, True, False]


def test_crossings_against_features_numbers_and_params() -> None:
    features = frame(rsi_14=[40, 60, 50, 40, 60], rsi_7=[50, 50, 50, 50, 50])
    above = signals_of(one_condition({"cross": "above", "left": "rsi_14", "right": 55}), features)
    assert above["entry_long"].tolist() == [False, True, False, False, True]
    below = one_condition({"cross": "below", "left": "rsi_14", "right": "rsi_7"})
    assert signals_of(below, features)["entry_long"].tolist() == [False] * 5  # 60 -> 50 -> 40 only touches: strict
    through = frame(rsi_14=[40, 60, 45, 40, 60], rsi_7=[50, 50, 50, 50, 50])
    assert signals_of(below, through)["entry_long"].tolist() == [False, False, True, False, False]
    constant_left = signals_of(one_condition({"cross": "above", "left": 55, "right": "rsi_14"}), features)
    assert constant_left["entry_long"].tolist() == [False, False, True, False, False]  # rsi falls through 55
    with_param = one_condition(
        {"cross": "above", "left": "rsi_14", "right": "$level"},
        params={"level": {"default": 55, "low": 0, "high": 100}},
    )
    assert signals_of(with_param, features)["entry_long"].tolist() == [False, True, False, False, True]
    assert signals_of(with_param, features, level=45)["entry_long"].tolist() == [False, True, False, False, True]
    assert signals_of(with_param, features, level=65)["entry_long"].tolist() == [False] * 5


def test_shift_reads_the_value_k_bars_ago() -> None:
    close = [1.0, 2.0, 3.0, 2.5, 4.0, 1.0]
    features = frame(close=close)
    rising = one_condition({"left": "close", "op": ">", "right": {"feature": "close", "shift": 2}})
    expected = (pd.Series(close) > pd.Series(close).shift(2)).tolist()
    assert signals_of(rising, features)["entry_long"].tolist() == expected == [False, False, True, True, True, False]
    same = one_condition({"left": "close", "op": "==", "right": {"feature": "close", "shift": 0}})
    assert signals_of(same, features)["entry_long"].all()


def test_params_and_their_overrides() -> None:
    features = frame(rsi_14=[20, 28, 33, 40])
    spec = one_condition(
        {"left": "rsi_14", "op": "<", "right": "$rsi_low"}, params={"rsi_low": {"default": 30, "low": 10, "high": 45}}
    )
    assert signals_of(spec, features)["entry_long"].tolist() == [True, True, False, False]
    assert signals_of(spec, features, rsi_low=35)["entry_long"].tolist() == [True, True, True, False]
    assert signals_of(spec, features, rsi_low="25")["entry_long"].tolist() == [True, False, False, False]
    strategy = DslStrategy.from_spec(spec_of(spec))
    with pytest.raises(ParamError, match="above its maximum"):
        strategy.resolve_params({"rsi_low": 50})
    with pytest.raises(ParamError, match="no parameter 'nope'"):
        strategy.resolve_params({"nope": 1})


def test_direction_short_and_both_fill_the_right_columns() -> None:
    features = frame(rsi_14=[10, 90])
    short = signals_of(MINIMAL, features)
    assert short["entry_short"].tolist() == [False, True] and not short["entry_long"].any()
    both = signals_of(COMPLEX, compute_features(flat_bars(200), spec_of(COMPLEX).feature_names()))
    assert list(both.columns[:4]) == ["entry_long", "exit_long", "entry_short", "exit_short"]


# --- exits in backtests (hand-built bars where the exit is certain) ------------------------------------------------

ENTER_AT_60 = {"left": "close", "op": ">", "right": 100.8}


def spike_bars() -> pd.DataFrame:
    """Quiet bars at 100 (true range 1: ATR(14) = 1 % of price), a close at 101 on bar 60 (the entry
    signal), then bar 62 swings from 90 to 112: any stop or target within 10 % is touched."""
    bars = flat_bars(100)
    bars.loc[60 * MINUTE, ["open", "high", "low", "close"]] = [100.0, 101.2, 99.9, 101.0]
    bars.loc[61 * MINUTE, ["open", "high", "low", "close"]] = [101.0, 101.2, 100.8, 101.0]
    bars.loc[62 * MINUTE, ["open", "high", "low", "close"]] = [101.0, 112.0, 90.0, 100.0]
    return bars


def run_spike(**exits: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = one_condition(ENTER_AT_60, **exits)
    spec.pop("max_hold_bars")
    strategy = DslStrategy.from_spec(spec_of({**spec, **exits}))
    bars = spike_bars()
    result = run_backtest(strategy, bars, inst_id="TEST", timeframe="1m", costs=NO_COSTS)
    features = compute_features(bars, strategy.required_features)
    return result.trades, features


def test_atr_stop_takes_effect() -> None:
    trades, features = run_spike(stop_loss={"atr": 2.0})
    atr_pct = features["atr_pct_14"].iloc[60]
    assert 0.9 < atr_pct < 1.3
    first = trades.iloc[0]
    assert (first["side"], first["exit_reason"], first["entry_ts"], first["exit_ts"]) == (
        "long",
        "stop_loss",
        61 * MINUTE,
        62 * MINUTE,
    )
    assert first["exit_price"] == pytest.approx(101.0 * (1 - 2.0 * atr_pct / 100))


def test_atr_target_and_param_multiple_take_effect() -> None:
    exits = {
        "params": {"take": {"default": 3.0, "low": 0.5, "high": 8.0}},
        "take_profit": {"atr": "$take"},
        "stop_loss": {"pct": 20.0},
    }
    spec = one_condition(ENTER_AT_60, **exits)
    spec.pop("max_hold_bars")
    strategy = DslStrategy.from_spec(spec_of(spec))
    bars = spike_bars()
    atr_pct = compute_features(bars, ["atr_pct_14"])["atr_pct_14"].iloc[60]
    for take in (3.0, 5.0):
        trades = run_backtest(
            strategy, bars, inst_id="TEST", timeframe="1m", costs=NO_COSTS, params={"take": take}
        ).trades
        assert trades["exit_reason"].iloc[0] == "take_profit"
        assert trades["exit_price"].iloc[0] == pytest.approx(101.0 * (1 + take * atr_pct / 100))


@pytest.mark.parametrize(
    ("exits", "reason", "factor"),
    [
        ({"stop_loss": {"pct": 1.5}}, "stop_loss", 1 - 0.015),
        ({"take_profit": {"pct": 3.0}}, "take_profit", 1 + 0.03),
        ({"stop_loss": {"pct": 1.5}, "take_profit": {"atr": 3.0}}, "stop_loss", 1 - 0.015),  # both touched: stop first
    ],
)
def test_pct_stops_take_effect(exits: dict[str, Any], reason: str, factor: float) -> None:
    trades, _ = run_spike(**exits)
    first = trades.iloc[0]
    assert (first["exit_reason"], first["exit_ts"]) == (reason, 62 * MINUTE)
    assert first["exit_price"] == pytest.approx(101.0 * factor)


def test_max_hold_bars_takes_effect() -> None:
    strategy = DslStrategy.from_spec(spec_of(one_condition(ENTER_AT_60, max_hold_bars=2)))
    bars = flat_bars(100)
    bars.loc[60 * MINUTE, "close"] = 101.0
    trades = run_backtest(strategy, bars, inst_id="TEST", timeframe="1m", costs=NO_COSTS).trades
    assert trades["exit_reason"].tolist() == ["max_hold"]
    assert (trades["entry_ts"].iloc[0], trades["exit_ts"].iloc[0], trades["hold_bars"].iloc[0]) == (
        61 * MINUTE,
        63 * MINUTE,
        2,
    )


def test_short_side_with_pct_stop() -> None:
    spec = {
        "name": "short_probe",
        "timeframes": ["1m"],
        "direction": "short",
        "entry_short": {"left": "close", "op": ">", "right": 100.8},
        "stop_loss": {"pct": 2.0},
    }
    trades = run_backtest(
        DslStrategy.from_spec(spec_of(spec)), spike_bars(), inst_id="TEST", timeframe="1m", costs=NO_COSTS
    ).trades
    first = trades.iloc[0]
    assert (first["side"], first["exit_reason"]) == ("short", "stop_loss")
    assert first["exit_price"] == pytest.approx(101.0 * 1.02)


# --- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        (
            with_(
                entry_long={
                    "all": [{"left": "rsi_14", "op": "<", "right": 30}, {"left": "close", "op": ">", "right": "ema_5O"}]
                }
            ),
            "entry_long.all[1].right",
            "unknown feature 'ema_5O'; did you mean ema_50",
        ),
        (
            with_(exit_long={"cross": "above", "left": "rsi_14", "right": "$rsi_hi"}),
            "exit_long.right",
            "unknown parameter '$rsi_hi'",
        ),
        (
            with_(exit_long={"left": "rsi_14", "op": ">", "right": "$rsi_lo"}),
            "exit_long.right",
            "did you mean $rsi_low?",
        ),
        (with_(params={"rsi_low": {"default": 50, "low": 10, "high": 45}}), "params.rsi_low", "default 50 is outside"),
        (with_(params={"rsi_low": {"default": 5, "low": 10}}), "params.rsi_low", "default 5 is outside"),
        (
            with_(params={"rsi_low": {"default": 30, "low": 40, "high": 20}}),
            "params.rsi_low",
            "low 40 is above high 20",
        ),
        (with_(params={"rsi_low": {"default": 30, "step": 0.5}}), "params.rsi_low", "whole-number step"),
        (with_(params={"rsi_low": {"default": 30, "hihg": 45}}), "params.rsi_low.hihg", "did you mean high?"),
        (with_(params={"rsi_low": {"default": True}}), "params.rsi_low.default", "must be a number"),
        (with_(params={"RsiLow": {"default": 30}}), "params.RsiLow", "snake_case"),
        (with_(params={"max_hold_bars": {"default": 30}}), "params.max_hold_bars", "reserved"),
        (with_(direction="both"), "entry_short", "required when direction is both"),
        (
            with_(exit_short={"left": "rsi_14", "op": ">", "right": 70}),
            "exit_short",
            "not allowed when direction is long",
        ),
        (with_(direction="short"), "entry_long", "not allowed when direction is short"),
        (with_(direction="sideways"), "direction", "'long', 'short' or 'both'"),
        (with_(entry_long=None), "entry_long", "required when direction is long"),
        (with_(exit_long=None, stop_loss=None, take_profit=None, max_hold_bars=None), "exit_long", "needs a way out"),
        (with_(stop_loss={"atr": 2.0, "pct": 1.0}), "stop_loss", "exactly one of pct"),
        (with_(stop_loss={}), "stop_loss", "exactly one of pct"),
        (with_(stop_loss={"pct": 0}), "stop_loss.pct", "must be > 0"),
        (with_(take_profit={"atr": -1.0}), "take_profit.atr", "must be > 0"),
        (with_(take_profit={"atr": "three"}), "take_profit.atr", "parameter reference"),
        (
            with_(take_profit={"atr": "$rsi_low"}, params={"rsi_low": {"default": 3}}),
            "take_profit.atr",
            "needs low > 0",
        ),
        (with_(take_profit={"atrr": 3.0}), "take_profit.atrr", "did you mean atr?"),
        (with_(max_hold_bars=0), "max_hold_bars", "must be >= 1"),
        (with_(max_hold_bars=2.5), "max_hold_bars", "whole number of bars"),
        (with_(timeframes=["7m"]), "timeframes[0]", "unknown timeframe '7m'"),
        (with_(timeframes=[]), "timeframes", "at least one timeframe"),
        (with_(timeframes="5m"), "timeframes", "must be a list"),
        (with_(timeframes=["5m", "5m"]), "timeframes", "5m listed more than once"),
        (
            with_(
                timeframes=["5m", "1H"],
                exit_long={"cross": "above", "left": {"feature": "15m:rsi_14", "shift": 1}, "right": 55},
            ),
            "exit_long.left.feature",
            "'15m:rsi_14' is computed on 15m bars, which cannot be built from the strategy's 1H bars",
        ),
        (with_(max_hold_bars="$rsi_low", params={"rsi_low": {"default": 30.0, "low": 1}}), "max_hold_bars", "integer"),
        (with_(params=[1]), "params", "must be a mapping"),
        (with_(timeframes=["4H"]), "entry_long.all[1].right", "computed on 1H bars"),
        (with_(name="RSI dip"), "name", "snake_case"),
        (with_(name="ab"), "name", "3..64"),
        (with_(name=None), "name", "required field missing"),
        (with_(stop_los={"atr": 2.0}), "stop_los", "did you mean stop_loss?"),
        (with_(exit_long={"left": "rsi_14", "opp": ">", "right": 55}), "exit_long.opp", "did you mean op?"),
        (with_(exit_long={"left": "rsi_14", "op": "=>", "right": 55}), "exit_long.op", "not '=>'"),
        (with_(exit_long={"left": 30, "op": ">", "right": "$rsi_low"}), "exit_long", "two constants"),
        (with_(exit_long={"cross": "over", "left": "rsi_14", "right": 55}), "exit_long.cross", "'above' or 'below'"),
        (with_(exit_long={"all": []}), "exit_long.all", "at least one condition"),
        (with_(exit_long={"any": [{"left": "rsi_14"}]}), "exit_long.any[0].op", "required field missing"),
        (with_(exit_long={"rsi_14": 55}), "exit_long", "a condition is"),
        (with_(exit_long={"left": "rsi_14", "op": ">", "right": True}), "exit_long.right", "must be a number"),
        (with_(exit_long={"left": "rsi_14", "op": ">", "right": [1]}), "exit_long.right", "must be a feature name"),
        (
            with_(exit_long={"left": {"feature": "rsi_14", "shift": -1}, "op": ">", "right": 55}),
            "exit_long.left.shift",
            "in the future (look-ahead)",
        ),
        (
            with_(exit_long={"left": {"feature": "rsi_14", "shift": 1.5}, "op": ">", "right": 55}),
            "exit_long.left.shift",
            "whole number",
        ),
        (
            with_(exit_long={"left": {"feature": "$rsi_low", "shift": 1}, "op": ">", "right": 55}),
            "exit_long.left.feature",
            "feature name is required",
        ),
        (with_(exit_long={"left": {"feature": "rsi_14"}, "op": ">", "right": 55}), "exit_long.left.shift", "required"),
    ],
)
def test_each_problem_names_its_field(data: dict[str, Any], path: str, fragment: str) -> None:
    error = problems(data)
    lines = [line for line in str(error).splitlines() if line.startswith(f"spec.yaml: {path}: ")]
    assert lines, str(error)
    assert any(fragment in line for line in lines), str(error)
    assert path in [p for p, _ in error.problems]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = with_(
        name="Bad Name",
        direction="both",
        params={"rsi_low": {"default": 99, "low": 10, "high": 45}},
        exit_long={"left": {"feature": "rsi_14", "shift": -2}, "op": ">", "right": "$nope"},
        stop_loss={"pct": -1},
        max_hold_bars=0,
        typo=1,
    )
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(DslError) as info:
        load_strategy_spec(path)
    error = info.value
    assert isinstance(error, ValueError)
    assert [p for p, _ in error.problems] == [
        "typo",
        "name",
        "params.rsi_low",
        "exit_long.left.shift",
        "exit_long.right",
        "entry_short",
        "stop_loss.pct",
        "max_hold_bars",
    ]
    text = str(error).splitlines()
    assert text[0] == f"{path}: invalid strategy spec (8 problems)"
    assert all(line.startswith(f"{path}: ") for line in text)
    assert f"{path}: exit_long.right: unknown parameter '$nope'" in str(error)


def test_yaml_and_json_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: abc\ntimeframes: [5m]\ndirection: long\nentry_long: {left: rsi_14, op: '<' right: 30}\n")
    with pytest.raises(DslError, match=rf"^{broken}: line 4: invalid YAML") as info:
        load_strategy_spec(broken)
    assert info.value.line == 4

    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("name: abc\ntimeframes:\n\t- 5m\n")
    with pytest.raises(DslError, match="line 3: invalid YAML") as info:
        load_strategy_spec(tabs)

    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("name: abc\ndirection: long\nname: abd\n")
    with pytest.raises(DslError, match=r"line 3: invalid YAML.*duplicate key 'name'"):
        load_strategy_spec(duplicate)

    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{\n  "name": "abc",\n  "timeframes": ["5m"],,\n}\n')
    with pytest.raises(DslError, match=rf"^{bad_json}: line 3: invalid JSON") as info:
        load_strategy_spec(bad_json)
    assert info.value.line == 3

    with pytest.raises(DslError, match="duplicate key 'name'"):
        load_strategy_text('{"name": "abc", "name": "abd"}', "json")
    with pytest.raises(DslError, match="a mapping of fields, not list"):
        load_strategy_text("- 1\n- 2\n")
    with pytest.raises(DslError, match=r"unknown spec extension '\.txt'"):
        load_strategy_spec(tmp_path / "spec.txt")
    with pytest.raises(DslError, match="cannot read the file"):
        load_strategy_spec(tmp_path / "missing.yaml")


def test_feature_names_are_stored_canonically() -> None:
    spec = spec_of(with_(exit_long={"cross": "above", "left": "rsi_14", "right": "60m:ema_50"}))
    assert spec.exit_long.right == "1H:ema_50"  # type: ignore[union-attr]
    assert spec_of(with_(timeframes=["5m", "60m"])).timeframes == ("5m", "1H")


# --- round trips ----------------------------------------------------------------------------------------------------

SPECS: dict[str, dict[str, Any]] = {"base": BASE, "sma_cross": SMA_CROSS, "complex": COMPLEX, "minimal": MINIMAL}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("which", sorted(SPECS))
def test_round_trip_is_exact(which: str, fmt: str, tmp_path: Path) -> None:
    spec = spec_of(SPECS[which])
    text = dump_strategy_spec(spec, fmt)
    again = load_strategy_text(text, fmt)
    assert again == spec  # load(dump(load(x))) == load(x)
    assert dump_strategy_spec(again, fmt) == text  # dump(load(dump(spec))) == dump(spec)
    other = "yaml" if fmt == "json" else "json"
    assert load_strategy_text(dump_strategy_spec(again, other), other) == spec
    path = tmp_path / f"{which}.{'yml' if fmt == 'yaml' else fmt}"
    path.write_text(text)
    assert load_strategy_spec(path) == spec
    for name, param in spec.params.items():  # 30 stays an int, 1.5 a float
        assert type(again.params[name].default) is type(param.default)


def test_dump_invents_no_defaults_and_keeps_field_order() -> None:
    data = json.loads(dump_strategy_spec(spec_of(MINIMAL)))
    assert list(data) == ["name", "timeframes", "direction", "entry_short", "max_hold_bars"]
    assert data["timeframes"] == ["1H"]
    full = json.loads(dump_strategy_spec(spec_of(COMPLEX)))
    assert list(full) == [
        "name",
        "description",
        "timeframes",
        "direction",
        "params",
        "entry_long",
        "exit_long",
        "entry_short",
        "exit_short",
        "stop_loss",
        "take_profit",
        "max_hold_bars",
    ]
    assert full["params"]["ratio"] == {"default": 1.5, "low": 1e-05, "high": 10.0}
    assert full["entry_long"]["all"][2]["right"] == {"feature": "close", "shift": 3}


def test_yaml_reads_exponent_numbers_and_quotes_look_alike_text() -> None:
    text = dump_strategy_spec(spec_of(COMPLEX), "yaml")
    assert "low: 1.0e-05" in text
    spec = load_strategy_text(dump_strategy_spec(spec_of(with_(description="1e5")), "yaml"))
    assert spec.description == "1e5"
    hand_written = yaml.safe_dump(with_(stop_loss={"pct": 1.0}), sort_keys=False).replace("pct: 1.0", "pct: 1e-1")
    assert load_strategy_text(hand_written).stop_loss.pct == 0.1  # type: ignore[union-attr]


def test_the_example_file_round_trips() -> None:
    spec = load_strategy_spec(EXAMPLE)
    for fmt in ("json", "yaml"):
        text = dump_strategy_spec(spec, fmt)
        assert load_strategy_text(text, fmt) == spec
        assert dump_strategy_spec(load_strategy_text(text, fmt), fmt) == text


# --- real data: the example fires, the audit passes ----------------------------------------------------------------


def test_the_example_spec_fires_on_real_5m_data(bars_5m: pd.DataFrame) -> None:
    strategy = strategy_from_file(EXAMPLE)
    assert strategy.name == "rsi_dip_buyer"
    result = run_backtest(strategy, bars_5m, inst_id="BTC-USDT", timeframe="5m")
    assert result.metrics["trades"] >= 20
    assert {"signal", "stop_loss"} <= set(result.trades["exit_reason"])


def test_the_example_passes_the_lookahead_audit(bars_5m: pd.DataFrame) -> None:
    finding = audit_strategy(bars_5m, strategy_from_file(EXAMPLE))
    assert finding.ok, finding.detail


def test_a_spec_with_shift_stays_causal(bars_5m: pd.DataFrame) -> None:
    spec = {
        "name": "shifted_momentum",
        "timeframes": ["5m"],
        "direction": "both",
        "entry_long": {
            "all": [
                {"left": "close", "op": ">", "right": {"feature": "close", "shift": 12}},
                {"cross": "above", "left": "rsi_14", "right": {"feature": "rsi_14", "shift": 3}},
            ]
        },
        "entry_short": {
            "cross": "below",
            "left": {"feature": "ema_9", "shift": 1},
            "right": {"feature": "1H:ema_21", "shift": 2},
        },
        "stop_loss": {"atr": 1.5},
        "max_hold_bars": 24,
    }
    strategy = DslStrategy.from_spec(spec_of(spec))
    signals = strategy.signals(
        frame_with_features(bars_5m, compute_features(bars_5m, strategy.required_features)), strategy.resolve_params()
    )
    assert signals["entry_long"].sum() > 20 and signals["entry_short"].sum() > 20
    finding = audit_strategy(bars_5m, strategy)
    assert finding.ok, finding.detail
