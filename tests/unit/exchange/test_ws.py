"""BlofinWebSocket against a local Blofin-like server (websockets.serve on 127.0.0.1, port 0): acks and pushes,
text ping after silence, a silent server replaced, drops with back-off, the connection rate, malformed frames."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from blofin_stack.exchange.blofin.types import (
    CandlePush,
    Connected,
    ErrorEvent,
    MalformedFrame,
    Pong,
    Subscribed,
    TradesPush,
    WsEvent,
)
from blofin_stack.exchange.blofin.ws import BlofinWebSocket

TS = 1_696_646_190_511
PAIRS = [("trades", "BTC-USDT"), ("candle1m", "BTC-USDT")]


def trades_push(trade_id: int, inst_id: str = "BTC-USDT", price: str = "27491.5") -> str:
    trade = {"instId": inst_id, "tradeId": str(trade_id), "price": price, "size": "2", "side": "buy", "ts": str(TS)}
    return json.dumps({"arg": {"channel": "trades", "instId": inst_id}, "data": [trade]})


CANDLE_PUSH = json.dumps(
    {
        "arg": {"channel": "candle1m", "instId": "BTC-USDT"},
        "data": [["1696636800000", "27491.5", "27495", "27483", "27489.5", "95359", "95.359", "2621407.651", "0"]],
    }
)


@dataclass
class Peer:
    """One server-side connection: ``index`` counts from 0, ``received`` holds every text the client sent."""

    ws: ServerConnection
    index: int
    expect_args: int
    received: list[str] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)

    async def recv(self) -> str:
        text = str(await self.ws.recv())
        self.received.append(text)
        self.received_at.append(time.monotonic())
        return text

    async def ack_subscriptions(self) -> None:
        """Read subscribe messages and acknowledge each arg, until all ``expect_args`` are acknowledged."""
        acked = 0
        while acked < self.expect_args:
            message = json.loads(await self.recv())
            assert message["op"] == "subscribe"
            for arg in message["args"]:
                await self.ws.send(json.dumps({"event": "subscribe", "arg": arg}))
                acked += 1

    async def answer_pings(self) -> None:
        """Like Blofin: answer the text ``ping`` with the text ``pong``, until the client leaves."""
        async for text in self.ws:
            self.received.append(str(text))
            self.received_at.append(time.monotonic())
            if text == "ping":
                await self.ws.send("pong")

    async def ignore(self) -> None:
        """A server gone silent: read and record everything, answer nothing."""
        async for text in self.ws:
            self.received.append(str(text))
            self.received_at.append(time.monotonic())

    def subscribed_pairs(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for text in self.received:
            if text.startswith("{"):
                pairs.extend((arg["channel"], arg["instId"]) for arg in json.loads(text)["args"])
        return pairs


Script = Callable[[Peer], Awaitable[None]]


class FakeBlofin:
    """A Blofin-like WebSocket server: connection ``i`` runs ``scripts[min(i, len - 1)]``; the first
    ``reject_handshakes`` attempts get HTTP 503. ``attempts`` are the monotonic times of every attempt."""

    def __init__(self, scripts: Sequence[Script], expect_args: int = len(PAIRS), reject_handshakes: int = 0) -> None:
        self.scripts = scripts
        self.expect_args = expect_args
        self.reject_handshakes = reject_handshakes
        self.attempts: list[float] = []
        self.peers: list[Peer] = []
        self.url = ""

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.reject_handshakes:
            return Response(503, "Service Unavailable", Headers(), b"busy\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        peer = Peer(ws, len(self.peers), self.expect_args)
        self.peers.append(peer)
        with contextlib.suppress(ConnectionClosed):  # the client may leave at any point of a script
            await self.scripts[min(peer.index, len(self.scripts) - 1)](peer)


@asynccontextmanager
async def blofin_server(*scripts: Script, **options: int) -> AsyncIterator[FakeBlofin]:
    fake = FakeBlofin(scripts, **options)
    async with serve(fake.handle, "127.0.0.1", 0, process_request=fake.process_request, ping_interval=None) as server:
        fake.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws/public"
        yield fake


async def run_until(
    client: BlofinWebSocket, done: Callable[[list[WsEvent]], bool], timeout: float = 10.0
) -> list[WsEvent]:
    """Consume ``client.events()`` until ``done(events)``, then close the client; the stream must end."""
    events: list[WsEvent] = []
    async with asyncio.timeout(timeout):
        async for event in client.events():
            events.append(event)
            if done(events):
                await client.close()
    return events


def count(kind: type, events: list[WsEvent]) -> int:
    return sum(isinstance(event, kind) for event in events)


class MaxJitter(random.Random):
    """Jitter that always draws the top of its range, recording each range: makes back-off deterministic."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


async def ack_then_push(peer: Peer) -> None:
    await peer.ack_subscriptions()
    await peer.ws.send(trades_push(peer.index + 1))
    await peer.answer_pings()


async def ack_then_close(peer: Peer) -> None:
    await peer.ack_subscriptions()
    await peer.ws.close()


async def ack_push_close(peer: Peer) -> None:
    await peer.ack_subscriptions()
    await peer.ws.send(trades_push(peer.index + 1))
    await peer.ws.close()


async def close_at_once(peer: Peer) -> None:
    await peer.ws.close()


def test_subscribes_in_batches_gets_acks_and_parses_pushes() -> None:
    pairs = [(channel, f"COIN{i:03d}-USDT") for i in range(200) for channel in ("trades", "candle1m")]

    async def script(peer: Peer) -> None:
        await peer.ack_subscriptions()
        await peer.ws.send(trades_push(42, "COIN007-USDT"))
        await peer.ws.send(CANDLE_PUSH)
        await peer.answer_pings()

    async def main() -> tuple[FakeBlofin, BlofinWebSocket, list[WsEvent]]:
        async with blofin_server(script, expect_args=len(pairs)) as server:
            client = BlofinWebSocket(server.url, pairs)
            events = await run_until(client, lambda ev: count(CandlePush, ev) == 1)
            return server, client, events

    server, client, events = asyncio.run(main())
    first = events[0]
    assert isinstance(first, Connected) and first.attempt == 1
    assert abs(first.at_ms - time.time() * 1000) < 10_000
    assert {(e.channel, e.inst_id) for e in events if isinstance(e, Subscribed)} == set(pairs)
    assert count(Subscribed, events) == 400
    trades = [e for e in events if isinstance(e, TradesPush)]
    assert [(t.inst_id, t.trades[0].trade_id, t.trades[0].price) for t in trades] == [("COIN007-USDT", 42, 27491.5)]
    (peer,) = server.peers
    assert sorted(peer.subscribed_pairs()) == sorted(pairs)  # each pair once
    assert len(peer.received) >= 5  # 400 args of ~40 bytes need at least 5 messages of 4,096 bytes
    for text in peer.received:
        assert len(text[text.index('"args":') + 7 : -1].encode()) <= 4096
    assert (client.stats.connects, client.stats.reconnects, client.stats.messages) == (1, 0, 402)


def test_text_ping_after_silence_is_answered() -> None:
    async def main() -> tuple[FakeBlofin, BlofinWebSocket, list[WsEvent], float]:
        async with blofin_server(ack_then_push) as server:
            client = BlofinWebSocket(server.url, PAIRS, ping_after=0.2, pong_timeout=1.0)
            events = await run_until(client, lambda ev: count(Pong, ev) == 3)
            return server, client, events, time.monotonic()

    server, client, events, _ = asyncio.run(main())
    (peer,) = server.peers
    pings = [at for text, at in zip(peer.received, peer.received_at, strict=True) if text == "ping"]
    assert len(pings) == 3
    subscribed_at = peer.received_at[0]
    assert pings[0] - subscribed_at >= 0.2 - 0.01
    assert all(later - earlier >= 0.2 - 0.01 for earlier, later in itertools.pairwise(pings))
    assert count(Pong, events) == 3
    assert (client.stats.pings, client.stats.connects, client.stats.reconnects) == (3, 1, 0)


def test_silent_server_is_replaced_and_resubscribed() -> None:
    async def goes_silent(peer: Peer) -> None:
        await peer.ack_subscriptions()
        await peer.ignore()

    async def main() -> tuple[FakeBlofin, BlofinWebSocket, list[WsEvent]]:
        async with blofin_server(goes_silent, ack_then_push) as server:
            client = BlofinWebSocket(
                server.url, PAIRS, ping_after=0.2, pong_timeout=0.3, connect_interval=0.01, backoff_base=0.01
            )
            events = await run_until(client, lambda ev: count(TradesPush, ev) == 1)
            return server, client, events

    server, client, events = asyncio.run(main())
    silent, second = server.peers
    assert silent.received[-1] == "ping" and silent.received.count("ping") == 1
    assert second.subscribed_pairs() == PAIRS
    assert second.received_at[0] - silent.received_at[-1] >= 0.3 - 0.01  # waited pong_timeout after the ping
    assert [e.attempt for e in events if isinstance(e, Connected)] == [1, 2]
    assert count(Subscribed, events) == 4
    assert (client.stats.connects, client.stats.reconnects) == (2, 1)
    assert client.stats.last_error is not None and "nothing received within 0.3 s" in client.stats.last_error


def test_dropped_connections_reconnect_with_growing_backoff() -> None:
    rng = MaxJitter()

    async def main() -> tuple[FakeBlofin, BlofinWebSocket, list[WsEvent]]:
        scripts = [ack_then_close] * 4 + [ack_then_push]
        async with blofin_server(*scripts) as server:
            client = BlofinWebSocket(
                server.url, PAIRS, connect_interval=0.01, backoff_base=0.05, backoff_max=0.2, rng=rng
            )
            events = await run_until(client, lambda ev: count(TradesPush, ev) == 1)
            return server, client, events

    server, client, events = asyncio.run(main())
    assert [e.attempt for e in events if isinstance(e, Connected)] == [1, 2, 3, 4, 5]
    assert (client.stats.connects, client.stats.reconnects, client.stats.connect_failures) == (5, 4, 0)
    assert rng.ranges == [(0.0, 0.05), (0.0, 0.1), (0.0, 0.2), (0.0, 0.2)]  # doubling, capped at backoff_max
    gaps = [b - a for a, b in itertools.pairwise(server.attempts)]
    for gap, delay in zip(gaps, [0.05, 0.1, 0.2, 0.2], strict=True):
        assert gap >= delay - 0.005
    for peer in server.peers:
        assert peer.subscribed_pairs() == PAIRS


def test_backoff_restarts_after_a_connection_that_delivered_data() -> None:
    rng = MaxJitter()

    async def main() -> BlofinWebSocket:
        async with blofin_server(ack_push_close, close_at_once, ack_push_close, ack_then_push) as server:
            client = BlofinWebSocket(
                server.url, PAIRS, connect_interval=0.01, backoff_base=0.02, backoff_max=1.0, rng=rng
            )
            await run_until(client, lambda ev: count(TradesPush, ev) == 3)
            return client

    client = asyncio.run(main())
    assert rng.ranges == [(0.0, 0.02), (0.0, 0.04), (0.0, 0.02)]
    assert client.stats.reconnects == 3


def test_never_more_than_one_connection_per_interval() -> None:
    async def main() -> tuple[FakeBlofin, BlofinWebSocket]:
        scripts = [close_at_once] * 3 + [ack_then_push]
        async with blofin_server(*scripts, reject_handshakes=3) as server:
            client = BlofinWebSocket(server.url, PAIRS, connect_interval=0.15, backoff_base=0.001, backoff_max=0.001)
            await run_until(client, lambda ev: count(TradesPush, ev) == 1)
            return server, client

    server, client = asyncio.run(main())
    assert len(server.attempts) == 7  # 3 refused handshakes, 3 dropped connections, the good one
    gaps = [b - a for a, b in itertools.pairwise(server.attempts)]
    assert min(gaps) >= 0.15 - 0.005, gaps
    assert (client.stats.connect_failures, client.stats.connects, client.stats.reconnects) == (3, 4, 3)
    assert client.stats.last_error is not None


def test_malformed_frames_are_counted_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    reported: list[MalformedFrame] = []

    def on_malformed(exc: MalformedFrame) -> None:
        reported.append(exc)
        if len(reported) == 1:
            raise RuntimeError("a failing callback must not end the stream either")

    nan_push = trades_push(9, price="NaN")

    async def script(peer: Peer) -> None:
        await peer.ack_subscriptions()
        for frame in (trades_push(1), "{not json", nan_push, b"\xff\xfe", trades_push(2)):
            await peer.ws.send(frame)
        await peer.ws.send('{"event": "error", "code": "60012", "msg": "Invalid request"}')
        await peer.ws.send(trades_push(3))
        await peer.answer_pings()

    async def main() -> tuple[BlofinWebSocket, list[WsEvent]]:
        async with blofin_server(script) as server:
            client = BlofinWebSocket(server.url, PAIRS, on_malformed=on_malformed)
            events = await run_until(client, lambda ev: count(TradesPush, ev) == 3)
            return client, events

    with caplog.at_level(logging.WARNING, logger="blofin_stack.exchange.blofin.ws"):
        client, events = asyncio.run(main())
    assert [e.trades[0].trade_id for e in events if isinstance(e, TradesPush)] == [1, 2, 3]
    assert [e for e in events if isinstance(e, ErrorEvent)] == [ErrorEvent("60012", "Invalid request")]
    assert (client.stats.malformed, client.stats.errors, client.stats.connects) == (3, 1, 1)
    assert client.stats.last_error == "error event 60012: Invalid request"
    assert [exc.text for exc in reported[:2]] == ["{not json", nan_push]
    assert reported[1].reason == "data[0]: price must be finite and > 0, got 'NaN'"
    assert "binary frame is not UTF-8" in reported[2].reason
    logged = caplog.text
    assert "{not json" in logged and "got 'NaN'" in logged and "on_malformed callback failed" in logged


def test_close_ends_the_stream_during_backoff() -> None:
    async def main() -> float:
        async with blofin_server(close_at_once, reject_handshakes=100) as server:
            client = BlofinWebSocket(server.url, PAIRS, backoff_base=30.0, rng=MaxJitter())

            async def consume() -> list[WsEvent]:
                return [event async for event in client.events()]

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await client.close()
            assert await asyncio.wait_for(task, 2.0) == []
            assert client.stats.connect_failures == 1
            return time.monotonic() - started

    assert asyncio.run(main()) < 1.0
