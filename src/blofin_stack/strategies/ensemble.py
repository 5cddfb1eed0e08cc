"""Ensemble strategies: ``ensemble_vote`` and ``ensemble_weighted`` (seed 000).

Idea: no single rule is right often; trade only when several independent rules agree. Each member's
signals are turned into the position it would hold after every bar (+1 long, -1 short, 0 flat) with
the kernel's signal rules (:func:`signal_states`; stops and holding limits are the ensemble's own).
Members are ``ema_crossover``, ``macd_crossover``, ``momentum`` and ``breakout``, run with their
default parameters on the ensemble's bars (the ensemble needs the union of their features); both
ensembles are as causal as their members.
Entry: ``ensemble_vote`` goes long when at least ``k`` members are long and more are long than short
(short likewise); ``ensemble_weighted`` goes long when the mean of the members' positions weighted by
``w_<member>`` reaches ``threshold`` (short at ``-threshold``). The weights are refreshed every cycle by
the lifecycle from the members' latest ranking scores (:func:`score_weights`).
Exit: when the agreement breaks (the votes or the weighted mean fall back); stop at ``stop_atr`` and
optional target at ``take_atr`` times ATR(14); at most ``max_hold_bars`` bars.
Parameters: ``k`` 1..4 (vote), ``w_ema_crossover``, ``w_macd_crossover``, ``w_momentum``,
``w_breakout`` 0..1e6 (weighted), ``threshold`` 0.05..1 (weighted), ``stop_atr`` 0.5..5, ``take_atr``
0..10, ``max_hold_bars`` 1..1000.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numba
import numpy as np
import pandas as pd

from blofin_stack.strategies.base import (
    Param,
    ParamValue,
    Strategy,
    atr_exits,
    max_hold_param,
    signal_frame,
    stop_atr_param,
    take_atr_param,
)


@numba.njit(cache=True, nogil=True)
def _states(entry_long, exit_long, entry_short, exit_short):  # fmt: skip
    n = len(entry_long)
    out = np.zeros(n, np.int8)
    pos = 0
    for i in range(n):
        closes_long = pos == 1 and (exit_long[i] or entry_short[i])
        closes_short = pos == -1 and (exit_short[i] or entry_long[i])
        if closes_long or closes_short:
            pos = 0
        if pos == 0:
            if entry_long[i] and not entry_short[i] and not exit_long[i]:
                pos = 1
            elif entry_short[i] and not entry_long[i] and not exit_short[i]:
                pos = -1
        out[i] = pos
    return out


def signal_states(signals: pd.DataFrame) -> np.ndarray:
    """The position (+1/0/-1, int8 per bar) a strategy would hold after each bar's signals.

    The same rules as the backtest kernel: an exit or opposite entry closes; a flat position opens on an
    entry unless the bar also says the opposite entry or the same side's exit. Stops and holding limits
    are not applied (they depend on fills, not on signals).
    """
    columns = [signals[c].to_numpy(dtype=np.bool_) for c in ("entry_long", "exit_long", "entry_short", "exit_short")]
    return np.asarray(_states(*columns))


class _Ensemble(Strategy):
    strategy_type = "ensemble"
    members: ClassVar[tuple[str, ...]]
    timeframes = ("5m", "15m")

    @classmethod
    def _member_strategies(cls) -> list[Strategy]:
        from blofin_stack.strategies.catalog import get_strategy  # the catalog imports this module

        return [get_strategy(name) for name in cls.members]

    def features_for(self, params: Mapping[str, ParamValue]) -> list[str]:
        names = [n for m in self._member_strategies() for n in m.features_for(m.resolve_params())]
        return list(dict.fromkeys([*names, "atr_pct_14"]))

    def member_states(self, features: pd.DataFrame) -> np.ndarray:
        """int8 array (members x bars) of the members' positions."""
        return np.vstack([signal_states(m.signals(features, m.resolve_params())) for m in self._member_strategies()])

    def _trade(
        self, features: pd.DataFrame, want_long: np.ndarray, want_short: np.ndarray, params: Mapping[str, ParamValue]
    ) -> pd.DataFrame:
        before_long = np.concatenate(([False], want_long[:-1]))
        before_short = np.concatenate(([False], want_short[:-1]))
        return signal_frame(
            features.index,
            entry_long=want_long & ~before_long,
            exit_long=~want_long,
            entry_short=want_short & ~before_short,
            exit_short=~want_short,
            **atr_exits(features, float(params["stop_atr"]), float(params["take_atr"])),
        )


_DEFAULT_MEMBERS = ("ema_crossover", "macd_crossover", "momentum", "breakout")
_RISK = {
    "stop_atr": stop_atr_param(2.5),
    "take_atr": take_atr_param(0.0),
    "max_hold_bars": max_hold_param(96, 1000),
}


class EnsembleVote(_Ensemble):
    """Enter when at least ``k`` member strategies hold the same side; exit when the agreement breaks."""

    name = "ensemble_vote"
    description = (
        "Vote of ema_crossover, macd_crossover, momentum and breakout: long while at least k of them are long "
        "(and more long than short), short likewise; ATR stop."
    )
    members = _DEFAULT_MEMBERS
    params = {"k": Param(2, 1, len(_DEFAULT_MEMBERS), 1, "members that must agree"), **_RISK}

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        states = self.member_states(features)
        longs, shorts = (states == 1).sum(axis=0), (states == -1).sum(axis=0)
        k = int(params["k"])
        return self._trade(features, (longs >= k) & (longs > shorts), (shorts >= k) & (shorts > longs), params)


class EnsembleWeighted(_Ensemble):
    """Trade the score-weighted mean of the members' positions."""

    name = "ensemble_weighted"
    description = (
        "Mean of the positions of ema_crossover, macd_crossover, momentum and breakout weighted by their recent "
        "scores (w_<member>, refreshed each cycle); long at or above threshold, short at or below -threshold."
    )
    members = _DEFAULT_MEMBERS
    params = {
        **{f"w_{m}": Param(1.0, 0.0, 1e6, None, f"weight of {m} (from its recent score)") for m in _DEFAULT_MEMBERS},
        "threshold": Param(0.5, 0.05, 1.0, 0.05, "weighted mean position needed to hold a side"),
        **_RISK,
    }

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        states = self.member_states(features).astype("float64")
        weights = np.array([float(params[f"w_{m}"]) for m in self.members])
        total = weights.sum()
        mean = weights @ states / total if total > 0 else np.zeros(states.shape[1])
        threshold = float(params["threshold"])
        return self._trade(features, mean >= threshold, mean <= -threshold, params)


def score_weights(scores: Mapping[str, float], members: Sequence[str]) -> dict[str, float]:
    """``w_<member>`` parameters from the members' recent scores: a linear map of the scores onto
    [0.1, 1] (the best 1, the worst 0.1, so no member is silenced); all 1 when the scores are equal or
    missing. Members without a score get the lowest weight."""
    known = [scores[m] for m in members if m in scores]
    if len(known) < 2 or max(known) == min(known):
        return {f"w_{m}": 1.0 for m in members}
    low, high = min(known), max(known)
    return {f"w_{m}": 0.1 + 0.9 * (scores.get(m, low) - low) / (high - low) for m in members}
