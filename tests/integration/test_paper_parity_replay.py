"""Backtest parity of the paper trader end to end (paper-trading issue, "Done when"): a real period replayed
through the replay server -> ingestor -> market store -> paper trader gives, for every tier-2 strategy,
instrument and timeframe, the trades of the backtester on the same stored bars (entry and exit times, side,
fill prices, size, fees, PnL, exit reason) and the signals of one run over them; ``blofin validate drift
--json`` then reports each strategy with its forward and backtest figures equal, no drift.

Real candles from ``../shared/data`` (BTC-USDT, ETH-USDT): two days of history served by REST only (the
ingestor's back-fill), then one day pushed over the WebSocket at 72 bars a second, while the paper trader
steps in a thread on whatever the ingestor has stored so far (as ``blofin paper run`` polls the store next
to ``blofin ingest``); one last step after the ingestor stopped.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from blofin_stack.backtest.engine import CostModel
from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import list_paper_trades, list_signals
from blofin_stack.features import FeatureManager, compute_features, max_warmup
from blofin_stack.live.ingestor import Ingestor
from blofin_stack.live.paper import PaperTrader, StepReport
from blofin_stack.live.replay import ReplayConfig, ReplayServer
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms
from blofin_stack.pipeline.backtests import Window, backtest_from_store
from blofin_stack.strategies import get_strategy
from blofin_stack.strategies.base import SIGNAL_COLUMNS, frame_with_features
from helpers import ok_json
from paper_world import INSTRUMENTS, STRATEGIES, to_tier2

DAY_BARS = 1440
HISTORY_DAYS = 2
FORWARD_DAYS = 1
CLOSED = ["entry_ts", "exit_ts", "side", "entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees", "exit_reason"]
OPEN = ["entry_ts", "side", "entry_price", "size"]
FIGURES = {"trades", "win_rate", "total_pnl_pct", "avg_pnl_pct"}


class SteppingTrader(threading.Thread):
    """Steps a :class:`PaperTrader` on the wall clock (the replayed bars are old, so every stored bar counts as
    closed) again and again until halted; keeps the reports."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="paper-trader", daemon=True)
        self.trader = PaperTrader(settings)
        self.reports: list[StepReport] = []
        self.halt = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                self.reports.append(self.trader.step())
                self.halt.wait(0.05)
        except BaseException as exc:  # re-raised by the test
            self.failure = exc


async def ingest_while_paper_trading(ingestor: Ingestor, server: ReplayServer, trader: SteppingTrader) -> None:
    task = asyncio.create_task(ingestor.run())
    trader.start()
    finished = await asyncio.to_thread(server.finished.wait, 120)
    await asyncio.sleep(1.5)  # the last confirmed pushes reach the ingestor and one more flush
    ingestor.stop()
    await task
    trader.halt.set()
    await asyncio.to_thread(trader.join, 60)
    assert finished, "the replay did not finish within 120 s"


def expected_trades(settings: Settings, name: str, inst: str, tf: str, start: int, end: int) -> pd.DataFrame:
    """The backtester's trades of the forward period on the stored bars."""
    result = backtest_from_store(
        FeatureManager(MarketStore(settings.market_dir)),
        get_strategy(name),
        inst,
        tf,
        Window(start, end),
        costs=CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps),
        initial_capital=settings.backtest_initial_capital,
    )
    return result.trades


def expected_signals(
    settings: Settings, name: str, inst: str, tf: str, start: int, end: int
) -> set[tuple[int, str, float]]:
    """``(bar open time, signal, bar close)`` of one signal run over the forward period's bars, with the house
    warm-up before it."""
    strategy = get_strategy(name)
    params = strategy.resolve_params()
    names = strategy.features_for(params)
    bars = load_bars(
        MarketStore(settings.market_dir),
        inst,
        tf,
        start_ms=start,
        end_ms=end,
        warmup_bars=max_warmup(names, tf) + 1,
    )
    frame = strategy.signals(frame_with_features(bars, compute_features(bars, names)), params)
    window = frame[frame.index >= start]
    return {
        (int(ts), column, float(bars.loc[ts, "close"]))
        for column in SIGNAL_COLUMNS
        for ts in window.index[window[column].to_numpy()]
    }


def test_paper_trades_through_replay_and_ingestor_equal_the_backtest(real_data_dir: Path, settings: Settings) -> None:
    config = ReplayConfig(
        data_dir=real_data_dir,
        instruments=INSTRUMENTS,
        days=HISTORY_DAYS + FORWARD_DAYS,
        history_bars=HISTORY_DAYS * DAY_BARS,
        speed=4320,  # 72 bars a second: the replayed day takes 20 s
        trades_per_bar=1,
        pushes_per_bar=1,
        seed=11,
    )
    settings.ingest_backfill_days = HISTORY_DAYS + FORWARD_DAYS  # every history bar (measured from the server)
    with ReplayServer(config) as server:
        sources = {inst: server.source_candles(inst) for inst in INSTRUMENTS}
        first_live = min(int(frame.index[HISTORY_DAYS * DAY_BARS]) for frame in sources.values())
        end = max(int(frame.index[-1]) for frame in sources.values()) + MINUTE_MS
        start = first_live + 7 * MINUTE_MS  # inside a bar of every timeframe: the first of each is the next one
        to_tier2(settings, STRATEGIES, start)
        ingestor = Ingestor(settings, list(INSTRUMENTS), ws_url=server.ws_url, rest_url=server.rest_url)
        trader = SteppingTrader(settings)
        asyncio.run(ingest_while_paper_trading(ingestor, server, trader))
        replayed = server.stats.bars_replayed
    if trader.failure is not None:
        raise trader.failure
    last = trader.trader.step()  # after the ingestor stopped: whatever its final flush stored
    reports = [*trader.reports, last]
    assert all(r.errors == [] and r.skipped == {} and r.missing_instruments == [] for r in reports)
    # the paper trader advanced in many steps while the ingestor was storing the day, not once at the end
    busy = [r for r in trader.reports if r.accounts]
    assert len(busy) >= 3
    assert sum(len(a.opened) for r in busy for a in r.accounts) > 0

    # the store holds exactly the source candles: the back-filled history and the replayed day
    assert replayed == FORWARD_DAYS * DAY_BARS
    store = MarketStore(settings.market_dir)
    for inst, source in sources.items():
        assert len(source) == (HISTORY_DAYS + FORWARD_DAYS) * DAY_BARS
        pd.testing.assert_frame_equal(store.read_candles(inst), source, check_freq=False)

    with get_engine(settings.database_url).connect() as connection:
        trades = pd.DataFrame(list_paper_trades(connection))
        signals = pd.DataFrame(list_signals(connection))
    assert not (trades["status"] == "cancelled").any()
    compared: Counter[str] = Counter()
    for name in STRATEGIES:
        for inst in INSTRUMENTS:
            for tf in get_strategy(name).timeframes:
                where = f"{name} {inst} {tf}"
                expected = expected_trades(settings, name, inst, tf, start, end)
                key = (trades["strategy_name"] == name) & (trades["inst_id"] == inst) & (trades["timeframe"] == tf)
                mine = trades[key]
                closed = mine[mine["status"] == "closed"][CLOSED].reset_index(drop=True)
                want = expected[expected["exit_reason"] != "end_of_data"][CLOSED].reset_index(drop=True)
                pd.testing.assert_frame_equal(closed, want, check_exact=True, check_dtype=False, obj=where)
                opened = mine[mine["status"] == "open"][OPEN].reset_index(drop=True)
                still = expected[expected["exit_reason"] == "end_of_data"][OPEN].reset_index(drop=True)
                pd.testing.assert_frame_equal(opened, still, check_exact=True, check_dtype=False, obj=where)
                compared[name] += len(closed)
                key = (signals["strategy_name"] == name) & (signals["inst_id"] == inst) & (signals["timeframe"] == tf)
                recorded = signals[key]
                assert len(recorded) == len(set(zip(recorded["ts"], recorded["signal_type"], strict=True))), where
                got = set(zip(recorded["ts"], recorded["signal_type"], recorded["price"], strict=True))
                assert got == expected_signals(settings, name, inst, tf, start, end), where
    assert all(compared[name] >= 1 for name in STRATEGIES), compared

    report = ok_json("validate", "drift", "--json")
    checks = {c["strategy"]: c for c in report["checks"]}
    assert set(checks) == set(STRATEGIES)
    for name in STRATEGIES:
        check = checks[name]
        assert check["status"] == "ok" and check["drifting"] is False and check["accuracy"] == 1.0, check
        assert set(check["forward"]) == set(check["backtest"]) == FIGURES
        assert check["forward"]["trades"] == check["backtest"]["trades"] == compared[name]
        assert check["forward"] == pytest.approx(check["backtest"], rel=1e-9, abs=1e-12)
        assert set(check["differences"].values()) == {0.0}
        timeframes = get_strategy(name).timeframes
        assert check["accounts"] == len(INSTRUMENTS) * len(timeframes)
        assert check["period_start"] == start
        assert check["period_end"] == max(end // timeframe_ms(tf) * timeframe_ms(tf) for tf in timeframes)
    assert report["backtest_vs_live"]["drift_detected"] is False
    assert report["backtest_vs_live"]["avg_accuracy"] == 1.0
