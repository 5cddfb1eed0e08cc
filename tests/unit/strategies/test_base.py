"""The Strategy interface: parameters, feature names, risk settings, the signal contract, crossings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from blofin_stack.strategies import (
    Param,
    ParamError,
    SignalError,
    Strategy,
    crossed_above,
    crossed_below,
    get_strategy,
    signal_frame,
)
from blofin_stack.strategies.catalog import UnknownStrategyError


class Demo(Strategy):
    name = "demo"
    description = "demo"
    timeframes = ("5m",)
    params = {
        "period": Param(14, 2, 50),
        "level": Param(30.0, 0, 100),
        "short": Param(True),
        "stop_loss_pct": Param(1.5, 0, 10),
    }
    required_features = ("rsi_{period}", "close", "rsi_{period}")
    take_profit_pct = 3.0
    max_hold_bars = 10

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, object]) -> pd.DataFrame:
        return signal_frame(features.index)


def test_param_casting_and_ranges() -> None:
    demo = Demo()
    params = demo.resolve_params({"period": "21", "level": "12.5", "short": "false"})
    assert params == {"period": 21, "level": 12.5, "short": False, "stop_loss_pct": 1.5}
    assert isinstance(params["period"], int)
    with pytest.raises(ParamError, match=r"'period': 2\.5 is not a valid int"):
        demo.resolve_params({"period": 2.5})
    with pytest.raises(ParamError, match="'period': 99 is above its maximum 50"):
        demo.resolve_params({"period": 99})
    with pytest.raises(ParamError, match="'level': 'abc' is not a valid float"):
        demo.resolve_params({"level": "abc"})
    with pytest.raises(ParamError, match="'short': 'maybe' is not a valid bool"):
        demo.resolve_params({"short": "maybe"})
    with pytest.raises(ParamError, match=r"no parameter 'perod' \(parameters: period, level, short, stop_loss_pct\)"):
        demo.resolve_params({"perod": 3})


def test_features_for_fills_placeholders_once() -> None:
    demo = Demo()
    assert demo.features_for(demo.resolve_params({"period": 7})) == ["rsi_7", "close"]


def test_risk_params_override_class_settings() -> None:
    demo = Demo()
    rules = demo.risk(demo.resolve_params({"stop_loss_pct": 2}))
    assert (rules.stop_loss_pct, rules.take_profit_pct, rules.max_hold_bars) == (2.0, 3.0, 10)
    assert demo.risk(demo.resolve_params({"stop_loss_pct": 0})).stop_loss_pct is None


def test_signal_contract_is_enforced() -> None:
    features = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.Index([0, 60_000], name="ts"))

    class Broken(Demo):
        def generate_signals(self, features, params):  # type: ignore[no-untyped-def]
            return self.frame

    broken = Broken()
    broken.frame = signal_frame(features.index).drop(columns="exit_short")  # type: ignore[attr-defined]
    with pytest.raises(SignalError, match="lack the column 'exit_short'"):
        broken.signals(features, {})
    broken.frame = signal_frame(features.index).astype({"entry_long": float})  # type: ignore[attr-defined]
    with pytest.raises(SignalError, match="'entry_long' must be bool"):
        broken.signals(features, {})
    broken.frame = signal_frame(pd.Index([0, 1], name="ts"))  # type: ignore[attr-defined]
    with pytest.raises(SignalError, match="aligned"):
        broken.signals(features, {})
    with pytest.raises(SignalError, match="unknown signal column"):
        signal_frame(features.index, bogus=np.zeros(2))


def test_crossings_are_strict() -> None:
    a = pd.Series([1.0, 2.0, 3.0, 3.0, 2.0, np.nan, 4.0])
    b = pd.Series([2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0])
    assert list(crossed_above(a, b)) == [False, False, False, False, False, False, False]
    assert list(crossed_below(a, b)) == [False, False, False, False, False, False, False]
    a2 = pd.Series([1.0, 3.0, 1.0, 3.0])
    assert list(crossed_above(a2, 2.0)) == [False, True, False, True]
    assert list(crossed_below(a2, 2.0)) == [False, False, True, False]


def test_unknown_strategy_lists_the_library() -> None:
    with pytest.raises(UnknownStrategyError, match="unknown strategy 'nope'; known: rsi_divergence"):
        get_strategy("nope")
