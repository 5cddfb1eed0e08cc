"""The paper trader: the forward test (tier 2) of every tier-2 strategy on closed bars, with backtest parity.

On every closed bar, for each tier-2 strategy (registry tier 2, not archived, not blocked), each paper
instrument (``PAPER_INSTRUMENTS``, default every stored one) and each of the strategy's own timeframes
(``strategy.timeframes``) -- an *account* -- the trader runs the strategy through the same code, features,
kernel and cost model (``BACKTEST_FEE_BPS``, ``BACKTEST_SLIPPAGE_BPS``) as the backtests: one backtest of
the account's forward period, from ``ft_started`` to the last closed bar (:mod:`blofin_stack.live.forward`
explains why that gives parity by construction). From it:

* **signals** of every bar not processed before (``entry_long``, ``exit_long``, ``entry_short``,
  ``exit_short``) go into ``signals``: ``ts`` = the bar's open time, ``price`` = its close, ``timestamp`` =
  when recorded;
* **trades**: each closed trade is upserted into ``paper_trades`` (status ``closed``: fill times, fill prices
  after slippage, size, fees, PnL, PnL %, exit reason); a position still open after the last bar (the
  kernel's ``end_of_data`` close) is stored as status ``open`` with its entry fill, and updated when it
  closes. An entry fills at the open of the bar after its signal; it is recorded once that bar has closed
  (the first time its open is known from closed bars). A stored closed trade is never changed. Trades are
  recorded only from the last stored closed trade's exit on, so that positions never overlap even if the
  stored history was corrected; an open position the bars no longer give (history corrected) is marked
  ``cancelled``, as are open positions of strategies that left tier 2;
* the **account** (``paper_accounts``): last processed bar, equity marked to market at its close, the
  open side, the latency, and the forward metrics (:func:`~blofin_stack.live.forward.forward_metrics`);
* the registry's **forward metrics** ``ft_*``, pooled over the strategy's accounts as the backtest summaries
  pool the cycle's backtests (:func:`~blofin_stack.lifecycle.registry.backtest_summary`), ``ft_last_update``
  and ``ft_started``: set when the strategy first paper-trades, to the time of its latest move into tier 2
  when the audit trail has one (so that a trader started late catches up from the stored bars), else to
  the current time; a later move into tier 2 starts a new forward test.

**Restart safety.** Everything above is a function of the stored bars and ``ft_started``; every write is an
idempotent upsert in one transaction per account. A step repeated, or a new trader after a crash, finds
the same trades: none is lost or duplicated and an open position stays open.

**ML confirmation** (``PAPER_ML_CONFIRM``): rule strategies run as their ML-filtered variant
(:func:`~blofin_stack.live.forward.forward_strategy`). Without an active entry classifier such a strategy
is *skipped* (not run unconfirmed): the step's report and ``blofin paper status`` say why.

**Latency** of an account step: the time its rows were recorded minus the close time of its last bar, in
ms, on the step's clock (``now_ms`` plus the wall time spent in the step; the wall clock when ``now_ms`` is
not given).

A strategy that fails on an account is logged, counted in the step's errors and stored on the account;
the other accounts go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from blofin_stack.backtest.engine import CostModel
from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import (
    Key,
    cancel_paper_trades,
    insert_signals,
    list_accounts,
    list_paper_trades,
    update_forward_metrics,
    upsert_account,
    upsert_paper_trade,
)
from blofin_stack.db.registry import list_transitions, update_strategy
from blofin_stack.exchange.blofin.types import CandlePush, MalformedFrame
from blofin_stack.exchange.blofin.ws import BlofinWebSocket
from blofin_stack.features import FeatureManager
from blofin_stack.lifecycle.registry import backtest_summary
from blofin_stack.live.forward import (
    OPEN_EXIT,
    ForwardRun,
    StrategyUnavailableError,
    forward_metrics,
    forward_rows,
    forward_strategy,
    from_ms,
    load_strategies,
    paper_instruments,
    run_forward,
    to_ms,
)
from blofin_stack.live.ingestor import candles_frame
from blofin_stack.live.paper_status import latency_figures
from blofin_stack.live.signals import stop_on_signals
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms
from blofin_stack.market.validation import CandleValidationError, validate_candles
from blofin_stack.strategies import Strategy, UnknownStrategyError
from blofin_stack.strategies.base import SIGNAL_COLUMNS
from blofin_stack.strategies.plugins import describe_exception

log = logging.getLogger(__name__)

#: ``ft_*`` registry columns (without the prefix) that a new forward test clears.
FT_METRICS = ("trades", "win_rate", "sharpe", "pnl_pct", "max_dd", "profit_factor", "eep_score")
STALE_POSITION = "cancelled: the stored bars no longer give this position"
LEFT_TIER = "cancelled: the strategy left tier 2"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class AccountStep:
    """What one step did on one account.

    Attributes:
        bar_ts: open time (ms) of the last bar processed; ``bars``: closed bars new in this step.
        signals: ``{ts, signal_type, price}`` of the new bars (price = the bar's close, USDT).
        opened, closed: the ``paper_trades`` rows first recorded / closed in this step.
        latency_ms: recorded time minus the last bar's close time (ms).
    """

    strategy: str
    inst_id: str
    timeframe: str
    bar_ts: int
    bars: int
    signals: list[dict[str, Any]] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: int = 0


@dataclass
class StepReport:
    """One :meth:`PaperTrader.step`: the accounts that processed new bars, failures and skipped strategies.

    Attributes:
        now_ms: the step's time (ms UTC); bars closed by then (and stored) were processed.
        accounts: one entry per account with new bars.
        errors: ``{strategy, inst_id, timeframe, error}`` per failed account.
        skipped: strategy -> why it was not run (unknown implementation, no active model...).
        missing_instruments: paper instruments without stored candles.
        seconds: wall time of the step.
    """

    now_ms: int
    accounts: list[AccountStep] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing_instruments: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunSummary:
    """A :meth:`PaperTrader.run`: steps made, their totals, latency figures (ms) and stream counters."""

    steps: int = 0
    bars: int = 0
    signals: int = 0
    opened: int = 0
    closed: int = 0
    errors: int = 0
    candles_written: int = 0
    malformed: int = 0
    latencies_ms: list[int] = field(default_factory=list, repr=False)
    last_step: StepReport | None = None

    def add(self, report: StepReport) -> None:
        self.steps += 1
        self.errors += len(report.errors)
        for account in report.accounts:
            self.bars += account.bars
            self.signals += len(account.signals)
            self.opened += len(account.opened)
            self.closed += len(account.closed)
            self.latencies_ms.append(account.latency_ms)
        self.last_step = report

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("latencies_ms", "last_step")}
        out["latency_ms"] = latency_figures(self.latencies_ms)
        out["last_step"] = self.last_step.as_dict() if self.last_step else None
        return out


def _signal_rows(run: ForwardRun, key: Key, after_ts: int, recorded: int) -> list[dict[str, Any]]:
    """Signal rows of the bars opening after ``after_ts`` (ms), recorded at ``recorded`` (ms)."""
    name, inst, tf = key
    frame = run.signals
    ts = frame.index.to_numpy(dtype="int64")
    new = ts > after_ts
    close = run.bars["close"].to_numpy(dtype="float64")
    rows = []
    for column in SIGNAL_COLUMNS:
        for i in np.flatnonzero(frame[column].to_numpy() & new):
            rows.append(
                {
                    "strategy_name": name,
                    "inst_id": inst,
                    "timeframe": tf,
                    "ts": int(ts[i]),
                    "signal_type": column,
                    "price": float(close[i]),
                    "timestamp": from_ms(recorded),
                }
            )
    return sorted(rows, key=lambda r: (r["ts"], SIGNAL_COLUMNS.index(r["signal_type"])))


def _trade_row(key: Key, trade: Any) -> dict[str, Any]:
    """A ``paper_trades`` row of a kernel trade (a row of ``BacktestResult.trades``)."""
    name, inst, tf = key
    still_open = trade.exit_reason == OPEN_EXIT
    row = {
        "strategy_name": name,
        "inst_id": inst,
        "timeframe": tf,
        "side": trade.side,
        "status": "open" if still_open else "closed",
        "entry_ts": int(trade.entry_ts),
        "entry_price": float(trade.entry_price),
        "size": float(trade.size),
    }
    if still_open:
        return {**row, **dict.fromkeys(("exit_ts", "exit_price", "fees", "pnl", "pnl_pct", "exit_reason"))}
    return {
        **row,
        "exit_ts": int(trade.exit_ts),
        "exit_price": float(trade.exit_price),
        "fees": float(trade.fees),
        "pnl": float(trade.pnl),
        "pnl_pct": float(trade.pnl_pct),
        "exit_reason": str(trade.exit_reason),
    }


def _json_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics for a JSON column: a profit factor of +inf (no losing trade) is stored as ``None``, which
    :func:`~blofin_stack.lifecycle.registry.backtest_summary` reads back as +inf."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()}


class PaperTrader:
    """The paper trader over ``settings`` (market store, database, paper and cost settings); see the module."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = MarketStore(settings.market_dir)
        self.manager = FeatureManager(self.store)  # no feature cache: the window's data changes every bar
        self.engine = get_engine(settings.database_url)
        self.costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
        self._failed: dict[Key, int] = {}  # account -> last bar whose processing failed (not retried)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- one step ----------------------------------------------------------------------------------
    def step(self, now_ms: int | None = None) -> StepReport:
        """Process every bar closed (and stored) by ``now_ms`` (default: now) that was not processed yet, on
        every account; idempotent. See the module docstring for what is recorded.

        Returns:
            :class:`StepReport`.
        """
        tick = time.perf_counter()
        now = _wall_ms() if now_ms is None else int(now_ms)

        def clock() -> int:
            return now + int((time.perf_counter() - tick) * 1000)

        settings = self.settings
        load_strategies(settings)
        report = StepReport(now)
        stored = set(self.store.instruments())
        instruments = paper_instruments(settings, self.store)
        report.missing_instruments = [i for i in instruments if i not in stored]
        data_end = {i: min(now, self.store.last_ts(i) + MINUTE_MS) for i in instruments if i in stored}
        with self.engine.begin() as connection:
            rows = forward_rows(connection)
            self._cancel_left(connection, {r["strategy_name"] for r in rows})
            accounts = {(a["strategy_name"], a["inst_id"], a["timeframe"]): a for a in list_accounts(connection)}
        for row in rows:
            name = row["strategy_name"]
            try:
                strategy = forward_strategy(name, settings.paper_ml_confirm)
            except (UnknownStrategyError, StrategyUnavailableError) as exc:
                report.skipped[name] = str(exc)
                continue
            start = self._forward_start(row, now)
            keys = [(name, inst, tf) for inst in data_end for tf in strategy.timeframes]
            advanced = False
            for key in keys:
                try:
                    done = self._advance(
                        key, strategy, row["params"], start, data_end[key[1]], accounts.get(key), clock
                    )
                except Exception as exc:  # one account's failure must not stop the others
                    self._fail(key, start, data_end[key[1]], accounts.get(key), exc, report)
                    continue
                if done is not None:
                    report.accounts.append(done)
                    advanced = True
            if advanced or row["ft_last_update"] is None:
                self._update_forward_metrics(name, strategy, start, set(keys), clock())
        report.seconds = time.perf_counter() - tick
        return report

    def _cancel_left(self, connection: sa.Connection, forward: set[str]) -> None:
        """Cancel the open positions of strategies no longer in forward test."""
        left = [t["id"] for t in list_paper_trades(connection, status="open") if t["strategy_name"] not in forward]
        if cancel_paper_trades(connection, left, LEFT_TIER):
            log.info("cancelled %d open paper positions of strategies that left tier 2", len(left))

    def _forward_start(self, row: Mapping[str, Any], now: int) -> int:
        """``ft_started`` of ``row`` in ms, set (and the ``ft_*`` metrics cleared) when a forward test begins."""
        name, current = row["strategy_name"], row["ft_started"]
        with self.engine.begin() as connection:
            moves = [t for t in list_transitions(connection, name) if t["to_tier"] == 2 and t["from_tier"] != 2]
            entered = moves[-1]["timestamp"] if moves else None
            if current is not None and (entered is None or entered <= current):
                return to_ms(current)
            begin = entered or from_ms(now)
            cleared = {f"ft_{m}": None for m in FT_METRICS}
            update_strategy(connection, name, {**cleared, "ft_started": begin, "ft_last_update": None})
        log.info("%s: forward test starts at %s", name, begin.isoformat())
        return to_ms(begin)

    def _advance(
        self,
        key: Key,
        strategy: Strategy,
        params: Mapping[str, Any] | None,
        start: int,
        data_end: int,
        account: Mapping[str, Any] | None,
        clock: Callable[[], int],
    ) -> AccountStep | None:
        """Bring one account up to its last closed bar; ``None`` when there is no new bar."""
        name, inst, tf = key
        step = timeframe_ms(tf)
        end = data_end // step * step
        first = -(-start // step) * step
        if end <= first:
            return None  # no bar of the forward period has closed yet
        fresh = account is None or account["started"] != start
        done_to = first - step if fresh else int(account["last_bar_ts"] or first - step)  # type: ignore[index]
        last = end - step
        if last <= done_to or self._failed.get(key) == last:
            return None
        run = run_forward(
            self.manager, strategy, params, inst, tf, start, end, self.costs, self.settings.backtest_initial_capital
        )
        metrics = _json_metrics(forward_metrics(run))
        still = run.open
        with self.engine.begin() as connection:
            recorded = clock()
            signals = _signal_rows(run, key, done_to, recorded)
            insert_signals(connection, signals)
            opened, closed = self._record_trades(connection, key, run, first)
            upsert_account(
                connection,
                {
                    "strategy_name": name,
                    "inst_id": inst,
                    "timeframe": tf,
                    "started": start,
                    "last_bar_ts": last,
                    "initial_capital": self.settings.backtest_initial_capital,
                    "equity": float(run.result.equity.iloc[-1]),
                    "position": None if still is None else still["side"],
                    "metrics": metrics,
                    "latency_ms": recorded - end,
                    "error": None,
                },
            )
        self._failed.pop(key, None)
        return AccountStep(
            name,
            inst,
            tf,
            bar_ts=last,
            bars=(last - done_to) // step,
            signals=[{k: r[k] for k in ("ts", "signal_type", "price")} for r in signals],
            opened=opened,
            closed=closed,
            latency_ms=recorded - end,
        )

    @staticmethod
    def _record_trades(
        connection: sa.Connection, key: Key, run: ForwardRun, first: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Upsert the run's trades from the last stored closed trade's exit on; returns (opened, closed)."""
        stored = [t for t in list_paper_trades(connection, key=key) if t["status"] != "cancelled"]
        known = {t["entry_ts"]: t for t in stored}
        done = [t for t in stored if t["status"] == "closed" and t["entry_ts"] >= first]
        flat_from = max((int(t["exit_ts"]) for t in done), default=first)
        opened, closed = [], []
        for trade in run.result.trades.itertuples(index=False):
            entry = int(trade.entry_ts)
            previous = known.get(entry)
            if entry < flat_from or (previous is not None and previous["status"] == "closed"):
                continue
            row = _trade_row(key, trade)
            upsert_paper_trade(connection, row)
            if previous is None:
                opened.append(row)
            if row["status"] == "closed":
                closed.append(row)
        still = run.open
        keep = None if still is None else int(still["entry_ts"])
        stale = [t["id"] for t in stored if t["status"] == "open" and t["entry_ts"] != keep]
        if cancel_paper_trades(connection, stale, STALE_POSITION):
            log.warning("%s %s %s: open position no longer given by the stored bars, cancelled", *key)
        return opened, closed

    def _fail(
        self,
        key: Key,
        start: int,
        data_end: int,
        account: Mapping[str, Any] | None,
        exc: Exception,
        report: StepReport,
    ) -> None:
        """Log, count and store an account's failure; its bar is not retried until a new one closes."""
        message = describe_exception(exc)
        log.warning("paper %s %s %s failed: %s", *key, message)
        report.errors.append({"strategy": key[0], "inst_id": key[1], "timeframe": key[2], "error": message})
        step = timeframe_ms(key[2])
        self._failed[key] = data_end // step * step - step
        values: dict[str, Any] = {
            "strategy_name": key[0],
            "inst_id": key[1],
            "timeframe": key[2],
            "started": start,
            "initial_capital": self.settings.backtest_initial_capital,
            "error": message,
        }
        if account is None or account["started"] != start:  # a new forward test: nothing of the old one stays
            values.update(last_bar_ts=None, equity=None, position=None, metrics=None, latency_ms=None)
        with self.engine.begin() as connection:
            upsert_account(connection, values)

    def _update_forward_metrics(self, name: str, strategy: Strategy, start: int, keys: set[Key], now: int) -> None:
        """Set the ``ft_*`` columns of ``name`` from its current accounts' metrics and ``ft_last_update``."""
        with self.engine.begin() as connection:
            rows = [
                {"strategy_name": name, "timeframe": a["timeframe"], "status": "ok", **a["metrics"]}
                for a in list_accounts(connection, name)
                if (name, a["inst_id"], a["timeframe"]) in keys and a["started"] == start and a["metrics"]
            ]
            if rows:
                summary = backtest_summary(rows, {name: strategy.timeframes})[name]
                update_forward_metrics(connection, name, summary, from_ms(now))

    # --- the service -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running :meth:`run` to return after its current step (safe from any thread)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def run(self, duration_s: float | None = None, ws_url: str | None = None) -> RunSummary:
        """Step until ``duration_s`` elapsed (``None``: until stopped), :meth:`stop`, SIGTERM or SIGINT.

        Without ``ws_url`` the store (written by the ingestor) is polled every ``PAPER_POLL_SECONDS`` for
        newly closed bars. With ``ws_url`` the trader subscribes to ``candle1m`` of the paper instruments
        itself (:class:`~blofin_stack.exchange.blofin.ws.BlofinWebSocket`), writes each confirmed candle to
        the store (idempotent) and steps at once; it also steps every ``PAPER_POLL_SECONDS``.

        Raises:
            ValueError: ``ws_url`` given but there is no paper instrument to subscribe to.
        """
        return asyncio.run(self.run_async(duration_s, ws_url))

    async def run_async(
        self, duration_s: float | None = None, ws_url: str | None = None, *, handle_signals: bool = True
    ) -> RunSummary:
        """:meth:`run` inside a running event loop; SIGTERM and SIGINT stop it only if ``handle_signals``."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        with stop_on_signals(self._loop, self._stop.set, handle_signals):
            return await self._run(duration_s, ws_url)

    async def _run(self, duration_s: float | None, ws_url: str | None) -> RunSummary:
        assert self._loop is not None and self._stop is not None
        summary = RunSummary()
        wake = asyncio.Event()
        ws = None
        consumer = None
        if ws_url is not None:
            instruments = paper_instruments(self.settings, self.store)
            if not instruments:
                raise ValueError("no paper instruments: set PAPER_INSTRUMENTS or store candles first")
            ws = BlofinWebSocket(
                ws_url, [("candle1m", inst) for inst in instruments], on_malformed=self._malformed(summary)
            )
            consumer = asyncio.create_task(self._consume(ws, summary, wake), name="paper candles")
        deadline = None if duration_s is None else self._loop.time() + duration_s
        try:
            while not self._stop.is_set():
                wake.clear()
                summary.add(await asyncio.to_thread(self.step))
                timeout = self.settings.paper_poll_seconds
                if deadline is not None:
                    timeout = min(timeout, deadline - self._loop.time())
                    if timeout <= 0:
                        break
                waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(wake.wait())]
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            if ws is not None and consumer is not None:
                await ws.close()
                consumer.cancel()
                (outcome,) = await asyncio.gather(consumer, return_exceptions=True)
                if isinstance(outcome, Exception):
                    log.error("the candle1m stream failed: %s", describe_exception(outcome))
        return summary

    @staticmethod
    def _malformed(summary: RunSummary) -> Callable[[MalformedFrame], None]:
        def count(_: MalformedFrame) -> None:
            summary.malformed += 1

        return count

    async def _consume(self, ws: BlofinWebSocket, summary: RunSummary, wake: asyncio.Event) -> None:
        """Write each confirmed 1m candle to the store and wake the step loop."""
        async for event in ws.events():
            if not isinstance(event, CandlePush) or event.bar != "1m":
                continue
            confirmed = [c for c in event.candles if c.confirmed]
            if not confirmed:
                continue
            try:
                frame = validate_candles(candles_frame(confirmed), source=f"Blofin candle1m {event.inst_id}")
                written = await asyncio.to_thread(self.store.write_candles, event.inst_id, frame)
            except (CandleValidationError, ValueError) as exc:
                summary.malformed += 1
                log.warning("candle1m %s not stored: %s", event.inst_id, exc)
                continue
            summary.candles_written += written.new + written.updated
            wake.set()
