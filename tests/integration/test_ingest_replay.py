"""The ingestor against the replay server with faults (issue 6, "Done when"): every confirmed 1m candle of
a replayed day stored exactly once with the source's values; killed with SIGKILL and restarted, nothing
committed is lost and the gap is filled from REST.

Real candles from ``../shared/data``; the replay server speaks Blofin's protocol on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.market_trades import count_trades
from blofin_stack.live.faults import FaultPlan
from blofin_stack.live.ingestor import Ingestor
from blofin_stack.live.replay import ReplayConfig, ReplayServer
from blofin_stack.market.store import MarketStore

INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
DAY_BARS = 1440


def assert_store_equals_source(settings: Settings, server: ReplayServer) -> None:
    store = MarketStore(settings.market_dir)
    for inst in server.instruments:
        source = server.source_candles(inst)
        stored = store.read_candles(inst)
        assert stored.index.is_unique
        pd.testing.assert_frame_equal(stored.loc[source.index.min() :], source, check_freq=False)


async def ingest_until_finished(ingestor: Ingestor, server: ReplayServer) -> None:
    task = asyncio.create_task(ingestor.run())
    await asyncio.to_thread(server.finished.wait, 600)
    await asyncio.sleep(1.0)
    ingestor.stop()
    await task


def test_a_replayed_day_with_faults_is_stored_exactly_once(real_data_dir: Path, settings: Settings) -> None:
    faults = FaultPlan(
        disconnect_at_bars=(100, 300, 500, 900, 1100, 1300),
        silences=((700, 35.0),),
        duplicates=600,
        duplicate_rate=0.1,
        malformed=600,
        malformed_rate=0.1,
        out_of_order=100,
        rest_429_every=7,
    )
    config = ReplayConfig(
        data_dir=real_data_dir,
        instruments=INSTRUMENTS,
        days=1.0,
        speed=6000,  # 100 bars a second: a reconnect (about 1 s) misses about 100 bars
        trades_per_bar=4,
        faults=faults,
        seed=3,
    )
    settings.ingest_backfill_days = 0
    with ReplayServer(config) as server:
        ingestor = Ingestor(settings, list(INSTRUMENTS), ws_url=server.ws_url, rest_url=server.rest_url)
        asyncio.run(ingest_until_finished(ingestor, server))
        stats = server.stats.faults
    health = ingestor.health
    assert stats["disconnect"] >= 5 and stats["silence"] == 1
    assert stats["malformed"] + stats["duplicate"] >= 1000 and stats["rest_429"] >= 1
    assert health.reconnects >= 6  # every disconnect, and the silence past the keepalive
    # every malformed frame that reached the client was counted (a disconnect drops the frames still queued)
    assert 0.9 * stats["malformed"] <= health.malformed <= stats["malformed"]
    assert sum(i.duplicate_trades for i in health.instruments.values()) > 0
    assert_store_equals_source(settings, server)
    assert all(len(server.source_candles(i)) == DAY_BARS for i in INSTRUMENTS)
    assert sum(i.gap_bars_filled for i in health.instruments.values()) > 0  # what the disconnects missed
    with get_engine(settings.database_url).connect() as connection:
        assert count_trades(connection) == health.trades_stored > 0


def test_sigkill_loses_no_committed_candle_and_the_restart_fills_the_gap(
    real_data_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    config = ReplayConfig(
        data_dir=real_data_dir,
        instruments=INSTRUMENTS[:2],
        days=0.25,
        speed=600,  # 10 bars a second
        trades_per_bar=2,
        start_on_subscribe=True,
        seed=5,
    )
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "INGEST_BACKFILL_DAYS": "0"}
    command = [str(Path(sys.executable).parent / "blofin"), "ingest", "--inst", ",".join(INSTRUMENTS[:2])]
    with ReplayServer(config) as server:
        command += ["--ws-url", server.ws_url, "--rest-url", server.rest_url]
        store = MarketStore(settings.market_dir)
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(inst in store.instruments() and len(store.read_candles(inst)) >= 60 for inst in INSTRUMENTS[:2]):
                break
            time.sleep(0.2)
        before = {inst: store.read_candles(inst) for inst in INSTRUMENTS[:2]}
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        for inst, frame in before.items():  # what was committed survived the kill
            pd.testing.assert_frame_equal(store.read_candles(inst).loc[frame.index], frame)
        time.sleep(2.0)  # bars go by while nothing ingests
        second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert server.finished.wait(120)
        time.sleep(2.0)
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err.decode()[-2000:]
        assert_store_equals_source(settings, server)
