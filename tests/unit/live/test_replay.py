"""The replay server against plain ``websockets`` / ``httpx`` clients on 127.0.0.1: protocol, values equal to the
real source candles, synthetic trades, REST paging on the replay clock, and every injected fault counted."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import websockets

from blofin_stack.live.faults import FaultPlan, parse_silence
from blofin_stack.live.replay import ReplayConfig, ReplayServer
from blofin_stack.market.store import MarketStore
from helpers import invoke

INSTS = ("BTC-USDT", "ETH-USDT")
#: Blofin's contract values (coins per contract), from BLOFIN_API.md / Blofin's instruments endpoint.
BLOFIN_CONTRACT_VALUES = {"BTC-USDT": 0.001, "ETH-USDT": 0.01}
START = 1_746_432_780_000  # 2025-05-05 08:13 UTC, inside the shared data set
BARS = 30
END = START + BARS * 60_000
SUBSCRIBE_ALL = json.dumps(
    {"op": "subscribe", "args": [{"channel": c, "instId": i} for c in ("trades", "candle1m") for i in INSTS]}
)


@pytest.fixture(scope="module")
def source(real_data_dir: Path) -> dict[str, pd.DataFrame]:
    """The real bars of the replay window, read straight from the CSV files (not through the server)."""
    frames = {}
    for inst in INSTS:
        frame = pd.read_csv(real_data_dir / f"{inst}.csv.gz").set_index("ts")
        frames[inst] = frame[(frame.index >= START) & (frame.index < END)]
        assert len(frames[inst]) == BARS
    return frames


def _server(source: dict[str, pd.DataFrame], **options: Any) -> ReplayServer:
    settings: dict[str, Any] = {"candles": source, "speed": 0.0, **options}
    return ReplayServer(ReplayConfig(**settings))


def _push(text: str) -> tuple[str, str, list[Any]] | None:
    """``(channel, instId, data)`` of a push that is valid by Blofin's documentation, else ``None``."""
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not isinstance(msg, dict) or "event" in msg:
        return None
    arg, data = msg.get("arg"), msg.get("data")
    if not isinstance(arg, dict) or arg.get("channel") not in ("trades", "candle1m") or arg.get("instId") not in INSTS:
        return None
    if not isinstance(data, list) or not data:
        return None
    try:
        for item in data:
            if arg["channel"] == "trades":
                numbers = [float(item[k]) for k in ("price", "size")] + [int(item["tradeId"]), int(item["ts"])]
                if item["side"] not in ("buy", "sell") or item["instId"] != arg["instId"] or min(numbers[:2]) <= 0:
                    return None
            else:
                if not isinstance(item, list) or len(item) != 9 or item[8] not in ("0", "1"):
                    return None
                numbers = [float(x) for x in item[1:8]]
            if not all(math.isfinite(x) for x in numbers):
                return None
    except (KeyError, TypeError, ValueError):
        return None
    return arg["channel"], arg["instId"], data


async def _collect(server: ReplayServer, subscribe: str = SUBSCRIBE_ALL) -> list[str]:
    """Every frame one client receives from its subscription until the replay finished and went quiet."""
    frames: list[str] = []
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(subscribe)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                frames.append(await asyncio.wait_for(ws.recv(), 0.3))
            except TimeoutError:
                if server.finished.is_set():
                    return frames
    raise AssertionError("the replay did not finish within 30 s")


def _replay(source: dict[str, pd.DataFrame], faults: FaultPlan | None = None) -> tuple[list[str], Any]:
    with _server(source, faults=faults or FaultPlan()) as server:
        frames = asyncio.run(_collect(server))
        return frames, server.stats


@pytest.fixture(scope="module")
def reference(source: dict[str, pd.DataFrame]) -> list[str]:
    """The frames of a fault-free replay (speed 0, one client): the same every run."""
    return _replay(source)[0]


def _confirmed(frames: list[str]) -> dict[str, list[list[str]]]:
    rows: dict[str, list[list[str]]] = {inst: [] for inst in INSTS}
    for text in frames:
        push = _push(text)
        if push and push[0] == "candle1m" and push[2][0][8] == "1":
            rows[push[1]].append(push[2][0])
    return rows


# ---------------------------------------------------------------------------------------------- loading
def test_loads_the_window_from_a_folder_a_store_or_the_last_days(
    real_data_dir: Path, source: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    folder = ReplayServer(ReplayConfig(data_dir=real_data_dir, instruments=INSTS, start=START, end=END))
    assert folder.instruments == list(INSTS)
    for inst in INSTS:
        pd.testing.assert_frame_equal(folder.source_candles(inst), source[inst])

    store = MarketStore(tmp_path / "market")
    store.write_candles("BTC-USDT", source["BTC-USDT"])
    stored = ReplayServer(ReplayConfig(store_dir=store.root, start=START + 60_000))
    assert stored.instruments == ["BTC-USDT"]
    pd.testing.assert_frame_equal(stored.source_candles("BTC-USDT"), source["BTC-USDT"].iloc[1:])

    full = pd.read_csv(real_data_dir / "ETH-USDT.csv.gz").set_index("ts")
    last_half_day = ReplayServer(ReplayConfig(data_dir=real_data_dir, instruments=("ETH-USDT",), days=0.5))
    assert last_half_day.source_candles("ETH-USDT").index.tolist() == full.index[-720:].tolist()

    with pytest.raises(ValueError, match="NOPE-USDT"):
        ReplayServer(ReplayConfig(data_dir=real_data_dir, instruments=("NOPE-USDT",)))
    with pytest.raises(ValueError, match="exactly one source"):
        ReplayConfig(data_dir=real_data_dir, store_dir=tmp_path)
    with pytest.raises(ValueError, match="history_bars"):
        _server(source, history_bars=BARS)


def test_silence_parser_and_fault_plan_checks() -> None:
    assert parse_silence("120:35") == (120, 35.0)
    for bad in ("120", "x:1", "3:0"):
        with pytest.raises(ValueError, match="silence"):
            parse_silence(bad)
    with pytest.raises(ValueError, match="duplicate_rate"):
        FaultPlan(duplicate_rate=1.5)


# --------------------------------------------------------------------------------------------- protocol
async def _next_event(ws: Any) -> str:
    """The next frame that is not a data push (ack, error, pong)."""
    while True:
        text = await asyncio.wait_for(ws.recv(), 5)
        if text == "pong" or "event" in json.loads(text):
            return text


def test_subscribe_acks_error_events_and_ping_pong(source: dict[str, pd.DataFrame]) -> None:
    async def session(url: str) -> None:
        async with websockets.connect(url) as ws:
            args = [{"channel": "trades", "instId": "BTC-USDT"}, {"channel": "candle1m", "instId": "ETH-USDT"}]
            await ws.send(json.dumps({"op": "subscribe", "args": args}))
            for arg in args:
                assert json.loads(await _next_event(ws)) == {"event": "subscribe", "arg": arg}
            bad_requests = [
                "{not json",
                json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}),
                json.dumps({"op": "subscribe", "args": [{"channel": "trades", "instId": "NOPE-USDT"}]}),
                json.dumps({"op": "order", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}),
                json.dumps({"op": "subscribe", "args": []}),
            ]
            for request in bad_requests:
                await ws.send(request)
                error = json.loads(await _next_event(ws))
                assert error["event"] == "error" and error["code"] == "60012", request
            await ws.send(json.dumps({"op": "unsubscribe", "args": [args[0]]}))
            assert json.loads(await _next_event(ws)) == {"event": "unsubscribe", "arg": args[0]}
            await ws.send("ping")
            assert await _next_event(ws) == "pong"

    with _server(source, speed=1.0) as server:
        asyncio.run(session(server.ws_url))
        assert server.stats.pongs == 1


def test_short_replay_pushes_every_real_bar_once_after_its_partial_pushes(
    source: dict[str, pd.DataFrame], reference: list[str]
) -> None:
    pushes = [(i, p) for i, text in enumerate(reference) if (p := _push(text))]
    assert len(pushes) == len(reference) - 4  # everything but the 4 acks is a valid push
    confirmed = _confirmed(reference)
    for inst in INSTS:
        bars, cv = source[inst], BLOFIN_CONTRACT_VALUES[inst]
        rows = confirmed[inst]
        assert [int(r[0]) for r in rows] == bars.index.tolist()  # every bar exactly once, in order
        values = np.array([[float(x) for x in r[1:8]] for r in rows])
        assert (values[:, :4] == bars[["open", "high", "low", "close"]].to_numpy()).all()  # bit-exact
        assert (values[:, 5] == bars["volume"].to_numpy()).all()
        np.testing.assert_allclose(values[:, 4], bars["volume"] / cv, rtol=1e-12)
        np.testing.assert_allclose(values[:, 6], bars["volume"] * bars["close"], rtol=1e-12)

        candle_at = {}
        for i, (channel, pinst, data) in pushes:
            if channel == "candle1m" and pinst == inst:
                candle_at.setdefault(int(data[0][0]), []).append((i, data[0][8]))
        for ts, seen in candle_at.items():
            flags = [flag for _, flag in seen]
            assert flags[-1] == "1" and flags.count("1") == 1 and len(flags) >= 2, ts  # partials, then final

        trades = [(i, t) for i, (channel, pinst, data) in pushes if channel == "trades" and pinst == inst for t in data]
        assert all(t["synthetic"] is True for _, t in trades)
        ids = [int(t["tradeId"]) for _, t in trades]
        assert ids == sorted(set(ids))
        by_bar = pd.DataFrame(
            {
                "bar": [int(t["ts"]) // 60_000 * 60_000 for _, t in trades],
                "price": [float(t["price"]) for _, t in trades],
            }
        ).assign(size=[float(t["size"]) for _, t in trades], at=[i for i, _ in trades])
        assert set(by_bar["bar"]) == set(bars.index)
        joined = by_bar.join(bars, on="bar")
        assert ((joined["price"] >= joined["low"]) & (joined["price"] <= joined["high"])).all()
        np.testing.assert_allclose(by_bar.groupby("bar")["size"].sum(), bars["volume"] / cv, rtol=1e-9)
        final_at = {ts: seen[-1][0] for ts, seen in candle_at.items()}
        assert (joined["at"] < joined["bar"].map(final_at)).all()  # a bar's trades come before its final candle


def test_rest_candles_page_newest_first_and_never_beyond_the_clock(source: dict[str, pd.DataFrame]) -> None:
    history = 20
    bars = source["BTC-USDT"]
    ts = bars.index.to_numpy()

    with _server(source, history_bars=history, speed=60.0) as server, httpx.Client(base_url=server.rest_url) as rest:

        def candles(**params: Any) -> list[list[str]]:
            reply = rest.get("/api/v1/market/candles", params={"instId": "BTC-USDT", **params})
            assert reply.status_code == 200 and reply.json()["code"] == "0", reply.text
            return reply.json()["data"]

        rows = candles()  # the clock waits for a subscriber: only the history bars are closed
        assert [int(r[0]) for r in rows] == ts[:history][::-1].tolist()
        assert [float(r[4]) for r in rows] == bars["close"].iloc[:history][::-1].tolist()
        paged, after = [], None
        while page := candles(limit=7, **({"after": after} if after else {})):
            paged += page
            after = page[-1][0]
        assert [int(r[0]) for r in paged] == ts[:history][::-1].tolist()
        assert [int(r[0]) for r in candles(before=ts[14])] == ts[15:history][::-1].tolist()
        assert [int(r[0]) for r in candles(after=ts[10], before=ts[3])] == ts[4:10][::-1].tolist()
        assert [int(r[0]) for r in candles(after=ts[10], before=ts[3], limit=2)] == [ts[9], ts[8]]

        five = bars.iloc[:history].groupby(ts[:history] // 300_000 * 300_000)
        complete = [b for b, _ in five if b + 300_000 <= ts[history]]  # closed buckets (house rule: a
        # bucket is built from the minutes that exist, so the first one may hold fewer than 5)
        expected = five.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        rows5 = candles(bar="5m")
        assert [int(r[0]) for r in rows5] == complete[::-1]
        for row in rows5:
            got = [float(x) for x in (row[1], row[2], row[3], row[4], row[6])]
            assert got == pytest.approx(expected.loc[int(row[0])].tolist(), rel=1e-12)

        for params in ({"limit": 1441}, {"bar": "7m"}, {"instId": "NOPE-USDT"}, {"after": "soon"}):
            reply = rest.get("/api/v1/market/candles", params={"instId": "BTC-USDT", **params})
            assert reply.status_code == 400 and reply.json()["code"] != "0", params

        recent = rest.get("/api/v1/market/trades", params={"instId": "BTC-USDT"}).json()["data"]
        assert len(recent) == 100 and all(int(t["ts"]) < ts[history] for t in recent)
        assert [int(t["tradeId"]) for t in recent] == sorted((int(t["tradeId"]) for t in recent), reverse=True)
        ticker = rest.get("/api/v1/market/tickers", params={"instId": "BTC-USDT"}).json()["data"][0]
        assert float(ticker["volCurrency24h"]) == pytest.approx(bars["volume"].iloc[:history].sum(), rel=1e-12)
        assert float(ticker["last"]) == bars["close"].iloc[history - 1]

        async def first_confirmed() -> int:
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}))
                while True:
                    push = _push(await asyncio.wait_for(ws.recv(), 5))
                    if push and push[2][0][8] == "1":
                        return int(push[2][0][0])

        just_closed = asyncio.run(first_confirmed())  # one bar per second: the next one closes 1 s later
        assert just_closed == ts[history]
        assert int(candles()[0][0]) == ts[history]


def test_instruments_contract_values_and_tickers(source: dict[str, pd.DataFrame]) -> None:
    renamed = {**source, "ABC-USDT": source["BTC-USDT"]}
    with (
        _server(renamed, contract_values={"ETH-USDT": 0.1}, history_bars=BARS - 1) as server,
        httpx.Client(base_url=server.rest_url) as rest,
    ):
        listed = rest.get("/api/v1/market/instruments", params={"instType": "SWAP"}).json()["data"]
        values = {i["instId"]: i["contractValue"] for i in listed}
        assert values == {"ABC-USDT": "1", "BTC-USDT": "0.001", "ETH-USDT": "0.1"}
        assert {"tickSize", "lotSize", "minSize", "state", "baseCurrency", "quoteCurrency"} <= set(listed[0])
        row = rest.get("/api/v1/market/candles", params={"instId": "ETH-USDT", "limit": 1}).json()["data"][0]
        assert float(row[5]) == pytest.approx(source["ETH-USDT"]["volume"].iloc[BARS - 2] / 0.1, rel=1e-12)
        tickers = rest.get("/api/v1/market/tickers").json()["data"]
        volumes = {t["instId"]: float(t["volCurrency24h"]) for t in tickers}
        for inst, frame in renamed.items():
            assert volumes[inst] == pytest.approx(frame["volume"].iloc[: BARS - 1].sum(), rel=1e-12)


def test_two_clients_each_get_every_bar(source: dict[str, pd.DataFrame]) -> None:
    async def both(server: ReplayServer) -> list[list[str]]:
        return list(await asyncio.gather(_collect(server), _collect(server)))

    with _server(source, start_subscribers=2) as server:
        first, second = asyncio.run(both(server))
    for frames in (first, second):
        assert {inst: len(rows) for inst, rows in _confirmed(frames).items()} == dict.fromkeys(INSTS, BARS)
    assert _confirmed(first) == _confirmed(second)


def test_connections_without_traffic_are_closed(source: dict[str, pd.DataFrame]) -> None:
    async def silent(url: str) -> float:
        started = time.monotonic()
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 3)
        return time.monotonic() - started

    async def pinging(url: str) -> int:
        async with websockets.connect(url) as ws:
            for _ in range(8):
                await ws.send("ping")
                assert await asyncio.wait_for(ws.recv(), 1) == "pong"
                await asyncio.sleep(0.1)
            return 8

    async def listening(url: str) -> int:  # never sends after subscribing, but receives pushes
        frames, until = 0, time.monotonic() + 1.0
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}))
            while time.monotonic() < until:
                await asyncio.wait_for(ws.recv(), 1)
                frames += 1
        return frames

    with _server(source, idle_timeout=0.3, speed=600.0) as server:  # a push every 0.05 s once subscribed
        assert 0.25 < asyncio.run(silent(server.ws_url)) < 2.0
        assert asyncio.run(pinging(server.ws_url)) == 8
        assert asyncio.run(listening(server.ws_url)) > 10
        assert server.stats.idle_closed == 1


# ----------------------------------------------------------------------------------------------- faults
def test_duplicates_repeat_the_exact_text(source: dict[str, pd.DataFrame], reference: list[str]) -> None:
    frames, stats = _replay(source, FaultPlan(duplicates=6, duplicate_rate=0.3))
    repeats, j = 0, 0
    for i, text in enumerate(frames):
        if j < len(reference) and text == reference[j]:
            j += 1
        else:
            assert text == frames[i - 1], f"frame {i} is neither the next real one nor a repeat"
            repeats += 1
    assert j == len(reference)
    assert repeats == stats.faults["duplicate"] == 6


def test_out_of_order_swaps_adjacent_pushes(source: dict[str, pd.DataFrame], reference: list[str]) -> None:
    frames, stats = _replay(source, FaultPlan(out_of_order=4, out_of_order_rate=0.3))
    assert sorted(frames) == sorted(reference)
    swaps, i = 0, 0
    while i < len(frames):
        if frames[i] == reference[i]:
            i += 1
        else:
            assert frames[i : i + 2] == [reference[i + 1], reference[i]], f"frames {i}, {i + 1} are not a swap"
            swaps += 1
            i += 2
    assert swaps == stats.faults["out_of_order"] == 4


def test_malformed_frames_are_invalid_blofin_payloads(source: dict[str, pd.DataFrame], reference: list[str]) -> None:
    frames, stats = _replay(source, FaultPlan(malformed=10, malformed_rate=0.3))
    acks = reference[:4]
    invalid = [text for text in frames if text not in acks and _push(text) is None]
    assert len(invalid) == stats.faults["malformed"] == 10
    assert set(stats.malformed_kinds.values()) == {2}  # each of the 5 kinds twice
    assert [text for text in frames if text in acks or _push(text)] == reference  # nothing real lost


def test_disconnect_every_n_frames_and_resume_from_the_clock(source: dict[str, pd.DataFrame]) -> None:
    async def until_closed(url: str) -> tuple[list[str], int]:
        frames = []
        async with websockets.connect(url) as ws:
            await ws.send(SUBSCRIBE_ALL)
            try:
                while True:
                    frames.append(await asyncio.wait_for(ws.recv(), 5))
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None
                return frames, exc.rcvd.code

    with _server(source, speed=600.0, faults=FaultPlan(disconnect_every=25)) as server:
        first, code = asyncio.run(until_closed(server.ws_url))
        second, _ = asyncio.run(until_closed(server.ws_url))
        assert server.stats.faults["disconnect"] == 2
    assert len(first) == len(second) == 25 and code == 1011
    bars_first = [int(p[2][0][0]) for t in first if (p := _push(t)) and p[0] == "candle1m"]
    bars_second = [int(p[2][0][0]) for t in second if (p := _push(t)) and p[0] == "candle1m"]
    assert bars_second and min(bars_second) >= max(bars_first)  # a new connection resumes from the clock


def test_disconnect_at_a_bar_closes_every_connection(source: dict[str, pd.DataFrame]) -> None:
    async def until_closed(url: str) -> list[str]:
        frames = []
        async with websockets.connect(url) as ws:
            await ws.send(SUBSCRIBE_ALL)
            with pytest.raises(websockets.ConnectionClosedError):
                while True:
                    frames.append(await asyncio.wait_for(ws.recv(), 5))
        return frames

    with _server(source, faults=FaultPlan(disconnect_at_bars=(3,))) as server:
        frames = asyncio.run(until_closed(server.ws_url))
        assert server.stats.faults["disconnect"] == 1
    seen = {
        int(p[2][0]["ts"]) // 60_000 * 60_000 if p[0] == "trades" else int(p[2][0][0])
        for t in frames
        if (p := _push(t))
    }
    assert seen and max(seen) < START + 3 * 60_000  # nothing of bar 3 was pushed


def test_silence_sends_nothing_and_answers_no_ping(source: dict[str, pd.DataFrame]) -> None:
    async def session(server: ReplayServer) -> tuple[float, list[str]]:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(SUBSCRIBE_ALL)
            while not (
                (p := _push(await asyncio.wait_for(ws.recv(), 5)))
                and p[0] == "candle1m"
                and p[2][0][8] == "1"
                and int(p[2][0][0]) == START + 60_000
                and p[1] == INSTS[-1]
            ):
                pass
            quiet_from = time.monotonic()
            await asyncio.sleep(0.1)
            await ws.send("ping")  # inside the silence: never answered
            first_after = await asyncio.wait_for(ws.recv(), 5)
            gap = time.monotonic() - quiet_from
            later = [first_after]
            while not server.finished.is_set() or later[-1] != "pong":
                try:
                    later.append(await asyncio.wait_for(ws.recv(), 0.3))
                except TimeoutError:
                    if server.finished.is_set():
                        await ws.send("ping")  # after the silence: answered
            return gap, later

    with _server(source, faults=FaultPlan(silences=((2, 0.5),))) as server:
        gap, later = asyncio.run(session(server))
        stats = server.stats
    assert gap >= 0.45
    assert later.count("pong") == 1 and later[-1] == "pong"
    assert stats.faults["silence"] == 1 and stats.pings == stats.pongs + 1


def test_rest_429_every_kth_request(source: dict[str, pd.DataFrame]) -> None:
    with _server(source, faults=FaultPlan(rest_429_every=3)) as server, httpx.Client(base_url=server.rest_url) as rest:
        replies = [rest.get("/api/v1/market/instruments") for _ in range(9)]
        assert [r.status_code for r in replies] == [200, 200, 429] * 3
        assert all(r.json()["code"] != "0" for r in replies if r.status_code == 429)
        assert server.stats.faults["rest_429"] == 3 and server.stats.rest_requests == 9


# ---------------------------------------------------------------------------------------- CLI, throughput
def test_cli_serves_then_prints_its_counters(real_data_dir: Path) -> None:
    result = invoke(
        "replay", "serve", "--data", str(real_data_dir), "--inst", "BTC-USDT", "--start", str(START),
        "--end", str(END), "--speed", "0", "--no-wait", "--port", "0", "--duration", "0.5", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    started, stopped = (json.loads(line) for line in result.stdout.splitlines())
    assert started["ws_url"].startswith("ws://127.0.0.1:") and started["bars"] == BARS
    assert stopped["stats"]["bars_replayed"] == BARS
    assert invoke("replay", "serve", "--data", str(real_data_dir), "--from-store").exit_code == 2
    assert invoke("replay", "serve", "--data", str(real_data_dir), "--silence-at", "soon").exit_code == 2


@pytest.fixture
def many_bars(real_data_dir: Path) -> Iterator[ReplayServer]:
    config = ReplayConfig(
        data_dir=real_data_dir, instruments=INSTS, start=START, end=START + 300 * 60_000, speed=0, trades_per_bar=100
    )
    yield ReplayServer(config)


def test_pushes_over_20000_trades_per_second_to_one_client(many_bars: ReplayServer) -> None:
    async def count(url: str) -> tuple[int, float]:
        trades, closed, started = 0, 0, time.perf_counter()
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(SUBSCRIBE_ALL)
            while closed < 600:
                push = _push(await asyncio.wait_for(ws.recv(), 5))
                if push and push[0] == "trades":
                    trades += len(push[2])
                elif push and push[2][0][8] == "1":
                    closed += 1
        return trades, time.perf_counter() - started

    with many_bars as server:
        trades, seconds = asyncio.run(count(server.ws_url))
    assert trades == server.stats.trades_sent == 60_000
    print(f"replay server: {trades / seconds:,.0f} trades/s to one client")
    assert trades / seconds > 20_000, f"{trades / seconds:,.0f} trades/s"
