"""The replay server: Blofin's public WebSocket and REST market-data protocol, served on one local port from
recorded 1m candles, at a chosen speed, with faults on demand (:mod:`blofin_stack.live.faults`).

Semantics (also in ``docs/LIVE.md``):

* A replay clock walks the union of the instruments' 1m open times in order. At ``speed`` X one bar takes
  60 / X seconds of wall time; ``speed=0`` goes as fast as the clients read, yielding to the event loop
  between pushes so REST and other clients are served. With ``start_on_subscribe`` the clock starts once
  ``start_subscribers`` connections have subscribed to something. The first ``history_bars`` bars are closed
  from the start: REST serves them, the WebSocket never pushes them.
* Each bar is split into ``pushes_per_bar`` ticks. At every tick, per instrument, a ``trades`` push carries
  the next slice of the bar's ``trades_per_bar`` synthetic trades, then a ``candle1m`` push (``confirm "0"``)
  carries the OHLCV of the bar's trades so far. When the bar ends, a ``candle1m`` push with the real bar's
  values and ``confirm "1"`` follows. Subscribers get pushes from the moment they subscribe: what was pushed
  while a client was away is only in REST.
* Synthetic trades (JSON field ``"synthetic": true``) follow open -> low -> high -> close for a rising bar
  (open -> high -> low -> close for a falling one), prices rounded to the data's tick and kept within [low,
  high]; sizes in contracts add up exactly (on the lot grid) to the bar's volume / ``contractValue``; the
  taker side follows the tick direction; ``ts`` lies inside the bar; ``tradeId`` increases per instrument and
  is the same in every run with the same seed.
* Candle arrays: ts, open, high, low, close, vol (contracts), volCurrency (base, the source volume exactly),
  volCurrencyQuote (USDT, base volume x close for a confirmed bar), confirm. Floats are written with
  ``repr`` so that parsing them gives the source float64 exactly.
* REST serves only bars closed on the replay clock (``bar`` any timeframe the project knows, aggregated from
  1m), newest first, ``after`` (open time < after), ``before`` (open time > before), ``limit`` <= 1440
  (default 500; the newest ``limit`` rows that match); ``trades`` the newest trades pushed so far (limit <=
  100); ``tickers`` 24 h figures over the last 1,440 closed bars (before any bar has closed: over the first
  1,440 bars, so that ``--top N`` ranks sensibly); ``instruments`` with ``contractValue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from blofin_stack.live.faults import DISCONNECT_CLOSE_CODE, FaultInjector, FaultPlan, Held
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.market.importer import expand_paths, parse_file_name, read_candle_file
from blofin_stack.market.store import OHLCV_COLUMNS, MarketStore, UnknownInstrumentError, check_inst_id
from blofin_stack.market.timeframes import DAY_MS, MINUTE_MS, TimeframeError, parse_timeframe
from blofin_stack.market.validation import validate_candles

__all__ = [
    "CHANNELS",
    "DEFAULT_CONTRACT_VALUE",
    "DEFAULT_CONTRACT_VALUES",
    "ReplayConfig",
    "ReplayServer",
    "ReplayStats",
    "load_replay_candles",
]

logger = logging.getLogger(__name__)

#: Blofin's contract values (coins per contract) of well-known swaps; other instruments get the default.
DEFAULT_CONTRACT_VALUES: dict[str, float] = {"BTC-USDT": 0.001, "ETH-USDT": 0.01}
DEFAULT_CONTRACT_VALUE = 1.0
#: WebSocket channels the replay serves.
CHANNELS = ("trades", "candle1m")
#: Blofin's error code for an invalid WebSocket request.
INVALID_REQUEST = "60012"
MAX_ARGS_BYTES = 4096
MAX_CANDLES_LIMIT = 1440
DEFAULT_CANDLES_LIMIT = 500
MAX_TRADES_LIMIT = 100
#: The first synthetic trade of an instrument's first bar has this tradeId (+ bar x trades_per_bar + slot).
TRADE_ID_BASE = 100_000_000
_DAY_BARS = 1440
_CHUNK_BARS = 256
_MAX_DECIMALS = 8
_IDLE_CLOSE_CODE = 1000
_START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay and how.

    Attributes:
        data_dir: folder of 1m candle files (``INST.csv.gz`` or anything the importer reads), or
        store_dir: a market store (``Settings.market_dir``), or
        candles: hand-built candles per instrument (house OHLCV layout): exactly one of the three.
        instruments: instruments to replay (default: all of the source).
        start, end: open-time window ``[start, end)`` in epoch ms (``None``: unbounded).
        days: keep only the last ``days`` days of the (windowed) data.
        history_bars: the first bars of the timeline count as closed from the start (REST only).
        speed: bars per minute of wall time (1 = real time, 60 = one bar per second); 0 = as fast as
            the clients read.
        trades_per_bar: synthetic trades per instrument and bar (zero-size ones are left out).
        pushes_per_bar: ticks per bar; each sends a ``trades`` and an unconfirmed ``candle1m`` push.
        start_on_subscribe: hold the clock until ``start_subscribers`` connections have subscribed.
        start_subscribers: see ``start_on_subscribe``.
        idle_timeout: close a connection with no traffic either way for this many seconds (Blofin: 30).
        contract_values: coins per contract by instrument (over :data:`DEFAULT_CONTRACT_VALUES`).
        faults: the faults to inject.
        seed: seeds the synthetic trades and the fault draws.
        queue_frames: frames queued per connection before the clock waits for that client.
    """

    data_dir: Path | None = None
    store_dir: Path | None = None
    candles: Mapping[str, pd.DataFrame] | None = None
    instruments: tuple[str, ...] = ()
    start: int | None = None
    end: int | None = None
    days: float | None = None
    history_bars: int = 0
    speed: float = 1.0
    trades_per_bar: int = 10
    pushes_per_bar: int = 2
    start_on_subscribe: bool = True
    start_subscribers: int = 1
    idle_timeout: float = 30.0
    contract_values: Mapping[str, float] = field(default_factory=dict)
    faults: FaultPlan = field(default_factory=FaultPlan)
    seed: int = 0
    queue_frames: int = 1000

    def __post_init__(self) -> None:
        sources = sum(s is not None for s in (self.data_dir, self.store_dir, self.candles))
        if sources != 1:
            raise ValueError("ReplayConfig needs exactly one source: data_dir, store_dir or candles")
        for inst_id in (*self.instruments, *self.contract_values):
            check_inst_id(inst_id)
        checks = {
            "speed >= 0": self.speed >= 0,
            "trades_per_bar >= 1": self.trades_per_bar >= 1,
            "pushes_per_bar >= 1": self.pushes_per_bar >= 1,
            "history_bars >= 0": self.history_bars >= 0,
            "start_subscribers >= 1": self.start_subscribers >= 1,
            "idle_timeout > 0": self.idle_timeout > 0,
            "queue_frames >= 1": self.queue_frames >= 1,
            "days > 0": self.days is None or self.days > 0,
            "contract values > 0": all(v > 0 for v in self.contract_values.values()),
        }
        broken = [rule for rule, ok in checks.items() if not ok]
        if broken:
            raise ValueError(f"invalid ReplayConfig: needs {', '.join(broken)}")

    def contract_value(self, inst_id: str) -> float:
        """Coins per contract of ``inst_id``: configured, else Blofin's known value, else 1."""
        return self.contract_values.get(inst_id, DEFAULT_CONTRACT_VALUES.get(inst_id, DEFAULT_CONTRACT_VALUE))


# -------------------------------------------------------------------------------------------- loading
def _read_folder(folder: Path, wanted: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """1m candle files of ``folder`` per instrument (several files of one instrument are merged)."""
    paths: dict[str, list[Path]] = {}
    for path in expand_paths([folder]):
        inst_id, timeframe = parse_file_name(path)
        if inst_id is not None and timeframe in (None, "1m") and (not wanted or inst_id in wanted):
            paths.setdefault(inst_id, []).append(path)
    frames = {}
    for inst_id, files in paths.items():
        parts = [validate_candles(read_candle_file(path), path.name) for path in files]
        frame = pd.concat(parts) if len(parts) > 1 else parts[0]
        frames[inst_id] = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frames


def _read_store(root: Path, wanted: tuple[str, ...], start: int | None, end: int | None) -> dict[str, pd.DataFrame]:
    store = MarketStore(root)
    try:
        return {inst_id: store.read_candles(inst_id, start, end) for inst_id in wanted or store.instruments()}
    except UnknownInstrumentError as exc:
        raise ValueError(str(exc)) from None


def load_replay_candles(config: ReplayConfig) -> dict[str, pd.DataFrame]:
    """The 1m candles ``config`` replays, per instrument, after the ``start``/``end``/``days`` window.

    Returns:
        Instrument -> DataFrame in the house layout: int64 ``ts`` index (open time, ms UTC, sorted,
        unique), float64 ``open high low close volume`` (USDT; volume in base currency). Instruments with
        no bar in the window are left out.

    Raises:
        ValueError: an instrument asked for is not in the source, or nothing is left in the window.
        blofin_stack.market.validation.CandleValidationError: a candle file breaks a validation rule.
    """
    wanted = config.instruments
    if config.data_dir is not None:
        frames = _read_folder(Path(config.data_dir), wanted)
    elif config.store_dir is not None:
        frames = _read_store(Path(config.store_dir), wanted, config.start, config.end)
    else:
        assert config.candles is not None
        frames = {inst_id: config.candles[inst_id] for inst_id in wanted or config.candles if inst_id in config.candles}
    missing = sorted(set(wanted) - set(frames))
    if missing:
        known = ", ".join(sorted(frames)) or "none"
        raise ValueError(f"no 1m candles for {', '.join(missing)} in the replay source (found: {known})")
    out = {}
    for inst_id, frame in frames.items():
        ts = frame.index.to_numpy(dtype="int64")
        keep = np.ones(len(ts), dtype=bool)
        if config.start is not None:
            keep &= ts >= config.start
        if config.end is not None:
            keep &= ts < config.end
        out[check_inst_id(inst_id)] = frame.loc[keep, list(OHLCV_COLUMNS)].astype("float64")
    if config.days is not None and any(len(f) for f in out.values()):
        cut = max(int(f.index[-1]) for f in out.values() if len(f)) + MINUTE_MS - config.days * DAY_MS
        out = {inst_id: f[f.index.to_numpy() >= cut] for inst_id, f in out.items()}
    out = {inst_id: f for inst_id, f in sorted(out.items()) if len(f)}
    if not out:
        raise ValueError("the replay source holds no 1m candles in the chosen window")
    return out


# ------------------------------------------------------------------------------------ synthetic trades
def _num(value: float) -> str:
    """A float as Blofin-style text that parses back to the same float64 (``95505.0`` -> ``"95505"``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _step_text(decimals: int) -> str:
    """``10 ** -decimals`` as text: ``0`` -> ``"1"``, ``2`` -> ``"0.01"``."""
    return "1" if decimals == 0 else f"0.{'0' * (decimals - 1)}1"


def _decimals(values: np.ndarray, most: int = _MAX_DECIMALS) -> int:
    """The fewest decimals (<= ``most``) that write every value exactly (within float noise)."""
    for decimals in range(most + 1):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) < 1e-6):
            return decimals
    return most


def _price_path(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, k: int, decimals: int) -> np.ndarray:
    """Prices of ``k`` trades per bar (shape ``(bars, k)``): open -> low -> high -> close for a rising bar,
    open -> high -> low -> close for a falling one, linear between those points, rounded to ``decimals``
    and clipped to [low, high]; the points themselves are exact."""
    up = c >= o
    knots = [(0, o), ((k - 1) // 3, np.where(up, lo, h)), (2 * (k - 1) // 3, np.where(up, h, lo)), (k - 1, c)]
    points = [knots[0]]
    for slot, value in knots[1:-1]:
        if points[-1][0] < slot < k - 1:
            points.append((slot, value))
    if k > 1:
        points.append(knots[-1])
    price = np.empty((len(o), k))
    for (x0, v0), (x1, v1) in pairwise(points):
        frac = (np.arange(x0, x1 + 1) - x0) / (x1 - x0)
        price[:, x0 : x1 + 1] = v0[:, None] + (v1 - v0)[:, None] * frac
    price = np.clip(np.round(price, decimals), lo[:, None], h[:, None])
    for slot, value in points:
        price[:, slot] = value
    if k == 1:
        price[:, 0] = c
    return price


def _split_units(units: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Split each bar's integer ``units`` into ``k`` random non-negative integer parts summing to it exactly."""
    weights = rng.uniform(0.5, 1.5, size=(len(units), k))
    share = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    cumulative = np.floor(units[:, None] * share).astype(np.int64)
    cumulative[:, -1] = units
    return np.diff(cumulative, axis=1, prepend=0)


@dataclass(frozen=True)
class _Trades:
    """Synthetic trades of a run of bars, shape ``(bars, trades_per_bar)``; ``keep`` marks size > 0."""

    price: np.ndarray
    size: np.ndarray
    buy: np.ndarray
    ts: np.ndarray
    trade_id: np.ndarray
    keep: np.ndarray


class _Instrument:
    """One replayed instrument: its candles, contract value, synthetic trades and message texts."""

    def __init__(self, inst_id: str, candles: pd.DataFrame, contract_value: float, config: ReplayConfig) -> None:
        self.inst_id = inst_id
        self.candles = candles
        self.contract_value = contract_value
        self.ts = candles.index.to_numpy(dtype="int64")
        self.open, self.high, self.low, self.close, self.volume = (candles[c].to_numpy() for c in OHLCV_COLUMNS)
        prices = candles[["open", "high", "low", "close"]].to_numpy().ravel()
        self.price_decimals = _decimals(prices)
        contracts = self.volume / contract_value
        self.size_decimals = _decimals(contracts)
        while self.size_decimals and contracts.max(initial=0.0) * 10.0**self.size_decimals > 2.0**53:
            self.size_decimals -= 1
        k, pushes = config.trades_per_bar, config.pushes_per_bar
        self.trades_per_bar = k
        self.bounds = [push * k // pushes for push in range(pushes + 1)]
        self._seed = (config.seed, zlib.crc32(inst_id.encode()))
        self._trade_head = f'{{"instId":"{inst_id}","tradeId":"'
        self._heads = {
            channel: f'{{"arg":{{"channel":"{channel}","instId":"{inst_id}"}},"data":[' for channel in CHANNELS
        }
        self.chunk = lru_cache(maxsize=2)(self._build_chunk)

    def _build_chunk(self, index: int) -> _Trades:
        lo, hi = index * _CHUNK_BARS, min((index + 1) * _CHUNK_BARS, len(self.ts))
        k = self.trades_per_bar
        rng = np.random.default_rng([*self._seed, index])
        o, h, low, c = self.open[lo:hi], self.high[lo:hi], self.low[lo:hi], self.close[lo:hi]
        price = _price_path(o, h, low, c, k, self.price_decimals)
        scale = 10.0**self.size_decimals
        units = _split_units(np.rint(self.volume[lo:hi] / self.contract_value * scale).astype(np.int64), k, rng)
        step = np.diff(price, axis=1, prepend=o[:, None])
        buy = np.where(step > 0, True, np.where(step < 0, False, (c >= o)[:, None]))
        slots = np.arange(k)
        ts = self.ts[lo:hi, None] + (2 * slots + 1) * MINUTE_MS // (2 * k)
        trade_id = TRADE_ID_BASE + np.arange(lo, hi)[:, None] * k + slots
        return _Trades(price, units / scale, buy, ts, trade_id, units > 0)

    def _slots(self, bar: int, lo: int, hi: int) -> tuple[list[float], list[float], list[bool], list[int], list[int]]:
        """Prices, sizes, taker-buy flags, ts and tradeIds of the kept trades in slots ``[lo, hi)`` of ``bar``."""
        trades = self.chunk(bar // _CHUNK_BARS)
        row = bar % _CHUNK_BARS
        keep = trades.keep[row, lo:hi]
        return (
            trades.price[row, lo:hi][keep].tolist(),
            trades.size[row, lo:hi][keep].tolist(),
            trades.buy[row, lo:hi][keep].tolist(),
            trades.ts[row, lo:hi][keep].tolist(),
            trades.trade_id[row, lo:hi][keep].tolist(),
        )

    def trades_message(self, bar: int, push: int) -> tuple[str, int] | None:
        """The ``trades`` push of tick ``push`` of local bar ``bar`` and its trade count (``None``: no trade)."""
        prices, sizes, buys, stamps, ids = self._slots(bar, self.bounds[push], self.bounds[push + 1])
        if not ids:
            return None
        head = self._trade_head
        items = [
            f'{head}{i}","price":"{_num(p)}","size":"{_num(s)}","side":"{"buy" if b else "sell"}",'
            f'"ts":"{t}","synthetic":true}}'
            for p, s, b, t, i in zip(prices, sizes, buys, stamps, ids, strict=True)
        ]
        return f"{self._heads['trades']}{','.join(items)}]}}", len(items)

    def closed_row(self, ts: int, o: float, h: float, lo: float, c: float, volume: float) -> list[str]:
        """A closed bar (``volume`` in base currency) as Blofin's 9 strings: ts, OHLC, volume in contracts (on
        the lot grid), in base currency (as given), in USDT (base volume x close), confirm ``"1"``."""
        contracts = round(volume / self.contract_value, self.size_decimals)
        return [str(ts), _num(o), _num(h), _num(lo), _num(c), _num(contracts), _num(volume), _num(volume * c), "1"]

    def _candle_push(self, row: list[str]) -> str:
        fields = '","'.join(row)
        return f'{self._heads["candle1m"]}["{fields}"]]}}'

    def partial_message(self, bar: int, push: int) -> str:
        """The unconfirmed ``candle1m`` push after tick ``push``: OHLCV of the bar's trades so far."""
        prices, sizes, *_ = self._slots(bar, 0, self.bounds[push + 1])
        if prices:
            contracts = round(float(np.sum(sizes)), self.size_decimals)
            quote = float(np.dot(prices, sizes)) * self.contract_value
            values = [
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                contracts,
                contracts * self.contract_value,
                quote,
            ]
        else:
            values = [float(self.open[bar])] * 4 + [0.0] * 3
        return self._candle_push([str(self.ts[bar]), *map(_num, values), "0"])

    def final_message(self, bar: int) -> str:
        """The confirmed ``candle1m`` push of ``bar``: the real bar's values, ``confirm "1"``."""
        columns = (self.ts, self.open, self.high, self.low, self.close, self.volume)
        return self._candle_push(self.closed_row(*(column[bar].item() for column in columns)))

    def rest_rows(self, frame: pd.DataFrame) -> list[list[str]]:
        """Closed bars of ``frame`` (house layout, any timeframe) as REST candle arrays, in frame order."""
        columns = [frame[c].tolist() for c in OHLCV_COLUMNS]
        return [self.closed_row(*values) for values in zip(frame.index.tolist(), *columns, strict=True)]

    def trade_dicts(self, bar: int, slots: int) -> list[dict[str, Any]]:
        """The first ``slots`` slots' trades of ``bar`` as REST objects, newest first."""
        prices, sizes, buys, stamps, ids = self._slots(bar, 0, slots)
        return [
            {
                "instId": self.inst_id,
                "tradeId": str(i),
                "price": _num(p),
                "size": _num(s),
                "side": "buy" if b else "sell",
                "ts": str(t),
                "synthetic": True,
            }
            for p, s, b, t, i in reversed(list(zip(prices, sizes, buys, stamps, ids, strict=True)))
        ]

    def instrument(self) -> dict[str, str]:
        """The REST ``/market/instruments`` object."""
        base, _, quote = self.inst_id.partition("-")
        lot = _step_text(self.size_decimals)
        return {
            "instId": self.inst_id,
            "instType": "SWAP",
            "baseCurrency": base,
            "quoteCurrency": quote,
            "settleCurrency": quote,
            "contractValue": _num(self.contract_value),
            "contractType": "linear",
            "tickSize": _step_text(self.price_decimals),
            "lotSize": lot,
            "minSize": lot,
            "maxLeverage": "100",
            "listTime": str(int(self.ts[0])),
            "expireTime": "",
            "state": "live",
        }


# ---------------------------------------------------------------------------------------------- server
def _bar_index(ts: np.ndarray, timeline: np.ndarray) -> np.ndarray:
    """For each open time of ``timeline``, the index of that bar in ``ts`` (both sorted), or -1 if absent."""
    pos = np.searchsorted(ts, timeline)
    found = ts[np.minimum(pos, len(ts) - 1)] == timeline
    return np.where(found, pos, -1)


@dataclass
class ReplayStats:
    """Counters of a :class:`ReplayServer` (a snapshot when read through ``ReplayServer.stats``).

    Attributes:
        bars_total: bars the clock pushes (history bars excluded).
        bars_replayed: of those, bars closed so far.
        frames_sent: WebSocket frames written (pushes, acks, errors, pongs, injected frames).
        trades_sent: trades queued to subscribers (a trade sent to two clients counts twice).
        candles_sent: ``candle1m`` pushes queued to subscribers (confirmed and not).
        connections: open WebSocket connections; connections_total: accepted since the start.
        idle_closed: connections closed after ``idle_timeout`` seconds without traffic either way.
        pings, pongs: text pings received and answered (a ping during a silence gets no pong).
        rest_requests: REST requests received (429s included).
        faults: injected faults by kind (see :data:`blofin_stack.live.faults.FAULT_KINDS`).
        malformed_kinds: injected malformed frames by kind.
    """

    bars_total: int = 0
    bars_replayed: int = 0
    frames_sent: int = 0
    trades_sent: int = 0
    candles_sent: int = 0
    connections: int = 0
    connections_total: int = 0
    idle_closed: int = 0
    pings: int = 0
    pongs: int = 0
    rest_requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    malformed_kinds: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the counters."""
        return dataclasses.asdict(self)


class _Connection:
    """One WebSocket client: its outgoing queue (drained by a sender task), subscriptions and fault state."""

    def __init__(self, ws: WebSocket, queue_frames: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_frames)
        self.subscriptions: set[tuple[str, str]] = set()
        self.held = Held()
        self.sent = 0
        self.closed = False
        self.last_traffic = time.monotonic()


class _BadRequest(ValueError):
    """A REST request with a missing or invalid parameter (HTTP 400)."""


class ReplayServer:
    """A local Blofin look-alike serving ``/ws/public`` and ``/api/v1/market/*`` on one port.

    Runs uvicorn in a background thread: use it as a context manager or call :meth:`start` / :meth:`stop`.
    Loading the candles happens in the constructor (so :meth:`source_candles` works before the start).

    Raises (constructor):
        ValueError: bad configuration, unknown instruments, no data, or ``history_bars`` covering all bars.
    """

    def __init__(self, config: ReplayConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self._instruments = {
            inst_id: _Instrument(inst_id, frame, config.contract_value(inst_id), config)
            for inst_id, frame in load_replay_candles(config).items()
        }
        self._timeline = np.unique(np.concatenate([inst.ts for inst in self._instruments.values()]))
        if config.history_bars >= len(self._timeline):
            raise ValueError(
                f"history_bars={config.history_bars} leaves none of the {len(self._timeline)} bars to push"
            )
        self._bar_of = {inst_id: _bar_index(inst.ts, self._timeline) for inst_id, inst in self._instruments.items()}
        self._faults = FaultInjector(config.faults, config.seed)
        self._stats = ReplayStats(bars_total=len(self._timeline) - config.history_bars)
        self.finished = threading.Event()
        self._closed_steps = self._step = config.history_bars
        self._pushes_done = 0
        self._connections: dict[_Connection, None] = {}
        self._subscribers: dict[tuple[str, str], dict[_Connection, None]] = {}
        self._subscribed = 0
        self._awake = asyncio.Event()
        self._awake.set()
        self._start_clock = asyncio.Event()
        self._address = (host, port)
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ public API
    @property
    def instruments(self) -> list[str]:
        """The replayed instruments, sorted."""
        return list(self._instruments)

    def source_candles(self, inst_id: str) -> pd.DataFrame:
        """Every 1m bar the server serves for ``inst_id`` (history bars and pushed bars), house OHLCV layout
        (int64 ``ts`` index of open times in ms; float64 ``open high low close volume``, volume in base
        currency); raises :class:`~blofin_stack.market.store.UnknownInstrumentError` for another instrument."""
        if inst_id not in self._instruments:
            raise UnknownInstrumentError(f"{inst_id!r} is not replayed (replayed: {', '.join(self._instruments)})")
        return self._instruments[inst_id].candles.copy()

    @property
    def port(self) -> int:
        """The TCP port (known once started)."""
        if self._bound_port is None:
            raise RuntimeError("the replay server is not started")
        return self._bound_port

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/ws/public``."""
        return f"ws://{self._address[0]}:{self.port}/ws/public"

    @property
    def rest_url(self) -> str:
        """``http://HOST:PORT`` (REST paths start with ``/api/v1/market/``)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def stats(self) -> ReplayStats:
        """A snapshot of the counters."""
        return dataclasses.replace(
            self._stats,
            bars_replayed=self._closed_steps - self.config.history_bars,
            connections=len(self._connections),
            faults=dict(self._faults.counts),
            malformed_kinds=dict(self._faults.malformed_kinds),
        )

    def start(self) -> ReplayServer:
        """Bind the port and run the server in a background thread; returns once it accepts connections.

        Raises:
            RuntimeError: started twice, or the server did not come up within 15 s.
            OSError: the port cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("a ReplayServer can be started once")
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(self._address)
        self._bound_port = int(self._socket.getsockname()[1])
        uvicorn_config = uvicorn.Config(
            self._app(),
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            ws_ping_interval=None,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(uvicorn_config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="replay-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the replay server did not start (see the log)")
            time.sleep(0.01)
        logger.info("replay server on %s and %s: %d instruments", self.ws_url, self.rest_url, len(self._instruments))
        return self

    def stop(self) -> None:
        """Close every connection and stop the server thread (waits up to about 5 s)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ application
    def _app(self) -> Starlette:
        routes = [
            WebSocketRoute("/ws/public", self._ws_endpoint),
            Route("/api/v1/market/instruments", self._rest(self._instruments_data)),
            Route("/api/v1/market/candles", self._rest(self._candles_data)),
            Route("/api/v1/market/trades", self._rest(self._trades_data)),
            Route("/api/v1/market/tickers", self._rest(self._tickers_data)),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        clock = asyncio.create_task(self._clock())
        try:
            yield
        finally:
            clock.cancel()
            await asyncio.gather(clock, return_exceptions=True)

    # ------------------------------------------------------------------ replay clock
    async def _clock(self) -> None:
        try:
            await self._run_clock()
        except Exception:
            logger.exception("the replay clock failed")
            raise

    async def _run_clock(self) -> None:
        config = self.config
        if config.start_on_subscribe:
            await self._start_clock.wait()
        loop = asyncio.get_running_loop()
        pushes = config.pushes_per_bar
        tick = 60.0 / config.speed / pushes if config.speed > 0 else 0.0
        first = config.history_bars
        anchor, anchor_tick = loop.time(), first * pushes

        async def until(tick_number: int) -> None:
            delay = anchor + (tick_number - anchor_tick) * tick - loop.time() if tick else 0.0
            await asyncio.sleep(max(delay, 0.0))

        for step in range(first, len(self._timeline)):
            bar_index = step - first
            if self._faults.disconnect_at(bar_index):
                await self._disconnect_all()
            if silence := self._faults.silence_at(bar_index):
                await self._silence(silence)
                anchor, anchor_tick = loop.time(), step * pushes
            bars = [(self._instruments[i], int(b[step])) for i, b in self._bar_of.items() if b[step] >= 0]
            self._step, self._pushes_done = step, 0
            for push in range(pushes):
                await until(step * pushes + push)
                for inst, bar in bars:
                    await self._push_tick(inst, bar, push)
                self._pushes_done = push + 1
            await until((step + 1) * pushes)
            for inst, bar in bars:
                if self._subscribers.get(("candle1m", inst.inst_id)):
                    await self._push("candle1m", inst.inst_id, inst.final_message(bar))
            self._closed_steps = step + 1
        for conn in list(self._connections):
            frames, conn.held.frames = conn.held.frames, []
            for frame in frames:
                await self._enqueue(conn, frame)
        self.finished.set()
        logger.info("replay finished: %d bars pushed", self._stats.bars_total)

    async def _push_tick(self, inst: _Instrument, bar: int, push: int) -> None:
        if self._subscribers.get(("trades", inst.inst_id)):
            message = inst.trades_message(bar, push)
            if message is not None:
                await self._push("trades", inst.inst_id, message[0], message[1])
        if self._subscribers.get(("candle1m", inst.inst_id)):
            await self._push("candle1m", inst.inst_id, inst.partial_message(bar, push))

    async def _push(self, channel: str, inst_id: str, text: str, trades: int = 0) -> None:
        """Queue the push ``text`` to every subscriber of ``(channel, inst_id)``, through the fault injector."""
        for conn in tuple(self._subscribers.get((channel, inst_id), ())):
            if trades:
                self._stats.trades_sent += trades
            else:
                self._stats.candles_sent += 1
            for frame in self._faults.push_frames(text, conn.held):
                await self._enqueue(conn, frame)

    async def _enqueue(self, conn: _Connection, frame: str) -> None:
        if not conn.closed:
            await conn.queue.put(frame)

    async def _disconnect_all(self) -> None:
        for conn in list(self._connections):
            self._faults.counts["disconnect"] += 1
            await self._close(conn, DISCONNECT_CLOSE_CODE, "fault injection: disconnect")

    async def _silence(self, seconds: float) -> None:
        """Deliver what is queued, then send nothing (and answer no ping) for ``seconds``."""
        for conn in list(self._connections):
            await conn.queue.join()
        self._awake.clear()
        self._faults.counts["silence"] += 1
        logger.info("fault injection: silence for %.1f s", seconds)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._awake.set()

    # ------------------------------------------------------------------ WebSocket
    async def _ws_endpoint(self, ws: WebSocket) -> None:
        await ws.accept()
        conn = _Connection(ws, self.config.queue_frames)
        self._connections[conn] = None
        self._stats.connections_total += 1
        sender = asyncio.create_task(self._sender(conn))
        idle = self.config.idle_timeout
        try:
            while not conn.closed:
                quiet = time.monotonic() - conn.last_traffic
                if quiet >= idle:
                    self._stats.idle_closed += 1
                    await self._close(conn, _IDLE_CLOSE_CODE, f"no traffic for {idle:g} s")
                    break
                try:
                    message = await asyncio.wait_for(ws.receive(), idle - quiet)
                except TimeoutError:
                    continue
                conn.last_traffic = time.monotonic()
                if message["type"] == "websocket.disconnect":
                    break
                await self._on_frame(conn, message.get("text"))
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass
        finally:
            self._drop(conn)
            sender.cancel()

    async def _sender(self, conn: _Connection) -> None:
        try:
            while True:
                frame = await conn.queue.get()
                try:
                    if not self._awake.is_set():
                        await self._awake.wait()
                    await conn.ws.send_text(frame)
                finally:
                    conn.queue.task_done()
                conn.sent += 1
                conn.last_traffic = time.monotonic()
                self._stats.frames_sent += 1
                if self._faults.disconnect_after(conn.sent):
                    self._faults.counts["disconnect"] += 1
                    await self._close(conn, DISCONNECT_CLOSE_CODE, "fault injection: disconnect")
                    return
        except (WebSocketDisconnect, OSError, RuntimeError):
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        """Forget ``conn``: no more pushes, queued frames discarded (so nothing waits on its queue)."""
        if conn.closed:
            return
        conn.closed = True
        self._connections.pop(conn, None)
        for key in conn.subscriptions:
            self._subscribers.get(key, {}).pop(conn, None)
        while not conn.queue.empty():
            conn.queue.get_nowait()
            conn.queue.task_done()

    async def _close(self, conn: _Connection, code: int, reason: str) -> None:
        self._drop(conn)
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await conn.ws.close(code, reason)

    async def _on_frame(self, conn: _Connection, text: str | None) -> None:
        if text == "ping":
            self._stats.pings += 1
            if self._awake.is_set():
                self._stats.pongs += 1
                await self._enqueue(conn, "pong")
            return
        if text is None:
            await self._error(conn, "binary frames are not accepted; send JSON text")
            return
        try:
            request = json.loads(text)
        except ValueError:
            await self._error(conn, f"not JSON: {text[:200]!r}")
            return
        op = request.get("op") if isinstance(request, dict) else None
        args = request.get("args") if isinstance(request, dict) else None
        if op not in ("subscribe", "unsubscribe"):
            await self._error(conn, f"op must be 'subscribe' or 'unsubscribe', got {op!r}")
        elif not isinstance(args, list) or not args:
            await self._error(conn, "args must be a non-empty array of {channel, instId}")
        elif len(json.dumps(args, separators=(",", ":")).encode()) > MAX_ARGS_BYTES:
            await self._error(conn, f"args exceed {MAX_ARGS_BYTES} bytes")
        else:
            for arg in args:
                await self._subscription(conn, op, arg)

    async def _subscription(self, conn: _Connection, op: str, arg: Any) -> None:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        inst_id = arg.get("instId") if isinstance(arg, dict) else None
        if channel not in CHANNELS:
            await self._error(conn, f"channel {channel!r} is not served (served: {', '.join(CHANNELS)}) in {arg!r}")
            return
        if inst_id not in self._instruments:
            await self._error(conn, f"unknown instId {inst_id!r} in {arg!r}")
            return
        key = (channel, inst_id)
        if op == "subscribe":
            if not conn.subscriptions:
                self._subscribed += 1
            conn.subscriptions.add(key)
            self._subscribers.setdefault(key, {})[conn] = None
        else:
            conn.subscriptions.discard(key)
            self._subscribers.get(key, {}).pop(conn, None)
        await self._enqueue(conn, json.dumps({"event": op, "arg": {"channel": channel, "instId": inst_id}}))
        if self._subscribed >= self.config.start_subscribers:
            self._start_clock.set()

    async def _error(self, conn: _Connection, detail: str) -> None:
        await self._enqueue(
            conn, json.dumps({"event": "error", "code": INVALID_REQUEST, "msg": f"Invalid request: {detail}"})
        )

    # ------------------------------------------------------------------ REST
    def _rest(self, handler: Callable[[Mapping[str, str]], Any]) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            self._stats.rest_requests += 1
            if self._faults.rest_429(self._stats.rest_requests):
                self._faults.counts["rest_429"] += 1
                return JSONResponse({"code": "429", "msg": "Too Many Requests"}, status_code=429)
            try:
                data = handler(request.query_params)
            except _BadRequest as exc:
                return JSONResponse({"code": "400", "msg": f"Invalid request: {exc}", "data": []}, status_code=400)
            return JSONResponse({"code": "0", "msg": "success", "data": data})

        return endpoint

    def _inst(self, params: Mapping[str, str]) -> _Instrument:
        inst_id = params.get("instId")
        if inst_id not in self._instruments:
            raise _BadRequest(f"instId {inst_id!r} is missing or not replayed")
        return self._instruments[inst_id]

    @staticmethod
    def _int(
        params: Mapping[str, str], name: str, default: int | None, low: int = 0, high: int | None = None
    ) -> int | None:
        """Integer query parameter ``name`` within ``[low, high]`` (``default`` when absent)."""
        text = params.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise _BadRequest(f"{name} must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise _BadRequest(f"{name} must be within {low}..{high if high is not None else ''}, got {value}")
        return value

    @property
    def _closed_end_ms(self) -> int:
        """Bars with an open time before this are closed on the replay clock."""
        closed = self._closed_steps
        return int(self._timeline[closed - 1]) + MINUTE_MS if closed else int(self._timeline[0])

    def _closed_bars(self, inst: _Instrument) -> int:
        return int(np.searchsorted(inst.ts, self._closed_end_ms))

    def _instruments_data(self, params: Mapping[str, str]) -> list[dict[str, str]]:
        inst_type = params.get("instType")
        if inst_type is not None and inst_type.upper() != "SWAP":
            return []
        return [inst.instrument() for inst in self._instruments.values()]

    def _candles_data(self, params: Mapping[str, str]) -> list[list[str]]:
        inst = self._inst(params)
        try:
            bar = parse_timeframe(params.get("bar", "1m"))
        except TimeframeError as exc:
            raise _BadRequest(str(exc)) from None
        after = self._int(params, "after", None)
        before = self._int(params, "before", None)
        limit = self._int(params, "limit", DEFAULT_CANDLES_LIMIT, 1, MAX_CANDLES_LIMIT)
        assert limit is not None
        frame = inst.candles.iloc[: self._closed_bars(inst)]
        if bar != "1m":
            frame = resample_ohlcv(frame, bar, until_ms=self._closed_end_ms)
        ts = frame.index.to_numpy()
        lo = int(np.searchsorted(ts, before, side="right")) if before is not None else 0
        hi = int(np.searchsorted(ts, after, side="left")) if after is not None else len(ts)
        rows = inst.rest_rows(frame.iloc[max(lo, hi - limit) : hi]) if hi > lo else []
        return rows[::-1]

    def _recent_trades(self, inst: _Instrument, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` trades pushed so far (newest first); history bars count as traded."""
        trades: list[dict[str, Any]] = []
        current = int(self._bar_of[inst.inst_id][self._step]) if self._step < len(self._timeline) else -1
        if self._step >= self._closed_steps and current >= 0 and self._pushes_done:
            trades += inst.trade_dicts(current, inst.bounds[self._pushes_done])
        bar = self._closed_bars(inst) - 1
        while len(trades) < limit and bar >= 0:
            trades += inst.trade_dicts(bar, inst.trades_per_bar)
            bar -= 1
        return trades[:limit]

    def _trades_data(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        inst = self._inst(params)
        limit = self._int(params, "limit", MAX_TRADES_LIMIT, 1, MAX_TRADES_LIMIT)
        assert limit is not None
        return self._recent_trades(inst, limit)

    def _tickers_data(self, params: Mapping[str, str]) -> list[dict[str, str]]:
        chosen = [self._inst(params)] if "instId" in params else list(self._instruments.values())
        return [self._ticker(inst) for inst in chosen]

    def _ticker(self, inst: _Instrument) -> dict[str, str]:
        closed = self._closed_bars(inst)
        window = slice(max(closed - _DAY_BARS, 0), closed) if closed else slice(0, _DAY_BARS)
        last = float(inst.close[closed - 1]) if closed else float(inst.open[0])
        latest = self._recent_trades(inst, 1)
        volume = float(inst.volume[window].sum())
        tick = 10.0**-inst.price_decimals
        return {
            "instId": inst.inst_id,
            "last": _num(last),
            "lastSize": latest[0]["size"] if latest else "0",
            "askPrice": _num(round(last + tick, inst.price_decimals)),
            "askSize": "1",
            "bidPrice": _num(last),
            "bidSize": "1",
            "open24h": _num(inst.open[window][0]),
            "high24h": _num(inst.high[window].max()),
            "low24h": _num(inst.low[window].min()),
            "volCurrency24h": _num(volume),
            "vol24h": _num(round(volume / inst.contract_value, inst.size_decimals)),
            "ts": str(self._closed_end_ms),
        }
