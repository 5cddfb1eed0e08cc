"""Blofin public market data: :mod:`.types` (market types, payload parsing), :mod:`.ws` (WebSocket client),
:mod:`.rest` (REST client), :mod:`.limits` (back-off and rate limiting)."""

from blofin_stack.exchange.blofin.rest import BlofinApiError, BlofinRest, RestStats
from blofin_stack.exchange.blofin.types import (
    Candle,
    CandlePush,
    Connected,
    ErrorEvent,
    Instrument,
    MalformedFrame,
    Pong,
    Subscribed,
    Ticker,
    Trade,
    TradesPush,
    Unsubscribed,
    WsEvent,
    parse_candle_row,
    parse_trade,
    parse_ws_message,
    subscribe_messages,
)
from blofin_stack.exchange.blofin.ws import BlofinWebSocket, WsStats

__all__ = [
    "BlofinApiError",
    "BlofinRest",
    "BlofinWebSocket",
    "Candle",
    "CandlePush",
    "Connected",
    "ErrorEvent",
    "Instrument",
    "MalformedFrame",
    "Pong",
    "RestStats",
    "Subscribed",
    "Ticker",
    "Trade",
    "TradesPush",
    "Unsubscribed",
    "WsEvent",
    "WsStats",
    "parse_candle_row",
    "parse_trade",
    "parse_ws_message",
    "subscribe_messages",
]
