"""The feature registry: every named feature, its metadata, and parameterised families.

A feature is a pure, causal function of an OHLCV frame (index: int64 bar open time in ms; float64
columns ``open high low close volume``) returning a float Series aligned to it: the value at bar ``t``
may use bars ``<= t`` only. Each declares:

* ``warmup_bars``: bars of history after which its value no longer depends on how much earlier
  history exists (for recursive indicators, to within ``WARMUP_TOLERANCE`` relative);
* ``group``, ``description``, ``units`` and ``source`` (the TA-Lib function or formula reference).

Families resolve parameterised names such as ``rsi_21`` or ``ema_200`` for any integer N.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from blofin_stack.features.mtf import higher_timeframe_values
from blofin_stack.market.timeframes import TimeframeError, parse_timeframe

FeatureFunc = Callable[[pd.DataFrame], pd.Series]

#: Groups of the operator's feature library (seed 001), in display order.
GROUPS = (
    "price",
    "volume",
    "momentum",
    "trend",
    "volatility",
    "macd",
    "oscillators",
    "volume_weighted",
    "regime",
    "custom",
)

#: Relative tolerance that defines the end of a recursive indicator's warm-up: the weight left on the
#: indicator's seed (its first values) once the warm-up is over.
WARMUP_TOLERANCE = 1e-6

#: Seed weight for recursive indicators whose value is not a price level (RSI, ATR, volume EMA, MACD,
#: +DI/-DI). Their seed can be off by several times the value itself (measured on BTC: up to ~6x), so
#: a 1e-6 seed weight does not bound the relative error to 1e-6; these wait two decades more.
STRICT_SEED_WEIGHT = 1e-8


def ema_warmup(period: int, seed_weight: float = WARMUP_TOLERANCE) -> int:
    """Bars until an EMA with alpha = 2/(period+1) weighs its seed by less than ``seed_weight``."""
    alpha = 2.0 / (period + 1)
    return period + math.ceil(math.log(seed_weight) / math.log(1 - alpha))


def wilder_warmup(period: int, seed_weight: float = WARMUP_TOLERANCE) -> int:
    """Bars until Wilder's smoothing (alpha = 1/period; RSI, ATR, ADX) weighs its seed below ``seed_weight``."""
    if period <= 1:
        return period
    alpha = 1.0 / period
    return period + math.ceil(math.log(seed_weight) / math.log(1 - alpha))


def strict_ema_warmup(period: int) -> int:
    """:func:`ema_warmup` at :data:`STRICT_SEED_WEIGHT`, for EMAs of values that are not price levels."""
    return ema_warmup(period, STRICT_SEED_WEIGHT)


def strict_wilder_warmup(period: int) -> int:
    """:func:`wilder_warmup` at :data:`STRICT_SEED_WEIGHT` (RSI, ATR, +DI/-DI, ADX)."""
    return wilder_warmup(period, STRICT_SEED_WEIGHT)


class UnknownFeatureError(KeyError):
    """Raised for a feature name that no feature or family resolves."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class FeatureSpec:
    """One resolvable feature."""

    name: str
    group: str
    func: FeatureFunc = field(repr=False, compare=False)
    warmup_bars: int
    description: str
    units: str
    source: str
    #: For a multi-timeframe feature (``1H:ema_21``): the higher timeframe; ``warmup_bars`` then counts
    #: bars of that timeframe (see :func:`~blofin_stack.features.manager.max_warmup`).
    timeframe: str | None = None
    #: First bar open time (ms) that can have a value; earlier bars are NaN by design (a model's
    #: predictions are out of sample only). The look-ahead audit's warm-up test skips them.
    available_from: int | None = None

    def describe(self) -> dict[str, str | int | None]:
        """Metadata as a JSON-friendly dict (no function)."""
        return {
            "name": self.name,
            "group": self.group,
            "description": self.description,
            "units": self.units,
            "warmup_bars": self.warmup_bars,
            "timeframe": self.timeframe,
            "source": self.source,
            "available_from": self.available_from,
        }


@dataclass(frozen=True)
class FeatureFamily:
    """Features named by a pattern with one integer parameter, e.g. ``rsi_{n}``."""

    pattern: str
    group: str
    build: Callable[[int], FeatureSpec] = field(repr=False, compare=False)
    description: str
    min_n: int = 1

    @property
    def regex(self) -> re.Pattern[str]:
        prefix, _, suffix = self.pattern.partition("{n}")
        return re.compile(rf"^{re.escape(prefix)}(\d+){re.escape(suffix)}$")


class FeatureRegistry:
    """Name -> :class:`FeatureSpec`, plus families that build specs on demand."""

    def __init__(self) -> None:
        self._specs: dict[str, FeatureSpec] = {}
        self._families: dict[str, FeatureFamily] = {}

    def register(self, spec: FeatureSpec, *, replace: bool = False) -> FeatureSpec:
        """Add ``spec``; raises ValueError on a duplicate name or unknown group unless ``replace``."""
        if spec.group not in GROUPS:
            raise ValueError(f"feature {spec.name!r}: unknown group {spec.group!r}; use one of {GROUPS}")
        if spec.name in self._specs and not replace:
            raise ValueError(f"feature {spec.name!r} is already registered")
        if spec.warmup_bars < 0:
            raise ValueError(f"feature {spec.name!r}: warmup_bars must be >= 0")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> bool:
        """Remove the exact feature ``name`` (e.g. a model feature whose model was retired); True if it was there."""
        return self._specs.pop(name, None) is not None

    def register_family(self, family: FeatureFamily) -> FeatureFamily:
        """Add a parameterised family; raises ValueError on a duplicate pattern."""
        if family.pattern in self._families:
            raise ValueError(f"feature family {family.pattern!r} is already registered")
        self._families[family.pattern] = family
        return family

    def resolve(self, name: str) -> FeatureSpec:
        """The spec for ``name``: an exact feature, a family member (``rsi_21``), or a higher-timeframe
        feature written ``TIMEFRAME:feature`` (``1H:ema_21``, see :mod:`blofin_stack.features.mtf`).

        Raises:
            UnknownFeatureError: nothing resolves ``name``; the message names close matches.
        """
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        if ":" in name:
            return self._resolve_higher_timeframe(name)
        for family in self._families.values():
            match = family.regex.match(name)
            if match and int(match.group(1)) >= family.min_n:
                return family.build(int(match.group(1)))
        import difflib

        close = difflib.get_close_matches(name, [*self._specs, *self._families], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFeatureError(f"unknown feature {name!r}{hint}")

    def _resolve_higher_timeframe(self, name: str) -> FeatureSpec:
        prefix, _, inner_name = name.partition(":")
        try:
            timeframe = parse_timeframe(prefix)
        except TimeframeError as exc:
            raise UnknownFeatureError(f"feature {name!r}: {exc}") from None
        inner = self.resolve(inner_name)
        if inner.timeframe is not None:
            raise UnknownFeatureError(f"feature {name!r}: a timeframe prefix cannot be nested")

        def func(ohlcv: pd.DataFrame) -> pd.Series:
            return pd.Series(higher_timeframe_values(ohlcv, timeframe, inner.func), index=ohlcv.index)

        func.__wrapped__ = inner.func  # type: ignore[attr-defined]
        return FeatureSpec(
            name=f"{timeframe}:{inner.name}",
            group=inner.group,
            func=func,
            warmup_bars=inner.warmup_bars,
            description=f"{inner.description} (on closed {timeframe} bars)",
            units=inner.units,
            source=f"{inner.source}, computed on {timeframe} bars, as-of join of closed bars",
            timeframe=timeframe,
        )

    def snapshot(self) -> tuple[dict[str, FeatureSpec], dict[str, FeatureFamily]]:
        """A copy of the registrations, for :meth:`restore` (rolling back a plugin that failed)."""
        return dict(self._specs), dict(self._families)

    def restore(self, snapshot: tuple[dict[str, FeatureSpec], dict[str, FeatureFamily]]) -> None:
        """Return to the registrations of ``snapshot``."""
        self._specs, self._families = dict(snapshot[0]), dict(snapshot[1])

    def names(self, group: str | None = None) -> list[str]:
        """Registered exact feature names (optionally of one group), in registration order."""
        return [n for n, s in self._specs.items() if group is None or s.group == group]

    def specs(self) -> list[FeatureSpec]:
        """All exact feature specs, in registration order."""
        return list(self._specs.values())

    def families(self) -> list[FeatureFamily]:
        """All parameterised families."""
        return list(self._families.values())


#: The process-wide registry that built-in modules and plugins register into.
REGISTRY = FeatureRegistry()


def feature(
    name: str,
    group: str = "custom",
    warmup_bars: int = 0,
    description: str = "",
    units: str = "",
    source: str = "",
) -> Callable[[FeatureFunc], FeatureFunc]:
    """Decorator registering ``func(ohlcv) -> Series`` as feature ``name`` in :data:`REGISTRY`.

    Example::

        @feature("close_to_high", group="custom", warmup_bars=20, description="close / 20-bar high")
        def close_to_high(ohlcv):
            return ohlcv["close"] / ohlcv["high"].rolling(20).max()
    """

    def decorate(func: FeatureFunc) -> FeatureFunc:
        REGISTRY.register(
            FeatureSpec(
                name=name,
                group=group,
                func=func,
                warmup_bars=warmup_bars,
                description=description or (func.__doc__ or "").strip().split("\n")[0],
                units=units,
                source=source or f"{func.__module__}.{func.__qualname__}",
            )
        )
        return func

    return decorate


def family(
    pattern: str,
    group: str,
    warmup: Callable[[int], int],
    description: str,
    units: str,
    source: str,
    min_n: int = 1,
) -> Callable[[Callable[[pd.DataFrame, int], pd.Series]], Callable[[pd.DataFrame, int], pd.Series]]:
    """Decorator registering ``func(ohlcv, n) -> Series`` as the family ``pattern`` (with ``{n}``).

    ``description`` may contain ``{n}``; ``warmup(n)`` gives each member's warm-up in bars.
    """

    def decorate(
        func: Callable[[pd.DataFrame, int], pd.Series],
    ) -> Callable[[pd.DataFrame, int], pd.Series]:
        def build(n: int) -> FeatureSpec:
            def member(ohlcv: pd.DataFrame) -> pd.Series:
                return func(ohlcv, n)

            member.__wrapped__ = func  # type: ignore[attr-defined]
            return FeatureSpec(
                name=pattern.replace("{n}", str(n)),
                group=group,
                func=member,
                warmup_bars=warmup(n),
                description=description.replace("{n}", str(n)),
                units=units,
                source=source,
            )

        REGISTRY.register_family(FeatureFamily(pattern, group, build, description, min_n))
        return func

    return decorate
