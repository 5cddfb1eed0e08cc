"""The ingestor: Blofin trades and confirmed 1m candles into the store, losing nothing.

``Ingestor(settings, instruments).run(duration_s)`` subscribes to the public ``trades`` and ``candle1m``
channels of every instrument (:class:`~blofin_stack.exchange.blofin.ws.BlofinWebSocket`: batched
subscriptions, keepalive, reconnection with back-off) and writes, in batches flushed at least every
``INGEST_FLUSH_SECONDS``:

* **trades** into ``market_trades`` (one transaction per flush; at most :data:`MAX_BUFFERED_TRADES` wait in
  memory: a full buffer is flushed at once and reading pauses meanwhile), deduplicated by instrument and trade id
  (in memory for the recent ids, and by the table's key for the rest), size in contracts and in base
  currency (``size x contractValue``);
* **1m candles** into the market store (:meth:`~blofin_stack.market.store.MarketStore.write_candles`,
  all or nothing per instrument), only once they are final: a push with ``confirm "1"``. The last push
  per open time wins until then. A bar that was never confirmed (its successor started, or the push was
  lost in a disconnect) is taken from REST instead, as a gap.

**Gaps** (:meth:`Ingestor.catch_up`): after each (re)connect, whenever a confirmed bar arrives more than
one bar after the last final one, and once more before stopping, the missing 1m candles are fetched from
REST (``/api/v1/market/candles``, paged) from the last stored bar on. An instrument without stored
candles gets ``INGEST_BACKFILL_DAYS`` of history first. While an instrument's catch-up runs, or after one
failed until a retry (at each confirmed bar) succeeds, its received candles wait and are written with the
bars the catch-up fetched, so that the store never shows a bar after a hole that is being filled
(readers such as the paper trader take the stored bars as the history; a bar processed without its
predecessors would stay processed). When the ingestor stops, everything received is written, hole or not.
Writing a bar that is already stored with the same values changes nothing, so overlaps are harmless and a
restart (even after SIGKILL: the store commits each write atomically) resumes where the store ends.

**Stopping** (SIGTERM/SIGINT, :meth:`Ingestor.stop` or ``duration_s``) flushes everything received and
catches up with REST before returning. **Health** (:class:`IngestHealth`) is kept per instrument and
written to ``DATA_DIR/health/ingest.json`` at each flush. **Retention** (:func:`compact_trades`): trades
older than ``TICK_RETENTION_DAYS`` before the newest recorded trade are deleted, after any minute of theirs
missing from the store has been written as a 1m candle built from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blofin_stack.config import Settings, split_csv
from blofin_stack.db.engine import get_engine
from blofin_stack.db.market_trades import insert_trades
from blofin_stack.exchange.blofin.rest import BlofinApiError, BlofinRest
from blofin_stack.exchange.blofin.types import Candle, CandlePush, Connected, MalformedFrame, Trade, TradesPush
from blofin_stack.exchange.blofin.ws import BlofinWebSocket
from blofin_stack.live.retention import compact_trades
from blofin_stack.live.signals import stop_on_signals
from blofin_stack.market.store import MarketStore, UnknownInstrumentError
from blofin_stack.market.timeframes import DAY_MS, MINUTE_MS
from blofin_stack.market.validation import CandleValidationError, validate_candles

log = logging.getLogger(__name__)

#: Recent trade ids remembered per instrument for deduplication before the database.
RECENT_IDS = 50_000
#: Trades held in memory at most: a batch this large is flushed at once, and reading waits for the write
#: (back-pressure through the WebSocket instead of unbounded memory when the feed outruns the database).
MAX_BUFFERED_TRADES = 50_000
#: How often the retention job runs while ingesting, seconds.
RETENTION_EVERY_S = 3600.0


class ContractValueError(KeyError):
    """An instrument's contract value is unknown (neither REST instruments nor BLOFIN_CONTRACT_VALUES)."""


@dataclass
class InstrumentHealth:
    """Health of one instrument (times in ms UTC; ``None`` = not yet)."""

    inst_id: str
    last_trade_ts: int | None = None
    last_trade_received_ms: int | None = None
    last_closed_bar: int | None = None
    trades_received: int = 0
    trades_stored: int = 0
    duplicate_trades: int = 0
    candles_stored: int = 0
    gaps_filled: int = 0
    gap_bars_filled: int = 0


@dataclass
class IngestHealth:
    """Health of an ingestor run: connection, throughput, gaps and malformed input.

    ``messages_per_s`` is over the last ``window_s`` seconds; ``malformed_samples`` keeps the last few
    malformed frames (text truncated) with their reason.
    """

    started_ms: int
    instruments: dict[str, InstrumentHealth]
    connected: bool = False
    reconnects: int = 0
    messages: int = 0
    messages_per_s: float = 0.0
    malformed: int = 0
    malformed_samples: list[str] = field(default_factory=list)
    errors: int = 0
    last_error: str | None = None
    flushes: int = 0
    last_flush_ms: int | None = None
    trades_stored: int = 0
    candles_stored: int = 0
    compacted_trades: int = 0
    stopped_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with each instrument's last trade age in seconds at ``now``."""
        out = asdict(self)
        now = _now_ms()
        for entry in out["instruments"].values():
            received = entry["last_trade_received_ms"]
            entry["last_trade_age_s"] = None if received is None else round((now - received) / 1000, 3)
        return out


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_contract_values(text: str) -> dict[str, float]:
    """``BTC-USDT=0.001,ETH-USDT=0.01`` -> mapping.

    Raises:
        ValueError: an entry without ``=`` or a value that is not a positive number.
    """
    out: dict[str, float] = {}
    for part in split_csv(text):
        inst, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not number > 0:
            raise ValueError(f"BLOFIN_CONTRACT_VALUES entry {part!r}: expected INST=positive number")
        out[inst.strip()] = number
    return out


def candles_frame(candles: Sequence[Candle]) -> pd.DataFrame:
    """Confirmed candles -> the store's OHLCV layout (volume in base currency), sorted, last one per ts."""
    frame = pd.DataFrame(
        {
            "ts": np.array([c.ts for c in candles], dtype="int64"),
            "open": [c.open for c in candles],
            "high": [c.high for c in candles],
            "low": [c.low for c in candles],
            "close": [c.close for c in candles],
            "volume": [c.volume_base for c in candles],
        }
    )
    return frame.drop_duplicates("ts", keep="last").sort_values("ts", kind="stable").reset_index(drop=True)


class Ingestor:
    """Records trades and confirmed 1m candles of ``instruments`` (see the module docstring).

    Args:
        settings: paths, database, flush interval, retention, back-fill days.
        instruments: Blofin ``instId`` names.
        contract_values: ``instId`` -> contract value (base currency per contract); instruments missing
            here are looked up from REST instruments, then ``BLOFIN_CONTRACT_VALUES``.
        ws_url, rest_url: override ``BLOFIN_WS_URL`` / ``BLOFIN_REST_URL``.
    """

    def __init__(
        self,
        settings: Settings,
        instruments: Sequence[str],
        *,
        contract_values: Mapping[str, float] | None = None,
        ws_url: str | None = None,
        rest_url: str | None = None,
        ws_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not instruments:
            raise ValueError("no instruments to ingest")
        self.settings = settings
        self.instruments = list(dict.fromkeys(instruments))
        self.contract_values = dict(contract_values or {})
        self.ws_url = ws_url or settings.blofin_ws_url
        self.rest_url = rest_url or settings.blofin_rest_url
        self.ws_options = dict(ws_options or {})
        self.store = MarketStore(settings.market_dir)
        self.engine = get_engine(settings.database_url)
        self.health = IngestHealth(_now_ms(), {i: InstrumentHealth(i) for i in self.instruments})
        self.health_path = health_path(settings)
        self._trades: list[dict[str, Any]] = []
        self._candles: dict[str, dict[int, Candle]] = {i: {} for i in self.instruments}
        self._recent: dict[str, tuple[set[int], deque[int]]] = {i: (set(), deque()) for i in self.instruments}
        self._last_final: dict[str, int | None] = {}
        self._catching_up: dict[str, asyncio.Task[int]] = {}
        self._unfilled: set[str] = set()  # instruments whose last catch-up failed
        self._message_times: deque[tuple[float, int]] = deque()
        self._flush_lock = asyncio.Lock()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rest: BlofinRest | None = None

    # --- control -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running :meth:`run` to flush and return (safe from any thread or a signal handler)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self, duration_s: float | None = None, *, handle_signals: bool = True) -> IngestHealth:
        """Ingest until ``duration_s`` elapsed, :meth:`stop`, SIGTERM or SIGINT (unless ``handle_signals``
        is false); then flush, catch up with REST and return the health.

        Raises:
            ContractValueError: an instrument's contract value cannot be found.
        """
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        with stop_on_signals(self._loop, self._stop.set, handle_signals):
            return await self._run(duration_s)

    async def _run(self, duration_s: float | None) -> IngestHealth:
        assert self._stop is not None
        async with BlofinRest(self.rest_url) as rest:
            self._rest = rest
            await self._load_contract_values(rest)
            self._last_final = {inst: self._stored_last(inst) for inst in self.instruments}
            ws = BlofinWebSocket(
                self.ws_url,
                [(channel, inst) for inst in self.instruments for channel in ("trades", "candle1m")],
                on_malformed=self._on_malformed,
                **self.ws_options,
            )
            tasks = [
                asyncio.create_task(self._consume(ws), name="consume"),
                asyncio.create_task(self._flush_loop(), name="flush"),
                asyncio.create_task(self._retention_loop(), name="retention"),
            ]
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), duration_s)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await ws.close()
                self.health.connected = False
                self.health.reconnects = ws.stats.reconnects
                await self._flush()
                await asyncio.gather(*self._catching_up.values(), return_exceptions=True)
                await asyncio.gather(*(self.catch_up(inst) for inst in self.instruments), return_exceptions=True)
                await self._flush(hold=False)  # everything received is stored, hole or not
                self.health.stopped_ms = _now_ms()
                self._write_health()
                self._rest = None
        return self.health

    async def _load_contract_values(self, rest: BlofinRest) -> None:
        missing = [i for i in self.instruments if i not in self.contract_values]
        if not missing:
            return
        try:
            known = {i.inst_id: i.contract_value for i in await rest.instruments()}
        except (BlofinApiError, OSError) as exc:
            log.warning("REST instruments unavailable (%s); using BLOFIN_CONTRACT_VALUES", exc)
            known = {}
        known = {**parse_contract_values(self.settings.blofin_contract_values), **known}
        for inst in missing:
            if inst not in known:
                raise ContractValueError(
                    f"{inst}: unknown instrument (not in REST instruments at {self.rest_url}, "
                    "nor in BLOFIN_CONTRACT_VALUES)"
                )
            self.contract_values[inst] = known[inst]

    def _stored_last(self, inst: str) -> int | None:
        try:
            return self.store.last_ts(inst)
        except UnknownInstrumentError:
            return None

    # --- the stream ----------------------------------------------------------------------------
    async def _consume(self, ws: BlofinWebSocket) -> None:
        async for event in ws.events():
            self._count_message()
            if isinstance(event, TradesPush):
                self._on_trades(event.inst_id, event.trades)
                if len(self._trades) >= MAX_BUFFERED_TRADES:
                    await self._flush()
            elif isinstance(event, CandlePush):
                for candle in event.candles:
                    self._on_candle(candle)
            elif isinstance(event, Connected):
                self.health.connected = True
                self.health.reconnects = ws.stats.reconnects
                for inst in self.instruments:
                    self._schedule_catch_up(inst)

    def _count_message(self) -> None:
        self.health.messages += 1
        now = time.monotonic()
        times = self._message_times
        if not times or now - times[-1][0] >= 1.0:
            times.append((now, self.health.messages))
            while now - times[0][0] > 10.0:
                times.popleft()
            span = now - times[0][0]
            self.health.messages_per_s = (self.health.messages - times[0][1]) / span if span > 0 else 0.0

    def _on_malformed(self, error: MalformedFrame) -> None:
        self.health.malformed += 1
        self.health.malformed_samples = [*self.health.malformed_samples[-4:], str(error)[:300]]

    def _on_trades(self, inst: str, trades: Sequence[Trade]) -> None:
        health = self.health.instruments.get(inst)
        if health is None:  # a push for an instrument we did not subscribe to
            self._on_malformed(MalformedFrame(f"trades for unsubscribed instrument {inst}", where="instId"))
            return
        seen, order = self._recent[inst]
        value = self.contract_values[inst]
        received = _now_ms()
        for trade in trades:
            health.trades_received += 1
            if trade.trade_id in seen:
                health.duplicate_trades += 1
                continue
            seen.add(trade.trade_id)
            order.append(trade.trade_id)
            if len(order) > RECENT_IDS:
                seen.discard(order.popleft())
            self._trades.append(
                {
                    "inst_id": inst,
                    "trade_id": trade.trade_id,
                    "ts": trade.ts,
                    "price": trade.price,
                    "size": trade.size,
                    "size_base": trade.size * value,
                    "side": trade.side,
                    "synthetic": trade.synthetic,
                }
            )
            health.last_trade_ts = max(trade.ts, health.last_trade_ts or trade.ts)
        health.last_trade_received_ms = received

    def _on_candle(self, candle: Candle) -> None:
        inst = candle.inst_id
        if inst not in self._candles:
            self._on_malformed(MalformedFrame(f"candle for unsubscribed instrument {inst}", where="instId"))
            return
        if not candle.confirmed:
            return  # the last push wins until the confirmed one; an unconfirmed bar is never stored
        self._candles[inst][candle.ts] = candle
        last = self._last_final.get(inst)
        if last is None or candle.ts > last + MINUTE_MS or inst in self._unfilled:
            self._schedule_catch_up(inst)  # bars before this one are missing (or their catch-up failed)
        if last is None or candle.ts > last:
            self._last_final[inst] = candle.ts
        health = self.health.instruments[inst]
        health.last_closed_bar = max(candle.ts, health.last_closed_bar or candle.ts)

    # --- gaps ----------------------------------------------------------------------------------
    def _schedule_catch_up(self, inst: str) -> None:
        running = self._catching_up.get(inst)
        if running is None or running.done():
            self._catching_up[inst] = asyncio.create_task(self.catch_up(inst), name=f"catch-up {inst}")

    async def catch_up(self, inst: str) -> int:
        """Fetch from REST the closed 1m candles of ``inst`` after the last stored one (or the last
        ``INGEST_BACKFILL_DAYS`` when none is stored) and queue the missing ones for the next flush.

        Returns:
            The number of bars that were missing (neither stored nor received).
        """
        if self._rest is None:
            return 0
        stored = self._stored_last(inst)
        if stored is None and self.settings.ingest_backfill_days <= 0:
            return 0
        try:
            if stored is None:
                window = await history_window(self._rest, inst, self.settings.ingest_backfill_days)
                candles = [] if window is None else await self._rest.candles(inst, start_ms=window[0])
            else:
                candles = await self._rest.candles(inst, start_ms=stored + MINUTE_MS)
        except (BlofinApiError, OSError) as exc:
            self.health.errors += 1
            self.health.last_error = f"catch-up {inst}: {exc}"
            log.warning("catch-up of %s failed (retried at its next confirmed bar): %s", inst, exc)
            self._unfilled.add(inst)
            return 0
        self._unfilled.discard(inst)
        pending = self._candles[inst]
        missing = [c for c in candles if c.confirmed and c.ts not in pending]
        for candle in missing:
            pending[candle.ts] = candle
        if missing:
            health = self.health.instruments[inst]
            health.gaps_filled += 1
            health.gap_bars_filled += len(missing)
            newest_ts = max(c.ts for c in missing)
            self._last_final[inst] = max(newest_ts, self._last_final.get(inst) or newest_ts)
            log.info("%s: %d missing 1m candles fetched from REST", inst, len(missing))
        return len(missing)

    # --- writing -------------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ingest_flush_seconds)
            await self._flush()

    def _filling(self, inst: str) -> bool:
        """Whether ``inst`` has a hole being filled: a catch-up running, or the last one failed (its
        received candles then wait for the bars before them)."""
        running = self._catching_up.get(inst)
        return inst in self._unfilled or (running is not None and not running.done())

    async def _flush(self, hold: bool = True) -> None:
        """Write what was received; with ``hold``, not the candles of instruments with a hole being filled."""
        async with self._flush_lock:  # the timer's and the back-pressure's flushes never overlap
            await self._flush_now(hold)

    async def _flush_now(self, hold: bool) -> None:
        trades, self._trades = self._trades, []
        held = {inst for inst in self._candles if hold and self._filling(inst)}
        candles = {inst: list(bars.values()) for inst, bars in self._candles.items() if bars and inst not in held}
        for inst in candles:
            self._candles[inst] = {}
        if trades or candles:
            await asyncio.to_thread(self._write, trades, candles)
        self.health.flushes += 1
        self.health.last_flush_ms = _now_ms()
        self._write_health()

    def _write(self, trades: list[dict[str, Any]], candles: dict[str, list[Candle]]) -> None:
        """One flush: the trades in one transaction, then each instrument's candles (all or nothing)."""
        if trades:
            by_inst: dict[str, list[dict[str, Any]]] = {}
            for row in trades:
                by_inst.setdefault(row["inst_id"], []).append(row)
            with self.engine.begin() as connection:
                inserted = {inst: insert_trades(connection, rows) for inst, rows in by_inst.items()}
            for inst, n in inserted.items():  # trades stored by an earlier run are not new
                self.health.instruments[inst].trades_stored += n
                self.health.trades_stored += n
        for inst, bars in candles.items():
            try:
                frame = validate_candles(candles_frame(bars), source=f"Blofin candle1m {inst}")
                summary = self.store.write_candles(inst, frame)
            except CandleValidationError as exc:
                self._on_malformed(MalformedFrame(str(exc), where=f"candle1m {inst}"))
                continue
            written = summary.new + summary.updated
            self.health.candles_stored += written
            self.health.instruments[inst].candles_stored += written

    def _write_health(self) -> None:
        self.health_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.health_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.health.as_dict(), indent=1))
        temporary.replace(self.health_path)

    async def _retention_loop(self) -> None:
        while True:
            compacted = await asyncio.to_thread(compact_trades, self.settings)
            self.health.compacted_trades += sum(compacted.values())
            await asyncio.sleep(RETENTION_EVERY_S)


def read_health(settings: Settings) -> dict[str, Any] | None:
    """The last health snapshot an ingestor wrote (``DATA_DIR/health/ingest.json``), or ``None``."""
    try:
        return dict(json.loads(health_path(settings).read_text()))
    except (OSError, json.JSONDecodeError):
        return None


async def select_instruments(
    settings: Settings, rest_url: str | None, instruments: Sequence[str] | None, top_n: int | None
) -> list[str]:
    """The instruments to ingest: ``instruments``, else ``INGEST_INSTRUMENTS``, else the ``top_n``
    (``INGEST_TOP_N``) live USDT swaps by 24h quote volume from REST tickers.

    Raises:
        BlofinApiError: REST failed.
        ValueError: no instrument came out.
    """
    chosen = list(instruments or []) or split_csv(settings.ingest_instruments)
    if chosen:
        return chosen
    async with BlofinRest(rest_url or settings.blofin_rest_url) as rest:
        tickers = await rest.tickers()
    usdt = [t for t in tickers if t.inst_id.endswith("-USDT")]
    ranked = sorted(usdt, key=lambda t: t.vol_currency_24h * t.last, reverse=True)
    chosen = [t.inst_id for t in ranked[: top_n or settings.ingest_top_n]]
    if not chosen:
        raise ValueError(f"no USDT instruments in the tickers of {rest_url or settings.blofin_rest_url}")
    return chosen


async def history_window(rest: BlofinRest, inst: str, days: float) -> tuple[int, int] | None:
    """``[start, end)`` (ms) of the last ``days`` of closed 1m bars the server has for ``inst``, measured
    from its newest closed bar rather than the local clock (a replay serves old data); ``None`` when it has
    none.

    Raises:
        BlofinApiError: REST failed after its retries.
    """
    newest = await rest.candles(inst, limit=1)
    if not newest:
        return None
    end = newest[-1].ts + MINUTE_MS
    return end - int(days * DAY_MS), end


async def backfill(
    settings: Settings, instruments: Sequence[str], days: float, rest_url: str | None = None
) -> dict[str, dict[str, int]]:
    """Fetch the last ``days`` of closed 1m candles of each instrument from REST into the store
    (idempotent: bars already stored with the same values count as ``unchanged``). "Last" is measured
    from the newest bar the server has, not from the local clock.

    Returns:
        ``instId`` -> ``{"fetched", "new", "updated", "unchanged"}``.

    Raises:
        BlofinApiError: REST failed after its retries.
    """
    store = MarketStore(settings.market_dir)
    out: dict[str, dict[str, int]] = {}
    async with BlofinRest(rest_url or settings.blofin_rest_url) as rest:
        for inst in instruments:
            window = await history_window(rest, inst, days)
            candles = [] if window is None else await rest.candles(inst, start_ms=window[0], end_ms=window[1])
            summary = {"fetched": len(candles), "new": 0, "updated": 0, "unchanged": 0}
            if candles:
                frame = validate_candles(candles_frame(candles), source=f"Blofin REST candles {inst}")
                written = await asyncio.to_thread(store.write_candles, inst, frame)
                summary.update(new=written.new, updated=written.updated, unchanged=written.unchanged)
            out[inst] = summary
    return out


def health_path(settings: Settings) -> Path:
    """Where an ingestor writes its health snapshot."""
    return settings.data_dir / "health" / "ingest.json"
