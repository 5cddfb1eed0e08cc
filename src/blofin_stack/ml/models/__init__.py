"""The model zoo: one module per model, each with ``make(hyperparams)``, its defaults and ``default_label()``
(read by :func:`get_spec`; see :func:`~blofin_stack.ml.models._common.build_spec`).

``ZOO`` maps each model's name (eleven) to its default spec; it is built on first access (the default labels and
features come from :mod:`blofin_stack.ml.labels` and :mod:`blofin_stack.ml.dataset`). Each module also
states its naive baseline (``BASELINE``: ``majority`` for classifiers, ``zero`` for returns, ``mean`` for
volatility and risk), read by :func:`baseline_for` for :func:`blofin_stack.ml.validation.evaluate`, and its
bar timeframe (``TIMEFRAME``).

==========================  ====================  =====================================  ==================
name                        model                 target                                 file format
==========================  ====================  =====================================  ==================
``direction_predictor``     XGBoost classifier    ``direction_12``                       ``xgboost-json``
``risk_scorer``             random forest (0-100) ``risk_score_12``                      ``skops``
``price_predictor``         MLP 128-64-32-1       ``forward_return_12``                  torch state dict
                            (torch, else sklearn)                                        or ``skops``
``momentum_classifier``     RBF SVM, calibrated   ``momentum_state_12_th40bp``           ``skops``
``volatility_regressor``    hist. gradient boost  ``forward_volatility_12``              ``skops``
``ml_entry_classifier``     XGBoost classifier    ``trade_profitable`` (per backtest)    ``xgboost-json``
``ml_entry_confidence``     XGBoost regressor     ``trade_return`` (per backtest)        ``xgboost-json``
``ml_exit_timing``          XGBoost classifier    ``exit_timing`` (per backtest)         ``xgboost-json``
``ml_regime_detector``      XGBoost classifier    ``regime_next_48``                     ``xgboost-json``
``direction_logistic``      logistic regression   ``direction_12``                       ``skops``
``direction_forest``        random forest         ``direction_12``                       ``skops``
==========================  ====================  =====================================  ==================

The last two share ``direction_predictor``'s label so that the ensembles (:mod:`blofin_stack.ml.ensembles`)
have several members with one target on the same folds. The trade models' default features are the
scale-free features plus their trade inputs (:data:`blofin_stack.ml.trades.TRADE_INPUTS`).
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from blofin_stack.ml.base import ModelSpec

#: Model names, in display order; each is a module of this package.
NAMES = (
    "direction_predictor",
    "risk_scorer",
    "price_predictor",
    "momentum_classifier",
    "volatility_regressor",
    "ml_entry_classifier",
    "ml_entry_confidence",
    "ml_exit_timing",
    "ml_regime_detector",
    "direction_logistic",
    "direction_forest",
)


class UnknownModelError(KeyError):
    """A model name that is not in the zoo."""

    def __str__(self) -> str:
        return str(self.args[0])


def module(name: str) -> ModuleType:
    """The module of model ``name``; raises :class:`UnknownModelError` listing the names."""
    if name not in NAMES:
        raise UnknownModelError(f"unknown model {name!r}; the zoo has: {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")


def get_spec(name: str, **overrides: Any) -> ModelSpec:
    """The spec of model ``name``, its defaults overridden by ``overrides`` (``label``, ``features``,
    ``hyperparams``, ``description``, ``max_train_samples``, ``file_format``).

    Raises:
        UnknownModelError: an unknown ``name`` (the message lists the zoo's names).
        ValueError: an unknown override or hyper-parameter.
    """
    from blofin_stack.ml.models._common import build_spec

    return build_spec(module(name), overrides)


def baseline_for(name: str) -> str:
    """The naive baseline of model ``name``: ``majority``, ``zero``, ``mean`` or ``last``."""
    return str(module(name).BASELINE)


def timeframe_for(name: str) -> str:
    """The bar timeframe model ``name`` is specified for (``5m`` throughout the zoo)."""
    return str(module(name).TIMEFRAME)


@cache
def _zoo() -> dict[str, ModelSpec]:
    return {name: get_spec(name) for name in NAMES}


def __getattr__(attr: str) -> Any:
    if attr == "ZOO":
        return dict(_zoo())
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


ZOO: dict[str, ModelSpec]
