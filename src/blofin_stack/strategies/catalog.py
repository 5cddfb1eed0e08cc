"""The strategy catalog: the built-in library (one module per strategy: 16 rule-based, ``ml_gbt_5m``
and two ensembles) plus the strategies plugins and DSL specs register."""

from __future__ import annotations

import inspect
from pathlib import Path

from blofin_stack.strategies.base import Strategy
from blofin_stack.strategies.bb_squeeze import BbSqueeze
from blofin_stack.strategies.breakout import Breakout
from blofin_stack.strategies.candle_patterns import CandlePatterns
from blofin_stack.strategies.ema_crossover import EmaCrossover
from blofin_stack.strategies.ensemble import EnsembleVote, EnsembleWeighted
from blofin_stack.strategies.macd_crossover import MacdCrossover
from blofin_stack.strategies.ml_filter import ml_filtered
from blofin_stack.strategies.ml_gbt_5m import MlGbt5m
from blofin_stack.strategies.momentum import Momentum
from blofin_stack.strategies.momentum_reversal import MomentumReversal
from blofin_stack.strategies.mtf_momentum_confirm import MtfMomentumConfirm
from blofin_stack.strategies.mtf_trend_align import MtfTrendAlign
from blofin_stack.strategies.reversal import Reversal
from blofin_stack.strategies.rsi_divergence import RsiDivergence
from blofin_stack.strategies.sma_cross import SmaCross
from blofin_stack.strategies.support_resistance import SupportResistance
from blofin_stack.strategies.volume_breakout import VolumeBreakout
from blofin_stack.strategies.volume_mean_reversion import VolumeMeanReversion
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
        Breakout,
        CandlePatterns,
        EmaCrossover,
        Momentum,
        Reversal,
        SupportResistance,
        VolumeMeanReversion,
        MtfTrendAlign,
        MtfMomentumConfirm,
        MlGbt5m,
        ml_filtered(EmaCrossover),
        ml_filtered(MacdCrossover, entry_filter=False, exit_model=True),
        EnsembleVote,
        EnsembleWeighted,
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
    if other is not None and strategy_file(other) != strategy_file(cls):
        raise ValueError(f"strategy {name!r} is already registered from {strategy_file(other)}")
    _PLUGIN_STRATEGIES[name] = cls


def unregister_strategy(name: str) -> None:
    """Forget a plugin strategy (a plugin being reloaded or rolled back)."""
    _PLUGIN_STRATEGIES.pop(name, None)


def strategy_classes() -> dict[str, type[Strategy]]:
    """Every runnable strategy class by name: built-ins first, then plugins."""
    return {**BUILTIN_STRATEGIES, **_PLUGIN_STRATEGIES}


def strategy_source(name: str) -> str:
    """``builtin``, ``plugin`` or ``dsl``."""
    if name in BUILTIN_STRATEGIES:
        return "builtin"
    return getattr(_PLUGIN_STRATEGIES.get(name), "source", None) or "plugin"


def strategy_file(cls: type[Strategy]) -> Path:
    """The file that defines ``cls``: its spec file for a DSL strategy, else its Python source."""
    return Path(getattr(cls, "source_path", None) or inspect.getfile(cls)).resolve()


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
