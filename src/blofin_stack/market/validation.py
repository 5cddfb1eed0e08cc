"""Validation at the edge: a candle or funding file is accepted whole or rejected with every rule it breaks.

Each rule has a stable short id (used in messages, reports and ``docs/DATA.md``):

==================== =================================================================
``nan``              a value is missing (empty cell, NaN, NaT) in ts/open/high/low/close/volume
``non_numeric``      a value is not a finite number (text such as ``"abc"``, or +-inf)
``non_positive_price`` open, high, low or close <= 0
``high_below_body``  high < max(open, close)
``low_above_body``   low > min(open, close)
``high_below_low``   high < low
``negative_volume``  volume < 0
``duplicate_ts``     the open time already occurred on an earlier row
``unsorted_ts``      the open time is smaller than the previous row's (file not ascending)
``off_minute_ts``    the open time (ms) is not a multiple of 60 000
``ts_out_of_range``  the open time is before 2009-01-01 or from 2100-01-01 on (UTC)
==================== =================================================================

Rows are numbered like the data rows of the file: row 1 is the first candle (the line after a header).
The checks are vectorised; only the few reported examples are formatted one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from blofin_stack.market.store import OHLCV_COLUMNS
from blofin_stack.market.timeframes import MINUTE_MS

#: Columns a raw frame must have (extra columns are ignored).
RAW_COLUMNS = ("ts", *OHLCV_COLUMNS)
PRICE_COLUMNS = ("open", "high", "low", "close")
#: Earliest accepted open time: 2009-01-01T00:00:00Z (ms).
MIN_TS_MS = 1_230_768_000_000
#: Open times from 2100-01-01T00:00:00Z (ms) on are rejected: seconds or microseconds mistaken for ms.
MAX_TS_MS = 4_102_444_800_000
#: How many violations an error keeps as examples (``counts`` always covers all of them).
MAX_KEPT_VIOLATIONS = 100
#: How many examples the error message shows.
MAX_MESSAGE_EXAMPLES = 5


@dataclass(frozen=True)
class Violation:
    """One broken rule on one row.

    Attributes:
        row: 1-based data row number in the file (row 1 = first candle, after any header).
        rule: the rule id, e.g. ``high_below_body``.
        detail: the offending values, e.g. ``high=95000.0 < max(open=95010.0, close=95001.0)``.
        ts: the row's open time as written in the file (text, so that bad values show as they are).
    """

    row: int
    rule: str
    detail: str
    ts: str

    def __str__(self) -> str:
        return f"row {self.row} (ts={self.ts}): {self.rule}: {self.detail}"


class DataValidationError(ValueError):
    """A file broke one or more validation rules; nothing of it may be stored.

    Attributes:
        source: the file (or other origin) the candles came from.
        violations: the first :data:`MAX_KEPT_VIOLATIONS` violations, ordered by row.
        counts: number of violations per rule id over the whole file (largest first).
    """

    def __init__(self, source: str, violations: list[Violation], counts: dict[str, int]) -> None:
        self.source = source
        self.violations = violations
        self.counts = counts
        super().__init__(self._message())

    @property
    def total(self) -> int:
        """Number of violations in the whole file."""
        return sum(self.counts.values())

    def _message(self) -> str:
        per_rule = ", ".join(f"{rule}: {n}" for rule, n in self.counts.items())
        examples = "; ".join(str(v) for v in self.violations[:MAX_MESSAGE_EXAMPLES])
        more = "; ..." if self.total > MAX_MESSAGE_EXAMPLES else ""
        noun = "violation" if self.total == 1 else "violations"
        return f"{self.source}: rejected, {self.total} {noun} ({per_rule}); {examples}{more}"


class CandleValidationError(DataValidationError):
    """A candle file broke one or more validation rules; nothing of it may be stored."""


class FundingValidationError(DataValidationError):
    """A funding-rate file broke one or more validation rules; nothing of it may be stored."""


def _fmt(value: object) -> str:
    """A value as it should appear in a message: whole numbers without ``.0``, floats by repr, text quoted."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e16 else repr(number)
    return str(value)


def _price(value: np.floating) -> str:
    """A price or volume as Python prints a float (``95000.0``)."""
    return repr(float(value))


class _Checker:
    """Vectorised rule masks over one raw frame, plus formatters for the reported examples."""

    def __init__(self, raw: pd.DataFrame) -> None:
        self.raw = {name: raw[name].reset_index(drop=True) for name in RAW_COLUMNS}
        self.num = {
            name: pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            for name, col in self.raw.items()
        }
        self.missing = {name: col.isna().to_numpy() for name, col in self.raw.items()}

    def ts_text(self, i: int) -> str:
        return "nan" if self.missing["ts"][i] else _fmt(self.raw["ts"].iloc[i])

    def masks(self) -> Masks:
        """Rule id -> (boolean mask over rows, formatter of the detail for row index ``i``)."""
        num, raw, missing = self.num, self.raw, self.missing
        bad_number = {name: ~missing[name] & ~np.isfinite(num[name]) for name in RAW_COLUMNS}
        ts = num["ts"]
        o, h, lo, c, v = (num[name] for name in OHLCV_COLUMNS)
        body_top, body_bottom = np.maximum(o, c), np.minimum(o, c)
        prev = np.full_like(ts, np.nan)
        prev[1:] = ts[:-1]
        duplicated = pd.Series(ts).duplicated(keep="first").to_numpy() & np.isfinite(ts)

        def columns_where(flags: dict[str, np.ndarray], i: int, show: Callable[[str], str]) -> str:
            return ", ".join(show(name) for name in flags if flags[name][i])

        def first_row_of(i: int) -> int:
            return int(np.flatnonzero(ts == ts[i])[0]) + 1

        non_positive = {name: num[name] <= 0 for name in PRICE_COLUMNS}
        return {
            "nan": (
                np.logical_or.reduce([missing[name] for name in RAW_COLUMNS]),
                lambda i: "missing " + columns_where(missing, i, str),
            ),
            "non_numeric": (
                np.logical_or.reduce([bad_number[name] for name in RAW_COLUMNS]),
                lambda i: (
                    columns_where(bad_number, i, lambda n: f"{n}={_fmt(raw[n].iloc[i])}") + " not a finite number"
                ),
            ),
            "non_positive_price": (
                np.logical_or.reduce([non_positive[name] for name in PRICE_COLUMNS]),
                lambda i: columns_where(non_positive, i, lambda n: f"{n}={_price(num[n][i])}") + " <= 0",
            ),
            "high_below_body": (
                h < body_top,
                lambda i: f"high={_price(h[i])} < max(open={_price(o[i])}, close={_price(c[i])})",
            ),
            "low_above_body": (
                lo > body_bottom,
                lambda i: f"low={_price(lo[i])} > min(open={_price(o[i])}, close={_price(c[i])})",
            ),
            "high_below_low": (h < lo, lambda i: f"high={_price(h[i])} < low={_price(lo[i])}"),
            "negative_volume": (v < 0, lambda i: f"volume={_price(v[i])} < 0"),
            "duplicate_ts": (
                duplicated,
                lambda i: f"ts={_fmt(ts[i])} already on row {first_row_of(i)}",
            ),
            "unsorted_ts": (
                ts < prev,
                lambda i: f"ts={_fmt(ts[i])} < previous row's ts={_fmt(prev[i])}",
            ),
            "off_minute_ts": (
                np.isfinite(ts) & (np.fmod(ts, MINUTE_MS) != 0),
                lambda i: (
                    f"ts={_fmt(ts[i])} is not a multiple of {MINUTE_MS} ms "
                    f"(remainder {_fmt(np.fmod(ts[i], MINUTE_MS))})"
                ),
            ),
            "ts_out_of_range": (
                np.isfinite(ts) & ((ts < MIN_TS_MS) | (ts >= MAX_TS_MS)),
                lambda i: (
                    f"ts={_fmt(ts[i])} outside [{MIN_TS_MS}, {MAX_TS_MS}) "
                    "(2009-01-01..2100-01-01 UTC in ms; seconds or microseconds?)"
                ),
            ),
        }


Masks = dict[str, tuple[np.ndarray, Callable[[int], str]]]


def _raise_violations(
    masks: Masks, ts_text: Callable[[int], str], source: str, error: type[DataValidationError]
) -> None:
    """Raise ``error`` listing every broken rule of ``masks`` (rule -> row mask and detail formatter)."""
    counts: dict[str, int] = {}
    violations: list[Violation] = []
    for rule, (mask, detail) in masks.items():
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            continue
        counts[rule] = len(rows)
        violations.extend(
            Violation(int(i) + 1, rule, detail(int(i)), ts_text(int(i))) for i in rows[:MAX_KEPT_VIOLATIONS]
        )
    if counts:
        rank = {rule: position for position, rule in enumerate(counts)}
        violations.sort(key=lambda v: (v.row, rank[v.rule]))
        ranked = dict(sorted(counts.items(), key=lambda item: (-item[1], rank[item[0]])))
        raise error(source, violations[:MAX_KEPT_VIOLATIONS], ranked)


def validate_candles(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check raw 1m candles against every rule and return them in the house layout.

    Args:
        raw: one row per candle in FILE ORDER (not sorted yet), with columns ``ts`` (open time, epoch
            ms UTC), ``open high low close`` (USDT) and ``volume`` (base currency); any dtype
            (numbers or text as read from the file); extra columns are ignored.
        source: name of the file (or other origin), used in the error message.

    Returns:
        DataFrame indexed by ``ts`` (int64 open times in ms, strictly increasing) with float64 columns
        ``open high low close volume``. An empty ``raw`` gives an empty frame in the same layout.

    Raises:
        ValueError: ``raw`` lacks one of the columns ``ts open high low close volume``.
        CandleValidationError: any rule is broken; carries ``source``, the first violations (row,
            rule, detail) and the count per rule.
    """
    absent = [name for name in RAW_COLUMNS if name not in raw.columns]
    if absent:
        raise ValueError(f"{source}: missing column(s) {', '.join(absent)}; expected {', '.join(RAW_COLUMNS)}")
    checker = _Checker(raw)
    _raise_violations(checker.masks(), checker.ts_text, source, CandleValidationError)
    frame = pd.DataFrame(
        {name: checker.num[name] for name in OHLCV_COLUMNS},
        index=pd.Index(checker.num["ts"].astype("int64"), name="ts"),
    )
    return frame


#: Columns of a funding-rate file (one row per instrument and settlement).
FUNDING_COLUMNS = ("ts", "inst_id", "funding_rate")
#: Largest accepted absolute funding rate per settlement (a fraction; exchanges cap far below it).
MAX_ABS_FUNDING_RATE = 0.1


def validate_funding(raw: pd.DataFrame, source: str) -> dict[str, pd.DataFrame]:
    """Check raw funding rates and split them by instrument.

    Rules: ``nan``, ``non_numeric`` (ts or funding_rate), ``ts_out_of_range`` (as for candles),
    ``bad_inst_id`` (not like ``BTC-USDT``), ``rate_out_of_range`` (|rate| > 0.1 per settlement),
    ``duplicate_ts`` (the same instrument and settlement time twice). Settlement times are kept as
    given (exchanges stamp them a few ms off the hour).

    Args:
        raw: rows in file order with columns ``ts`` (settlement time, epoch ms UTC), ``inst_id`` and
            ``funding_rate`` (fraction of notional per funding interval).
        source: file name for messages.

    Returns:
        Instrument -> DataFrame indexed by ``ts`` (int64, ascending) with float64 ``funding_rate``.

    Raises:
        ValueError: a column is missing.
        FundingValidationError: any rule is broken (file, rows, rules, counts).
    """
    absent = [name for name in FUNDING_COLUMNS if name not in raw.columns]
    if absent:
        raise ValueError(f"{source}: missing column(s) {', '.join(absent)}; expected {', '.join(FUNDING_COLUMNS)}")
    frame = raw.loc[:, list(FUNDING_COLUMNS)].reset_index(drop=True)
    ts = pd.to_numeric(frame["ts"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    rate = pd.to_numeric(frame["funding_rate"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    inst = frame["inst_id"].astype("string")
    missing = frame.isna().any(axis=1).to_numpy()
    bad_number = ~missing & (~np.isfinite(ts) | ~np.isfinite(rate))
    bad_inst = ~missing & ~inst.str.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+").fillna(False).to_numpy(dtype=bool)
    duplicated = frame.assign(ts=ts).duplicated(["inst_id", "ts"], keep="first").to_numpy() & np.isfinite(ts)
    masks: Masks = {
        "nan": (missing, lambda i: "missing " + ", ".join(c for c in FUNDING_COLUMNS if pd.isna(frame[c].iloc[i]))),
        "non_numeric": (
            bad_number,
            lambda i: f"ts={_fmt(frame['ts'].iloc[i])}, funding_rate={_fmt(frame['funding_rate'].iloc[i])}",
        ),
        "ts_out_of_range": (
            np.isfinite(ts) & ((ts < MIN_TS_MS) | (ts >= MAX_TS_MS)),
            lambda i: f"ts={_fmt(ts[i])} outside [{MIN_TS_MS}, {MAX_TS_MS})",
        ),
        "bad_inst_id": (bad_inst, lambda i: f"inst_id={_fmt(frame['inst_id'].iloc[i])} is not like 'BTC-USDT'"),
        "rate_out_of_range": (
            np.isfinite(rate) & (np.abs(rate) > MAX_ABS_FUNDING_RATE),
            lambda i: f"funding_rate={_fmt(rate[i])} beyond +-{MAX_ABS_FUNDING_RATE}",
        ),
        "duplicate_ts": (duplicated, lambda i: f"{frame['inst_id'].iloc[i]} ts={_fmt(ts[i])} already listed"),
    }
    _raise_violations(masks, lambda i: _fmt(frame["ts"].iloc[i]), source, FundingValidationError)
    out = pd.DataFrame({"ts": ts.astype("int64"), "inst_id": inst.to_numpy(dtype=object), "funding_rate": rate})
    return {
        str(name): group.set_index("ts")[["funding_rate"]].sort_index()
        for name, group in out.groupby("inst_id", sort=True)
    }
