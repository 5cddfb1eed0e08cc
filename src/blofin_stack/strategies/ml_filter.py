"""ML-filtered strategies: a pattern strategy whose entries must also convince the entry classifier.

``ml_filtered(Base)`` makes ``<base>_ml``: the base strategy's signals, exits and stops, with each entry kept
only when the ML cycle's entry classifier gives that side a probability of at least ``ml_threshold`` of
being profitable (``ml:ml_entry_classifier:long`` / ``:short``). The probabilities are NaN before the
model's training ended (plus the embargo), so the filtered strategy trades only out of sample, and the
daily report compares it with its plain version over the same period. Until an active, non-suspect entry
classifier exists the filtered strategy cannot run, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blofin_stack.features.registry import REGISTRY, UnknownFeatureError
from blofin_stack.strategies.base import Param, ParamValue, Strategy

LONG, SHORT = "ml:ml_entry_classifier:long", "ml:ml_entry_classifier:short"
NO_MODEL = "needs an active entry classifier (ml_entry_classifier) from the ML cycle; none is active yet"


def ml_filtered(base: type[Strategy]) -> type[Strategy]:
    """A :class:`Strategy` subclass named ``<base.name>_ml`` that filters ``base``'s entries by the model."""

    class MlFiltered(Strategy):
        name = f"{base.name}_ml"
        description = f"{base.name} entries kept only when the entry classifier rates them profitable."
        timeframes = base.timeframes
        strategy_type = "hybrid"
        base_strategy = base.name
        params = {**base.params, "ml_threshold": Param(0.55, 0.5, 0.95, 0.01, "entry probability the model must give")}
        required_features = (*base.required_features, LONG, SHORT)
        stop_loss_pct, take_profit_pct, max_hold_bars = base.stop_loss_pct, base.take_profit_pct, base.max_hold_bars

        def unavailable_reason(self) -> str | None:
            try:
                REGISTRY.resolve(LONG)
            except UnknownFeatureError:
                return NO_MODEL
            return None

        def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
            own = {k: v for k, v in params.items() if k in base.params}
            signals = base().generate_signals(features, own).copy()
            threshold = float(params["ml_threshold"])
            signals["entry_long"] &= (features[LONG] >= threshold).to_numpy()
            signals["entry_short"] &= (features[SHORT] >= threshold).to_numpy()
            return signals

    MlFiltered.__name__ = MlFiltered.__qualname__ = f"{base.__name__}Ml"
    return MlFiltered
