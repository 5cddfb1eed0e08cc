"""BlofinRest against httpx.MockTransport: candle paging with ``after``, retries on 429 / 5xx / transport errors /
error envelopes, BlofinApiError, the sliding-window rate limit, instruments, tickers and trades parsing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from blofin_stack.exchange.blofin.rest import BlofinApiError, BlofinRest
from blofin_stack.exchange.blofin.types import Candle, Instrument, Ticker, Trade

MIN = 60_000
T0 = 1_703_484_240_000  # 2023-12-25T06:04:00Z, a minute boundary
BARS = 50  # the fake exchange's history: 1m bars T0 .. T0 + 49 min, the newest still forming


def ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": "0", "msg": "success", "data": data})


def row(i: int) -> list[str]:
    """Bar ``i`` of the fake history: open 100 + i, high + 2, low - 1, close + 1, volume 10 + i contracts."""
    confirm = "0" if i == BARS - 1 else "1"
    o = 100 + i
    return [str(T0 + i * MIN), str(o), str(o + 2), str(o - 1), str(o + 1), str(10 + i), str((10 + i) / 1000),
            str((10 + i) / 1000 * o), confirm]  # fmt: skip


def expected(i: int) -> Candle:
    o = 100.0 + i
    return Candle(
        "BTC-USDT", T0 + i * MIN, o, o + 2, o - 1, o + 1, 10.0 + i, (10 + i) / 1000, (10 + i) / 1000 * o, True
    )


class FakeExchange:
    """Answers ``/api/v1/market/candles`` like Blofin (newest first, ``after`` exclusive, ``limit`` rows) and
    records every request's query parameters and monotonic time."""

    def __init__(self, inclusive_after: bool = False) -> None:
        self.inclusive_after = inclusive_after
        self.requests: list[dict[str, str]] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.requests.append(params)
        self.times.append(time.monotonic())
        assert request.url.path == "/api/v1/market/candles" and params["instId"] == "BTC-USDT"
        after = int(params["after"]) if "after" in params else None
        rows = [
            row(i)
            for i in reversed(range(BARS))
            if after is None or T0 + i * MIN < after or (self.inclusive_after and T0 + i * MIN == after)
        ]
        return ok(rows[: int(params["limit"])])


def run(handler: Callable[[httpx.Request], httpx.Response], call: Callable[[BlofinRest], Any], **options: Any) -> Any:
    """Run ``call(rest)`` on a client whose network is ``handler``; returns (result, client stats)."""

    async def main() -> Any:
        options.setdefault("backoff_base", 0.001)
        async with BlofinRest("https://openapi.test", transport=httpx.MockTransport(handler), **options) as rest:
            return await call(rest), rest.stats

    return asyncio.run(main())


def test_candles_page_back_with_after_and_return_oldest_first() -> None:
    fake = FakeExchange()
    candles, stats = run(fake, lambda r: r.candles("BTC-USDT", start_ms=T0 + 5 * MIN, end_ms=T0 + 40 * MIN, limit=10))
    assert candles == [expected(i) for i in range(5, 40)]  # [start, end): bar 40 excluded, bar 5 included
    assert [int(p["after"]) for p in fake.requests] == [T0 + 40 * MIN, T0 + 30 * MIN, T0 + 20 * MIN, T0 + 10 * MIN]
    assert all(p["bar"] == "1m" and p["limit"] == "10" for p in fake.requests)
    assert stats.requests == 4 and stats.retries == 0


def test_candles_honour_the_range_when_after_is_inclusive() -> None:
    fake = FakeExchange(inclusive_after=True)  # a server that also returns the bar at `after`
    candles, _ = run(fake, lambda r: r.candles("BTC-USDT", start_ms=T0 + 5 * MIN, end_ms=T0 + 40 * MIN, limit=10))
    assert candles == [expected(i) for i in range(5, 40)]  # bar 40 excluded, the page overlaps not duplicated
    assert [int(p["after"]) for p in fake.requests] == [T0 + k * MIN for k in (40, 31, 22, 13)]


def test_candles_stop_on_an_empty_page_and_drop_the_forming_bar() -> None:
    fake = FakeExchange()
    candles, stats = run(fake, lambda r: r.candles("BTC-USDT", start_ms=T0 - 100 * MIN, limit=10))
    assert candles == [expected(i) for i in range(BARS - 1)]  # bar 49 is not confirmed
    afters = [p.get("after") for p in fake.requests]
    assert afters == [None, *(str(T0 + k * MIN) for k in (40, 30, 20, 10, 0))]  # the last page came back empty
    assert stats.requests == 6


def test_candles_without_start_give_the_latest_confirmed_bars_in_one_request() -> None:
    fake = FakeExchange()
    candles, _ = run(fake, lambda r: r.candles("BTC-USDT", limit=5))
    assert [c.ts for c in candles] == [T0 + i * MIN for i in range(44, 49)]  # bar 49 is still forming
    newest, _ = run(fake, lambda r: r.candles("BTC-USDT", limit=1))
    assert newest == [expected(48)]
    before, _ = run(fake, lambda r: r.candles("BTC-USDT", end_ms=T0 + 10 * MIN, limit=3))
    assert before == [expected(7), expected(8), expected(9)]
    assert [p.get("limit") for p in fake.requests] == ["6", "2", "4"]


def test_candles_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown bar '1h'"):
        run(FakeExchange(), lambda r: r.candles("BTC-USDT", "1h"))
    with pytest.raises(ValueError, match=r"limit must be in 1\.\.1440"):
        run(FakeExchange(), lambda r: r.candles("BTC-USDT", limit=1441))


TRADES = [
    {"instId": "BTC-USDT", "tradeId": "1002", "price": "42000.5", "size": "3", "side": "sell", "ts": "1703484240500"},
    {"instId": "BTC-USDT", "tradeId": "1001", "price": "42000", "size": "1", "side": "buy", "ts": "1703484240100"},
]


def test_429_then_success_is_retried_honouring_retry_after() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "0.3"}), httpx.Response(429), ok(TRADES)]
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return answers[len(seen) - 1]

    started = time.monotonic()
    trades, stats = run(handler, lambda r: r.recent_trades("BTC-USDT", limit=2))
    assert time.monotonic() - started >= 0.3
    assert trades == [
        Trade("BTC-USDT", 1001, 1703484240100, 42000.0, 1.0, "buy"),
        Trade("BTC-USDT", 1002, 1703484240500, 42000.5, 3.0, "sell"),
    ]
    assert seen == [{"instId": "BTC-USDT", "limit": "2"}] * 3
    assert (stats.requests, stats.retries, stats.rate_limited, stats.errors) == (3, 2, 2, 2)


def test_5xx_transport_errors_and_error_envelopes_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if calls == 2:
            return httpx.Response(503, text="upstream down")
        if calls == 3:
            return httpx.Response(200, json={"code": "50001", "msg": "System busy", "data": []})
        if calls == 4:
            return httpx.Response(200, text="<html>gateway</html>")
        return ok(TRADES[:1])

    trades, stats = run(handler, lambda r: r.recent_trades("BTC-USDT"))
    assert [t.trade_id for t in trades] == [1002]
    assert (stats.requests, stats.retries, stats.errors, stats.rate_limited) == (5, 4, 4, 0)


def test_persistent_error_code_raises_blofin_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": "152001", "msg": "Parameter instId error", "data": None})

    stats_box: list[Any] = []

    async def call(rest: BlofinRest) -> Any:
        stats_box.append(rest.stats)
        return await rest.recent_trades("NOPE-USDT")

    with pytest.raises(BlofinApiError) as caught:
        run(handler, call, max_retries=3)
    error = caught.value
    assert (error.code, error.msg, error.endpoint) == ("152001", "Parameter instId error", "/api/v1/market/trades")
    assert error.params == {"instId": "NOPE-USDT", "limit": 100}
    assert "152001" in str(error) and "NOPE-USDT" in str(error) and "/api/v1/market/trades" in str(error)
    assert (stats_box[0].requests, stats_box[0].retries) == (4, 3)  # 1 + max_retries attempts


def test_client_errors_other_than_429_are_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404, text="no such endpoint")

    with pytest.raises(BlofinApiError, match="HTTP 404"):
        run(handler, lambda r: r.tickers())
    assert calls == 1


def test_rate_limit_never_exceeded_in_any_window() -> None:
    fake = FakeExchange()

    async def burst(rest: BlofinRest) -> None:
        await asyncio.gather(*(rest.candles("BTC-USDT", limit=1) for _ in range(10)))

    started = time.monotonic()
    run(fake, burst, max_per_minute=3, window_s=0.25)
    times = sorted(fake.times)
    assert len(times) == 10
    assert times[2] - started < 0.2  # the first three go at once
    for first, fourth in zip(times, times[3:], strict=False):
        assert fourth - first >= 0.25 - 0.01  # never 4 requests within one window
    assert times[-1] - started >= 3 * 0.25 - 0.01


def test_instruments_and_tickers_skip_and_count_malformed_rows() -> None:
    instrument = {"instId": "BTC-USDT", "baseCurrency": "BTC", "quoteCurrency": "USDT", "contractValue": "0.001",
                  "tickSize": "0.1", "lotSize": "1", "minSize": "1", "maxLeverage": "150", "state": "live"}  # fmt: skip
    ticker = {"instId": "ETH-USDT", "last": "2283.45", "volCurrency24h": "150000.5", "vol24h": "15000050",
              "ts": "1703484240000"}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/market/instruments":
            assert request.url.params["instType"] == "SWAP"
            return ok([instrument, {**instrument, "instId": "BAD-USDT", "contractValue": ""}])
        assert request.url.path == "/api/v1/market/tickers"
        return ok([ticker, {**ticker, "last": "NaN"}, "junk"])

    async def both(rest: BlofinRest) -> Any:
        return await rest.instruments(), await rest.tickers()

    (instruments, tickers), stats = run(handler, both)
    assert instruments == [Instrument("BTC-USDT", 0.001, "BTC", "USDT", 0.1, 1.0, 1.0, "live")]
    assert tickers == [Ticker("ETH-USDT", 2283.45, 150000.5, 15000050.0, 1703484240000)]
    assert (stats.malformed, stats.requests, stats.errors) == (3, 2, 0)
