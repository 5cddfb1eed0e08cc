"""The strategy interface shared by backtests and (later) the live loop.

A strategy is a class with typed parameters and one vectorised method::

    generate_signals(features: DataFrame, params: Mapping) -> DataFrame

``features`` holds the bars' OHLCV columns plus every feature in ``features_for(params)``, indexed by
bar open time (int64 ms UTC). The result has the same index and boolean columns ``entry_long``,
``exit_long``, ``entry_short``, ``exit_short``: a signal on bar ``t`` is decided at the close of ``t``
and acted on at the open of ``t + 1``. It may also carry float columns ``stop_loss_pct`` and
``take_profit_pct`` (percent distance from the entry price, per entry bar; NaN = none) for stops that
vary by bar, e.g. ATR multiples; otherwise the scalar :meth:`Strategy.risk` settings apply.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from blofin_stack.market.store import OHLCV_COLUMNS
from blofin_stack.market.timeframes import timeframe_ms

SIGNAL_COLUMNS = ("entry_long", "exit_long", "entry_short", "exit_short")
RISK_COLUMNS = ("stop_loss_pct", "take_profit_pct")
#: Parameter names that, when a strategy declares them, override its class-level risk settings.
RISK_PARAMS = ("stop_loss_pct", "take_profit_pct", "max_hold_bars")

ParamValue = int | float | bool


class ParamError(ValueError):
    """A parameter value that is unknown, of the wrong type, or outside its range."""


class SignalError(ValueError):
    """``generate_signals`` returned a frame that breaks the signal contract."""


@dataclass(frozen=True)
class Param:
    """A typed strategy parameter: default value and the search range used by tuning.

    The type is the default's type (``int``, ``float`` or ``bool``); ``low``/``high`` bound numeric
    values inclusively; ``step`` is the tuning grid step (``None`` = continuous for floats).
    """

    default: ParamValue
    low: float | None = None
    high: float | None = None
    step: float | None = None
    description: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def cast(self, name: str, value: Any) -> ParamValue:
        """``value`` (a number, bool or text such as ``"14"``) converted to this parameter's type.

        Raises:
            ParamError: not convertible, or outside ``[low, high]``.
        """
        kind = self.kind
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    converted: ParamValue = value.lower() in ("true", "1", "yes")
                else:
                    converted = bool(value)
            elif kind is int:
                as_float = float(value)
                if not as_float.is_integer():
                    raise ValueError(value)
                converted = int(as_float)
            else:
                converted = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"parameter {name!r}: {value!r} is not a valid {kind.__name__}") from None
        if kind is not bool:
            if self.low is not None and converted < self.low:
                raise ParamError(f"parameter {name!r}: {converted} is below its minimum {self.low}")
            if self.high is not None and converted > self.high:
                raise ParamError(f"parameter {name!r}: {converted} is above its maximum {self.high}")
        return converted


@dataclass(frozen=True)
class RiskRules:
    """Scalar exits: stop-loss and take-profit in percent of the entry price; max hold in bars."""

    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    max_hold_bars: int | None = None


class Strategy(ABC):
    """Base class of every strategy (built-in, plugin, DSL).

    Class attributes:
        name: unique registry name (``snake_case``).
        description: one paragraph: idea, entry, exit.
        timeframes: the timeframes the strategy is designed for (e.g. ``("5m",)``).
        fixed_timeframes: ``True`` when it can run on ``timeframes`` only (e.g. it uses a model fitted on
            5m bars); otherwise the cycles also run it on ``BACKTEST_TIMEFRAMES``.
        params: parameter name -> :class:`Param`.
        required_features: feature names, which may name parameters in braces (``"sma_{fast}"``).
        stop_loss_pct, take_profit_pct, max_hold_bars: default exits (``None`` = none); a parameter of
            the same name overrides them.
        strategy_type: the registry's type: ``pattern`` (rules), ``ensemble``, ``ml_entry``, ``ml_exit``,
            ``hybrid`` (seed 000).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    timeframes: ClassVar[tuple[str, ...]]
    fixed_timeframes: ClassVar[bool] = False
    params: ClassVar[Mapping[str, Param]] = {}
    required_features: ClassVar[tuple[str, ...]] = ()
    stop_loss_pct: ClassVar[float | None] = None
    take_profit_pct: ClassVar[float | None] = None
    max_hold_bars: ClassVar[int | None] = None
    strategy_type: ClassVar[str] = "pattern"

    def unavailable_reason(self) -> str | None:
        """Why this strategy cannot run yet (e.g. its model does not exist), or ``None`` when it can.

        The registry keeps such a strategy at its tier with the reason; the cycles skip it.
        """
        return None

    def cycle_timeframes(self, defaults: Sequence[str]) -> list[str]:
        """The timeframes a cycle backtests it on: its own plus ``defaults`` (``BACKTEST_TIMEFRAMES``) unless
        :attr:`fixed_timeframes`, shortest first."""
        wanted = set(self.timeframes) if self.fixed_timeframes else {*defaults, *self.timeframes}
        return sorted(wanted, key=timeframe_ms)

    def resolve_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, ParamValue]:
        """Defaults updated with ``overrides`` (values cast and range-checked).

        Raises:
            ParamError: an unknown name (the message lists the valid ones) or a bad value.
        """
        resolved = {name: spec.default for name, spec in self.params.items()}
        for name, value in (overrides or {}).items():
            spec = self.params.get(name)
            if spec is None:
                valid = ", ".join(self.params) or "none"
                raise ParamError(f"strategy {self.name!r} has no parameter {name!r} (parameters: {valid})")
            resolved[name] = spec.cast(name, value)
        return resolved

    def features_for(self, params: Mapping[str, ParamValue]) -> list[str]:
        """Feature names this strategy needs with ``params`` (placeholders filled in)."""
        formatter = string.Formatter()
        names = []
        for template in self.required_features:
            fields = [f for _, f, _, _ in formatter.parse(template) if f]
            names.append(template.format(**{f: params[f] for f in fields}) if fields else template)
        return list(dict.fromkeys(names))

    def risk(self, params: Mapping[str, ParamValue]) -> RiskRules:
        """Scalar exit settings for ``params`` (a parameter named like a setting overrides it)."""
        stop = params.get("stop_loss_pct", self.stop_loss_pct)
        take = params.get("take_profit_pct", self.take_profit_pct)
        hold = params.get("max_hold_bars", self.max_hold_bars)
        return RiskRules(
            stop_loss_pct=float(stop) if stop else None,
            take_profit_pct=float(take) if take else None,
            max_hold_bars=int(hold) if hold else None,
        )

    @abstractmethod
    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        """Vectorised signals for every bar of ``features`` (see the module docstring)."""

    def signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        """:meth:`generate_signals`, checked against the contract.

        Raises:
            SignalError: missing or non-boolean signal columns, or an index not equal to the input's.
        """
        frame = self.generate_signals(features, params)
        if not isinstance(frame, pd.DataFrame) or not frame.index.equals(features.index):
            raise SignalError(f"strategy {self.name!r}: signals must be a DataFrame aligned to the features")
        for column in SIGNAL_COLUMNS:
            if column not in frame:
                raise SignalError(f"strategy {self.name!r}: signals lack the column {column!r}")
            if frame[column].dtype != bool:
                raise SignalError(f"strategy {self.name!r}: column {column!r} must be bool, not {frame[column].dtype}")
        return frame


def frame_with_features(bars: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The input of ``generate_signals``: OHLCV columns plus feature columns (features win on clashes)."""
    extra = [c for c in OHLCV_COLUMNS if c not in features.columns]
    return pd.concat([bars[extra], features], axis=1)


def crossed_above(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """True on bars where ``a`` moves from below ``b`` to above it: ``a[t-1] < b[t-1]`` and ``a[t] > b[t]``.

    The same strict definition as ``backtesting.lib.crossover``; NaN never crosses.
    """
    b_prev = b.shift(1) if isinstance(b, pd.Series) else b
    return (a > b) & (a.shift(1) < b_prev)


def crossed_below(a: pd.Series, b: pd.Series | float) -> pd.Series:
    """True on bars where ``a`` moves from above ``b`` to below it (strict, as :func:`crossed_above`)."""
    b_prev = b.shift(1) if isinstance(b, pd.Series) else b
    return (a < b) & (a.shift(1) > b_prev)


def stop_atr_param(default: float) -> Param:
    """The usual ``stop_atr`` parameter: stop-loss distance in ATR(14) multiples, 0.5..5."""
    return Param(default, 0.5, 5, 0.25, "stop-loss distance in ATR(14)")


def take_atr_param(default: float) -> Param:
    """The usual ``take_atr`` parameter: take-profit distance in ATR(14) multiples, 0 (none)..10."""
    return Param(default, 0, 10, 0.5, "take-profit distance in ATR(14); 0 = none")


def max_hold_param(default: int, high: int = 500) -> Param:
    """The usual ``max_hold_bars`` parameter: close after this many bars, 1..``high``."""
    return Param(default, 1, high, 1, "close after this many bars")


def atr_exits(
    features: pd.DataFrame, stop_atr: float, take_atr: float, atr_pct: str = "atr_pct_14"
) -> dict[str, np.ndarray]:
    """Per-bar ``stop_loss_pct``/``take_profit_pct`` columns as multiples of the ATR in percent of price.

    A multiple of 0 disables that exit. Pass the result into :func:`signal_frame` as keyword arguments.
    """
    atr = features[atr_pct].to_numpy(dtype="float64")
    return {
        "stop_loss_pct": atr * stop_atr if stop_atr > 0 else np.full(len(atr), np.nan),
        "take_profit_pct": atr * take_atr if take_atr > 0 else np.full(len(atr), np.nan),
    }


def signal_frame(index: pd.Index, **columns: pd.Series | np.ndarray) -> pd.DataFrame:
    """A signal frame on ``index``: the given boolean columns, the other signal columns all False."""
    unknown = set(columns) - set(SIGNAL_COLUMNS) - set(RISK_COLUMNS)
    if unknown:
        raise SignalError(f"unknown signal column {sorted(unknown)[0]!r}")
    data: dict[str, np.ndarray] = {}
    for name in SIGNAL_COLUMNS:
        value = columns.get(name)
        data[name] = np.zeros(len(index), dtype=bool) if value is None else np.asarray(value, dtype=bool)
    for name in RISK_COLUMNS:
        if name in columns:
            data[name] = np.asarray(columns[name], dtype="float64")
    return pd.DataFrame(data, index=index)
