"""``ml_gbt_5m``: gradient-boosted entries on 5m features (one of the three concepts the old registry
held without code).

Idea: a gradient-boosted tree classifier (the ML cycle's ``ml_entry_classifier``, trained with purged
walk-forward validation on 5m features and the outcomes of the rule-based strategies' trades) predicts
whether a long or a short entered at this bar would be profitable after costs; trade when it is
confident.
Entry: long when the model's long probability (``ml:ml_entry_classifier:long``) is at least
``threshold`` and above the short probability; short on the mirror condition.
Exit: ATR stop and target, at most ``max_hold_bars`` bars.
The probabilities are NaN before the model's training window ended (plus the embargo), so backtests of
this strategy trade only out of sample. Until the ML cycle has an active, non-suspect entry classifier the
strategy cannot run: the registry keeps it at its tier with that reason and the cycles skip it.
Parameters: ``threshold`` 0.5..0.95, ``stop_atr`` 0.5..5, ``take_atr`` 0..10, ``max_hold_bars`` 1..500.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.features.registry import REGISTRY, UnknownFeatureError
from blofin_stack.strategies.base import (
    Param,
    ParamValue,
    Strategy,
    atr_exits,
    max_hold_param,
    signal_frame,
    stop_atr_param,
    take_atr_param,
)

LONG, SHORT = "ml:ml_entry_classifier:long", "ml:ml_entry_classifier:short"
NO_MODEL = (
    "needs an active entry classifier (ml_entry_classifier) from the ML cycle (blofin pipeline run --mode ml); "
    "none is active, or it was marked suspect"
)


class MlGbt5m(Strategy):
    name = "ml_gbt_5m"
    description = "Gradient-boosted-tree entry classifier on 5m features; enters above a probability threshold."
    timeframes = ("5m",)
    fixed_timeframes = True  # its model is fitted on 5m bars
    strategy_type = "ml_entry"
    params = {
        "threshold": Param(0.6, 0.5, 0.95, 0.01, "entry probability the model must exceed"),
        "stop_atr": stop_atr_param(2.0),
        "take_atr": take_atr_param(3.0),
        "max_hold_bars": max_hold_param(48),
    }

    required_features = (LONG, SHORT, "atr_pct_14")

    def unavailable_reason(self) -> str | None:
        try:
            REGISTRY.resolve(LONG)
        except UnknownFeatureError:
            return NO_MODEL
        return None

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        long_p, short_p = features[LONG], features[SHORT]
        threshold = float(params["threshold"])
        go_long = (long_p >= threshold) & (long_p > short_p)
        go_short = (short_p >= threshold) & (short_p > long_p)
        return signal_frame(
            features.index,
            entry_long=go_long,
            entry_short=go_short,
            exit_long=go_short,
            exit_short=go_long,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )
