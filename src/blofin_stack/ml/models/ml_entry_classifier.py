"""ML entry classifier: will a trade entered on this strategy signal be profitable?

* **Predicts**: the probability that a trade opened on a strategy's entry signal closes with a positive net
  PnL (after fees and slippage); class ``1`` profitable, ``0`` not. ``ml_gbt_5m`` enters where it exceeds a
  threshold, and the ML entry filter drops a wrapped strategy's signals below it.
* **Target**: ``trade_profitable``: ``labels.trade_label(trades, bars, "profitable")`` (from
  ``labels.trade_outcome``) of the backtester's trades. The spec holds a template of that label (name and
  task; its ``func`` raises): the real one exists only per instrument and backtest.
* **Which trades feed it**: the training orchestration (not this module) backtests the strategy to be
  filtered (or, for ``ml_gbt_5m``, the pooled pattern strategies' entries) on the training window only, one
  sample per trade: the features at the signal bar (the bar whose close raised the signal; the fill is at
  the next open), the label from that trade's outcome. Its ``t_end`` is the trade's exit time, so purging
  drops training trades still open when the test window starts.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``) at the signal bar, plus the
  trade input ``trade_side`` (+1 long / -1 short; :data:`blofin_stack.ml.trades.TRADE_INPUTS`, not a registered
  feature). Samples: :func:`blofin_stack.ml.trades.entry_dataset`.
* **Architecture**: ``StandardScaler`` -> XGBoost classifier (``hist``; 200 shallow trees of depth 4, learning
  rate 0.05, row and column subsample 0.8, min child weight 5: a trade set is hundreds to a few thousand
  rows, so the trees stay small). XGBoost rather than LightGBM so that all boosted-tree models share one
  native file format.
* **Stored as** XGBoost JSON plus the scaler in skops (``xgboost-json``).
* **Source**: the redesign (issue 5, "ml_entry_classifier"); operator seed 000's ``ml_gbt_5m``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import ENTRY_INPUTS, LabelSpec
from blofin_stack.ml.models._common import (
    TRADE_TREE_PARAMS,
    EncodedXGBClassifier,
    merged,
    scaled,
    template_label,
)
from blofin_stack.ml.models._common import default_features as common_default_features

NAME = "ml_entry_classifier"
MODEL_TYPE = "xgboost"
TIMEFRAME = "5m"
FILE_FORMAT = "xgboost-json"
BASELINE = "majority"
DESCRIPTION = "Probability that a trade entered on a strategy signal is profitable after costs"
HYPERPARAMS: dict[str, Any] = dict(TRADE_TREE_PARAMS)


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + XGBoost classifier pipeline."""
    return scaled(EncodedXGBClassifier(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    return template_label(
        "trade_profitable",
        "classification",
        "1 if the trade entered on the signal at t ends with net pnl_pct > 0, else 0",
        "labels.trade_label(trades, bars, 'profitable')",
    )


def default_features() -> tuple[str, ...]:
    """The scale-free features plus the trade inputs (``trade_side``): the columns of
    :func:`blofin_stack.ml.trades.entry_dataset`."""
    return (*common_default_features(), *ENTRY_INPUTS)
