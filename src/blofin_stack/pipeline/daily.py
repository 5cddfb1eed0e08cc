"""The daily runner: ``blofin pipeline run --mode strategy|ml|report|all [--dry-run]``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from blofin_stack.config import Settings
from blofin_stack.db.engine import create_engine, get_engine, schema_is_current
from blofin_stack.db.reports import save_report
from blofin_stack.live.drift import check_drift, latest_backtest_vs_live
from blofin_stack.market.store import MarketStore
from blofin_stack.ml.models import NAMES
from blofin_stack.pipeline import ml_cycle
from blofin_stack.pipeline.ml_cycle import (
    MlCycle,
    not_run_ml_changes,
    persist_ml_cycle,
    recorded_ml_changes,
    run_ml_cycle,
)
from blofin_stack.pipeline.reporter import build_report, ml_messages, write_report
from blofin_stack.pipeline.strategy_cycle import (
    NoMarketDataError,
    RegistryView,
    StrategyCycle,
    load_latest_strategy_cycle,
    persist_strategy_cycle,
    run_strategy_cycle,
)

MODES = ("strategy", "ml", "report", "all")


@dataclass
class PipelineRun:
    """What one ``pipeline run`` did."""

    mode: str
    dry_run: bool
    cycle: StrategyCycle | None = None
    ml: MlCycle | None = None
    report: dict[str, Any] | None = None
    report_paths: tuple[Path, Path] | None = None
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0


NO_CYCLE = "report: no strategy cycle has been recorded yet; run --mode strategy first"


def _reading_engine(settings: Settings, dry_run: bool) -> tuple[sa.Engine | None, str]:
    """The engine to read from, or ``None`` and why. A dry run reads only an existing database at the
    current schema: it never creates or migrates one (the caller disposes that engine)."""
    if not dry_run:
        return get_engine(settings.database_url), ""
    url = sa.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None, "report: no strategy cycle recorded: there is no database yet (a dry run creates none)"
    engine = create_engine(settings.database_url)
    if schema_is_current(engine):
        return engine, ""
    engine.dispose()
    return None, "report: the database schema is not current; run once without --dry-run to upgrade it"


def _read_registry(settings: Settings, dry_run: bool) -> RegistryView:
    engine, _ = _reading_engine(settings, dry_run)
    if engine is None:
        return RegistryView()
    with engine.connect() as connection:
        view = RegistryView.read(connection)
    if dry_run:
        engine.dispose()
    return view


def _recorded_cycle(settings: Settings, dry_run: bool) -> tuple[StrategyCycle | None, str]:
    """The newest recorded cycle, or ``None`` and why."""
    engine, why = _reading_engine(settings, dry_run)
    if engine is None:
        return None, why
    try:
        return load_latest_strategy_cycle(engine), NO_CYCLE
    finally:
        if dry_run:
            engine.dispose()


def _ml_changes(settings: Settings, run: PipelineRun) -> dict[str, Any]:
    """The report's ML part: this run's ML cycle, else the newest recorded one (saying it did not run now)."""
    if run.ml is not None:
        return run.ml.ml_changes()
    engine, why = _reading_engine(settings, run.dry_run)
    if engine is None:
        return not_run_ml_changes(run.mode, why.removeprefix("report: "))
    try:
        return recorded_ml_changes(engine, settings, run.mode)
    finally:
        if run.dry_run:
            engine.dispose()


def _ml_steps() -> int:
    """Progress steps of the ML cycle: one per model it trains."""
    return len(ml_cycle.DEFAULT_MODELS or NAMES)


def run_pipeline(
    settings: Settings,
    mode: str = "all",
    *,
    dry_run: bool = False,
    days: float | None = None,
    plugins: Sequence[Path] = (),
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PipelineRun:
    """Run the cycles of ``mode``.

    * ``strategy``: backtest every strategy x instrument x timeframe, rank, record (DB).
    * ``ml``: the ML cycle (:func:`~blofin_stack.pipeline.ml_cycle.run_ml_cycle`: drift checks of the
      active models, the zoo trained with walk-forward validation and leakage canaries, ensembles) and
      its records (model store, ``ml_*`` tables, statuses).
    * ``report``: the daily report of this run's strategy cycle, or of the newest recorded one:
      ``DATA_DIR/reports/YYYY-MM-DD.json`` and ``.md`` and a ``daily_reports`` row. Its ``ml_changes``
      come from this run's ML cycle, or else from the newest recorded one, and say which.
    * ``all``: ml, strategy, report: the ML cycle first, so the strategies that use its models (the
      entry classifier, the exit model; :mod:`blofin_stack.ml.deploy`) run with the fresh ones; before
      the report, every tier-2 strategy's forward test is compared with its backtest over the same
      period (:func:`~blofin_stack.live.drift.check_drift`, which demotes on persistent drift).

    Plugins (``PLUGINS_DIR/*.py`` and ``plugins``) add features and strategies to both cycles.
    With ``dry_run`` nothing is written to the database, the model store or report files (the report is
    returned; the ML cycle still trains). ``on_start(n)`` announces the number of progress steps
    (instruments backtested plus models trained); ``on_progress(1)`` reports each.

    Raises:
        ValueError: unknown mode.
        NoMarketDataError: the strategy cycle found no candles.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    started = time.perf_counter()
    run = PipelineRun(mode=mode, dry_run=dry_run)
    if mode in ("ml", "all"):
        if on_start:
            steps = len(MarketStore(settings.market_dir).instruments()) if mode == "all" else 0
            on_start(_ml_steps() + steps)
        run.ml = run_ml_cycle(settings, plugins=plugins, on_progress=on_progress)
        run.messages.extend(run.ml.plugin_errors)
        if not dry_run:
            persist_ml_cycle(get_engine(settings.database_url), settings, run.ml)
        run.messages.extend(ml_messages(run.ml.ml_changes(), run.ml.seconds))
    if mode in ("strategy", "all"):
        instruments = MarketStore(settings.market_dir).instruments()
        if not instruments:
            raise NoMarketDataError(f"no candles in {settings.market_dir}; import some first: blofin data import PATH")
        if on_start and mode == "strategy":
            on_start(len(instruments))
        registry = _read_registry(settings, dry_run)
        run.cycle = run_strategy_cycle(settings, days=days, plugins=plugins, registry=registry, on_progress=on_progress)
        if run.ml is None:
            run.messages.extend(run.cycle.plugin_errors)
        if not dry_run:
            persist_strategy_cycle(get_engine(settings.database_url), run.cycle, settings)
        run.messages.append(
            f"strategy cycle {run.cycle.cycle_id}: {len(run.cycle.rows)} backtests "
            f"({len(run.cycle.errors)} failed) in {run.cycle.seconds:.1f} s"
        )
    if mode in ("report", "all"):
        cycle, why_none = (run.cycle, "") if run.cycle is not None else _recorded_cycle(settings, dry_run)
        if cycle is None:
            run.messages.append(why_none)
        else:
            live = None
            if not dry_run:  # forward tests against their backtests; persistent drift demotes
                drift = check_drift(settings) if mode == "all" else None
                live = drift.backtest_vs_live() if drift is not None else latest_backtest_vs_live(settings)
                run.messages.append(f"forward tests: {live['status']}")
            run.report = build_report(cycle, mode, ml=_ml_changes(settings, run), live=live)
            if not dry_run:
                run.report_paths = write_report(run.report, settings.reports_dir)
                with get_engine(settings.database_url).begin() as connection:
                    save_report(connection, run.report)
    if dry_run:
        run.messages.append("dry run: nothing was written to the database, the model store or report files")
    run.seconds = time.perf_counter() - started
    return run
