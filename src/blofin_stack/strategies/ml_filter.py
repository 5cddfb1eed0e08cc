"""ML-wrapped strategies: a pattern strategy whose entries must convince the entry classifier, and/or whose
positions the exit model may close early.

``ml_filtered(Base, entry_filter=True, exit_model=False)`` makes a strategy named ``<base>`` + ``_ml``
(entry filter) + ``_mlexit`` (exit model), e.g. ``ema_crossover_ml`` or ``macd_crossover_mlexit``:

* **entry filter**: each entry of the base is kept only when the ML cycle's entry classifier gives that
  side a probability of at least ``ml_threshold`` of being profitable (``ml:ml_entry_classifier:long`` /
  ``:short``, see :mod:`blofin_stack.ml.serving`);
* **exit model**: while a position is open, the exit model (``ml_exit_timing``) is asked at each bar's
  close whether closing at the next open beats holding to the strategy's own exit; at a probability of
  at least ``ml_exit_threshold`` the wrapper raises that side's exit signal. The position it describes
  to the model (entry bar, entry price = next open plus the default slippage, bars held, open return) is
  the one the signals hold under the kernel's signal rules (:func:`~.ensemble.signal_states`), worked
  out position by position so that an early exit lets the base's next entry open the next position.
  Stops, targets and holding limits are not foreseen: after one of them fires the kernel is flat while
  the model still sees the position until the base's next signal exit (its numbers stay exact: the
  kernel fills every trade).

The base's stops, targets and holding limit are unchanged. Model outputs are NaN before the model's
``available_from`` (the end of its training labels plus the embargo): there the entry filter lets no entry
through (a filter that is not out of sample is not used) and the exit model closes nothing. The strategy
cycle measures each wrapped strategy beside its plain base on the same bars from
:meth:`out_of_sample_from` on, and the daily report shows the two side by side. Until an active,
non-suspect model exists the wrapped strategy cannot run, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from blofin_stack.features.registry import REGISTRY, UnknownFeatureError
from blofin_stack.ml.serving import POSITION_MODELS, PositionModel
from blofin_stack.strategies.base import Param, ParamValue, Strategy
from blofin_stack.strategies.ensemble import signal_states

LONG, SHORT = "ml:ml_entry_classifier:long", "ml:ml_entry_classifier:short"
EXIT_MODEL = "ml_exit_timing"
#: The bars the ML cycle fits its models on (the default ML_TIMEFRAME): the wrappers run there only.
MODEL_TIMEFRAME = "5m"
NO_ENTRY_MODEL = "needs an active entry classifier (ml_entry_classifier) from the ML cycle; none is active yet"
NO_EXIT_MODEL = "needs an active exit model (ml_exit_timing) from the ML cycle; none is active yet"


def model_exits(
    signals: pd.DataFrame, features: pd.DataFrame, model: PositionModel, threshold: float, slippage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Extra ``exit_long``/``exit_short`` flags (bool arrays) where ``model`` says to close the position.

    Positions are worked out in time order: the first position of the signals (with the exits found so
    far) is scored at each bar it is open; its first bar with probability ``>= threshold`` gets an exit
    flag; then the next position, which may start earlier than it would have without that exit.
    """
    columns = {c: signals[c].to_numpy(dtype=bool) for c in ("entry_long", "exit_long", "entry_short", "exit_short")}
    extra = {1: np.zeros(len(signals), bool), -1: np.zeros(len(signals), bool)}
    open_ = features["open"].to_numpy(dtype="float64")
    cursor, n = 0, len(signals)
    while cursor < n - 1:
        states = signal_states(
            pd.DataFrame(
                {
                    "entry_long": columns["entry_long"],
                    "exit_long": columns["exit_long"] | extra[1],
                    "entry_short": columns["entry_short"],
                    "exit_short": columns["exit_short"] | extra[-1],
                }
            )
        )
        held = np.flatnonzero(states[cursor:])
        if not len(held):
            break
        start = cursor + int(held[0])  # the signal bar; the entry fills at the next open
        side = int(states[start])
        changed = np.flatnonzero(states[start:] != side)
        end = start + int(changed[0]) if len(changed) else n  # first bar no longer holding this position
        decisions = np.arange(start + 1, end)  # closes at which the position is open (the last bar's too)
        if len(decisions):
            price = open_[start + 1] * (1 + side * slippage)
            proba = model.exit_probability(features, decisions, float(side), start + 1, price)
            with np.errstate(invalid="ignore"):
                hits = np.flatnonzero(proba >= threshold)
            if len(hits):
                end = int(decisions[hits[0]])
                extra[side][end] = True
        cursor = end
    return extra[1], extra[-1]


def ml_filtered(base: type[Strategy], *, entry_filter: bool = True, exit_model: bool = False) -> type[Strategy]:
    """A :class:`Strategy` subclass wrapping ``base`` with the entry filter and/or the exit model.

    Raises:
        ValueError: neither ``entry`` nor ``exit``.
    """
    if not (entry_filter or exit_model):
        raise ValueError("ml_filtered needs entry_filter, exit_model or both")
    suffix = ("_ml" if entry_filter else "") + ("_mlexit" if exit_model else "")
    extra_params = {}
    if entry_filter:
        extra_params["ml_threshold"] = Param(0.55, 0.5, 0.95, 0.01, "entry probability the model must give")
    if exit_model:
        extra_params["ml_exit_threshold"] = Param(0.6, 0.5, 0.99, 0.01, "exit probability that closes early")
    uses = " and ".join(w for w, on in (("entry classifier", entry_filter), ("exit model", exit_model)) if on)

    class MlFiltered(Strategy):
        name = f"{base.name}{suffix}"
        description = f"{base.name} with the ML {uses}."
        timeframes = (MODEL_TIMEFRAME,)
        fixed_timeframes = True  # the models are fitted on one timeframe's bars
        strategy_type = "hybrid"
        base_strategy = base.name
        params = {**base.params, **extra_params}
        required_features = (*base.required_features, *((LONG, SHORT) if entry_filter else ()))
        stop_loss_pct, take_profit_pct, max_hold_bars = base.stop_loss_pct, base.take_profit_pct, base.max_hold_bars

        def unavailable_reason(self) -> str | None:
            if entry_filter:
                try:
                    REGISTRY.resolve(LONG)
                except UnknownFeatureError:
                    return NO_ENTRY_MODEL
            if exit_model and EXIT_MODEL not in POSITION_MODELS:
                return NO_EXIT_MODEL
            return None

        def out_of_sample_from(self) -> int | None:
            """First bar open time (ms UTC) at which every model it uses is out of sample; None without them."""
            starts = []
            try:
                if entry_filter:
                    starts.append(REGISTRY.resolve(LONG).available_from)
                if exit_model:
                    starts.append(POSITION_MODELS[EXIT_MODEL].available_from)
            except (UnknownFeatureError, KeyError):
                return None
            return max((int(s) for s in starts if s is not None), default=None)

        def features_for(self, params: Mapping[str, ParamValue]) -> list[str]:
            names = super().features_for(params)
            model = POSITION_MODELS.get(EXIT_MODEL) if exit_model else None
            return names if model is None else list(dict.fromkeys([*names, *model.bar_features]))

        def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
            own = {k: v for k, v in params.items() if k in base.params}
            signals = base().generate_signals(features, own).copy()
            if entry_filter:
                threshold = float(params["ml_threshold"])
                signals["entry_long"] &= (features[LONG] >= threshold).to_numpy()
                signals["entry_short"] &= (features[SHORT] >= threshold).to_numpy()
            if exit_model:
                from blofin_stack.backtest.engine import CostModel  # the engine imports the strategies

                threshold = float(params["ml_exit_threshold"])
                model = POSITION_MODELS[EXIT_MODEL]
                early_long, early_short = model_exits(signals, features, model, threshold, CostModel().slippage)
                signals["exit_long"] |= early_long
                signals["exit_short"] |= early_short
            return signals

    MlFiltered.__name__ = MlFiltered.__qualname__ = f"{base.__name__}{suffix.title().replace('_', '')}"
    return MlFiltered
