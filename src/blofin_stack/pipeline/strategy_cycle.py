"""The strategy cycle: backtest every strategy x instrument x timeframe in parallel, rank, record."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from joblib import Parallel, delayed

from blofin_stack.backtest.engine import CostModel
from blofin_stack.config import Settings
from blofin_stack.db.backtests import insert_results, latest_cycle_id, results_of_cycle
from blofin_stack.db.rankings import insert_rankings, rankings_of_cycle
from blofin_stack.db.tables import utcnow
from blofin_stack.lifecycle.ranker import RankEntry, rank_strategies
from blofin_stack.lifecycle.registry import record_backtest_metrics, register_strategies
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.pipeline.backtests import Window, backtest_instrument, cycle_window, data_end
from blofin_stack.strategies import all_strategies, get_strategy
from blofin_stack.strategies.plugins import load_plugins, plugin_paths


class NoMarketDataError(RuntimeError):
    """The market store is empty: import candles first (``blofin data import``)."""


@dataclass
class StrategyCycle:
    """The outcome of one strategy cycle (``seconds`` is ``None`` when loaded from the database)."""

    cycle_id: str
    started_at: datetime
    window: Window
    instruments: list[str]
    timeframes: list[str]
    strategies: list[str]
    costs: CostModel
    rows: list[dict[str, Any]] = field(repr=False)
    ranking: list[RankEntry] = field(repr=False)
    seconds: float | None = None
    plugin_errors: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Backtests that failed, with their error message."""
        return [row for row in self.rows if row.get("status") == "error"]


def run_strategy_cycle(
    settings: Settings,
    *,
    days: float | None = None,
    plugins: Sequence[Path] = (),
    on_progress: Callable[[int], None] | None = None,
) -> StrategyCycle:
    """Backtest every strategy (built-in and plugin) on every stored instrument and ``BACKTEST_TIMEFRAMES``.

    Plugins are the ``*.py`` files of ``PLUGINS_DIR`` plus ``plugins``; a plugin that fails to load is
    reported in ``plugin_errors`` and the cycle goes on without it. The window is the last ``days``
    (default ``BACKTEST_LOOKBACK_DAYS``) of stored data. Work runs in ``PIPELINE_WORKERS`` processes, one
    task per instrument; ``on_progress(1)`` is called as each instrument finishes. Nothing is written:
    see :func:`persist_strategy_cycle`.

    Raises:
        NoMarketDataError: the store holds no candles.
    """
    started = time.perf_counter()
    store = MarketStore(settings.market_dir)
    instruments = store.instruments()
    if not instruments:
        raise NoMarketDataError(f"no candles in {settings.market_dir}; import some first: blofin data import PATH")
    timeframes = list(settings.backtest_timeframes)
    window = cycle_window(data_end(store, instruments), days or settings.backtest_lookback_days, timeframes)
    paths = plugin_paths(settings.plugins_dir, plugins)
    loaded = load_plugins(paths)
    strategies = [s.name for s in all_strategies()]
    costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
    tasks = (delayed(backtest_instrument)(settings, inst, strategies, window, loaded.loaded) for inst in instruments)
    rows: list[dict[str, Any]] = []
    for inst_rows in Parallel(n_jobs=settings.pipeline_workers, return_as="generator_unordered")(tasks):
        rows.extend(inst_rows)
        if on_progress:
            on_progress(1)
    rows.sort(key=lambda r: (r["strategy_name"], r["timeframe"], r["inst_id"]))
    ranking = rank_strategies(rows, settings.ranker_top_n, settings.ranker_replace_fraction)
    stamp = utcnow()
    return StrategyCycle(
        cycle_id=f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        started_at=stamp,
        window=window,
        instruments=instruments,
        timeframes=timeframes,
        strategies=strategies,
        costs=costs,
        rows=rows,
        ranking=ranking,
        seconds=time.perf_counter() - started,
        plugin_errors=[str(error) for error in loaded.errors],
    )


def persist_strategy_cycle(engine: sa.Engine, cycle: StrategyCycle) -> None:
    """Write the cycle's backtests, ranking and registry metrics in one transaction."""
    days = round(cycle.window.days, 3)
    extra = {
        "cycle_id": cycle.cycle_id,
        "timestamp": cycle.started_at,
        "backtest_period": f"{days:g}d",
        "tuning_attempt": 0,
    }
    with engine.begin() as connection:
        register_strategies(connection, [get_strategy(name) for name in cycle.strategies])
        insert_results(connection, [{**row, **extra} for row in cycle.rows])
        insert_rankings(
            connection,
            [
                {
                    "cycle_id": cycle.cycle_id,
                    "timestamp": cycle.started_at,
                    "strategy_name": entry.strategy_name,
                    "rank": entry.rank,
                    "score": entry.score,
                    "backtests": entry.backtests,
                    "trades": entry.trades,
                    "status": entry.status,
                    "details": entry.as_dict(),
                }
                for entry in cycle.ranking
            ],
        )
        record_backtest_metrics(connection, cycle.ranking, cycle.started_at)


def load_latest_strategy_cycle(engine: sa.Engine) -> StrategyCycle | None:
    """The newest recorded strategy cycle, or ``None`` when no cycle has run."""
    with engine.connect() as connection:
        cycle_id = latest_cycle_id(connection)
        if cycle_id is None:
            return None
        rows = results_of_cycle(connection, cycle_id)
        ranked = rankings_of_cycle(connection, cycle_id)
    first = rows[0]
    return StrategyCycle(
        cycle_id=cycle_id,
        started_at=first["timestamp"],
        window=Window(start=min(r["window_start"] for r in rows), end=max(r["window_end"] for r in rows)),
        instruments=sorted({r["inst_id"] for r in rows}),
        timeframes=sorted({r["timeframe"] for r in rows}, key=timeframe_ms),
        strategies=sorted({r["strategy_name"] for r in rows}),
        costs=CostModel(first["fee_bps"], first["slippage_bps"]),
        rows=rows,
        ranking=[RankEntry(**r["details"]) for r in ranked],
    )
