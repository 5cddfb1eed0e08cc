"""Models in trading: predictions as features, and the exit model, without strategies touching the store.

A stored model becomes one or more features named ``ml:<model name>`` computed from an OHLCV frame: the
model's input features are computed on the bars (causal, like any feature) and the fitted pipeline
predicts on them. For a model that takes the side of a trade as an input (``trade_side``, e.g. the entry
classifier) there are two: ``ml:<name>:long`` and ``ml:<name>:short``, the probability that a long or a
short entered at this bar turns out profitable.

**Out of sample by construction**: a prediction is NaN on every bar before ``available_from`` (the end of
the model's training window plus the embargo), so a backtest that uses the feature only trades on bars
the model never saw. Registering the features is the caller's job (the pipeline loads the active models
from the store); strategies just name them (``required_features = ("ml:ml_entry_classifier:long", ...)``).

A model that needs the open position's state (``bars_held``, ``open_return``: the exit model) cannot be a
bar feature; it is registered as a :class:`PositionModel` and asked, for one position at a time, for the
probability that closing at the next open beats holding (:meth:`PositionModel.exit_probability`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blofin_stack.features import REGISTRY, compute_features, max_warmup
from blofin_stack.features.registry import FeatureRegistry, FeatureSpec
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.ml.base import ENTRY_INPUTS, TRADE_INPUTS

SIDE_INPUT = ENTRY_INPUTS[0]
#: Inputs that need an open position (bars held, open return): such models cannot be bar features.
POSITION_INPUTS = tuple(i for i in TRADE_INPUTS if i != SIDE_INPUT)


def check_timeframe(index: pd.Index, timeframe: str, model: str) -> None:
    """Refuse bars of another timeframe than the model was fitted on (spacing of the int64 ms ``index``).

    Raises:
        ValueError: naming the model, its timeframe and the bars' spacing.
    """
    if len(index) > 1:
        step = int(np.diff(index.to_numpy(dtype="int64")).min())
        if step != timeframe_ms(timeframe):
            raise ValueError(f"{model} is fitted on {timeframe} bars; these bars are {step // 60_000} minutes apart")


def _predictor(
    estimator: Any, inputs: Sequence[str], side: float | None, available_from: int, timeframe: str, name: str
) -> Any:
    base = [name for name in inputs if name != SIDE_INPUT]

    def predict(ohlcv: pd.DataFrame) -> pd.Series:
        check_timeframe(ohlcv.index, timeframe, name)
        values = compute_features(ohlcv, base)
        if side is not None:
            values[SIDE_INPUT] = side
        X = values[list(inputs)].to_numpy(dtype="float64")
        usable = np.isfinite(X).all(axis=1) & (ohlcv.index.to_numpy(dtype="int64") >= available_from)
        out = np.full(len(ohlcv), np.nan)
        if usable.any():
            if hasattr(estimator, "predict_proba"):
                proba = np.asarray(estimator.predict_proba(X[usable]))
                classes = list(getattr(estimator, "classes_", range(proba.shape[1])))
                out[usable] = proba[:, classes.index(1) if 1 in classes else -1]
            else:
                out[usable] = np.asarray(estimator.predict(X[usable]), dtype="float64")
        return pd.Series(out, index=ohlcv.index)

    return predict


def model_feature_specs(
    name: str, estimator: Any, inputs: Sequence[str], timeframe: str, available_from: int, model_id: str = ""
) -> list[FeatureSpec]:
    """The ``ml:<name>`` feature specs of a fitted model (none if it needs an open position's inputs).

    Args:
        name: the model's name (``ml_entry_classifier``).
        estimator: the fitted pipeline (scaler + model).
        inputs: its input columns, in fitting order (the stored config's ``features``).
        timeframe: the bars it was trained on (sets the inputs' warm-up; the feature refuses other bars).
        available_from: first bar open time (ms) whose prediction is out of sample.
        model_id: the store folder (``model_007``), for the description.
    """
    if any(i in POSITION_INPUTS for i in inputs):
        return []
    warmup = max_warmup([i for i in inputs if i != SIDE_INPUT], timeframe)
    classifier = hasattr(estimator, "predict_proba")
    units = "probability 0..1" if classifier else "model output"
    sides: Mapping[str, float | None] = {"long": 1.0, "short": -1.0} if SIDE_INPUT in inputs else {"": None}
    specs = []
    for suffix, side in sides.items():
        feature = f"ml:{name}" + (f":{suffix}" if suffix else "")
        what = f"probability that a {suffix} entered at this bar is profitable" if suffix else "prediction"
        specs.append(
            FeatureSpec(
                name=feature,
                group="custom",
                func=_predictor(estimator, inputs, side, available_from, timeframe, name),
                warmup_bars=warmup,
                description=f"{name} {model_id} {what}; NaN before {available_from} (out of sample only)",
                units=units,
                source=f"ml model {model_id or name} on {len(inputs)} inputs",
                available_from=available_from,
            )
        )
    return specs


@dataclass(frozen=True)
class PositionModel:
    """A fitted model whose inputs include the open position's state (``ml_exit_timing``).

    Attributes:
        name: the model's name.
        estimator: fitted classifier; class 1 = "close at the next open".
        inputs: input columns in fitting order: bar features plus ``trade_side``, ``bars_held``,
            ``open_return`` (see :mod:`blofin_stack.ml.trades` for their definitions).
        available_from: first bar open time (ms) that is out of sample; earlier bars get no prediction.
        model_id: the store folder, for messages.
        timeframe: the bars it was fitted on; other bars are refused (empty: not checked).
    """

    name: str
    estimator: Any
    inputs: tuple[str, ...]
    available_from: int
    model_id: str = ""
    timeframe: str = ""

    @property
    def bar_features(self) -> list[str]:
        """The inputs that are bar features (what a strategy using the model must compute)."""
        return [i for i in self.inputs if i != SIDE_INPUT and i not in POSITION_INPUTS]

    def exit_probability(
        self, features: pd.DataFrame, bars: np.ndarray, side: float, entry_bar: int, entry_price: float
    ) -> np.ndarray:
        """P(closing at the next open beats holding) at the close of each of ``bars`` for one position.

        Args:
            features: frame with the bar features and ``close`` (int64 ms index).
            bars: positions (int) of the bars, all at or after ``entry_bar``.
            side: +1 long, -1 short.
            entry_bar: position of the bar whose open filled the entry (``bars_held`` is 1 at its close).
            entry_price: the fill price (USDT, slippage included).

        Returns:
            float64 array like ``bars``: NaN where an input is missing or the bar is before
            ``available_from``.

        Raises:
            ValueError: the bars are of another timeframe than the model's.
        """
        if self.timeframe:
            check_timeframe(features.index, self.timeframe, self.name)
        close = features["close"].to_numpy(dtype="float64")[bars]
        state = {
            SIDE_INPUT: np.full(len(bars), side),
            "bars_held": (bars - entry_bar + 1).astype("float64"),
            "open_return": side * (close / entry_price - 1.0),
        }
        X = np.column_stack(
            [state[i] if i in state else features[i].to_numpy(dtype="float64")[bars] for i in self.inputs]
        )
        usable = np.isfinite(X).all(axis=1) & (features.index.to_numpy(dtype="int64")[bars] >= self.available_from)
        out = np.full(len(bars), np.nan)
        if usable.any():
            proba = np.asarray(self.estimator.predict_proba(X[usable]))
            out[usable] = proba[:, list(self.estimator.classes_).index(1)]
        return out


#: Position models by name, as registered by the pipeline (``register_position_model``).
POSITION_MODELS: dict[str, PositionModel] = {}


def register_position_model(model: PositionModel) -> None:
    """Make ``model`` the one strategies get for its name (replacing an earlier version)."""
    POSITION_MODELS[model.name] = model


def register_model_features(specs: Sequence[FeatureSpec], registry: FeatureRegistry = REGISTRY) -> list[str]:
    """Register (replacing earlier versions) the model features; returns their names."""
    for spec in specs:
        registry.register(spec, replace=True)
    return [spec.name for spec in specs]
