"""Shared types of the ML layer: datasets, label specifications, model specifications.

Rules that hold everywhere in ``blofin_stack.ml`` (see ``docs/ML.md``):

* a sample at bar ``t`` has features computed from bars ``<= t`` and a label computed from bars
  ``> t`` only; ``t_end`` is the time the label becomes known (the close of the last bar it uses);
* labels never become features: a dataset refuses a feature whose name is a label's;
* splits are walk-forward in time, never shuffled, with purging and an embargo
  (:mod:`blofin_stack.ml.splits`);
* every estimator is a scikit-learn-compatible pipeline whose scaler is fitted on training data only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Task = Literal["classification", "regression"]

#: Model inputs describing a (prospective) position, not features of the bars: the side (+1 long, -1
#: short), bars held and open return (defined in :mod:`blofin_stack.ml.trades`).
TRADE_INPUTS: tuple[str, ...] = ("trade_side", "bars_held", "open_return")
#: The trade inputs of the entry models (known at the signal bar).
ENTRY_INPUTS: tuple[str, ...] = ("trade_side",)
#: The trade inputs of the exit model.
EXIT_INPUTS: tuple[str, ...] = TRADE_INPUTS


@dataclass(frozen=True)
class LabelSpec:
    """A label: a pure function of an OHLCV frame giving, for each bar t, a value from bars after t.

    Attributes:
        name: e.g. ``direction_12``.
        task: classification (integer classes) or regression (float).
        horizon: bars after t the label looks at (its value is known at the close of bar ``t + horizon``).
        func: ``func(ohlcv) -> Series`` aligned to the bars; NaN where undefined (the last ``horizon``
            bars, dead zones).
        defining_series: ``func(ohlcv) -> Series`` of the raw quantity the label is derived from (e.g.
            the forward return), used by the alignment canary.
        description: one line, with units.
    """

    name: str
    task: Task
    horizon: int
    func: Callable[[pd.DataFrame], pd.Series] = field(repr=False, compare=False)
    defining_series: Callable[[pd.DataFrame], pd.Series] = field(repr=False, compare=False)
    description: str = ""


@dataclass
class Dataset:
    """Samples pooled over instruments, in time order.

    Attributes:
        X: float64 features, one column per feature name, ``RangeIndex``.
        y: the label (float64; class labels as 0.0, 1.0, ...), aligned to ``X``.
        t: int64 bar open time (ms UTC) of each sample.
        t_end: int64 time (ms) at which each label is known (close of its last bar).
        inst: instrument of each sample (object array).
        label: the label's spec; ``timeframe``: the bars' timeframe; ``features``: the feature names.
    """

    X: pd.DataFrame
    y: pd.Series
    t: np.ndarray
    t_end: np.ndarray
    inst: np.ndarray
    label: LabelSpec
    timeframe: str
    features: list[str]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The samples at integer positions ``rows`` (order kept)."""
        return Dataset(
            X=self.X.iloc[rows].reset_index(drop=True),
            y=self.y.iloc[rows].reset_index(drop=True),
            t=self.t[rows],
            t_end=self.t_end[rows],
            inst=self.inst[rows],
            label=self.label,
            timeframe=self.timeframe,
            features=self.features,
        )


@dataclass(frozen=True)
class ModelSpec:
    """One model of the zoo.

    Attributes:
        name: registry name, e.g. ``direction_predictor``.
        model_type: ``xgboost``, ``random_forest``, ``neural_net``, ``svm``, ``gradient_boosting``, ...
        label: the target.
        features: default feature names (scale-free, so they pool across instruments).
        hyperparams: the estimator's parameters.
        make: ``make(hyperparams) -> estimator``: a fresh scikit-learn-compatible estimator (a pipeline
            whose scaler is fitted on training data only).
        file_format: how the fitted model is stored: ``skops``, ``xgboost-json``, ``torch-state-dict``.
        description: what it predicts, in one sentence.
        max_train_samples: training rows kept per fold (the most recent), for models whose cost grows
            faster than linearly (e.g. an RBF SVM); ``None`` = all.
    """

    name: str
    model_type: str
    label: LabelSpec
    features: tuple[str, ...]
    hyperparams: Mapping[str, Any]
    make: Callable[[Mapping[str, Any]], Any] = field(repr=False, compare=False)
    file_format: str = "skops"
    description: str = ""
    max_train_samples: int | None = None

    @property
    def task(self) -> Task:
        return self.label.task
