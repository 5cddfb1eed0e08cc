"""ML entry confidence: how much will a trade entered on this strategy signal return?

* **Predicts**: the net return of a trade opened on a strategy's entry signal, in percent of the entry
  notional after fees and slippage (the label's units); used to size or rank entries the entry classifier
  lets through.
* **Target**: ``trade_return``: ``labels.trade_label(trades, bars, "return")`` (the trade's net return, from
  ``labels.trade_outcome``). The spec holds a template of that label (name and task; its ``func`` raises).
* **Which trades feed it**: the same samples as ``ml_entry_classifier``: the training orchestration backtests
  the strategy being filtered (or the pooled pattern strategies, for ``ml_gbt_5m``) on the training window,
  one sample per trade, features at the signal bar, ``t_end`` at the trade's exit.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``) at the signal bar, plus the
  trade input ``trade_side`` (+1 long / -1 short; not a registered feature). Samples:
  :func:`blofin_stack.ml.trades.entry_dataset` with ``target="return"``.
* **Architecture**: ``StandardScaler`` -> XGBoost regressor (``hist``; 200 trees of depth 4, learning rate
  0.05, row and column subsample 0.8, min child weight 5, squared error).
* **Stored as** XGBoost JSON plus the scaler in skops (``xgboost-json``).
* **Source**: the redesign (issue 5, "ml_entry_confidence").
* **Baseline**: the training mean of the trade returns (``mean``), not zero: after fees the average trade
  loses a little, so any model that merely learns that mean would beat a zero forecast; against the zero
  forecast even a model trained on shuffled labels "beats the baseline" and trips the permutation canary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.pipeline import Pipeline
from xgboost import XGBRegressor

from blofin_stack.ml.base import ENTRY_INPUTS, LabelSpec
from blofin_stack.ml.models._common import TRADE_TREE_PARAMS, merged, scaled, template_label
from blofin_stack.ml.models._common import default_features as common_default_features

NAME = "ml_entry_confidence"
MODEL_TYPE = "xgboost"
TIMEFRAME = "5m"
FILE_FORMAT = "xgboost-json"
BASELINE = "mean"
DESCRIPTION = "Net return (percent of entry notional, after costs) of a trade entered on a strategy signal"
HYPERPARAMS: dict[str, Any] = {**TRADE_TREE_PARAMS, "objective": "reg:squarederror"}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + XGBoost regressor pipeline."""
    return scaled(XGBRegressor(**merged(HYPERPARAMS, hyperparams)))


def default_label() -> LabelSpec:
    return template_label(
        "trade_return",
        "regression",
        "net pnl_pct (percent of entry notional, after fees) of the trade entered on the signal at t",
        "labels.trade_label(trades, bars, 'return')",
    )


def default_features() -> tuple[str, ...]:
    """The scale-free features plus the trade inputs (``trade_side``): the columns of
    :func:`blofin_stack.ml.trades.entry_dataset`."""
    return (*common_default_features(), *ENTRY_INPUTS)
