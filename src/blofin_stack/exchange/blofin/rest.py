"""Blofin public REST client (httpx): instruments, tickers, candles paged back in time, recent trades.

Requests are paced by a sliding-window limiter (Blofin: 500 per minute per IP) and retried with exponential
back-off and full jitter on HTTP 429, 5xx, transport errors, unreadable bodies and envelopes whose ``code`` is not
"0"; a ``Retry-After`` header is honoured. Rows that do not parse are skipped, counted and logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx

from blofin_stack.exchange.blofin.limits import SlidingWindowLimiter, backoff_delay
from blofin_stack.exchange.blofin.types import (
    BARS,
    Candle,
    Instrument,
    MalformedFrame,
    Ticker,
    Trade,
    parse_candle_row,
    parse_instrument,
    parse_ticker,
    parse_trade,
)

logger = logging.getLogger(__name__)

MAX_CANDLES_PER_PAGE = 1440
MAX_TRADES = 100
_Row = TypeVar("_Row")


class BlofinApiError(RuntimeError):
    """A REST call that failed for good: ``code`` is Blofin's envelope code, ``"HTTP <status>"``, ``"transport"``
    or ``"body"`` (unreadable response), ``msg`` the last message, ``endpoint`` the path, ``params`` the query."""

    def __init__(self, code: str, msg: str, endpoint: str, params: Mapping[str, Any] | None = None) -> None:
        self.code = code
        self.msg = msg
        self.endpoint = endpoint
        self.params = dict(params or {})
        super().__init__(f"Blofin {endpoint} {self.params} failed: code {code}: {msg}")


class _Retryable(Exception):
    def __init__(self, code: str, msg: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.retry_after = retry_after


@dataclass
class RestStats:
    """Counters of one :class:`BlofinRest`: HTTP requests sent, retries, HTTP 429 answers, failed attempts
    (429, 5xx, transport errors, unreadable bodies, error envelopes) and rows skipped as malformed."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    malformed: int = 0


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds from now, ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _envelope(response: httpx.Response) -> Any:
    """The ``data`` of a ``{"code": "0", "msg": ..., "data": ...}`` answer; raises ``_Retryable`` otherwise."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        raise _Retryable("body", f"not JSON: {response.text[:200]!r}") from None
    if not isinstance(body, dict) or "code" not in body:
        raise _Retryable("body", f"no envelope: {json.dumps(body)[:200]}")
    if str(body["code"]) != "0":
        raise _Retryable(str(body["code"]), str(body.get("msg", "")))
    return body.get("data")


class BlofinRest:
    """Async client of Blofin's public REST API at ``base_url`` (e.g. ``https://openapi.blofin.com``).

    At most ``max_per_minute`` requests in any sliding ``window_s`` seconds (60 unless testing); each call is
    tried up to ``1 + max_retries`` times with full-jitter exponential back-off (``backoff_base`` x 2^(n - 1)
    capped at ``backoff_max`` s, or the server's ``Retry-After`` when longer), then raises
    :class:`BlofinApiError`. Other HTTP 4xx answers raise at once. ``timeout`` is per request (s);
    ``transport`` replaces the network (tests). Use as ``async with BlofinRest(url) as rest: ...``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        max_per_minute: int = 500,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        window_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stats = RestStats()
        self._limiter = SlidingWindowLimiter(max_per_minute, window_s)
        self._rng = rng or random.Random()
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> BlofinRest:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    async def get(self, endpoint: str, params: Mapping[str, Any]) -> Any:
        """GET ``endpoint`` (e.g. ``/api/v1/market/candles``) with ``params``: the envelope's ``data``, paced and
        retried as the class says. Raises :class:`BlofinApiError`."""
        failures = 0
        while True:
            try:
                return await self._attempt(endpoint, params)
            except _Retryable as exc:
                self.stats.errors += 1
                failures += 1
                if failures > self.max_retries:
                    raise BlofinApiError(exc.code, exc.msg, endpoint, params) from None
                delay = backoff_delay(failures, self.backoff_base, self.backoff_max, self._rng)
                delay = max(delay, exc.retry_after or 0.0)
                logger.warning("Blofin %s %s: %s; retry %d in %.2f s", endpoint, params, exc, failures, delay)
                self.stats.retries += 1
                await asyncio.sleep(delay)

    async def _attempt(self, endpoint: str, params: Mapping[str, Any]) -> Any:
        await self._limiter.acquire()
        self.stats.requests += 1
        try:
            response = await self._client.get(endpoint, params=params)
        except httpx.TransportError as exc:
            raise _Retryable("transport", f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            if status == 429:
                self.stats.rate_limited += 1
            raise _Retryable(f"HTTP {status}", response.text[:200], _retry_after(response.headers.get("Retry-After")))
        if status >= 400:
            raise BlofinApiError(f"HTTP {status}", response.text[:200], endpoint, params)
        return _envelope(response)

    async def _rows(self, endpoint: str, params: Mapping[str, Any], parse: Callable[[Any], _Row]) -> list[_Row]:
        """GET a list endpoint and parse each row, skipping (counting, logging) the ones that do not parse."""
        data = await self.get(endpoint, params)
        if not isinstance(data, list):
            raise BlofinApiError("body", f"data is not an array: {json.dumps(data)[:200]}", endpoint, params)
        rows = []
        for i, item in enumerate(data):
            try:
                rows.append(parse(item))
            except MalformedFrame as exc:
                self.stats.malformed += 1
                logger.warning("Blofin %s %s: skipped data[%d] %s: %s", endpoint, params, i, json.dumps(item), exc)
        return rows

    async def instruments(self, inst_type: str = "SWAP") -> list[Instrument]:
        """The instruments of ``inst_type`` (``SWAP``: perpetual swaps), with ``contractValue`` (coins per
        contract), tick and lot sizes."""
        return await self._rows("/api/v1/market/instruments", {"instType": inst_type}, parse_instrument)

    async def tickers(self) -> list[Ticker]:
        """24 h tickers of every instrument (last price, 24 h volume in base currency and in contracts)."""
        return await self._rows("/api/v1/market/tickers", {}, parse_ticker)

    async def candles(
        self,
        inst_id: str,
        bar: str = "1m",
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = MAX_CANDLES_PER_PAGE,
    ) -> list[Candle]:
        """Confirmed bars of ``inst_id`` with open time in [``start_ms``, ``end_ms``) (ms; ``end_ms`` ``None``:
        up to now), **oldest first**, without duplicates. Pages back in time with ``after`` (= the oldest open
        time received; ``limit`` rows per page, at most 1,440) until a page reaches ``start_ms`` or comes back
        empty. Without ``start_ms`` one request is made and the latest ``limit`` confirmed bars are returned (it
        asks for ``limit`` + 1 rows, as the newest bar is usually still forming). Raises ``ValueError`` for an
        unknown ``bar`` or a ``limit`` outside 1..1440, :class:`BlofinApiError` when a page fails."""
        if bar not in BARS:
            raise ValueError(f"unknown bar {bar!r}; Blofin bars: {sorted(BARS)}")
        if not 1 <= limit <= MAX_CANDLES_PER_PAGE:
            raise ValueError(f"limit must be in 1..{MAX_CANDLES_PER_PAGE}, got {limit}")
        page_size = limit if start_ms is not None else min(limit + 1, MAX_CANDLES_PER_PAGE)
        by_ts: dict[int, Candle] = {}
        after = end_ms
        while True:
            params: dict[str, Any] = {"instId": inst_id, "bar": bar, "limit": page_size}
            if after is not None:
                params["after"] = after
            page = await self._rows("/api/v1/market/candles", params, lambda row: parse_candle_row(inst_id, row))
            if not page:
                break
            for candle in page:
                if (
                    candle.confirmed
                    and (start_ms is None or candle.ts >= start_ms)
                    and (end_ms is None or candle.ts < end_ms)
                ):
                    by_ts[candle.ts] = candle
            oldest = min(candle.ts for candle in page)
            if start_ms is None or oldest <= start_ms:
                break
            if after is not None and oldest >= after:
                logger.warning("Blofin candles %s: page did not go back in time (after=%d), stopping", inst_id, after)
                break
            after = oldest
        candles = [by_ts[ts] for ts in sorted(by_ts)]
        return candles if start_ms is not None else candles[-limit:]

    async def recent_trades(self, inst_id: str, limit: int = MAX_TRADES) -> list[Trade]:
        """The latest ``limit`` (at most 100) public trades of ``inst_id``, oldest first (by ``tradeId``); sizes in
        contracts. Raises ``ValueError`` for a ``limit`` outside 1..100."""
        if not 1 <= limit <= MAX_TRADES:
            raise ValueError(f"limit must be in 1..{MAX_TRADES}, got {limit}")
        trades = await self._rows("/api/v1/market/trades", {"instId": inst_id, "limit": limit}, parse_trade)
        return sorted(trades, key=lambda trade: trade.trade_id)
