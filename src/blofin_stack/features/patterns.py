"""Candle-pattern flags (group ``price``): TA-Lib's CDL* pattern recognition as -1 / 0 / +1.

Each flag is the sign of TA-Lib's output: +1 bullish pattern, -1 bearish, 0 none. TA-Lib answers
-100/0/+100, and -80/+80 for the weaker forms of engulfing and harami (an open or close equal to the
other body's end); both strengths map to -1/+1. Patterns without a direction (doji, dragonfly and
gravestone doji) and one-sided patterns (hammer: bullish only; hanging man: bearish only) use only
the values TA-Lib gives them.

TA-Lib judges "long body", "small shadow", "doji" and so on against trailing averages of body and
shadow sizes over the previous bars (its candle settings, e.g. 10 bars for a long body), so a pattern
needs that many bars before it can fire: each flag's warm-up is TA-Lib's own lookback for the
function. The averages are windowed, not recursive, so after the lookback the flag does not depend on
where history starts. Inside the warm-up the flag is NaN (TA-Lib itself answers 0 there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib
import talib.abstract

from blofin_stack.features.registry import feature

#: feature name -> (TA-Lib function, what a non-zero value means)
CANDLE_PATTERNS: dict[str, tuple[str, str]] = {
    "cdl_doji": ("CDLDOJI", "Doji: open and close (almost) equal; +1 when present (no direction)"),
    "cdl_hammer": ("CDLHAMMER", "Hammer: small body near the high, long lower shadow, after a decline; +1"),
    "cdl_inverted_hammer": (
        "CDLINVERTEDHAMMER",
        "Inverted hammer: small body near the low, long upper shadow, after a decline; +1",
    ),
    "cdl_hanging_man": ("CDLHANGINGMAN", "Hanging man: hammer shape after a rise; -1"),
    "cdl_shooting_star": ("CDLSHOOTINGSTAR", "Shooting star: inverted-hammer shape after a rise; -1"),
    "cdl_engulfing": ("CDLENGULFING", "Engulfing: body engulfs the previous opposite body; +1 bullish, -1 bearish"),
    "cdl_harami": ("CDLHARAMI", "Harami: small body inside the previous long opposite body; +1 bullish, -1 bearish"),
    "cdl_piercing": ("CDLPIERCING", "Piercing line: white bar closing above the midpoint of a long black one; +1"),
    "cdl_dark_cloud_cover": (
        "CDLDARKCLOUDCOVER",
        "Dark cloud cover: black bar closing below the midpoint of a long white one; -1",
    ),
    "cdl_morning_star": ("CDLMORNINGSTAR", "Morning star: long black, small star, white into the first body; +1"),
    "cdl_evening_star": ("CDLEVENINGSTAR", "Evening star: long white, small star, black into the first body; -1"),
    "cdl_three_white_soldiers": (
        "CDL3WHITESOLDIERS",
        "Three white soldiers: three rising white bars closing near their highs; +1",
    ),
    "cdl_three_black_crows": (
        "CDL3BLACKCROWS",
        "Three black crows: three falling black bars closing near their lows; -1",
    ),
    "cdl_marubozu": ("CDLMARUBOZU", "Marubozu: long body with (almost) no shadows; +1 white, -1 black"),
    "cdl_spinning_top": ("CDLSPINNINGTOP", "Spinning top: small body, shadows longer than it; +1 white, -1 black"),
    "cdl_dragonfly_doji": ("CDLDRAGONFLYDOJI", "Dragonfly doji: doji at the high, long lower shadow; +1 when present"),
    "cdl_gravestone_doji": (
        "CDLGRAVESTONEDOJI",
        "Gravestone doji: doji at the low, long upper shadow; +1 when present",
    ),
}


def _register_pattern(name: str, function: str, description: str) -> None:
    """Register ``name`` as the sign of TA-Lib's ``function`` over the bar's OHLC."""
    recognise = getattr(talib, function)
    lookback = talib.abstract.Function(function).lookback

    def flag(ohlcv: pd.DataFrame) -> pd.Series:
        raw = recognise(ohlcv["open"], ohlcv["high"], ohlcv["low"], ohlcv["close"])
        signs = np.sign(np.asarray(raw, dtype="float64"))
        signs[:lookback] = np.nan  # TA-Lib answers 0 there, but it has not looked yet
        return pd.Series(signs, index=ohlcv.index)

    flag.__name__ = flag.__qualname__ = name
    feature(
        name,
        "price",
        warmup_bars=lookback,
        description=description,
        units="signal -1/0/+1",
        source=f"sign of TA-Lib {function}(open, high, low, close)",
    )(flag)


for _name, (_function, _description) in CANDLE_PATTERNS.items():
    _register_pattern(_name, _function, _description)
