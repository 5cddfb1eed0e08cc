"""The market-data store: 1-minute candles in Parquet, one file per instrument and UTC month, and
funding-rate settlements, one file per instrument.

Layout under ``root`` (``Settings.market_dir``)::

    candles_1m/BTC-USDT/manifest.json           which partition file is current for each month
    candles_1m/BTC-USDT/2025-05.<token>.parquet  ts:int64, open, high, low, close, volume: float64
    funding/BTC-USDT.parquet                     ts:int64 (settlement time), funding_rate: float64

Why Parquet partitions (see ``docs/DATA.md``): columnar reads of a few columns and a time range are
fast (7 days x 16 instruments in well under 0.5 s), files are readable by every tool (pandas, DuckDB,
Polars), many processes can read while one writes, and no server is needed.

Atomicity: a write puts each changed month into a *new* file, then commits by replacing the
instrument's manifest with ``os.replace`` (atomic on POSIX). A crash before the replace leaves the old
manifest and old files in force; unreferenced files are swept by the next write. Writers of one
instrument are serialised with an ``flock``. Readers take no lock: a reader whose partition was
replaced (and unlinked) between its manifest read and the file open reads the new manifest again.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from blofin_stack.market.timeframes import MINUTE_MS

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
_INST_RE = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)+$")
_READ_RETRIES = 5  # a reader re-reads the manifest this often when a concurrent write replaced a partition
_SCHEMA = pa.schema([("ts", pa.int64())] + [(name, pa.float64()) for name in OHLCV_COLUMNS])


class UnknownInstrumentError(KeyError):
    """Raised when the store holds no candles for the instrument asked for."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_inst_id(inst_id: str) -> str:
    """Return ``inst_id`` if it is a Blofin-style instrument name (``BTC-USDT``), else raise ValueError."""
    if not _INST_RE.match(inst_id):
        raise ValueError(f"invalid instrument name {inst_id!r}: expected upper-case like 'BTC-USDT'")
    return inst_id


def empty_ohlcv() -> pd.DataFrame:
    """An empty OHLCV frame in the house layout (int64 ``ts`` index, float64 columns)."""
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in OHLCV_COLUMNS})
    frame.index = pd.Index(np.empty(0, dtype="int64"), name="ts")
    return frame


@dataclass(frozen=True)
class WriteSummary:
    """What a :meth:`MarketStore.write_candles` call changed (counts of 1m bars)."""

    inst_id: str
    new: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class Gap:
    """Missing 1m bars between two stored bars: ``after_ts`` and ``before_ts`` are open times (ms)."""

    after_ts: int
    before_ts: int

    @property
    def missing_bars(self) -> int:
        return (self.before_ts - self.after_ts) // MINUTE_MS - 1


def find_gaps(ts: np.ndarray, step_ms: int = MINUTE_MS) -> list[Gap]:
    """Gaps in a sorted array of open times (ms): every place where the step exceeds ``step_ms``."""
    if len(ts) < 2:
        return []
    jumps = np.flatnonzero(np.diff(ts) > step_ms)
    return [Gap(int(ts[i]), int(ts[i + 1])) for i in jumps]


@dataclass(frozen=True)
class InstrumentSummary:
    """Coverage of one instrument's 1m candles: open times in ms UTC."""

    inst_id: str
    first_ts: int
    last_ts: int
    bars: int
    gaps: list[Gap]


def _month_key(ts_ms: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="M")


class MarketStore:
    """Reads and writes 1m candles; all times are bar open times in epoch ms UTC."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._candles = self.root / "candles_1m"
        self._funding = self.root / "funding"

    # ----------------------------------------------------------------- reading
    def instruments(self) -> list[str]:
        """Instruments that have candles in the store, sorted."""
        if not self._candles.is_dir():
            return []
        return sorted(p.name for p in self._candles.iterdir() if (p / "manifest.json").is_file())

    def _manifest(self, inst_id: str) -> dict[str, dict[str, int | str]]:
        path = self._candles / inst_id / "manifest.json"
        if not path.is_file():
            return {}
        partitions: dict[str, dict[str, int | str]] = json.loads(path.read_text())["partitions"]
        return partitions

    def read_candles(self, inst_id: str, start: int | None = None, end: int | None = None) -> pd.DataFrame:
        """1m candles of ``inst_id`` with open time in ``[start, end)`` (ms; ``None`` = unbounded).

        Returns:
            DataFrame indexed by ``ts`` (int64 open time, ms UTC, sorted, unique) with float64 columns
            ``open high low close volume`` (prices in USDT, volume in base currency).

        Raises:
            UnknownInstrumentError: the store holds no candles for ``inst_id``.
        """
        retries = 0
        while True:
            manifest = self._manifest(inst_id)
            if not manifest:
                known = ", ".join(self.instruments()) or "none"
                raise UnknownInstrumentError(f"no candles stored for {inst_id!r} (stored: {known})")
            try:
                return self._read_partitions(inst_id, manifest, start, end)
            except FileNotFoundError:
                # A writer committed a new manifest and unlinked the partition we were about to read
                # between our manifest read and the open: read the new manifest.
                retries += 1
                if retries == _READ_RETRIES:
                    raise

    def _read_partitions(
        self, inst_id: str, manifest: dict[str, dict[str, int | str]], start: int | None, end: int | None
    ) -> pd.DataFrame:
        files = [
            self._candles / inst_id / str(part["file"])
            for part in manifest.values()
            if (start is None or int(part["last_ts"]) >= start) and (end is None or int(part["first_ts"]) < end)
        ]
        if not files:
            return empty_ohlcv()
        filters = []
        if start is not None:
            filters.append(("ts", ">=", start))
        if end is not None:
            filters.append(("ts", "<", end))
        tables = [pq.read_table(f, filters=filters or None, schema=_SCHEMA) for f in sorted(files)]
        table = pa.concat_tables(tables)
        columns = {name: table.column(name).to_numpy() for name in OHLCV_COLUMNS}
        frame = pd.DataFrame(columns, index=pd.Index(table.column("ts").to_numpy(), name="ts"))
        return frame

    def summary(self, inst_id: str) -> InstrumentSummary:
        """First/last open time, bar count and gaps of ``inst_id`` (raises UnknownInstrumentError)."""
        ts = self.read_candles(inst_id).index.to_numpy()
        return InstrumentSummary(inst_id, int(ts[0]), int(ts[-1]), len(ts), find_gaps(ts))

    def last_ts(self, inst_id: str) -> int:
        """Open time (ms) of the newest stored 1m bar of ``inst_id`` (raises UnknownInstrumentError)."""
        manifest = self._manifest(inst_id)
        if not manifest:
            raise UnknownInstrumentError(f"no candles stored for {inst_id!r}")
        return max(int(part["last_ts"]) for part in manifest.values())

    # ----------------------------------------------------------------- writing
    @contextmanager
    def _locked(self, folder: Path, name: str) -> Iterator[Path]:
        """Hold an exclusive ``flock`` on ``folder/.<name>.lock`` (writers of one instrument serialise)."""
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def write_candles(self, inst_id: str, candles: pd.DataFrame) -> WriteSummary:
        """Merge validated 1m candles into the store, all or nothing.

        A bar already stored with the same values counts as ``unchanged``; one with other values is
        replaced and counted as ``updated``. Writing the same data twice changes nothing.

        Args:
            inst_id: instrument name such as ``BTC-USDT``.
            candles: the house OHLCV layout (int64 ``ts`` index of open times in ms, sorted and unique;
                float64 ``open high low close volume``), already validated
                (:func:`blofin_stack.market.validation.validate_candles`).

        Raises:
            ValueError: invalid ``inst_id``, or ``candles`` not sorted/unique.
        """
        if not candles.index.is_monotonic_increasing or not candles.index.is_unique:
            raise ValueError(f"{inst_id}: candles to write must have sorted, unique open times")
        with self._locked(self._candles / check_inst_id(inst_id), "candles") as folder:
            manifest = self._manifest(inst_id)
            self._sweep(folder, manifest)
            ts = candles.index.to_numpy(dtype="int64")
            months = _month_key(ts)
            new = updated = unchanged = 0
            written: dict[str, dict[str, int | str]] = {}
            for month in np.unique(months):
                incoming = candles[months == month]
                merged, counts = self._merge(folder, manifest.get(str(month)), incoming)
                new, updated, unchanged = new + counts[0], updated + counts[1], unchanged + counts[2]
                if counts[0] or counts[1]:
                    written[str(month)] = self._write_partition(folder, str(month), merged)
            if written:
                self._commit(folder, {**manifest, **written}, old=manifest, replaced=written)
        return WriteSummary(inst_id, new, updated, unchanged)

    def _merge(
        self, folder: Path, part: dict[str, int | str] | None, incoming: pd.DataFrame
    ) -> tuple[pd.DataFrame, tuple[int, int, int]]:
        incoming = incoming.loc[:, list(OHLCV_COLUMNS)].astype("float64")
        if part is None:
            return incoming, (len(incoming), 0, 0)
        table = pq.read_table(folder / str(part["file"]), schema=_SCHEMA)
        existing = table.to_pandas().set_index("ts")
        common = incoming.index.intersection(existing.index)
        same = (existing.loc[common].to_numpy() == incoming.loc[common].to_numpy()).all(axis=1)
        unchanged = int(same.sum())
        updated = len(common) - unchanged
        new = len(incoming) - len(common)
        merged = pd.concat([existing.drop(index=common), incoming]).sort_index()
        return merged, (new, updated, unchanged)

    def _write_partition(self, folder: Path, month: str, frame: pd.DataFrame) -> dict[str, int | str]:
        name = f"{month}.{secrets.token_hex(6)}.parquet"
        table = pa.table(
            {"ts": frame.index.to_numpy(dtype="int64"), **{c: frame[c].to_numpy() for c in OHLCV_COLUMNS}},
            schema=_SCHEMA,
        )
        pq.write_table(table, folder / name)
        ts = frame.index
        return {"file": name, "rows": len(frame), "first_ts": int(ts[0]), "last_ts": int(ts[-1])}

    def _commit(
        self,
        folder: Path,
        manifest: dict[str, dict[str, int | str]],
        old: dict[str, dict[str, int | str]],
        replaced: dict[str, dict[str, int | str]],
    ) -> None:
        tmp = folder / f"manifest.{secrets.token_hex(6)}.tmp"
        tmp.write_text(json.dumps({"partitions": dict(sorted(manifest.items()))}, indent=1))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, folder / "manifest.json")
        for month in replaced:
            if month in old:
                (folder / str(old[month]["file"])).unlink(missing_ok=True)

    @staticmethod
    def _sweep(folder: Path, manifest: dict[str, dict[str, int | str]]) -> None:
        """Delete files a crashed write left behind (we hold the instrument's lock)."""
        live = {str(part["file"]) for part in manifest.values()}
        for path in folder.iterdir():
            if (path.suffix == ".parquet" and path.name not in live) or path.suffix == ".tmp":
                path.unlink(missing_ok=True)

    # ----------------------------------------------------------------- funding rates
    def funding_instruments(self) -> list[str]:
        """Instruments with stored funding rates, sorted."""
        return sorted(p.stem for p in self._funding.glob("*.parquet")) if self._funding.is_dir() else []

    def read_funding(self, inst_id: str) -> pd.DataFrame | None:
        """Funding settlements of ``inst_id``: int64 ``ts`` index (settlement time, ms UTC), float64
        ``funding_rate`` (fraction of notional per funding interval); ``None`` when none are stored."""
        path = self._funding / f"{inst_id}.parquet"
        if not path.is_file():
            return None
        table = pq.read_table(path)
        return pd.DataFrame(
            {"funding_rate": table.column("funding_rate").to_numpy()},
            index=pd.Index(table.column("ts").to_numpy(), name="ts"),
        )

    def write_funding(self, inst_id: str, rates: pd.DataFrame) -> WriteSummary:
        """Merge validated funding settlements (``validate_funding``'s layout) into the store, atomically.

        Raises:
            ValueError: invalid ``inst_id``.
        """
        with self._locked(self._funding, check_inst_id(inst_id)) as folder:
            existing = self.read_funding(inst_id)
            incoming = rates[["funding_rate"]].astype("float64")
            if existing is None:
                merged, counts = incoming, (len(incoming), 0, 0)
            else:
                common = incoming.index.intersection(existing.index)
                same = int((existing.loc[common, "funding_rate"] == incoming.loc[common, "funding_rate"]).sum())
                counts = (len(incoming) - len(common), len(common) - same, same)
                merged = pd.concat([existing.drop(index=common), incoming]).sort_index()
            if counts[0] or counts[1]:
                table = pa.table(
                    {"ts": merged.index.to_numpy(dtype="int64"), "funding_rate": merged["funding_rate"].to_numpy()}
                )
                tmp = folder / f"{inst_id}.{secrets.token_hex(6)}.tmp"
                pq.write_table(table, tmp)
                os.replace(tmp, folder / f"{inst_id}.parquet")
        return WriteSummary(inst_id, *counts)
