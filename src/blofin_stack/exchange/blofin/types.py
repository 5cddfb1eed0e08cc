"""Blofin market types and the parsing of Blofin payloads into them (pure: no I/O).

Blofin sends numbers as strings (JSON numbers are accepted too); every parser checks types, finiteness and signs
and raises :class:`MalformedFrame` naming the field and the index at fault. Times are int64 epoch ms UTC, prices
USDT; trade and candle sizes stay in **contracts** as sent (coins = contracts x ``Instrument.contract_value``).
The checks are plain comparisons after ``json.loads`` so that a WebSocket stream parses at well over 20,000
trades per second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Bar names Blofin accepts in ``candle<bar>`` channels and the REST ``bar`` parameter.
BARS = frozenset({"1m", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "8H", "12H", "1D", "3D", "1W", "1M"})
_MIN_TS_MS = 946_684_800_000  # 2000-01-01: an earlier "ms" time is really seconds or garbage
_MAX_TS_MS = 4_102_444_800_000  # 2100-01-01: a later one is really micro- or nanoseconds
_INF = math.inf
_SIDES = frozenset({"buy", "sell"})
_CONFIRM = {"0": False, "1": True}
_TEXT_IN_ERROR = 500


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade. ``size`` in contracts as sent; ``side`` the taker side (``"buy"``: the buyer was the
    aggressor); ``synthetic`` marks trades a replay server made up (JSON field ``"synthetic": true``)."""

    inst_id: str
    trade_id: int
    ts: int
    price: float
    size: float
    side: str
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar, labelled by its open time ``ts`` (ms). ``volume`` in contracts, ``volume_base`` in base
    currency, ``volume_quote`` in USDT; ``confirmed``: the bar is closed and final (Blofin ``confirm`` "1")."""

    inst_id: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    volume_base: float
    volume_quote: float
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument from REST ``/api/v1/market/instruments``; ``contract_value`` is coins per contract,
    ``tick_size`` in USDT, ``lot_size`` and ``min_size`` in contracts; ``state`` e.g. ``"live"``."""

    inst_id: str
    contract_value: float
    base_currency: str
    quote_currency: str
    tick_size: float
    lot_size: float
    min_size: float
    state: str


@dataclass(frozen=True, slots=True)
class Ticker:
    """24 h ticker from REST ``/api/v1/market/tickers``: ``last`` price (USDT), ``vol_currency_24h`` (base
    currency), ``vol_24h`` (contracts), ``ts`` (ms)."""

    inst_id: str
    last: float
    vol_currency_24h: float
    vol_24h: float
    ts: int


@dataclass(frozen=True)
class TradesPush:
    """A ``trades`` channel push: one or more trades of ``inst_id``, in the order sent."""

    inst_id: str
    trades: tuple[Trade, ...]


@dataclass(frozen=True)
class CandlePush:
    """A ``candle<bar>`` channel push (``bar`` e.g. ``"1m"``): the current state of one or more bars."""

    inst_id: str
    bar: str
    candles: tuple[Candle, ...]


@dataclass(frozen=True)
class Subscribed:
    """The server acknowledged a subscription to ``channel`` of ``inst_id``."""

    channel: str
    inst_id: str


@dataclass(frozen=True)
class Unsubscribed:
    """The server acknowledged an unsubscription from ``channel`` of ``inst_id``."""

    channel: str
    inst_id: str


@dataclass(frozen=True)
class ErrorEvent:
    """An ``{"event": "error"}`` message, e.g. code ``"60012"`` for an invalid request."""

    code: str
    msg: str


@dataclass(frozen=True)
class Pong:
    """The server's text ``pong`` answering our text ``ping``."""


@dataclass(frozen=True)
class Connected:
    """Emitted by the client once a connection is open and its subscriptions are sent: ``attempt`` is the
    connection's number (1 = first, 2 = first reconnect, ...), ``at_ms`` the epoch ms it happened."""

    attempt: int
    at_ms: int


WsEvent = TradesPush | CandlePush | Subscribed | Unsubscribed | ErrorEvent | Pong | Connected
_PONG = Pong()


class MalformedFrame(ValueError):
    """A payload that is not what Blofin documents. ``reason`` names what is wrong and where (field, index);
    ``text`` is the whole frame (``str()`` shows its first 500 characters); ``where`` optionally names the
    channel or field at fault when the reason does not (callers outside the parser use it)."""

    def __init__(self, reason: str, text: str = "", where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text
        self.where = where

    def __str__(self) -> str:
        reason = f"{self.where}: {self.reason}" if self.where else self.reason
        if not self.text:
            return reason
        shown = self.text if len(self.text) <= _TEXT_IN_ERROR else self.text[:_TEXT_IN_ERROR] + "..."
        return f"{reason} in frame {shown!r}"


def _number(value: Any, field: str) -> float:
    """``value`` (numeric string or JSON number, not bool) as a float; NaN and inf pass here, callers bound it."""
    if type(value) is str or type(value) is float or type(value) is int:
        try:
            return float(value)
        except ValueError:
            pass
    raise MalformedFrame(f"{field} is not a number: {value!r}")


def _positive(value: Any, field: str) -> float:
    number = _number(value, field)
    if 0.0 < number < _INF:
        return number
    raise MalformedFrame(f"{field} must be finite and > 0, got {value!r}")


def _non_negative(value: Any, field: str) -> float:
    number = _number(value, field)
    if 0.0 <= number < _INF:
        return number
    raise MalformedFrame(f"{field} must be finite and >= 0, got {value!r}")


def _integer(value: Any, field: str) -> int:
    """``value`` (integer string or JSON integer) as an int >= 0."""
    if type(value) is int:
        number = value
    elif type(value) is str:
        try:
            number = int(value)
        except ValueError:
            raise MalformedFrame(f"{field} is not an integer: {value!r}") from None
    else:
        raise MalformedFrame(f"{field} is not an integer: {value!r}")
    if number < 0:
        raise MalformedFrame(f"{field} must be >= 0, got {value!r}")
    return number


def _ts(value: Any, field: str) -> int:
    ts = _integer(value, field)
    if _MIN_TS_MS <= ts < _MAX_TS_MS:
        return ts
    raise MalformedFrame(f"{field} is not an epoch ms time between 2000 and 2100: {value!r}")


def _text(obj: Mapping[str, Any], field: str) -> str:
    value = obj.get(field)
    if type(value) is str and value:
        return value
    if value is None:
        raise MalformedFrame(f"missing field {field!r}")
    raise MalformedFrame(f"{field} must be a non-empty string, got {value!r}")


def _field(obj: Mapping[str, Any], field: str) -> Any:
    try:
        return obj[field]
    except KeyError:
        raise MalformedFrame(f"missing field {field!r}") from None


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise MalformedFrame(f"{what} must be a JSON object, got {type(value).__name__}")


def parse_trade(obj: Mapping[str, Any]) -> Trade:
    """One trade object ``{instId, tradeId, price, size, side, ts[, synthetic]}`` (WebSocket ``trades`` data or
    REST ``/market/trades``) as a :class:`Trade`.

    Raises :class:`MalformedFrame` when a field is missing or mistyped, ``tradeId`` is not an integer >= 0,
    ``ts`` is not an epoch ms time, ``price`` or ``size`` is not finite and > 0, ``side`` is not buy/sell or
    ``synthetic`` is not a boolean."""
    obj = _object(obj, "trade")
    side = _field(obj, "side")
    if side not in _SIDES:
        raise MalformedFrame(f"side must be 'buy' or 'sell', got {side!r}")
    synthetic = obj.get("synthetic", False)
    if type(synthetic) is not bool:
        raise MalformedFrame(f"synthetic must be a boolean, got {synthetic!r}")
    return Trade(
        _text(obj, "instId"),
        _integer(_field(obj, "tradeId"), "tradeId"),
        _ts(_field(obj, "ts"), "ts"),
        _positive(_field(obj, "price"), "price"),
        _positive(_field(obj, "size"), "size"),
        side,
        synthetic,
    )


def parse_candle_row(inst_id: str, row: Sequence[Any]) -> Candle:
    """One candle array of 9 strings ``[ts, open, high, low, close, vol (contracts), volCurrency (base),
    volCurrencyQuote (USDT), confirm]`` (WebSocket ``candle<bar>`` data or REST ``/market/candles``).

    Raises :class:`MalformedFrame` when the row is not a 9-element array, ``ts`` is not an epoch ms time, a price
    is not finite and > 0, a volume is negative or not finite, ``high`` < ``low``, ``open``/``close`` lie outside
    [``low``, ``high``] or ``confirm`` is not "0"/"1"."""
    if type(row) is not list and type(row) is not tuple:
        raise MalformedFrame(f"candle must be an array, got {type(row).__name__}")
    if len(row) != 9:
        raise MalformedFrame(f"candle must have 9 fields, got {len(row)}")
    confirmed = _CONFIRM.get(row[8]) if type(row[8]) is str else None
    if confirmed is None:
        raise MalformedFrame(f"confirm must be '0' or '1', got {row[8]!r}")
    open_, high, low, close = (
        _positive(row[1], "open"),
        _positive(row[2], "high"),
        _positive(row[3], "low"),
        _positive(row[4], "close"),
    )
    if high < low:
        raise MalformedFrame(f"high {row[2]} < low {row[3]}")
    if not (low <= open_ <= high and low <= close <= high):
        raise MalformedFrame(f"open {row[1]} / close {row[4]} outside [low {row[3]}, high {row[2]}]")
    return Candle(
        inst_id,
        _ts(row[0], "ts"),
        open_,
        high,
        low,
        close,
        _non_negative(row[5], "volume"),
        _non_negative(row[6], "volume_base"),
        _non_negative(row[7], "volume_quote"),
        confirmed,
    )


def parse_instrument(obj: Mapping[str, Any]) -> Instrument:
    """One REST instrument object as an :class:`Instrument`; raises :class:`MalformedFrame` on a missing field,
    an empty name or a non-positive/non-finite ``contractValue``, ``tickSize``, ``lotSize`` or ``minSize``."""
    obj = _object(obj, "instrument")
    return Instrument(
        _text(obj, "instId"),
        _positive(_field(obj, "contractValue"), "contractValue"),
        _text(obj, "baseCurrency"),
        _text(obj, "quoteCurrency"),
        _positive(_field(obj, "tickSize"), "tickSize"),
        _positive(_field(obj, "lotSize"), "lotSize"),
        _positive(_field(obj, "minSize"), "minSize"),
        _text(obj, "state"),
    )


def parse_ticker(obj: Mapping[str, Any]) -> Ticker:
    """One REST ticker object as a :class:`Ticker`; raises :class:`MalformedFrame` on a missing field, a
    ``last`` price not finite and > 0, a negative 24 h volume or a bad ``ts``."""
    obj = _object(obj, "ticker")
    return Ticker(
        _text(obj, "instId"),
        _positive(_field(obj, "last"), "last"),
        _non_negative(_field(obj, "volCurrency24h"), "volCurrency24h"),
        _non_negative(_field(obj, "vol24h"), "vol24h"),
        _ts(_field(obj, "ts"), "ts"),
    )


def _trades_push(inst_id: str, data: list[Any]) -> TradesPush:
    trades = []
    for i, obj in enumerate(data):
        try:
            trade = parse_trade(obj)
        except MalformedFrame as exc:
            raise MalformedFrame(f"data[{i}]: {exc.reason}") from None
        if trade.inst_id != inst_id:
            raise MalformedFrame(f"data[{i}]: instId {trade.inst_id!r} differs from arg instId {inst_id!r}")
        trades.append(trade)
    return TradesPush(inst_id, tuple(trades))


def _candle_push(inst_id: str, bar: str, data: list[Any]) -> CandlePush:
    candles = []
    for i, row in enumerate(data):
        try:
            candles.append(parse_candle_row(inst_id, row))
        except MalformedFrame as exc:
            raise MalformedFrame(f"data[{i}]: {exc.reason}") from None
    return CandlePush(inst_id, bar, tuple(candles))


def _arg(msg: Mapping[str, Any]) -> tuple[str, str]:
    arg = _object(msg.get("arg"), "arg")
    try:
        return _text(arg, "channel"), _text(arg, "instId")
    except MalformedFrame as exc:
        raise MalformedFrame(f"arg: {exc.reason}") from None


def _event(msg: Mapping[str, Any], event: Any) -> WsEvent:
    if event == "subscribe":
        return Subscribed(*_arg(msg))
    if event == "unsubscribe":
        return Unsubscribed(*_arg(msg))
    if event == "error":
        code = _field(msg, "code")
        if type(code) is not str and type(code) is not int:
            raise MalformedFrame(f"error code must be a string, got {code!r}")
        return ErrorEvent(str(code), str(msg.get("msg", "")))
    raise MalformedFrame(f"unknown event {event!r}")


def _message(msg: Any) -> WsEvent:
    msg = _object(msg, "message")
    event = msg.get("event")
    if event is not None:
        return _event(msg, event)
    channel, inst_id = _arg(msg)
    data = _field(msg, "data")
    if type(data) is not list:
        raise MalformedFrame(f"data must be an array, got {type(data).__name__}")
    if not data:
        raise MalformedFrame("data is empty")
    if channel == "trades":
        return _trades_push(inst_id, data)
    if channel.startswith("candle") and channel[6:] in BARS:
        return _candle_push(inst_id, channel[6:], data)
    raise MalformedFrame(f"unknown channel {channel!r}")


def parse_ws_message(text: str) -> WsEvent:
    """One text frame of the Blofin public WebSocket as an event: ``pong``, a subscribe/unsubscribe ack, an
    error event, a ``trades`` push or a ``candle<bar>`` push.

    Raises :class:`MalformedFrame` (with ``text`` = the frame) for anything else: invalid JSON, a missing or
    mistyped field, a non-numeric, NaN, infinite or non-positive price, a negative size or volume, ``high`` <
    ``low``, an unknown event or channel, empty ``data``, or a trade whose ``instId`` differs from the ``arg``'s.
    The reason names the field and the ``data`` index."""
    if text == "pong":
        return _PONG
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedFrame(f"not JSON: {exc}", text) from None
    try:
        return _message(msg)
    except MalformedFrame as exc:
        raise MalformedFrame(exc.reason, text) from None


def subscribe_messages(args: Sequence[tuple[str, str]], op: str = "subscribe", max_args_bytes: int = 4096) -> list[str]:
    """``(channel, instId)`` pairs as the fewest ``{"op": op, "args": [...]}`` JSON texts (in order, each pair
    once) whose ``args`` JSON is at most ``max_args_bytes`` bytes (Blofin's bound: 4,096).

    Raises ``ValueError`` for an ``op`` other than subscribe/unsubscribe or a single pair longer than the bound."""
    if op not in ("subscribe", "unsubscribe"):
        raise ValueError(f"op must be 'subscribe' or 'unsubscribe', got {op!r}")
    messages: list[str] = []
    batch: list[str] = []
    size = 2  # the brackets
    for channel, inst_id in dict.fromkeys(args):
        item = json.dumps({"channel": channel, "instId": inst_id}, separators=(",", ":"))
        length = len(item.encode())
        if length + 2 > max_args_bytes:
            raise ValueError(f"subscription {item} alone is longer than {max_args_bytes} bytes")
        if batch and size + 1 + length > max_args_bytes:
            messages.append(_op_message(op, batch))
            batch, size = [], 2
        size += length + (1 if batch else 0)
        batch.append(item)
    if batch:
        messages.append(_op_message(op, batch))
    return messages


def _op_message(op: str, items: list[str]) -> str:
    return f'{{"op":"{op}","args":[{",".join(items)}]}}'
