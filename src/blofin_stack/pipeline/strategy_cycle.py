"""The strategy cycle: backtest every strategy x instrument x timeframe in parallel, rank, record, gate."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
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
from blofin_stack.db.registry import list_strategies, list_transitions
from blofin_stack.db.tables import utcnow
from blofin_stack.lifecycle.gates import gates_from_settings
from blofin_stack.lifecycle.ranker import RankEntry, rank_strategies
from blofin_stack.lifecycle.registry import (
    Transition,
    apply_gates,
    backtest_summary,
    record_backtests,
    refresh_ensemble_weights,
    sync_registry,
)
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.ml.deploy import activate_trading_models
from blofin_stack.pipeline.backtests import Window, backtest_instrument, cycle_window, data_end
from blofin_stack.strategies import all_strategies
from blofin_stack.strategies.plugins import load_plugins, plugin_paths


class NoMarketDataError(RuntimeError):
    """The market store is empty: import candles first (``blofin data import``)."""


@dataclass(frozen=True)
class RegistryView:
    """What the cycle reads from the registry: archived names and each strategy's current parameters."""

    archived: frozenset[str] = frozenset()
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, connection: sa.Connection) -> RegistryView:
        rows = list_strategies(connection)
        return cls(
            archived=frozenset(r["strategy_name"] for r in rows if r["archived"]),
            params={r["strategy_name"]: r["params"] for r in rows if r["params"]},
        )


@dataclass
class StrategyCycle:
    """The outcome of one strategy cycle (``seconds`` is ``None`` when loaded from the database).

    Attributes:
        strategies: the strategies backtested; ``timeframes_of``: the timeframes each ran on
            (``BACKTEST_TIMEFRAMES`` plus its own).
        loaded: every strategy that loaded (run or not); ``skipped``: name -> why it did not run.
        plugin_errors / file_errors: failed plugin files, as messages and as path -> message.
        transitions: registry changes the cycle made (filled by :func:`persist_strategy_cycle`).
        trading_models: model name -> the stored model serving the ML strategies, or why none does.
    """

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
    timeframes_of: dict[str, list[str]] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    plugin_errors: list[str] = field(default_factory=list)
    file_errors: dict[str, str] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    tuned: list[dict[str, Any]] = field(default_factory=list)
    trading_models: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Backtests that failed, with their error message."""
        return [row for row in self.rows if row.get("status") == "error"]


def run_strategy_cycle(
    settings: Settings,
    *,
    days: float | None = None,
    plugins: Sequence[Path] = (),
    registry: RegistryView = RegistryView(),
    on_progress: Callable[[int], None] | None = None,
) -> StrategyCycle:
    """Backtest every runnable strategy on every stored instrument.

    Strategies are the built-ins plus those of the plugin files (``PLUGINS_DIR/*.py`` and ``plugins``;
    a file that fails to load is reported and the cycle goes on without it), except the archived ones
    and those that cannot run yet (``Strategy.unavailable_reason``). Each runs on ``BACKTEST_TIMEFRAMES``
    plus its own timeframes, with the registry's current parameters when it has them. The window is the
    last ``days`` (default ``BACKTEST_LOOKBACK_DAYS``) of stored data. Work runs in ``PIPELINE_WORKERS``
    processes, one task per instrument; ``on_progress(1)`` is called as each instrument finishes.
    Nothing is written: see :func:`persist_strategy_cycle`.

    Raises:
        NoMarketDataError: the store holds no candles.
    """
    started = time.perf_counter()
    store = MarketStore(settings.market_dir)
    instruments = store.instruments()
    if not instruments:
        raise NoMarketDataError(f"no candles in {settings.market_dir}; import some first: blofin data import PATH")
    loaded_plugins = load_plugins(plugin_paths(settings.plugins_dir, plugins, settings.strategies_dir))
    trading_models = activate_trading_models(settings.ml_models_path)
    loaded = all_strategies()
    skipped: dict[str, str] = {}
    plan: dict[str, list[str]] = {}
    params: dict[str, dict[str, Any]] = {}
    for strategy in loaded:
        blocked = strategy.unavailable_reason()
        if strategy.name in registry.archived:
            skipped[strategy.name] = "archived"
        elif blocked:
            skipped[strategy.name] = f"cannot run yet: {blocked}"
        else:
            plan[strategy.name] = strategy.cycle_timeframes(settings.backtest_timeframes)
            params[strategy.name] = dict(registry.params.get(strategy.name, {}))
    timeframes = sorted({tf for tfs in plan.values() for tf in tfs}, key=timeframe_ms)
    window = cycle_window(data_end(store, instruments), days or settings.backtest_lookback_days, timeframes)
    tasks = (
        delayed(backtest_instrument)(settings, inst, plan, window, loaded_plugins.loaded, params)
        for inst in instruments
    )
    rows: list[dict[str, Any]] = []
    for inst_rows in Parallel(n_jobs=settings.pipeline_workers, return_as="generator_unordered")(tasks):
        rows.extend(inst_rows)
        if on_progress:
            on_progress(1)
    rows.sort(key=lambda r: (r["strategy_name"], timeframe_ms(r["timeframe"]), r["inst_id"]))
    ranking = rank_strategies(rows, settings.ranker_top_n, settings.ranker_replace_fraction)
    stamp = utcnow()
    return StrategyCycle(
        cycle_id=f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        started_at=stamp,
        window=window,
        instruments=instruments,
        timeframes=timeframes,
        strategies=list(plan),
        costs=CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps),
        rows=rows,
        ranking=ranking,
        seconds=time.perf_counter() - started,
        timeframes_of={s.name: list(s.timeframes) for s in loaded},
        loaded=[s.name for s in loaded],
        skipped=skipped,
        plugin_errors=[str(error) for error in loaded_plugins.errors],
        file_errors={str(error.path): str(error) for error in loaded_plugins.errors},
        trading_models=trading_models,
    )


def persist_strategy_cycle(engine: sa.Engine, cycle: StrategyCycle, settings: Settings) -> None:
    """In one transaction: bring the registry up to date with what loaded, write the cycle's backtests
    and ranking, record each strategy's own-timeframe figures (``bt_*``), and apply the gates. The
    registry transitions made are stored on ``cycle.transitions``."""
    days = round(cycle.window.days, 3)
    extra = {"cycle_id": cycle.cycle_id, "timestamp": cycle.started_at, "backtest_period": f"{days:g}d"}
    by_name = {s.name: s for s in all_strategies()}
    with engine.begin() as connection:
        transitions = sync_registry(
            connection, [by_name[n] for n in cycle.loaded if n in by_name], file_errors=cycle.file_errors
        )
        insert_results(connection, [{**row, **extra, "tuning_attempt": 0} for row in cycle.rows])
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
        record_backtests(connection, backtest_summary(cycle.rows, cycle.timeframes_of), cycle.started_at)
        backtested = {row["strategy_name"] for row in cycle.rows if row.get("status") != "error"}
        transitions += apply_gates(
            connection, gates_from_settings(settings), cycle.loaded, cycle.started_at, fresh=backtested
        )
        scores = {entry.strategy_name: entry.score for entry in cycle.ranking}
        cycle.tuned = refresh_ensemble_weights(connection, by_name.values(), scores)
    cycle.transitions = transitions


def load_latest_strategy_cycle(engine: sa.Engine) -> StrategyCycle | None:
    """The newest recorded strategy cycle (with the transitions made since it started), or ``None``."""
    with engine.connect() as connection:
        cycle_id = latest_cycle_id(connection)
        if cycle_id is None:
            return None
        rows = results_of_cycle(connection, cycle_id)
        ranked = rankings_of_cycle(connection, cycle_id)
        started = rows[0]["timestamp"]
        transitions = [
            Transition(**{k: t[k] for k in Transition.__dataclass_fields__})
            for t in list_transitions(connection, since=started)
        ]
    first = rows[0]
    return StrategyCycle(
        cycle_id=cycle_id,
        started_at=started,
        window=Window(start=min(r["window_start"] for r in rows), end=max(r["window_end"] for r in rows)),
        instruments=sorted({r["inst_id"] for r in rows}),
        timeframes=sorted({r["timeframe"] for r in rows}, key=timeframe_ms),
        strategies=sorted({r["strategy_name"] for r in rows}),
        costs=CostModel(first["fee_bps"], first["slippage_bps"]),
        rows=rows,
        ranking=[RankEntry(**r["details"]) for r in ranked],
        transitions=transitions,
    )
