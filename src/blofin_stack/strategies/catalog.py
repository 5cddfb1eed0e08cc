"""The strategy catalog: the built-in library (one module per strategy) plus registered plugin strategies."""

from __future__ import annotations

import inspect
from pathlib import Path

from blofin_stack.strategies.base import Strategy
from blofin_stack.strategies.bb_squeeze import BbSqueeze
from blofin_stack.strategies.macd_crossover import MacdCrossover
from blofin_stack.strategies.momentum_reversal import MomentumReversal
from blofin_stack.strategies.rsi_divergence import RsiDivergence
from blofin_stack.strategies.sma_cross import SmaCross
from blofin_stack.strategies.volume_breakout import VolumeBreakout
from blofin_stack.strategies.vwap_reversion import VwapReversion

BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        RsiDivergence,
        BbSqueeze,
        MacdCrossover,
        VolumeBreakout,
        MomentumReversal,
        VwapReversion,
        SmaCross,
    )
}

#: Strategies registered at run time (plugins), by name.
_PLUGIN_STRATEGIES: dict[str, type[Strategy]] = {}


class UnknownStrategyError(KeyError):
    """Raised for a strategy name that is neither built in nor registered by a plugin."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_strategy(cls: type[Strategy]) -> None:
    """Register a plugin strategy class under ``cls.name``.

    Raises:
        ValueError: no ``name``, or the name belongs to a built-in or to another plugin's class.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"strategy class {cls.__qualname__} has no 'name'")
    if name in BUILTIN_STRATEGIES:
        raise ValueError(f"strategy {name!r} is a built-in; choose another name")
    other = _PLUGIN_STRATEGIES.get(name)
    if other is not None and inspect.getsourcefile(other) != inspect.getsourcefile(cls):
        raise ValueError(f"strategy {name!r} is already registered from {inspect.getsourcefile(other)}")
    _PLUGIN_STRATEGIES[name] = cls


def unregister_strategy(name: str) -> None:
    """Forget a plugin strategy (a plugin being reloaded or rolled back)."""
    _PLUGIN_STRATEGIES.pop(name, None)


def strategy_classes() -> dict[str, type[Strategy]]:
    """Every runnable strategy class by name: built-ins first, then plugins."""
    return {**BUILTIN_STRATEGIES, **_PLUGIN_STRATEGIES}


def strategy_source(name: str) -> str:
    """``builtin`` or ``plugin``."""
    return "builtin" if name in BUILTIN_STRATEGIES else "plugin"


def strategy_file(cls: type[Strategy]) -> Path:
    """The file that defines ``cls``."""
    return Path(inspect.getfile(cls)).resolve()


def get_strategy(name: str) -> Strategy:
    """A new instance of strategy ``name`` (raises UnknownStrategyError listing the known names)."""
    cls = strategy_classes().get(name)
    if cls is None:
        raise UnknownStrategyError(f"unknown strategy {name!r}; known: {', '.join(strategy_classes())}")
    return cls()


def builtin_strategies() -> list[Strategy]:
    """One instance of every built-in strategy, in library order."""
    return [cls() for cls in BUILTIN_STRATEGIES.values()]


def all_strategies() -> list[Strategy]:
    """One instance of every built-in and plugin strategy."""
    return [cls() for cls in strategy_classes().values()]
