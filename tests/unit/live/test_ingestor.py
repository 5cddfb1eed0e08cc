"""The ingestor never lets the store show a bar after a hole that a catch-up is still filling from REST: at
the first start (the back-fill) and after a reconnection (the bars missed while away). Readers of the store
such as the paper trader take it as the history, and a bar they process without its predecessors stays
processed. REST is slowed down here so that the pushes received meanwhile would be flushed first; a catch-up that
fails is retried at the next confirmed bar, and the candles wait until one succeeds."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from blofin_stack.config import Settings
from blofin_stack.exchange.blofin.rest import BlofinApiError, BlofinRest
from blofin_stack.live import ingestor as ingestor_module
from blofin_stack.live.faults import FaultPlan
from blofin_stack.live.ingestor import Ingestor
from blofin_stack.live.replay import ReplayConfig, ReplayServer
from blofin_stack.market.store import MarketStore, UnknownInstrumentError

INST = "BTC-USDT"
HISTORY_BARS = 200
LIVE_BARS = 300
REST_DELAY_S = 0.3


class StoreWatcher(threading.Thread):
    """Reads the instrument's stored open times over and over and keeps every distinct snapshot."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="store-watcher", daemon=True)
        self.store = MarketStore(settings.market_dir)
        self.snapshots: list[np.ndarray] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                ts = self.store.read_candles(INST).index.to_numpy()
            except UnknownInstrumentError:
                ts = np.empty(0, dtype="int64")
            if len(ts) and (not self.snapshots or len(ts) != len(self.snapshots[-1])):
                self.snapshots.append(ts)
            self.halt.wait(0.002)


async def ingest(ingestor: Ingestor, server: ReplayServer) -> None:
    task = asyncio.create_task(ingestor.run())
    assert await asyncio.to_thread(server.finished.wait, 60)
    await asyncio.sleep(0.5)
    ingestor.stop()
    await task


@pytest.mark.parametrize(
    ("faults", "failing_calls"),
    [(FaultPlan(), 0), (FaultPlan(disconnect_at_bars=(100,)), 0), (FaultPlan(), 3)],
    ids=["first-start-back-fill", "gap-after-a-reconnection", "failed-catch-ups-retried"],
)
def test_received_candles_wait_for_the_catch_up_of_the_bars_before_them(
    real_data_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, faults: FaultPlan, failing_calls: int
) -> None:
    source = pd.read_csv(real_data_dir / f"{INST}.csv.gz").set_index("ts").iloc[-(HISTORY_BARS + LIVE_BARS) :]
    original = BlofinRest.candles
    calls: list[int] = []

    async def slow_candles(self: BlofinRest, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(REST_DELAY_S)
        calls.append(1)
        if len(calls) <= failing_calls:  # REST down at first: the hole stays until a retry fills it
            raise BlofinApiError("500", "simulated outage", "/api/v1/market/candles")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(BlofinRest, "candles", slow_candles)
    settings.ingest_backfill_days = 1.0
    settings.ingest_flush_seconds = 0.02
    config = ReplayConfig(
        candles={INST: source},
        history_bars=HISTORY_BARS,
        speed=6000,  # 100 bars a second: a slow catch-up overlaps tens of pushed bars
        trades_per_bar=1,
        pushes_per_bar=1,
        faults=faults,
    )
    watcher = StoreWatcher(settings)
    watcher.start()
    with ReplayServer(config) as server:
        ingestor = Ingestor(settings, [INST], ws_url=server.ws_url, rest_url=server.rest_url)
        asyncio.run(ingest(ingestor, server))
    watcher.halt.set()
    watcher.join(10)
    expected = source.index.to_numpy()
    assert len(watcher.snapshots) >= 3  # the store grew while it was watched, not in one write
    for ts in watcher.snapshots:  # every state of the store is the source from its first bar on, no hole
        np.testing.assert_array_equal(ts, expected[: len(ts)])
    stored = MarketStore(settings.market_dir).read_candles(INST)
    pd.testing.assert_frame_equal(stored, source.astype("float64"), check_freq=False)
    health = ingestor.health.instruments[INST]
    if failing_calls:
        assert ingestor.health.errors == failing_calls and len(calls) > failing_calls
    if faults.disconnect_at_bars:
        assert ingestor.health.reconnects >= 1 and health.gaps_filled >= 2  # the back-fill and the missed bars
        assert health.gap_bars_filled > HISTORY_BARS


def test_a_full_trade_buffer_is_flushed_at_once_and_reading_waits(
    real_data_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed outruns the timer (60 s here): memory stays bounded by MAX_BUFFERED_TRADES, nothing is lost."""
    limit = 1_000
    monkeypatch.setattr(ingestor_module, "MAX_BUFFERED_TRADES", limit)
    settings.ingest_flush_seconds = 60.0
    settings.ingest_backfill_days = 0.0
    source = pd.read_csv(real_data_dir / f"{INST}.csv.gz").set_index("ts").iloc[-200:]
    config = ReplayConfig(candles={INST: source}, speed=0, trades_per_bar=50, pushes_per_bar=1)
    batches: list[int] = []
    write = Ingestor._write

    def recording_write(self: Ingestor, trades: list[dict[str, Any]], candles: Any) -> None:
        batches.append(len(trades))
        write(self, trades, candles)

    monkeypatch.setattr(Ingestor, "_write", recording_write)
    with ReplayServer(config) as server:
        ingestor = Ingestor(settings, [INST], ws_url=server.ws_url, rest_url=server.rest_url)
        asyncio.run(ingest(ingestor, server))
        sent = server.stats.trades_sent
    assert sent > 5 * limit and ingestor.health.trades_stored == sent
    assert max(batches) < limit + 50  # one push over the limit at most
    assert len(batches) >= sent // (limit + 50)
