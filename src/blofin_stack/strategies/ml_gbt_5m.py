"""``ml_gbt_5m``: gradient-boosted entries on 5m features (one of the three concepts the old registry
held without code).

Idea: a gradient-boosted tree classifier, trained with purged walk-forward validation on 5m features,
predicts whether an entry here would be profitable; the strategy enters long when the predicted
probability exceeds ``threshold`` (and short when the probability of a profitable short does).
Exit: ATR stop and target, at most ``max_hold_bars`` bars.

Until the ML pipeline has trained and validated that model (the entry classifier), this strategy is
registered at tier 0 with the reason it cannot run; the cycles skip it and nothing pretends it trades.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.strategies.base import Param, ParamValue, Strategy, max_hold_param, stop_atr_param, take_atr_param

NO_MODEL = (
    "needs the trained entry classifier (ml_entry_classifier) that the ML pipeline produces; "
    "no validated model exists yet"
)


class MlGbt5m(Strategy):
    name = "ml_gbt_5m"
    description = "Gradient-boosted-tree entry classifier on 5m features; enters above a probability threshold."
    timeframes = ("5m",)
    strategy_type = "ml_entry"
    params = {
        "threshold": Param(0.6, 0.5, 0.95, 0.01, "entry probability the model must exceed"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(3.0),
        "max_hold_bars": max_hold_param(48),
    }

    def unavailable_reason(self) -> str | None:
        return NO_MODEL

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        raise NotImplementedError(f"ml_gbt_5m cannot run: {NO_MODEL}")
