"""Strategies: the :class:`Strategy` interface and the built-in library (one module each)."""

from blofin_stack.strategies.base import (
    Param,
    ParamError,
    RiskRules,
    SignalError,
    Strategy,
    crossed_above,
    crossed_below,
    signal_frame,
)
from blofin_stack.strategies.catalog import (
    BUILTIN_STRATEGIES,
    UnknownStrategyError,
    all_strategies,
    builtin_strategies,
    get_strategy,
    register_strategy,
    strategy_classes,
)

__all__ = [
    "BUILTIN_STRATEGIES",
    "Param",
    "ParamError",
    "RiskRules",
    "SignalError",
    "Strategy",
    "UnknownStrategyError",
    "all_strategies",
    "builtin_strategies",
    "crossed_above",
    "crossed_below",
    "get_strategy",
    "register_strategy",
    "signal_frame",
    "strategy_classes",
]
