"""``blofin serve``: the ingestor, the paper trader and the scheduler in one process (or alone), stopped by
its duration, a signal or a failing service, logging to ``DATA_DIR/logs``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blofin_stack.cli.main import app
from blofin_stack.config import Settings, get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import list_accounts
from blofin_stack.live.paper import PaperTrader
from blofin_stack.live.replay import ReplayConfig, ReplayServer
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms
from blofin_stack.pipeline.serve import serve
from paper_world import to_tier2


@pytest.fixture
def btc_only() -> Iterator[ReplayServer]:
    """A replay server of three hand-built BTC-USDT bars: its REST instruments list BTC-USDT alone."""
    prices = [100.0, 101.0, 102.0]
    frame = pd.DataFrame(
        {"open": prices, "high": prices, "low": prices, "close": prices, "volume": [1.0, 1.0, 1.0]},
        index=pd.Index([i * MINUTE_MS for i in range(3)], name="ts"),
    )
    with ReplayServer(ReplayConfig(candles={"BTC-USDT": frame}, speed=0)) as server:
        yield server


def log_text(settings: Settings, name: str) -> str:
    return (settings.log_dir / name).read_text()


def test_ingest_and_paper_together_trade_every_bar_the_ingestor_stores(
    settings: Settings, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPER_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    settings = get_settings()
    config = ReplayConfig(
        data_dir=real_data_dir, instruments=("BTC-USDT",), days=1.2, history_bars=1620, speed=1200, trades_per_bar=5
    )
    strategies = ["ema_crossover", "sma_cross", "vwap_reversion"]
    with ReplayServer(config) as server:
        source = server.source_candles("BTC-USDT")
        to_tier2(settings, strategies, at_ms=int(source.index[1620]))  # the forward test starts with the pushes
        result = asyncio.run(
            serve(
                settings,
                ("ingest", "paper"),
                instruments=["BTC-USDT"],
                ws_url=server.ws_url,
                rest_url=server.rest_url,
                duration_s=14,
            )
        )
        assert server.finished.is_set()
    assert result["stopped_by"] == "duration" and result["failures"] == {}
    assert result["services"] == ["ingest", "paper"] and result["scheduler"] is None
    stored = MarketStore(settings.market_dir).read_candles("BTC-USDT")
    pd.testing.assert_frame_equal(stored.loc[source.index[-1440] :], source.iloc[-1440:], check_freq=False)
    assert result["ingest"]["candles_stored"] >= 1440 and result["paper"]["bars"] > 0
    assert result["paper"]["errors"] == 0
    with get_engine(settings.database_url).connect() as connection:
        accounts = list_accounts(connection)
    assert {a["strategy_name"] for a in accounts} == set(strategies)
    end = int(source.index[-1]) + MINUTE_MS
    for account in accounts:  # each timeframe's last closed bar was processed while serving
        step = timeframe_ms(account["timeframe"])
        assert account["last_bar_ts"] + step == end // step * step
    assert PaperTrader(settings).step().accounts == []  # nothing left for a later step
    assert result["log"] == str(settings.log_dir / "serve-ingest-paper.log")
    logged = log_text(settings, "serve-ingest-paper.log")
    for logger in ("blofin_stack.pipeline.serve", "blofin_stack.live.ingestor", "blofin_stack.live.paper"):
        assert f" {logger}: " in logged
    assert "serve: stopping (duration)" in logged and logged.rstrip().endswith("serve: stopped")


def test_the_scheduler_runs_its_jobs_and_waits_for_a_running_cycle(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULE_STRATEGY_HOURS", str(0.5 / 3600))  # every half second
    get_settings.cache_clear()
    settings = get_settings()
    runs: list[tuple[str, float, float]] = []

    def runner(_: Settings, mode: str) -> None:
        started = time.monotonic()
        time.sleep(0.8)
        runs.append((mode, started, time.monotonic()))

    began = time.monotonic()
    result = asyncio.run(serve(settings, ["scheduler"], duration_s=2.0, runner=runner))
    returned = time.monotonic()
    assert result["stopped_by"] == "duration" and result["failures"] == {}
    assert set(result["scheduler"]) == {"strategy", "ml", "daily"}
    assert result["ingest"] is None and result["paper"] is None
    assert len(runs) >= 2 and {mode for mode, _, _ in runs} == {"strategy"}
    assert all(end <= returned for _, _, end in runs)  # shutdown waited for the running cycle
    assert returned - began < 4.0
    for (_, _, first_end), (_, second_start, _) in pairwise(runs):
        assert second_start >= first_end  # one cycle at a time
    assert log_text(settings, "serve-scheduler.log").count("scheduled strategy cycle: done") == len(runs)


def test_a_failing_service_stops_the_others_and_is_reported(settings: Settings, btc_only: ReplayServer) -> None:
    services = ["ingest", "paper"]
    result = asyncio.run(serve(settings, services, instruments=["NOPE-USDT"], rest_url=btc_only.rest_url))
    assert result["stopped_by"] == "failure"
    assert set(result["failures"]) == {"ingest"}
    assert "ContractValueError" in result["failures"]["ingest"] and "NOPE-USDT" in result["failures"]["ingest"]
    assert result["paper"] is not None and result["paper"]["steps"] >= 1  # stopped cleanly, not failed


def test_unknown_or_no_services_are_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="some of ingest, paper, scheduler; got tape"):
        asyncio.run(serve(settings, ["tape"]))
    with pytest.raises(ValueError, match="got none"):
        asyncio.run(serve(settings, []))
    outcome = CliRunner().invoke(app, ["serve", "--no-ingest", "--no-paper", "--no-scheduler"])
    assert outcome.exit_code == 2 and "nothing to serve" in outcome.output


def test_the_cli_exits_1_when_a_service_fails(settings: Settings, btc_only: ReplayServer) -> None:
    only_ingest = ["serve", "--no-paper", "--no-scheduler", "--inst", "NOPE-USDT", "--json"]
    outcome = CliRunner().invoke(app, [*only_ingest, "--rest-url", btc_only.rest_url])
    assert outcome.exit_code == 1
    assert '"stopped_by": "failure"' in outcome.stdout


def test_sigterm_stops_every_service_cleanly(settings: Settings) -> None:
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "PAPER_POLL_SECONDS": "0.2"}
    command = [str(Path(sys.executable).parent / "blofin"), "serve", "--no-ingest", "--paper", "--scheduler"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log_file = settings.log_dir / "serve-paper-scheduler.log"
    deadline = time.monotonic() + 60
    while not (log_file.is_file() and "serve: scheduler started" in log_file.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()
    logged = log_file.read_text()
    assert "serve: stopping (signal)" in logged and logged.rstrip().endswith("serve: stopped")
