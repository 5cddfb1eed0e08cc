"""Live path: the ingestor's sustained throughput against the replay server at full speed (target: at least
20,000 trades per second stored), and the paper trader's latency from bar close to recorded signal.

**Ingestor.** ``blofin replay serve --speed 0`` runs in a *separate process* (its own interpreter and GIL,
the other of the machine's cores) and pushes 12 h of 8 real instruments with 200 synthetic trades per bar
(50 per push) as fast as the client reads. The ingestor runs in this process, into a fresh temporary
``DATA_DIR`` (SQLite), until every trade the server sends is committed. Throughput = trades stored / wall
time from the first trade received to the commit of the last one (what is received faster than it is
stored waits in memory: the peak backlog is printed), checked by counting the rows of ``market_trades``.
References in the same process, on the same trades: (a) a bare client (``BlofinWebSocket`` parsing every
frame, storing nothing) against a second server process with the same replay, i.e. the server's push rate;
(b) ``insert_trades`` (SQLAlchemy, what the ingestor calls) and a DBAPI ``executemany`` of tuples writing
the rows the ingestor stored into a fresh database, with no network. Then a *paced* run (6 h offered at a
steady 30,000 trades/s, 1.5 x the target) shows whether the ingestor keeps up without a growing backlog.

**Paper trader.** 3 days of real 1m candles of 4 instruments, 4 built-in strategies in tier 2 (forward test
started 2 days in: 32 accounts, timeframes 1m to 1H). The last 60 bars (ending on a full hour, so every
timeframe closes at least once) are fed one at a time: write the bar of each instrument to the store, then
``PaperTrader.step(now_ms)`` with ``now_ms`` = the bar's close time plus the time the write took. Latency is
what the trader records (``paper_accounts.latency_ms``: recorded time minus the close of the account's last
bar) and, per signal, what ``blofin paper status`` computes. Reference: one plain backtest
(``backtest_from_store``) of each account's window; ratio = step wall time / the backtests of the accounts
that step advanced.

Run: ``.venv/bin/python benchmarks/bench_live.py`` (``--profile``: cProfile of the ingestor's event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from _common import best_of, real_data_dir
from blofin_stack.backtest.engine import CostModel
from blofin_stack.config import Settings
from blofin_stack.db.engine import dispose_engines, get_engine
from blofin_stack.db.market_trades import count_trades, insert_trades
from blofin_stack.db.paper import list_signals
from blofin_stack.db.tables import market_trades
from blofin_stack.exchange.blofin.types import CandlePush, TradesPush
from blofin_stack.exchange.blofin.ws import BlofinWebSocket
from blofin_stack.features import FeatureManager
from blofin_stack.lifecycle.gates import gates_from_settings
from blofin_stack.lifecycle.registry import promote, sync_registry
from blofin_stack.live.forward import from_ms, to_ms
from blofin_stack.live.ingestor import Ingestor
from blofin_stack.live.paper import PaperTrader
from blofin_stack.live.paper_status import latency_figures
from blofin_stack.live.replay import ReplayConfig, load_replay_candles
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import DAY_MS, HOUR_MS, MINUTE_MS, timeframe_ms
from blofin_stack.pipeline.backtests import Window, backtest_from_store
from blofin_stack.strategies import all_strategies, get_strategy

BIN = Path(sys.executable).parent / "blofin"
TARGET_TRADES_PER_S = 20_000
# ingestor workload
INGEST_INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "BNB-USDT", "ADA-USDT", "LINK-USDT", "LTC-USDT")
REPLAY_DAYS = 0.5
TRADES_PER_BAR = 200
PUSHES_PER_BAR = 4
INGEST_TIMEOUT_S = 300.0
PACED_TRADES_PER_S = 30_000  # 1.5 x the target, offered at a steady pace
PACED_DAYS = 0.25
# paper workload
PAPER_INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT")
PAPER_STRATEGIES = ("vwap_reversion", "ema_crossover", "sma_cross", "rsi_divergence")
HISTORY_DAYS = 3
FEED_BARS = 60


def isolated_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings whose every path and database lie in ``data_dir`` (no ``.env``, whatever the environment says)."""
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url="",
        ml_models_path=Path(""),
        plugins_dir=Path(""),
        **overrides,
    )


# ------------------------------------------------------------------------------------------ replay server
def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ServerProcess:
    """``blofin replay serve`` of the ingestor workload in a subprocess (its URLs read from its ``--json`` line);
    leaving the context stops it with SIGINT and keeps its final counters in :attr:`stats`."""

    source: Path
    data_dir: Path
    days: float
    speed: float = 0.0
    proc: subprocess.Popen[str] | None = None
    ws_url: str = ""
    rest_url: str = ""
    cpu_at_start: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    _stderr: IO[str] | None = None

    def __enter__(self) -> ServerProcess:
        env = {**os.environ, "DATA_DIR": str(self.data_dir)}
        env.pop("DATABASE_URL", None)
        command = [
            str(BIN), "replay", "serve", "--data", str(self.source), "--inst", ",".join(INGEST_INSTRUMENTS),
            "--days", str(self.days), "--speed", str(self.speed), "--trades-per-bar", str(TRADES_PER_BAR),
            "--pushes-per-bar", str(PUSHES_PER_BAR), "--port", "0", "--idle-timeout", "120", "--json",
        ]  # fmt: skip
        self._stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            sys.exit(f"blofin replay serve did not start:\n{self._stderr.read()[-2000:]}")
        started = json.loads(line)
        self.ws_url, self.rest_url = started["ws_url"], started["rest_url"]
        self.cpu_at_start = cpu_seconds(self.proc.pid)
        return self

    def serving_cpu(self) -> float | None:
        """CPU seconds the server has spent since it announced its URLs (loading the candles excluded)."""
        assert self.proc is not None
        now = cpu_seconds(self.proc.pid)
        return None if now is None or self.cpu_at_start is None else now - self.cpu_at_start

    def __exit__(self, *exc_info: object) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGINT)  # the CLI stops cleanly and prints its counters
        try:
            for line in self.proc.stdout:
                event = json.loads(line)
                if event.get("event") == "stopped":
                    self.stats = event["stats"]
            self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()
        if self._stderr is not None:
            self._stderr.close()


# ------------------------------------------------------------------------------------------------ ingestor
@dataclass
class Expected:
    """What the replay pushes: bars per instrument and the open time of each one's last bar."""

    bars: dict[str, int]
    last_ts: dict[str, int]


def expected_replay(source: Path, days: float) -> Expected:
    config = ReplayConfig(data_dir=source, instruments=INGEST_INSTRUMENTS, days=days)
    frames = load_replay_candles(config)  # what the server replays: the same function on the same files
    return Expected({i: len(f) for i, f in frames.items()}, {i: int(f.index[-1]) for i, f in frames.items()})


@dataclass
class BareRun:
    trades: int
    seconds: float
    cpu_s: float
    server_cpu_s: float | None


def bare_client(server: ServerProcess, expected: Expected) -> BareRun:
    """Parse every push of the replay (trades and candles), store nothing; until every final candle is in."""

    async def main() -> tuple[int, float, float]:
        ws = BlofinWebSocket(server.ws_url, [(c, i) for i in INGEST_INSTRUMENTS for c in ("trades", "candle1m")])
        trades, finals, first = 0, 0, None
        cpu = time.process_time()
        total = sum(expected.bars.values())
        async for event in ws.events():
            if type(event) is TradesPush:
                first = first or time.perf_counter()
                trades += len(event.trades)
            elif type(event) is CandlePush:
                finals += sum(c.confirmed for c in event.candles)
                if finals >= total:
                    break
        seconds = time.perf_counter() - (first or time.perf_counter())
        await ws.close()
        return trades, seconds, time.process_time() - cpu

    trades, seconds, cpu = asyncio.run(main())
    return BareRun(trades, seconds, cpu, server.serving_cpu())


@dataclass
class IngestRun:
    received: int
    stored_health: int
    stored_rows: int
    candles_stored: int
    candles_in_store: int
    seconds: float
    receive_seconds: float
    cpu_s: float
    server_cpu_s: float | None
    peak_backlog: int
    flushes: int
    duplicates: int
    malformed: int
    timed_out: bool


def ingest(server: ServerProcess, expected: Expected, data_dir: Path, profile: bool = False) -> IngestRun:
    """Run the ingestor until every instrument's last bar is confirmed and every trade received is committed."""
    settings = isolated_settings(data_dir, ingest_backfill_days=0, ingest_flush_seconds=1.0)
    ingestor = Ingestor(settings, list(INGEST_INSTRUMENTS), ws_url=server.ws_url, rest_url=server.rest_url)
    health = ingestor.health

    def received() -> int:
        return sum(h.trades_received for h in health.instruments.values())

    def received_all() -> bool:  # the final candle of a bar follows the bar's last trades
        return all(health.instruments[i].last_closed_bar == expected.last_ts[i] for i in INGEST_INSTRUMENTS)

    async def main() -> tuple[float, float, float, int, bool]:
        cpu = time.process_time()
        task = asyncio.create_task(ingestor.run())
        first = all_in = None
        backlog = 0
        deadline = time.perf_counter() + INGEST_TIMEOUT_S
        while all_in is None or health.trades_stored < received():
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            if first is None and received():
                first = now
            if all_in is None and received_all():
                all_in = now
            backlog = max(backlog, received() - health.trades_stored)
            if now > deadline or task.done():
                break
        stored_at, cpu = time.perf_counter(), time.process_time() - cpu
        timed_out = all_in is None or health.trades_stored < received()
        ingestor.stop()
        await task
        start = first or stored_at
        return stored_at - start, (all_in or stored_at) - start, cpu, backlog, timed_out

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    seconds, receive_seconds, cpu, backlog, timed_out = asyncio.run(main())
    if profiler is not None:
        profiler.disable()
    server_cpu = server.serving_cpu()
    with get_engine(settings.database_url).connect() as connection:
        rows = count_trades(connection)
    store = MarketStore(settings.market_dir)
    candles = sum(len(store.read_candles(i)) for i in store.instruments())
    if profiler is not None:
        print("cProfile of the ingestor's event loop thread (the flush thread's inserts are reference (b)):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    return IngestRun(
        received=received(),
        stored_health=health.trades_stored,
        stored_rows=rows,
        candles_stored=health.candles_stored,
        candles_in_store=candles,
        seconds=seconds,
        receive_seconds=receive_seconds,
        cpu_s=cpu,
        server_cpu_s=server_cpu,
        peak_backlog=backlog,
        flushes=health.flushes,
        duplicates=sum(h.duplicate_trades for h in health.instruments.values()),
        malformed=health.malformed,
        timed_out=timed_out,
    )


def insert_references(source_url: str, data_dir: Path) -> tuple[int, float, float]:
    """The rows the ingestor stored, written again into fresh databases without any network: by
    ``insert_trades`` (one transaction) and by a DBAPI ``executemany`` of tuples. Returns (rows, s, s)."""
    with get_engine(source_url).connect() as connection:
        rows = [dict(r) for r in connection.execute(sa.select(market_trades)).mappings()]
    ours = isolated_settings(data_dir / "insert_trades")
    engine = get_engine(ours.database_url)
    started = time.perf_counter()
    with engine.begin() as connection:
        inserted = insert_trades(connection, rows)
    insert_s = time.perf_counter() - started
    assert inserted == len(rows)
    raw = get_engine(isolated_settings(data_dir / "dbapi").database_url)
    columns = list(market_trades.c.keys())
    statement = (
        f"INSERT INTO market_trades ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        "ON CONFLICT (inst_id, trade_id) DO NOTHING"
    )
    tuples = [tuple(r[c] for c in columns) for r in rows]
    started = time.perf_counter()
    with raw.begin() as connection:
        connection.exec_driver_sql(statement, tuples)
    raw_s = time.perf_counter() - started
    with raw.connect() as connection:
        assert count_trades(connection) == len(rows)
    return len(rows), insert_s, raw_s


def bench_ingestor(tmp: Path, profile: bool) -> None:
    source = real_data_dir()
    expected = expected_replay(source, REPLAY_DAYS)
    bars = sum(expected.bars.values())
    print(f"ingestor (target: >= {TARGET_TRADES_PER_S:,} trades/s stored): replay of {REPLAY_DAYS * 24:g} h x "
          f"{len(INGEST_INSTRUMENTS)} instruments ({bars:,} bars), {TRADES_PER_BAR} trades per bar in "
          f"{PUSHES_PER_BAR} pushes, speed 0 (as fast as the client reads); the server runs in a separate "
          f"process (blofin replay serve), the ingestor into SQLite in a temporary DATA_DIR; "
          f"{os.cpu_count()} cores")  # fmt: skip
    with ServerProcess(source, tmp / "server_a", REPLAY_DAYS) as server:
        bare = bare_client(server, expected)
    bare_rate = bare.trades / bare.seconds
    print(f"  (a) bare client, parse only: {bare.trades:,} trades in {bare.seconds:.2f} s = {bare_rate:,.0f} trades/s "
          f"(client {bare.cpu_s:.1f} CPU-s, server {_cpu(bare.server_cpu_s)})")  # fmt: skip

    with ServerProcess(source, tmp / "server_b", REPLAY_DAYS) as server:
        run = ingest(server, expected, tmp / "ingest", profile)
    sent = server.stats.get("trades_sent")
    dispose_engines()
    rate = run.stored_rows / run.seconds
    verdict = "PASS" if rate >= TARGET_TRADES_PER_S and not run.timed_out else "FAIL"
    print(f"  ingestor at full speed: {run.stored_rows:,} trades stored (rows counted in market_trades; health "
          f"{run.stored_health:,}, server sent {sent:,}) in {run.seconds:.2f} s from the first trade received to "
          f"the last commit")  # fmt: skip
    print(f"  ingestor sustained throughput: {rate:,.0f} trades/s stored (target >= {TARGET_TRADES_PER_S:,}) "
          f"-> {verdict}")  # fmt: skip
    print(f"    all received after {run.receive_seconds:.2f} s "
          f"({run.received / run.receive_seconds:,.0f} trades/s in), peak backlog in memory "
          f"{run.peak_backlog:,} trades, {run.flushes} flushes; {run.candles_in_store:,} confirmed 1m candles "
          f"in the store (health {run.candles_stored:,}, replayed {bars:,}); duplicates "
          f"{run.duplicates}, malformed {run.malformed}")  # fmt: skip
    print(f"    CPU: ingestor {run.cpu_s:.1f} CPU-s over {run.seconds:.1f} s "
          f"({run.cpu_s / run.seconds:.0%} of one core; its event loop and flush thread share one GIL), "
          f"server {_cpu(run.server_cpu_s)}; peak RSS of this process {peak_rss_mb():,.0f} MB")  # fmt: skip
    if run.stored_rows != bare.trades or run.stored_rows != sent or run.candles_in_store != bars:
        print(f"  WARNING: counts differ (bare client {bare.trades:,}, stored {run.stored_rows:,}, server sent "
              f"{sent}, candles {run.candles_in_store:,} of {bars:,})")  # fmt: skip

    speed = PACED_TRADES_PER_S * 60 / (TRADES_PER_BAR * len(INGEST_INSTRUMENTS))
    paced_expected = expected_replay(source, PACED_DAYS)
    with ServerProcess(source, tmp / "server_c", PACED_DAYS, speed) as server:
        paced = ingest(server, paced_expected, tmp / "paced")
    dispose_engines()
    offered = paced.received / paced.receive_seconds
    lag = paced.seconds - paced.receive_seconds
    keeps_up = not paced.timed_out and paced.stored_rows == paced.received and lag < 3.0
    print(f"  paced at {PACED_TRADES_PER_S:,} trades/s (speed {speed:g} bars/min, {PACED_DAYS * 24:g} h): "
          f"{paced.received:,} trades in at {offered:,.0f} trades/s, stored at "
          f"{paced.stored_rows / paced.seconds:,.0f} trades/s; last commit {lag:.2f} s after the last trade, peak "
          f"backlog {paced.peak_backlog:,} trades ({paced.peak_backlog / offered:.2f} s of input); ingestor "
          f"{paced.cpu_s / paced.seconds:.0%} of one core -> {'keeps up' if keeps_up else 'FALLS BEHIND'}")  # fmt: skip

    rows, insert_s, raw_s = insert_references(isolated_settings(tmp / "ingest").database_url, tmp / "refs")
    dispose_engines()
    print(f"  (b) insert_trades of the same {rows:,} rows, one transaction, no network: {insert_s:.2f} s = "
          f"{rows / insert_s:,.0f} rows/s; DBAPI executemany of tuples: {raw_s:.2f} s = "
          f"{rows / raw_s:,.0f} rows/s")  # fmt: skip
    per = 1e6 / rows
    print(f"  cost per trade: ingestor {run.cpu_s * per:.1f} CPU-us; parsing alone {bare.cpu_s * per:.1f} us (a), "
          f"insert_trades alone {insert_s * per:.1f} us (b)")  # fmt: skip
    print(f"  ratio ingestor / bare client: {rate / bare_rate:.2f} (the cost of storing); "
          f"ingestor / insert_trades alone: {rate * insert_s / rows:.2f}")  # fmt: skip


def peak_rss_mb() -> float:
    """The largest resident set size this process has had, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f} CPU-s"


# ------------------------------------------------------------------------------------------- paper trader
def bench_paper(tmp: Path) -> None:
    settings = isolated_settings(tmp / "paper", paper_instruments=",".join(PAPER_INSTRUMENTS), paper_ml_confirm=False)
    source = real_data_dir()
    frames = {}
    for inst in PAPER_INSTRUMENTS:
        candles = pd.read_csv(source / f"{inst}.csv.gz").set_index("ts")
        end = (int(candles.index[-1]) + MINUTE_MS) // HOUR_MS * HOUR_MS  # end on a full hour
        frames[inst] = candles[(candles.index >= end - HISTORY_DAYS * DAY_MS) & (candles.index < end)]
    store = MarketStore(settings.market_dir)
    for inst, frame in frames.items():
        store.write_candles(inst, frame.iloc[:-FEED_BARS])
    first = min(int(f.index[0]) for f in frames.values())
    ft_started = (first + 2 * DAY_MS) // HOUR_MS * HOUR_MS + 7 * MINUTE_MS
    with get_engine(settings.database_url).begin() as connection:
        sync_registry(connection, all_strategies())
        for name in PAPER_STRATEGIES:
            promote(
                connection, name, gates_from_settings(settings), loads=True, to=2, force=True, now=from_ms(ft_started)
            )
    feed = [int(ts) for ts in frames[PAPER_INSTRUMENTS[0]].index[-FEED_BARS:]]
    accounts_total = len(PAPER_INSTRUMENTS) * sum(len(get_strategy(n).timeframes) for n in PAPER_STRATEGIES)
    print(f"paper trader: {len(PAPER_STRATEGIES)} tier-2 strategies x {len(PAPER_INSTRUMENTS)} instruments = "
          f"{accounts_total} accounts, {HISTORY_DAYS} days of 1m history, forward test over the last "
          f"{(feed[-1] + MINUTE_MS - ft_started) / HOUR_MS:.1f} h; {FEED_BARS} bars fed one at a time")  # fmt: skip

    trader = PaperTrader(settings)
    catch_up = trader.step(feed[0])
    print(f"  first step (catch-up of the forward period so far, {len(catch_up.accounts)} accounts): "
          f"{catch_up.seconds:.2f} s")  # fmt: skip
    latencies: list[int] = []
    steps: list[tuple[float, list[tuple[str, str, str]]]] = []
    writes: list[float] = []
    errors = 0
    for ts in feed:
        started = time.perf_counter()
        for inst, frame in frames.items():
            store.write_candles(inst, frame.loc[[ts]])
        written = time.perf_counter() - started
        writes.append(written)
        report = trader.step(ts + MINUTE_MS + int(written * 1000))  # the clock runs from the bar's close
        errors += len(report.errors)
        latencies += [a.latency_ms for a in report.accounts]
        steps.append((report.seconds, [(a.strategy, a.inst_id, a.timeframe) for a in report.accounts]))
    end = feed[-1] + MINUTE_MS
    with get_engine(settings.database_url).connect() as connection:
        recent = list_signals(connection, since_ts=feed[0] - HOUR_MS)
    signal_latency = [
        to_ms(s["timestamp"]) - s["ts"] - timeframe_ms(s["timeframe"])
        for s in recent
        if s["ts"] + timeframe_ms(s["timeframe"]) > feed[0]  # bars closed during the feed
    ]
    step_s = np.array([s for s, _ in steps])
    advanced = [len(keys) for _, keys in steps]
    account_figures = latency_figures(latencies)
    signal_figures = latency_figures(signal_latency)
    write_ms = statistics.median(writes) * 1000
    print(f"  store write of one bar x {len(PAPER_INSTRUMENTS)} instruments: median {write_ms:.0f} ms "
          f"(included in the latencies)")  # fmt: skip
    print(f"  latency bar close -> recorded, per account step ({account_figures['count']} over {len(feed)} steps): "
          f"p50 {account_figures['p50']:.0f} ms, p95 {account_figures['p95']:.0f} ms, "
          f"max {account_figures['max']:.0f} ms")  # fmt: skip
    if signal_figures["count"]:
        print(f"  latency bar close -> recorded signal (as blofin paper status computes it, "
              f"{signal_figures['count']} signals): p50 {signal_figures['p50']:.0f} ms, "
              f"p95 {signal_figures['p95']:.0f} ms, max {signal_figures['max']:.0f} ms")  # fmt: skip
    else:
        print("  no signal on the fed bars")
    p50, p95 = np.percentile(step_s, [50, 95]) * 1000
    print(f"  step wall time: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {step_s.max() * 1000:.0f} ms; "
          f"accounts advanced per step: median {statistics.median(advanced):g}, max {max(advanced)}; "
          f"errors {errors}")  # fmt: skip

    manager = FeatureManager(MarketStore(settings.market_dir))
    costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
    reference: dict[tuple[str, str, str], float] = {}
    for name in PAPER_STRATEGIES:
        strategy = get_strategy(name)
        for inst in PAPER_INSTRUMENTS:
            for tf in strategy.timeframes:

                def backtest(strategy: Any = strategy, inst: str = inst, tf: str = tf) -> object:
                    return backtest_from_store(
                        manager, strategy, inst, tf, Window(ft_started, end), costs=costs,
                        initial_capital=settings.backtest_initial_capital,
                    )  # fmt: skip

                reference[(name, inst, tf)] = best_of(backtest, 3)[0]
    backtests_s = sum(sum(reference[k] for k in keys) for _, keys in steps)
    one = np.array(list(reference.values())) * 1000
    print(f"  reference: one plain backtest (backtest_from_store) of an account's window: median "
          f"{np.median(one):.0f} ms (min {one.min():.0f}, max {one.max():.0f}; {len(one)} accounts)")  # fmt: skip
    print(f"  ratio paper step / its accounts' plain backtests: {step_s.sum():.2f} s / {backtests_s:.2f} s = "
          f"{step_s.sum() / backtests_s:.2f}x (the paper path's overhead: signals, trades, accounts, metrics, "
          f"registry)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="cProfile the ingestor's event loop")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bench_ingestor(Path(tmp), args.profile)
        bench_paper(Path(tmp))
        dispose_engines()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
