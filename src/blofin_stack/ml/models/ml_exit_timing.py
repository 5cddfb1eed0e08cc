"""ML exit timing: for an open position, does closing now beat holding to the strategy's own exit?

* **Predicts**: the probability that closing the position at this bar's close gives a better net return
  than holding it until the strategy's exit; class ``1`` close now, ``0`` hold. The ML exit wrapper closes a
  position early when it exceeds a threshold.
* **Target**: ``exit_timing``: ``labels.exit_timing_label(trades, bars)`` (from ``labels.exit_timing``: closing
  at the next open, after the same fees and slippage, beats the trade's actual exit). The spec holds a
  template of that label (name and task; its ``func`` raises).
* **Which trades feed it**: the ML cycle backtests the rule-based strategies (default parameters) over its
  window; every bar inside each of their trades (from the entry bar up to the bar before the exit) is one
  sample, with the features at that bar, the position's state (side, bars held, open return) and the label
  from the rest of that trade. ``t_end`` is the close of the trade's exit bar.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``) at the bar, plus the trade
  inputs ``trade_side`` (+1/-1), ``bars_held`` and ``open_return`` (fraction) of the open position
  (:data:`blofin_stack.ml.trades.TRADE_INPUTS`, not registered features). Samples:
  :func:`blofin_stack.ml.trades.exit_dataset`.
* **Architecture**: ``StandardScaler`` -> XGBoost classifier (``hist``; 200 trees of depth 4, learning rate
  0.05, row and column subsample 0.8, min child weight 5).
* **Stored as** XGBoost JSON plus the scaler in skops (``xgboost-json``).
* **Source**: the redesign (issue 5, "ml_exit_timing").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import EXIT_INPUTS, LabelSpec
from blofin_stack.ml.models._common import (
    TRADE_TREE_PARAMS,
    EncodedXGBClassifier,
    merged,
    scaled,
    template_label,
)
from blofin_stack.ml.models._common import default_features as common_default_features

NAME = "ml_exit_timing"
MODEL_TYPE = "xgboost"
TIMEFRAME = "5m"
FILE_FORMAT = "xgboost-json"
BASELINE = "majority"
DESCRIPTION = "Probability that closing an open position now beats holding it to the strategy's exit"
HYPERPARAMS: dict[str, Any] = dict(TRADE_TREE_PARAMS)


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + XGBoost classifier pipeline."""
    return scaled(EncodedXGBClassifier(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    return template_label(
        "exit_timing",
        "classification",
        "1 if closing at the next open beats the trade's actual exit, else 0; only bars inside a trade",
        "labels.exit_timing_label(trades, bars)",
    )


def default_features() -> tuple[str, ...]:
    """The scale-free features plus the trade inputs (``trade_side, bars_held, open_return``): the columns of
    :func:`blofin_stack.ml.trades.exit_dataset`."""
    return (*common_default_features(), *EXIT_INPUTS)
