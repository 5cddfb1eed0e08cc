"""Blofin public WebSocket client: subscribe, keep alive, reconnect, and yield parsed events."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.uri import parse_uri

from blofin_stack.exchange.blofin.limits import SlidingWindowLimiter, backoff_delay
from blofin_stack.exchange.blofin.types import (
    CandlePush,
    Connected,
    ErrorEvent,
    MalformedFrame,
    TradesPush,
    WsEvent,
    parse_ws_message,
    subscribe_messages,
)

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024 * 1024


class _Silent(Exception):
    """The server answered neither a ping nor anything else within ``pong_timeout``."""


@dataclass
class WsStats:
    """Counters of one :class:`BlofinWebSocket`: successful connections and reconnections (connections after the
    first), failed connection attempts, frames received, malformed frames, error events, pings sent, the epoch ms
    of the last frame and the last error (error event or connection failure) as text."""

    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    malformed: int = 0
    errors: int = 0
    last_message_ms: int | None = None
    last_error: str | None = None
    connect_failures: int = 0
    pings: int = 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BlofinWebSocket:
    """A self-healing connection to a Blofin public WebSocket (``url``, e.g. ``wss://openapi.blofin.com/ws/public``)
    subscribed to ``subscriptions``: ``(channel, instId)`` pairs such as ``("trades", "BTC-USDT")``.

    - Subscriptions go out in batches whose ``args`` JSON stays within Blofin's 4,096 bytes.
    - Keepalive: the text ``ping`` after ``ping_after`` s without any frame; when nothing at all arrives within
      ``pong_timeout`` s after it, the connection is dead and is replaced. websockets' protocol pings are off.
    - Reconnection: after any disconnect or error, waits an exponential back-off with full jitter
      (``backoff_base`` x 2^(failures - 1), capped at ``backoff_max`` s; the failure count restarts after a
      connection that delivered trades or candles), never opens more than one connection per
      ``connect_interval`` s (Blofin: 1 per second per IP), and resubscribes.
    - A malformed frame is counted, logged with its text and passed to ``on_malformed``; it never ends the stream.

    ``rng`` draws the jitter (seeded in tests). Statistics are in :attr:`stats`.
    """

    def __init__(
        self,
        url: str,
        subscriptions: Sequence[tuple[str, str]],
        *,
        ping_after: float = 25.0,
        pong_timeout: float = 10.0,
        connect_interval: float = 1.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        open_timeout: float = 10.0,
        on_malformed: Callable[[MalformedFrame], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        parse_uri(url)  # raises websockets.exceptions.InvalidURI now rather than on every reconnection
        self.url = url
        self.subscriptions = list(dict.fromkeys(subscriptions))
        self.ping_after = ping_after
        self.pong_timeout = pong_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.on_malformed = on_malformed
        self.stats = WsStats()
        self._subscribe_texts = subscribe_messages(self.subscriptions)
        self._rng = rng or random.Random()
        self._connect_pacer = SlidingWindowLimiter(1, connect_interval)
        self._closed = asyncio.Event()
        self._ws: ClientConnection | None = None

    async def events(self) -> AsyncIterator[WsEvent]:
        """Connect, subscribe and yield :class:`Connected` followed by the parsed events of the connection; on any
        disconnect or error reconnect (see the class) and go on, until :meth:`close`. Call it once."""
        failures = 0
        while not self._closed.is_set():
            await self._connect_pacer.acquire()
            if self._closed.is_set():
                break
            opened = delivered = False
            try:
                async with connect(
                    self.url,
                    ping_interval=None,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=self.open_timeout,
                    close_timeout=1.0,
                ) as ws:
                    opened = True
                    self._ws = ws
                    self.stats.connects += 1
                    self.stats.reconnects = self.stats.connects - 1
                    for text in self._subscribe_texts:
                        await ws.send(text)
                    logger.info("connected to %s (connection %d)", self.url, self.stats.connects)
                    yield Connected(self.stats.connects, _now_ms())
                    while True:
                        event = self._parse(await self._receive(ws))
                        if event is not None:
                            delivered = delivered or type(event) is TradesPush or type(event) is CandlePush
                            yield event
            except (OSError, TimeoutError, WebSocketException, _Silent) as exc:
                if self._closed.is_set():
                    break
                if not opened:
                    self.stats.connect_failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("connection to %s lost or refused: %s", self.url, self.stats.last_error)
            finally:
                self._ws = None
            failures = 1 if delivered else failures + 1
            await self._sleep(backoff_delay(failures, self.backoff_base, self.backoff_max, self._rng))

    async def close(self) -> None:
        """Stop: close the open connection (if any) and end :meth:`events` without reconnecting."""
        self._closed.set()
        if self._ws is not None:
            await self._ws.close()

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until :meth:`close`, whichever comes first."""
        try:
            async with asyncio.timeout(seconds):
                await self._closed.wait()
        except TimeoutError:
            pass

    async def _receive(self, ws: ClientConnection) -> str | bytes:
        """The next frame; sends ``ping`` after ``ping_after`` s of silence and raises ``_Silent`` when nothing
        follows within ``pong_timeout`` s."""
        try:
            async with asyncio.timeout(self.ping_after):
                return await ws.recv()
        except TimeoutError:
            pass
        await ws.send("ping")
        self.stats.pings += 1
        try:
            async with asyncio.timeout(self.pong_timeout):
                return await ws.recv()
        except TimeoutError:
            raise _Silent(f"nothing received within {self.pong_timeout} s of a ping") from None

    def _parse(self, frame: str | bytes) -> WsEvent | None:
        """Count ``frame`` and parse it; a malformed frame is counted, logged and reported, giving ``None``."""
        self.stats.messages += 1
        self.stats.last_message_ms = _now_ms()
        try:
            event = parse_ws_message(frame if isinstance(frame, str) else _decode(frame))
        except MalformedFrame as exc:
            self._malformed(exc)
            return None
        if type(event) is ErrorEvent:
            self.stats.errors += 1
            self.stats.last_error = f"error event {event.code}: {event.msg}"
            logger.warning("%s from %s", self.stats.last_error, self.url)
        return event

    def _malformed(self, exc: MalformedFrame) -> None:
        self.stats.malformed += 1
        logger.warning("malformed frame %d from %s: %s", self.stats.malformed, self.url, exc)
        if self.on_malformed is not None:
            try:
                self.on_malformed(exc)
            except Exception:
                logger.exception("on_malformed callback failed")


def _decode(frame: bytes) -> str:
    """A binary frame as text; raises :class:`MalformedFrame` when it is not UTF-8."""
    try:
        return frame.decode()
    except UnicodeDecodeError as exc:
        raise MalformedFrame(f"binary frame is not UTF-8: {exc}", repr(frame)) from None
