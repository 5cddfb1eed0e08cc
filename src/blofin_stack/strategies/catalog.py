"""The built-in strategy library: name -> class, one module per strategy."""

from __future__ import annotations

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


class UnknownStrategyError(KeyError):
    """Raised for a strategy name that is not in the library."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_strategy(name: str) -> Strategy:
    """A new instance of the built-in strategy ``name`` (raises UnknownStrategyError listing the names)."""
    cls = BUILTIN_STRATEGIES.get(name)
    if cls is None:
        raise UnknownStrategyError(f"unknown strategy {name!r}; built-ins: {', '.join(BUILTIN_STRATEGIES)}")
    return cls()


def builtin_strategies() -> list[Strategy]:
    """One instance of every built-in strategy, in library order."""
    return [cls() for cls in BUILTIN_STRATEGIES.values()]
