"""Repository functions of ``blofin_stack.db`` on a migrated SQLite file."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from blofin_stack.db import registry as registry_module
from blofin_stack.db.backtests import insert_results, latest_cycle_id, results_of_cycle
from blofin_stack.db.engine import create_engine, upgrade
from blofin_stack.db.rankings import insert_rankings, rankings_of_cycle
from blofin_stack.db.registry import list_strategies, update_backtest_metrics, upsert_strategy
from blofin_stack.db.reports import load_report, save_report
from blofin_stack.db.tables import daily_reports, strategy_backtest_results, strategy_registry

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{(tmp_path / 'repo.db').as_posix()}")
    upgrade(engine)
    yield engine
    engine.dispose()


def backtest_row(
    cycle_id: str, strategy: str, inst: str = "BTC-USDT", tf: str = "5m", **metrics: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "cycle_id": cycle_id,
        "strategy_name": strategy,
        "inst_id": inst,
        "timeframe": tf,
        "window_start": 1_748_790_000_000,
        "window_end": 1_748_962_800_000,
        "backtest_period": "2d",
        "params": {"fast": 10, "slow": 30},
        "fee_bps": 6.0,
        "slippage_bps": 1.0,
        "bars": 576,
        "trades": 3,
        "win_rate": 2 / 3,
        "avg_pnl_pct": 0.25,
        "total_pnl_pct": 0.75,
        "sharpe": 1.5,
        "sortino": 2.0,
        "max_drawdown_pct": 1.2,
        "profit_factor": 2.5,
        "expectancy_pct": 0.25,
        "exposure_pct": 80.0,
        "avg_hold_bars": 12.0,
        "score": 40.0,
        "status": "ok",
        "timestamp": T0,
    }
    row.update(metrics)
    return row


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# ------------------------------------------------------------------------------------------ backtests
def test_insert_and_read_backtest_rows(engine: sa.Engine) -> None:
    rows = [
        backtest_row("c1", "sma_cross", "ETH-USDT", "5m"),
        backtest_row("c1", "sma_cross", "BTC-USDT", "5m", profit_factor=math.inf, win_rate=1.0),
        backtest_row("c1", "bb_squeeze", "BTC-USDT", "1m", trades=0, profit_factor=None, win_rate=0.0),
        backtest_row("c2", "sma_cross", "BTC-USDT", "5m"),
        {**backtest_row("c1", "macd_crossover"), "not_a_column": "dropped"},
    ]
    with engine.begin() as connection:
        assert insert_results(connection, rows) == 5
    with engine.connect() as connection:
        stored = results_of_cycle(connection, "c1")
    assert [(r["strategy_name"], r["timeframe"], r["inst_id"]) for r in stored] == [
        ("bb_squeeze", "1m", "BTC-USDT"),
        ("macd_crossover", "5m", "BTC-USDT"),
        ("sma_cross", "5m", "BTC-USDT"),
        ("sma_cross", "5m", "ETH-USDT"),
    ]
    by_key = {(r["strategy_name"], r["inst_id"]): r for r in stored}
    no_loss = by_key[("sma_cross", "BTC-USDT")]
    assert no_loss["profit_factor"] is None  # +inf is stored as NULL
    assert no_loss["win_rate"] == 1.0 and no_loss["trades"] == 3  # ... and told apart by these
    assert by_key[("bb_squeeze", "BTC-USDT")]["trades"] == 0
    normal = by_key[("sma_cross", "ETH-USDT")]
    assert normal["profit_factor"] == 2.5
    assert normal["params"] == {"fast": 10, "slow": 30}  # JSON round trip
    assert normal["win_rate"] == pytest.approx(2 / 3)
    assert normal["timestamp"] == T0
    assert normal["tuning_attempt"] == 0  # server default
    assert "not_a_column" not in by_key[("macd_crossover", "BTC-USDT")]


def test_ok_and_error_rows_insert_in_one_batch(engine: sa.Engine) -> None:
    """A cycle's rows differ in columns: an error row has ``error`` and no metrics."""
    error = {
        key: value
        for key, value in backtest_row("c1", "bb_squeeze", "ETH-USDT").items()
        if key not in {"win_rate", "avg_pnl_pct", "total_pnl_pct", "sharpe", "sortino", "max_drawdown_pct"}
        and key not in {"profit_factor", "expectancy_pct", "exposure_pct", "avg_hold_bars", "score"}
    }
    error.update(trades=0, status="error", error="RuntimeError: boom")
    rows = [
        backtest_row("c1", "bb_squeeze", "BTC-USDT"),
        error,
        backtest_row("c1", "sma_cross"),
        dict(error, inst_id="X"),
    ]
    with engine.begin() as connection:
        assert insert_results(connection, rows) == 4
    with engine.connect() as connection:
        stored = results_of_cycle(connection, "c1")
    assert [(r["strategy_name"], r["inst_id"], r["status"]) for r in stored] == [
        ("bb_squeeze", "BTC-USDT", "ok"),
        ("bb_squeeze", "ETH-USDT", "error"),
        ("bb_squeeze", "X", "error"),
        ("sma_cross", "BTC-USDT", "ok"),
    ]
    failed = stored[1]
    assert failed["error"] == "RuntimeError: boom"
    assert failed["score"] is None and failed["win_rate"] is None
    assert stored[0]["error"] is None and stored[0]["score"] == 40.0


def test_insert_results_does_not_mutate_the_callers_rows(engine: sa.Engine) -> None:
    row = backtest_row("c1", "sma_cross", profit_factor=math.inf)
    with engine.begin() as connection:
        insert_results(connection, [row])
    assert row["profit_factor"] == math.inf


def test_insert_of_no_rows_is_a_no_op(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        assert insert_results(connection, []) == 0
        assert insert_rankings(connection, []) == 0
    assert count(engine, strategy_backtest_results) == 0


def test_a_failing_batch_leaves_nothing_behind(engine: sa.Engine) -> None:
    good = backtest_row("c1", "sma_cross")
    bad = backtest_row("c1", "bb_squeeze", inst_id=None)  # NOT NULL violated
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        insert_results(connection, [good, bad])
    assert count(engine, strategy_backtest_results) == 0


def test_latest_cycle_id(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert latest_cycle_id(connection) is None
    with engine.begin() as connection:
        insert_results(connection, [backtest_row("old", "sma_cross", timestamp=T0)])
        insert_results(connection, [backtest_row("new", "sma_cross", timestamp=T0 + timedelta(hours=2))])
        # inserted last but started earlier: "newest" goes by the cycle's time, not by insertion order
        insert_results(connection, [backtest_row("middle", "sma_cross", timestamp=T0 + timedelta(hours=1))])
    with engine.connect() as connection:
        assert latest_cycle_id(connection) == "new"
        assert results_of_cycle(connection, "no-such-cycle") == []


# ------------------------------------------------------------------------------------------ rankings
def ranking_row(cycle_id: str, name: str, rank: int, score: float) -> dict[str, Any]:
    return {
        "cycle_id": cycle_id,
        "timestamp": T0,
        "strategy_name": name,
        "rank": rank,
        "score": score,
        "backtests": 9,
        "trades": 10 * rank,
        "status": "kept",
        "details": {"rank": rank, "best": {"inst_id": "BTC-USDT"}},
    }


def test_rankings_of_cycle_are_best_first_and_only_that_cycle(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        insert_rankings(
            connection,
            [
                ranking_row("c1", "third", 3, -5.0),
                ranking_row("c1", "first", 1, 20.0),
                ranking_row("c2", "other", 1, 99.0),
                ranking_row("c1", "second", 2, 10.0),
            ],
        )
    with engine.connect() as connection:
        ranked = rankings_of_cycle(connection, "c1")
        assert rankings_of_cycle(connection, "c3") == []
    assert [(r["rank"], r["strategy_name"]) for r in ranked] == [(1, "first"), (2, "second"), (3, "third")]
    assert ranked[0]["details"] == {"rank": 1, "best": {"inst_id": "BTC-USDT"}}
    assert ranked[0]["timestamp"] == T0


# ------------------------------------------------------------------------------------------ reports
def report(date: str, note: str) -> dict[str, Any]:
    return {
        "report_date": date,
        "cycle": "all",
        "strategy_changes": {"designed": [], "tuned": [], "archived": []},
        "ml_changes": {"trained": [], "ensembles_tested": ["e1"]},
        "performance": {"top_5_strategies": [{"strategy_name": "sma_cross"}], "top_5_models": []},
        "ai_next_steps": note,
    }


def test_save_report_replaces_the_same_date(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        save_report(connection, report("2025-06-01", "first run"))
    with engine.begin() as connection:
        save_report(connection, report("2025-06-01", "second run"))
    assert count(engine, daily_reports) == 1
    with engine.connect() as connection:
        assert load_report(connection, "2025-06-01") == report("2025-06-01", "second run")
        row = connection.execute(sa.select(daily_reports)).one()._mapping
    assert row["ai_recommendations"] == "second run"
    assert row["top_strategies"] == [{"strategy_name": "sma_cross"}]
    assert row["ensemble_changes"] == ["e1"]
    assert row["strategy_changes"] == {"designed": [], "tuned": [], "archived": []}


def test_load_report_newest_by_date_or_none(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        assert load_report(connection) is None
    with engine.begin() as connection:
        save_report(connection, report("2025-06-03", "newest"))
        save_report(connection, report("2025-05-28", "oldest"))
        save_report(connection, report("2025-06-01", "middle"))  # saved last, not the newest date
    with engine.connect() as connection:
        assert load_report(connection)["ai_next_steps"] == "newest"  # type: ignore[index]
        assert load_report(connection, "2025-05-28")["ai_next_steps"] == "oldest"  # type: ignore[index]
        assert load_report(connection, "1999-01-01") is None


# ------------------------------------------------------------------------------------------ registry
class Clock:
    """Replaces ``utcnow`` in the registry module with a controlled time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(T0)
    monkeypatch.setattr(registry_module, "utcnow", fake)
    return fake


def registry_row(engine: sa.Engine, name: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(sa.select(strategy_registry).where(strategy_registry.c.strategy_name == name)).one()
    return dict(row._mapping)


def test_upsert_strategy_creates_then_updates(engine: sa.Engine, clock: Clock) -> None:
    with engine.begin() as connection:
        upsert_strategy(connection, "sma_cross", {"description": "v1", "strategy_type": "pattern", "tier": 1})
    created = registry_row(engine, "sma_cross")
    assert created["created_at"] == T0 and created["updated_at"] == T0
    assert created["description"] == "v1" and created["tier"] == 1
    assert created["archived"] is False  # server default
    assert created["bt_trades"] is None and created["bt_last_run"] is None

    clock.now = T0 + timedelta(minutes=5)
    with engine.begin() as connection:
        upsert_strategy(connection, "sma_cross", {"description": "v2"})
    updated = registry_row(engine, "sma_cross")
    assert updated["id"] == created["id"]
    assert updated["created_at"] == T0  # kept
    assert updated["updated_at"] == T0 + timedelta(minutes=5)  # changed
    assert updated["description"] == "v2"
    assert updated["strategy_type"] == "pattern" and updated["tier"] == 1  # untouched columns stay
    assert count(engine, strategy_registry) == 1


def test_update_backtest_metrics(engine: sa.Engine, clock: Clock) -> None:
    with engine.begin() as connection:
        upsert_strategy(connection, "sma_cross", {"description": "a"})
        upsert_strategy(connection, "bb_squeeze", {"description": "b"})
    clock.now = T0 + timedelta(hours=1)
    run_at = T0 + timedelta(minutes=30)
    with engine.begin() as connection:
        update_backtest_metrics(
            connection,
            "sma_cross",
            {"win_rate": 0.55, "sharpe": 1.25, "pnl_pct": 3.5, "max_dd": 2.0, "trades": 42},
            run_at,
        )
        update_backtest_metrics(connection, "not_registered", {"trades": 1}, run_at)  # no row, no error
    row = registry_row(engine, "sma_cross")
    assert (row["bt_win_rate"], row["bt_sharpe"], row["bt_pnl_pct"], row["bt_max_dd"], row["bt_trades"]) == (
        0.55,
        1.25,
        3.5,
        2.0,
        42,
    )
    assert row["bt_last_run"] == run_at
    assert row["updated_at"] == T0 + timedelta(hours=1)
    assert row["created_at"] == T0
    other = registry_row(engine, "bb_squeeze")
    assert other["bt_trades"] is None and other["bt_last_run"] is None and other["updated_at"] == T0
    with engine.connect() as connection:
        names = [r["strategy_name"] for r in list_strategies(connection)]
    assert names == ["bb_squeeze", "sma_cross"]


def test_update_backtest_metrics_rejects_an_unknown_metric(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        upsert_strategy(connection, "sma_cross", {})
    with pytest.raises(sa.exc.CompileError), engine.begin() as connection:
        update_backtest_metrics(connection, "sma_cross", {"no_such_metric": 1.0}, T0)


def test_list_strategies_orders_by_tier_then_name(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        upsert_strategy(connection, "b_low", {"tier": 0})
        upsert_strategy(connection, "a_low", {"tier": 0})
        upsert_strategy(connection, "z_high", {"tier": 2})
    with engine.connect() as connection:
        assert [r["strategy_name"] for r in list_strategies(connection)] == ["z_high", "a_low", "b_low"]
