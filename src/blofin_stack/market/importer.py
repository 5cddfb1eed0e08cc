"""Import 1m candle files into the market store: read -> validate -> merge, all or nothing per file.

Formats (detected from the extension and, for CSV, the first line):

* house CSV / CSV.gz with header ``ts,open,high,low,close,volume`` (``ts`` = open time in ms),
  instrument from the file name (``BTC-USDT.csv.gz``);
* Binance kline CSV (12 columns ``open_time, open, high, low, close, volume, close_time, quote_volume,
  count, taker_buy_volume, taker_buy_quote_volume, ignore``), without or with an ``open_time`` header,
  plain or in the ``.zip`` Binance publishes; open times above 1e14 are microseconds and are converted
  to ms; instrument from ``BTCUSDT-1m-2025-05-01.csv`` -> ``BTC-USDT``;
* freqtrade feather (``BTC_USDT_USDT-1m-futures.feather``, ``BTC_USDT-1m.feather``) with a tz-aware
  ``date`` column;
* Parquet with the house columns (``ts`` as a column or as the index) or freqtrade's ``date``;
* funding rates: CSV / CSV.gz with header ``ts,inst_id,funding_rate`` (several instruments per file).

A file name that names a timeframe other than ``1m`` is rejected: the store keeps 1m bars and
aggregates higher timeframes itself.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from blofin_stack.market.store import MarketStore, check_inst_id, find_gaps
from blofin_stack.market.timeframes import MINUTE_MS
from blofin_stack.market.validation import (
    RAW_COLUMNS,
    CandleValidationError,
    DataValidationError,
    validate_candles,
    validate_funding,
)

#: File endings the importer reads (a folder is expanded to the files with these endings).
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".zip", ".feather", ".parquet")
BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
#: Quote currencies split off Binance symbols (``BTCUSDT`` -> ``BTC-USDT``); longest match first.
QUOTE_SUFFIXES = ("USDT", "USDC", "BUSD", "USD")
#: Open times above this are microseconds (newer Binance files), below it milliseconds.
_MICROSECONDS_ABOVE = 1e14

_TF = r"(?P<tf>\d+[a-zA-Z]+)"
_HOUSE_NAME = re.compile(rf"^(?P<inst>[A-Z0-9]+-[A-Z0-9]+)(?:[-_]{_TF})?$")
_BINANCE_NAME = re.compile(rf"^(?P<symbol>[A-Z0-9]+)-{_TF}-\d{{4}}-\d{{2}}(?:-\d{{2}})?$")
_FREQTRADE_NAME = re.compile(rf"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_[A-Z0-9]+)?-{_TF}(?:-futures|-spot)?$")

# Errors that mean "this file cannot be read" (corrupt archive, bad encoding, unparsable table).
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, pa.ArrowException)


class UnreadableFileError(ValueError):
    """A file cannot be imported before validation: unknown format or name, wrong timeframe, bad layout."""


@dataclass
class FileResult:
    """Outcome of importing one file.

    Attributes:
        path: the file.
        inst_id: instrument the file was (or would have been) stored under; ``None`` if unknown.
        status: ``imported`` or ``rejected`` (a rejected file stored nothing).
        rows: data rows read from the file.
        new, updated, unchanged: 1m bars added, replaced with other values, already stored as is.
        gaps: missing minutes inside the file: dicts ``after_ts``, ``before_ts`` (open times, ms) and
            ``missing_bars``.
        kind: ``candles`` or ``funding`` (a funding file holds several instruments: ``instruments``).
        error: why the file was rejected (names the file; rows and rules for validation errors).
    """

    path: Path
    inst_id: str | None
    status: Literal["imported", "rejected"]
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    gaps: list[dict[str, int]] = field(default_factory=list)
    error: str | None = None
    kind: Literal["candles", "funding"] = "candles"
    instruments: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (``path`` as text)."""
        return {**asdict(self), "path": str(self.path)}


@dataclass
class ImportReport:
    """Per-file results of :func:`import_paths` and their totals."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def files_imported(self) -> int:
        """Files merged into the store."""
        return sum(f.status == "imported" for f in self.files)

    @property
    def files_rejected(self) -> int:
        """Files that stored nothing."""
        return sum(f.status == "rejected" for f in self.files)

    @property
    def rows(self) -> int:
        """Data rows read from all files (imported or rejected)."""
        return sum(f.rows for f in self.files)

    @property
    def new_bars(self) -> int:
        """1m bars added to the store by all files."""
        return sum(f.new for f in self.files)

    def totals(self) -> dict[str, int]:
        """Counts over all files: files (imported, rejected), rows and new/updated/unchanged bars."""
        return {
            "files": len(self.files),
            "files_imported": self.files_imported,
            "files_rejected": self.files_rejected,
            "rows": self.rows,
            "new_bars": self.new_bars,
            "updated_bars": sum(f.updated for f in self.files),
            "unchanged_bars": sum(f.unchanged for f in self.files),
        }

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict: ``files`` (list of per-file dicts) and ``totals``."""
        return {"files": [f.to_dict() for f in self.files], "totals": self.totals()}


# ------------------------------------------------------------------------------------------ names
def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")


def _split_symbol(symbol: str) -> str | None:
    quote = next((q for q in QUOTE_SUFFIXES if symbol.endswith(q) and len(symbol) > len(q)), None)
    return f"{symbol[: -len(quote)]}-{quote}" if quote else None


def parse_file_name(path: Path) -> tuple[str | None, str | None]:
    """Instrument and timeframe a file name states, each ``None`` when the name does not say.

    ``BTC-USDT.csv.gz`` -> ``("BTC-USDT", None)``; ``BTCUSDT-1m-2025-05-01.zip`` -> ``("BTC-USDT", "1m")``;
    ``BTC_USDT_USDT-1m-futures.feather`` -> ``("BTC-USDT", "1m")``; ``data.csv`` -> ``(None, None)``.
    """
    suffix = _suffix(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.stem
    if match := _HOUSE_NAME.match(stem):
        return match["inst"], match["tf"]
    if match := _BINANCE_NAME.match(stem):
        return _split_symbol(match["symbol"]), match["tf"]
    if match := _FREQTRADE_NAME.match(stem):
        return f"{match['base']}-{match['quote']}", match["tf"]
    return None, None


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files to import: folders become their supported files (sorted, not recursive); files stay as given."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and _suffix(p)))
        else:
            files.append(path)
    return list(dict.fromkeys(files))


# ---------------------------------------------------------------------------------------- readers
def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> pd.DataFrame:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        found = ", ".join(map(str, frame.columns))
        raise UnreadableFileError(f"{what} lacks column(s) {', '.join(absent)} (found: {found})")
    return frame.loc[:, list(columns)]


def _read_house_csv(path: Path) -> pd.DataFrame:
    return _require(pd.read_csv(path), RAW_COLUMNS, "CSV")


def _read_binance_csv(path: Path, header: bool) -> pd.DataFrame:
    frame = pd.read_csv(path, header=0 if header else None, names=BINANCE_COLUMNS, usecols=range(6))
    open_time = frame.pop("open_time")
    numeric = pd.to_numeric(open_time, errors="coerce")
    frame.insert(0, "ts", open_time.where(~(numeric > _MICROSECONDS_ABOVE), numeric / 1000))
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    """CSV, CSV.gz or a zip holding one CSV: house layout or Binance klines, told apart by the first line."""
    first = pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0].tolist()
    if first[0] == "ts":
        return _read_house_csv(path)
    if first[0] == "open_time":
        return _read_binance_csv(path, header=True)
    if len(first) == len(BINANCE_COLUMNS) and pd.notna(pd.to_numeric(first[0], errors="coerce")):
        return _read_binance_csv(path, header=False)
    raise UnreadableFileError(
        f"unknown CSV layout (first line starts {','.join(map(str, first[:6]))!r}); expected a header "
        "'ts,open,high,low,close,volume' or 12-column Binance klines"
    )


def _date_to_ms(date: pd.Series) -> pd.Series:
    """Tz-aware datetimes -> float64 epoch ms (NaT -> NaN, so validation reports it as missing)."""
    if not isinstance(date.dtype, pd.DatetimeTZDtype):
        raise UnreadableFileError(f"column 'date' must hold timezone-aware datetimes (UTC), not {date.dtype}")
    ns = date.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view("int64")
    return pd.Series(np.where(date.isna().to_numpy(), np.nan, ns // 1_000_000), index=date.index)


def _from_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Feather/Parquet content: house ``ts`` (column or index) or freqtrade ``date`` -> raw columns."""
    if "ts" not in frame.columns and frame.index.name == "ts":
        frame = frame.reset_index()
    if "ts" not in frame.columns and "date" in frame.columns:
        frame = frame.assign(ts=_date_to_ms(frame["date"]))
    return _require(frame, RAW_COLUMNS, "table")


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": _read_csv,
    ".csv.gz": _read_csv,
    ".zip": _read_csv,
    ".feather": lambda path: _from_table(pd.read_feather(path)),
    ".parquet": lambda path: _from_table(pd.read_parquet(path)),
}


def read_candle_file(path: Path) -> pd.DataFrame:
    """Read a candle file of any supported format into raw columns, in file order.

    Returns:
        DataFrame with columns ``ts`` (open time, epoch ms; float or int, text if the file holds
        text), ``open high low close volume`` as read; not validated (see :func:`validate_candles`).

    Raises:
        UnreadableFileError: unsupported extension, unknown CSV layout or missing columns.
        OSError, EOFError, ValueError, zipfile.BadZipFile, pyarrow.ArrowException: the file is corrupt.
    """
    reader = _READERS.get(_suffix(path))
    if reader is None:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise UnreadableFileError(f"unsupported file type (supported: {supported})")
    return reader(path).reset_index(drop=True)


# ---------------------------------------------------------------------------------------- service
def _check_name(timeframe: str | None, instrument: str | None) -> str:
    """The instrument to store under, after checking what the file name says."""
    if timeframe is not None and timeframe != "1m":
        raise UnreadableFileError(
            f"the file name says timeframe {timeframe!r}; only 1m candles can be imported "
            "(higher timeframes are aggregated from 1m)"
        )
    if instrument is None:
        raise UnreadableFileError(
            "cannot tell the instrument from the file name; name it like BTC-USDT.csv.gz, "
            "BTCUSDT-1m-2025-05-01.zip or BTC_USDT_USDT-1m-futures.feather, or pass --inst"
        )
    return instrument


def _check_one_minute(candles: pd.DataFrame) -> None:
    steps = np.diff(candles.index.to_numpy())
    if len(steps) and steps.min() > MINUTE_MS:
        raise UnreadableFileError(
            f"no two bars are one minute apart (smallest step {steps.min() // MINUTE_MS} min): not 1m candles"
        )


def _is_funding_file(path: Path) -> bool:
    """A CSV whose header names a ``funding_rate`` column (``ts,inst_id,funding_rate``)."""
    if _suffix(path) not in (".csv", ".csv.gz"):
        return False
    try:
        return "funding_rate" in pd.read_csv(path, nrows=0).columns
    except _READ_ERRORS:
        return False


def _import_funding(path: Path, store: MarketStore) -> FileResult:
    """A funding-rate CSV of several instruments: validated whole, then stored per instrument."""
    try:
        raw = pd.read_csv(path)
        by_instrument = validate_funding(raw, path.name)
    except DataValidationError as exc:
        return FileResult(path, None, "rejected", rows=len(raw), kind="funding", error=str(exc))
    except _READ_ERRORS as exc:
        error = f"{path.name}: rejected, cannot read the file ({type(exc).__name__}: {exc})"
        return FileResult(path, None, "rejected", kind="funding", error=error)
    written = [store.write_funding(inst, rates) for inst, rates in by_instrument.items()]
    return FileResult(
        path,
        None,
        "imported",
        rows=len(raw),
        new=sum(w.new for w in written),
        updated=sum(w.updated for w in written),
        unchanged=sum(w.unchanged for w in written),
        kind="funding",
        instruments=sorted(by_instrument),
    )


def import_file(path: Path, store: MarketStore, inst_id: str | None = None) -> FileResult:
    """Read, validate and merge one file into ``store``; a rejected file stores nothing.

    Candle files go to the candle store; a funding-rate CSV (header ``ts,inst_id,funding_rate``) to the
    funding store. Never raises for a bad file: the result has ``status="rejected"`` and an ``error``
    naming it.
    """
    if _is_funding_file(path):
        return _import_funding(path, store)
    named, timeframe = parse_file_name(path)
    instrument = inst_id or named
    rows = 0
    try:
        instrument = _check_name(timeframe, instrument)
        raw = read_candle_file(path)
        rows = len(raw)
        if rows == 0:
            raise UnreadableFileError("the file holds no candles")
        candles = validate_candles(raw, path.name)
        _check_one_minute(candles)
    except CandleValidationError as exc:
        return FileResult(path, instrument, "rejected", rows=rows, error=str(exc))
    except UnreadableFileError as exc:
        return FileResult(path, instrument, "rejected", rows=rows, error=f"{path.name}: rejected, {exc}")
    except _READ_ERRORS as exc:
        error = f"{path.name}: rejected, cannot read the file ({type(exc).__name__}: {exc})"
        return FileResult(path, instrument, "rejected", rows=rows, error=error)
    written = store.write_candles(instrument, candles)
    gaps = [
        {"after_ts": g.after_ts, "before_ts": g.before_ts, "missing_bars": g.missing_bars}
        for g in find_gaps(candles.index.to_numpy())
    ]
    return FileResult(path, instrument, "imported", rows, written.new, written.updated, written.unchanged, gaps)


def import_paths(
    paths: Sequence[Path],
    store: MarketStore,
    inst_id: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> ImportReport:
    """Import candle files and folders into ``store``, one file at a time, all or nothing per file.

    Args:
        paths: files and folders (a folder contributes its supported files, sorted).
        store: the market store to merge into.
        inst_id: store every file under this instrument instead of the one its name states.
        on_file: called with each file's :class:`FileResult` once that file is done (progress bars).

    Returns:
        The report: one :class:`FileResult` per file, in order. Re-importing a file gives ``new=0``.

    Raises:
        ValueError: ``inst_id`` is not a valid instrument name, or it is given for several files whose
            names state different instruments (nothing is imported then).
    """
    files = expand_paths(paths)
    if inst_id is not None:
        check_inst_id(inst_id)
        named = sorted({n for n, _ in map(parse_file_name, files) if n is not None})
        if len(files) > 1 and len(named) > 1:
            raise ValueError(
                f"--inst {inst_id} given for {len(files)} files of different instruments "
                f"({', '.join(named)}); import them separately or drop --inst"
            )
    report = ImportReport()
    for path in files:
        result = import_file(path, store, inst_id)
        report.files.append(result)
        if on_file is not None:
            on_file(result)
    return report
