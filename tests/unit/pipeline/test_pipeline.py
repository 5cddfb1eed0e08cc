"""The daily runner end to end on a small slice of the real data (3 instruments, 4 days, 2-day window).

Every check is against the data or the issue, never against numbers copied from a previous run.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from blofin_stack.config import Settings, get_settings
from blofin_stack.db.engine import create_engine, dispose_engines, get_engine
from blofin_stack.db.tables import (
    daily_reports,
    metadata,
    ml_ensembles,
    ml_model_results,
    ranking_history,
    strategy_backtest_results,
    strategy_registry,
)
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.ml.store import list_models
from blofin_stack.pipeline import ml_cycle
from blofin_stack.pipeline.daily import run_pipeline
from blofin_stack.pipeline.strategy_cycle import NoMarketDataError, run_strategy_cycle
from blofin_stack.strategies import BUILTIN_STRATEGIES
from helpers import last_bars

INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "LAYER-USDT")
TIMEFRAMES = ("1m", "5m", "1H")
#: The runnable built-ins and the timeframes each is backtested on: the cycle's plus its own.
PLAN = {
    name: sorted({*TIMEFRAMES, *cls.timeframes}, key=timeframe_ms)
    for name, cls in BUILTIN_STRATEGIES.items()
    if cls().unavailable_reason() is None
}
STRATEGIES = tuple(PLAN)
N_BACKTESTS = len(INSTRUMENTS) * sum(len(tfs) for tfs in PLAN.values())
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLICE_BARS = 4 * 1440  # the last 4 days of 1m bars
LOOKBACK_DAYS = 2
SEED_REPORT_KEYS = {"report_date", "cycle", "strategy_changes", "ml_changes", "performance", "ai_next_steps"}
#: A quick ML cycle: two direction models (an ensemble needs two), 3 days of 5m bars, 1-day training windows.
ML_MODELS = ("direction_logistic", "direction_predictor")
ML_ENV = {"ML_LOOKBACK_DAYS": "3", "ML_TRAIN_DAYS": "1", "ML_TEST_DAYS": "0.5", "ML_EMBARGO_HOURS": "2"}


@pytest.fixture(scope="module")
def candles(real_data_dir: Path) -> dict[str, pd.DataFrame]:
    """The last 4 days of each instrument, read once per module."""
    return last_bars(real_data_dir, INSTRUMENTS, SLICE_BARS)


@pytest.fixture
def fast_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``settings`` with one worker (in-process, so monkeypatches apply), a 2-day window and a quick ML cycle."""
    monkeypatch.setenv("PIPELINE_WORKERS", "1")
    monkeypatch.setenv("BACKTEST_LOOKBACK_DAYS", str(LOOKBACK_DAYS))
    for name, value in ML_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(ml_cycle, "DEFAULT_MODELS", ML_MODELS)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def filled(fast_settings: Settings, candles: dict[str, pd.DataFrame]) -> Settings:
    store = MarketStore(fast_settings.market_dir)
    for inst, frame in candles.items():
        store.write_candles(inst, frame)
    return fast_settings


def db_path(settings: Settings) -> Path:
    return Path(sa.make_url(settings.database_url).database or "")


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def file_digest(db_file: Path) -> dict[str, str]:
    """SHA-256 of the SQLite file and its WAL (a missing WAL counts as empty)."""
    digests = {}
    for path in (db_file, db_file.with_name(db_file.name + "-wal")):
        data = path.read_bytes() if path.exists() else b""
        digests[path.name] = hashlib.sha256(data).hexdigest()
    return digests


def expected_window_end(candles: Mapping[str, pd.DataFrame]) -> int:
    """End of the newest stored 1m bar, aligned down to the hour (the longest timeframe)."""
    newest = max(int(frame.index.max()) for frame in candles.values())
    return (newest + 60_000) // HOUR_MS * HOUR_MS


def ranking_key(entries: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["rank"], e["strategy_name"], e["score"], e["trades"], e["status"]) for e in entries]


# --------------------------------------------------------------------------------------- mode all
def test_run_all_records_backtests_rankings_registry_and_report(
    filled: Settings, candles: dict[str, pd.DataFrame]
) -> None:
    run = run_pipeline(filled, "all")
    assert run.cycle is not None and run.report is not None and run.report_paths is not None
    assert run.cycle.errors == []
    assert run.ml is not None and run.ml.persisted
    assert any(m.startswith(f"ML cycle {run.ml.cycle_id} ran") for m in run.messages)
    n = N_BACKTESTS

    with get_engine(filled.database_url).connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(strategy_backtest_results))]
        ranks = [dict(r._mapping) for r in connection.execute(sa.select(ranking_history))]
        reports = [dict(r._mapping) for r in connection.execute(sa.select(daily_reports))]
        registry = {r.strategy_name: dict(r._mapping) for r in connection.execute(sa.select(strategy_registry))}

    # backtests: every strategy x instrument x timeframe once, all of one cycle
    assert len(rows) == n
    assert Counter((r["strategy_name"], r["inst_id"], r["timeframe"]) for r in rows) == Counter(
        {(s, i, t): 1 for s in STRATEGIES for i in INSTRUMENTS for t in PLAN[s]}
    )
    assert {r["cycle_id"] for r in rows} == {run.cycle.cycle_id}
    assert {r["status"] for r in rows} == {"ok"}

    # one window for all, aligned to the hour, of the configured length, ending at the data's end
    windows = {(r["window_start"], r["window_end"]) for r in rows}
    assert len(windows) == 1
    start, end = windows.pop()
    assert start % HOUR_MS == 0 and end % HOUR_MS == 0
    assert end - start == LOOKBACK_DAYS * DAY_MS
    assert end == expected_window_end(candles)
    assert (run.cycle.window.start, run.cycle.window.end) == (start, end)

    # metrics obey their definitions
    for r in rows:
        where = (r["strategy_name"], r["inst_id"], r["timeframe"])
        assert r["trades"] >= 0, where
        assert 0.0 <= r["win_rate"] <= 1.0, where
        assert r["max_drawdown_pct"] >= 0.0, where
        assert 0.0 <= r["exposure_pct"] <= 100.0, where
        assert r["bars"] == (end - start) // timeframe_ms(r["timeframe"]), where
        assert r["fee_bps"] == filled.backtest_fee_bps and r["slippage_bps"] == filled.backtest_slippage_bps
        assert r["backtest_period"] == f"{LOOKBACK_DAYS}d"
        assert isinstance(r["params"], dict) and r["params"], where
        if r["trades"] == 0:
            assert r["win_rate"] == 0.0 and r["exposure_pct"] == 0.0, where
        if r["profit_factor"] is not None:
            assert r["profit_factor"] >= 0.0, where
    # every strategy trades somewhere in two days of three instruments
    for name in STRATEGIES:
        assert sum(r["trades"] for r in rows if r["strategy_name"] == name) > 0, name

    # ranking: 7 rows, ranks 1..7, best first, consistent with the stored backtests
    assert len(ranks) == len(STRATEGIES)
    ranks.sort(key=lambda r: r["rank"])
    assert [r["rank"] for r in ranks] == list(range(1, len(STRATEGIES) + 1))
    assert {r["strategy_name"] for r in ranks} == set(STRATEGIES)
    assert {r["cycle_id"] for r in ranks} == {run.cycle.cycle_id}
    scores = [r["score"] for r in ranks]
    assert scores == sorted(scores, reverse=True)
    for r in ranks:
        own = [b for b in rows if b["strategy_name"] == r["strategy_name"]]
        assert r["backtests"] == len(own) == len(INSTRUMENTS) * len(PLAN[r["strategy_name"]])
        assert r["trades"] == sum(b["trades"] for b in own)
        assert r["score"] == pytest.approx(float(pd.Series([b["score"] for b in own]).median()))

    # registry: one row per built-in; those that cannot run yet say why and have no backtest figures
    assert set(registry) == set(BUILTIN_STRATEGIES)
    for name in set(BUILTIN_STRATEGIES) - set(STRATEGIES):
        assert registry[name]["blocked_reason"] and registry[name]["bt_trades"] is None
        assert name in run.cycle.skipped
    for name, reg in ((n, r) for n, r in registry.items() if n in PLAN):  # bt_* over each one's own timeframes
        own_tf = BUILTIN_STRATEGIES[name].timeframes
        assert reg["bt_trades"] == sum(
            b["trades"] for b in rows if b["strategy_name"] == name and b["timeframe"] in own_tf
        )
        assert reg["bt_last_run"] == run.cycle.started_at
        assert reg["bt_last_run"].utcoffset().total_seconds() == 0
        assert reg["file_path"] and reg["strategy_type"] == BUILTIN_STRATEGIES[name].strategy_type

    # report: files, daily_reports row, seed shape plus backtests and rankings
    json_path, md_path = run.report_paths
    assert json_path.is_file() and md_path.is_file()
    assert json_path.parent == filled.reports_dir
    report = json.loads(json_path.read_text())
    assert json_path.name == f"{report['report_date']}.json"
    assert md_path.read_text().startswith(f"# Daily report {report['report_date']}")
    assert len(reports) == 1 and reports[0]["report_date"] == report["report_date"]
    assert reports[0]["report_json"]["cycle_id"] == run.cycle.cycle_id
    assert set(report) >= SEED_REPORT_KEYS
    assert {"designed", "tuned", "archived"} <= set(report["strategy_changes"])
    assert isinstance(report["ml_changes"], dict)
    assert {"top_5_strategies", "top_5_models", "backtest_vs_live"} <= set(report["performance"])
    # ML: this run's models, each beside its baseline, and the active ones (from the model store)
    ml = report["ml_changes"]
    assert ml["ran_in_this_invocation"] is True and ml["cycle_id"] == run.ml.cycle_id
    assert [m["name"] for m in ml["trained"]] == list(ML_MODELS)
    stored = {row["id"]: row for row in list_models(filled.ml_models_path)}
    for m in ml["trained"]:
        assert m["metric"] == "accuracy" and 0.0 <= m["oos"] <= 1.0 and 0.0 <= m["baseline"] <= 1.0
        assert m["features"] == 32 and m["status"] == stored[m["model_id"]]["status"]
    active = [row for row in stored.values() if row["status"] == "active"]
    assert {m["model_id"] for m in report["performance"]["top_5_models"]} == {row["id"] for row in active}
    assert [e["method"] for e in ml["ensembles_tested"]] == ["weighted", "vote", "stacking"]
    assert ml["retrained"] == []  # nothing was active before this run
    assert [e["strategy_name"] for e in report["performance"]["top_5_strategies"]] == [
        r["strategy_name"] for r in ranks[:5]
    ]
    assert isinstance(report["ai_next_steps"], str) and report["ai_next_steps"]
    assert len(report["backtests"]) == n
    assert {(b["strategy"], b["inst_id"], b["timeframe"]) for b in report["backtests"]} == {
        (r["strategy_name"], r["inst_id"], r["timeframe"]) for r in rows
    }
    assert ranking_key(report["rankings"]) == ranking_key(ranks)


def test_second_run_the_same_day_replaces_the_report(filled: Settings) -> None:
    first = run_pipeline(filled, "all")
    second = run_pipeline(filled, "all")
    assert first.report and second.report
    with get_engine(filled.database_url).connect() as connection:
        reports = connection.execute(sa.select(daily_reports.c.report_json)).scalars().all()
        cycles = connection.execute(sa.select(strategy_backtest_results.c.cycle_id).distinct()).scalars().all()
    if first.report["report_date"] == second.report["report_date"]:
        assert len(reports) == 1 and reports[0]["cycle_id"] == second.cycle.cycle_id  # type: ignore[union-attr]
    assert set(cycles) == {first.cycle.cycle_id, second.cycle.cycle_id}  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------- dry run
def test_dry_run_on_a_fresh_data_dir_writes_nothing(filled: Settings) -> None:
    run = run_pipeline(filled, "all", dry_run=True)
    assert run.report is not None and len(run.report["backtests"]) == N_BACKTESTS
    assert run.report_paths is None
    assert any("dry run" in m for m in run.messages)
    dispose_engines()
    db_file = db_path(filled)
    leftovers = [p.name for p in db_file.parent.glob(db_file.name + "*")]
    assert leftovers == []
    assert not filled.reports_dir.exists()
    # report mode on a fresh data dir: nothing to read, still nothing written
    report_only = run_pipeline(filled, "report", dry_run=True)
    assert report_only.report is None
    assert any("no strategy cycle" in m for m in report_only.messages)
    assert [p.name for p in db_file.parent.glob(db_file.name + "*")] == []


def test_dry_run_on_an_existing_database_changes_nothing(filled: Settings) -> None:
    real = run_pipeline(filled, "all")
    assert real.cycle is not None
    dispose_engines()
    db_file = db_path(filled)
    counts = table_counts(filled.database_url)
    assert counts["strategy_backtest_results"] == N_BACKTESTS and counts["daily_reports"] == 1
    digest = file_digest(db_file)
    report_files = sorted(p.name for p in filled.reports_dir.iterdir())
    report_bytes = {p.name: p.read_bytes() for p in filled.reports_dir.iterdir()}

    dry_all = run_pipeline(filled, "all", dry_run=True)
    dry_report = run_pipeline(filled, "report", dry_run=True)
    dry_strategy = run_pipeline(filled, "strategy", dry_run=True)

    assert dry_all.report is not None and dry_all.report_paths is None
    assert dry_all.cycle is not None and dry_all.cycle.cycle_id != real.cycle.cycle_id
    # the report-only dry run reads the recorded cycle
    assert dry_report.report is not None and dry_report.report["cycle_id"] == real.cycle.cycle_id
    assert dry_strategy.cycle is not None
    dispose_engines()
    assert file_digest(db_file) == digest
    assert table_counts(filled.database_url) == counts
    assert sorted(p.name for p in filled.reports_dir.iterdir()) == report_files
    assert {p.name: p.read_bytes() for p in filled.reports_dir.iterdir()} == report_bytes


# --------------------------------------------------------------------------------------- other modes
def test_report_mode_rebuilds_the_report_from_the_database(filled: Settings) -> None:
    run = run_pipeline(filled, "strategy")
    assert run.cycle is not None and run.report is None and run.report_paths is None
    assert not filled.reports_dir.exists()

    rebuilt = run_pipeline(filled, "report")
    assert rebuilt.cycle is None  # no new cycle ran
    assert rebuilt.report is not None and rebuilt.report_paths is not None
    report = rebuilt.report
    assert report["cycle"] == "report"
    assert report["cycle_id"] == run.cycle.cycle_id
    assert ranking_key(report["rankings"]) == ranking_key([e.as_dict() for e in run.cycle.ranking])
    assert report["rankings"] == json.loads(json.dumps([e.as_dict() for e in run.cycle.ranking]))
    assert len(report["backtests"]) == len(run.cycle.rows)
    assert (report["data_window"]["start"], report["data_window"]["end"]) == (
        run.cycle.window.start,
        run.cycle.window.end,
    )
    # the per-backtest metrics read back from the DB equal those computed in the cycle
    computed = {(r["strategy_name"], r["inst_id"], r["timeframe"]): r for r in run.cycle.rows}
    for entry in report["backtests"]:
        source = computed[(entry["strategy"], entry["inst_id"], entry["timeframe"])]
        for name, value in entry["metrics"].items():
            expected = source[name]
            if name == "profit_factor" and expected == math.inf:
                assert value is None
            else:
                assert value == pytest.approx(expected), (entry["strategy"], name)
    with get_engine(filled.database_url).connect() as connection:
        stored = connection.execute(sa.select(daily_reports.c.report_json)).scalars().all()
    assert len(stored) == 1 and stored[0]["cycle_id"] == run.cycle.cycle_id


def test_report_mode_without_a_cycle_says_so(filled: Settings) -> None:
    run = run_pipeline(filled, "report")
    assert run.report is None and run.report_paths is None
    assert any("no strategy cycle" in m for m in run.messages)
    assert not filled.reports_dir.exists()
    assert table_counts(filled.database_url)["daily_reports"] == 0


def test_ml_mode_dry_run_trains_and_writes_nothing(filled: Settings) -> None:
    run = run_pipeline(filled, "ml", dry_run=True)
    assert run.ml is not None and not run.ml.persisted
    assert [m.name for m in run.ml.trained] == list(ML_MODELS)
    assert all(m.result is not None and m.status in ("candidate", "suspect") for m in run.ml.trained)
    assert run.cycle is None and run.report is None and run.report_paths is None
    assert any("dry run" in m for m in run.messages)
    dispose_engines()
    db_file = db_path(filled)
    assert list(db_file.parent.glob(db_file.name + "*")) == []
    assert not filled.reports_dir.exists() and not filled.ml_models_path.exists()


def test_ml_mode_records_models_and_the_report_mode_says_it_did_not_run(filled: Settings) -> None:
    run = run_pipeline(filled, "ml")
    assert run.ml is not None and run.ml.persisted and run.report is None
    stored = list_models(filled.ml_models_path)
    assert [row["name"] for row in stored] == list(ML_MODELS)
    with get_engine(filled.database_url).connect() as connection:
        results = [dict(r._mapping) for r in connection.execute(sa.select(ml_model_results))]
        ensembles = [dict(r._mapping) for r in connection.execute(sa.select(ml_ensembles))]
    assert {(r["model_name"], r["model_path"], r["status"]) for r in results} == {
        (row["name"], row["path"], row["status"]) for row in stored
    }
    assert {r["cycle_id"] for r in results} == {run.ml.cycle_id}
    assert len(ensembles) == 3

    run_pipeline(filled, "strategy")
    report = run_pipeline(filled, "report").report
    assert report is not None
    ml = report["ml_changes"]
    assert ml["ran_in_this_invocation"] is False and "did not run in this invocation" in ml["status"]
    assert ml["cycle_id"] == run.ml.cycle_id
    assert [m["name"] for m in ml["trained"]] == list(ML_MODELS)
    assert {m["model_id"] for m in report["performance"]["top_5_models"]} == {
        row["id"] for row in stored if row["status"] == "active"
    }


def test_unknown_mode_is_rejected(filled: Settings) -> None:
    with pytest.raises(ValueError, match="bogus"):
        run_pipeline(filled, "bogus")


def test_empty_store_raises_no_market_data_with_a_hint(fast_settings: Settings) -> None:
    with pytest.raises(NoMarketDataError, match="blofin data import"):
        run_strategy_cycle(fast_settings)
    with pytest.raises(NoMarketDataError):
        run_pipeline(fast_settings, "all")
    assert not db_path(fast_settings).exists()


# --------------------------------------------------------------------------------------- failures
def test_a_failing_strategy_yields_error_rows_and_the_cycle_completes(
    filled: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = "bb_squeeze"

    def explode(self: object, features: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
        raise RuntimeError("boom from the test")

    monkeypatch.setattr(BUILTIN_STRATEGIES[broken], "generate_signals", explode)
    run = run_pipeline(filled, "all")
    assert run.cycle is not None and run.report is not None

    errors = run.cycle.errors
    assert len(errors) == len(INSTRUMENTS) * len(PLAN[broken])
    assert {e["strategy_name"] for e in errors} == {broken}
    assert all("boom from the test" in e["error"] and "RuntimeError" in e["error"] for e in errors)
    assert [e.strategy_name for e in run.cycle.ranking if e.strategy_name == broken] == []
    assert len(run.cycle.ranking) == len(STRATEGIES) - 1

    with get_engine(filled.database_url).connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(sa.select(strategy_backtest_results))]
        ranked = connection.execute(sa.select(ranking_history.c.strategy_name)).scalars().all()
        reg = (
            connection.execute(sa.select(strategy_registry).where(strategy_registry.c.strategy_name == broken))
            .one()
            ._mapping
        )
    assert len(rows) == N_BACKTESTS
    stored_errors = [r for r in rows if r["status"] == "error"]
    assert len(stored_errors) == len(INSTRUMENTS) * len(PLAN[broken])
    assert all(r["strategy_name"] == broken and "boom from the test" in r["error"] for r in stored_errors)
    assert all(r["score"] is None for r in stored_errors)  # no invented metrics
    assert {r["status"] for r in rows if r["strategy_name"] != broken} == {"ok"}
    assert broken not in ranked and len(ranked) == len(STRATEGIES) - 1
    assert reg["bt_last_run"] is None  # no metrics recorded for a strategy that never ran

    report_errors = [b for b in run.report["backtests"] if b["status"] == "error"]
    assert len(report_errors) == 9
    assert all("boom from the test" in b["error"] and "metrics" not in b for b in report_errors)
    assert run.report["summary"]["errors"] == 9
    assert broken not in {e["strategy_name"] for e in run.report["rankings"]}


# --------------------------------------------------------------------------------------- parallelism
def test_two_workers_give_the_same_backtests_as_one(filled: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sequential = run_strategy_cycle(filled)
    monkeypatch.setenv("PIPELINE_WORKERS", "2")
    get_settings.cache_clear()
    parallel_settings = get_settings()
    assert parallel_settings.pipeline_workers == 2
    progress: list[int] = []
    parallel = run_strategy_cycle(parallel_settings, on_progress=progress.append)
    assert progress == [1] * len(INSTRUMENTS)  # one step per instrument
    assert parallel.rows == sequential.rows
    assert ranking_key([e.as_dict() for e in parallel.ranking]) == ranking_key(
        [e.as_dict() for e in sequential.ranking]
    )
    assert parallel.window == sequential.window
