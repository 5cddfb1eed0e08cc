"""Timeframes: Blofin's spelling (``1m 5m 15m 1H 4H 1D``), their lengths in ms, and aliases.

A bar is labelled by its open time (epoch ms, UTC) and covers ``[open, open + length)``.
"""

from __future__ import annotations

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: Canonical timeframe name -> bar length in milliseconds.
TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1H": 60 * MINUTE_MS,
    "2H": 120 * MINUTE_MS,
    "4H": 240 * MINUTE_MS,
    "6H": 360 * MINUTE_MS,
    "12H": 720 * MINUTE_MS,
    "1D": 1440 * MINUTE_MS,
}

#: Other spellings operators use (the seeds write ``60m``; freqtrade writes ``1h``).
_ALIASES: dict[str, str] = {
    "60m": "1H",
    "120m": "2H",
    "240m": "4H",
    "360m": "6H",
    "720m": "12H",
    "1440m": "1D",
    "1h": "1H",
    "2h": "2H",
    "4h": "4H",
    "6h": "6H",
    "12h": "12H",
    "1d": "1D",
    "24H": "1D",
}


class TimeframeError(ValueError):
    """Raised for a timeframe name that is neither canonical nor a known alias."""


def parse_timeframe(name: str) -> str:
    """Return the canonical spelling of ``name`` (``"60m"`` -> ``"1H"``).

    Raises:
        TimeframeError: ``name`` is not a known timeframe; the message lists the valid ones.
    """
    text = name.strip()
    if text in TIMEFRAME_MS:
        return text
    if text in _ALIASES:
        return _ALIASES[text]
    valid = ", ".join(TIMEFRAME_MS)
    raise TimeframeError(f"unknown timeframe {name!r}; use one of {valid} (aliases: 60m, 1h, 4h, 1d)")


def timeframe_ms(name: str) -> int:
    """Bar length of timeframe ``name`` in milliseconds (aliases accepted)."""
    return TIMEFRAME_MS[parse_timeframe(name)]


def bars_per_year(name: str) -> float:
    """Bars of timeframe ``name`` in a 365-day year: crypto perpetuals trade 24/7."""
    return 365 * 24 * 60 * MINUTE_MS / timeframe_ms(name)
