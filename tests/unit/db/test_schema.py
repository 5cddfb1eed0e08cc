"""The Alembic migration builds exactly ``tables.metadata``; engines are cached, WAL, UTC-aware.

The PostgreSQL test runs only when ``TEST_POSTGRES_URL`` points at a throw-away database (its tables
are dropped before and after the test).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from blofin_stack.db import engine as engine_module
from blofin_stack.db.engine import create_engine, dispose_engines, get_engine, schema_is_current, upgrade
from blofin_stack.db.registry import list_strategies, upsert_strategy
from blofin_stack.db.tables import UtcDateTime, metadata

SEED = Path(__file__).resolve().parents[4] / "shared" / "seeds" / "000_1af382ce42fdb946.txt"

#: Columns of the operator's ``strategy_registry`` (seed 000); the test below re-reads the seed when present.
SEED_REGISTRY_COLUMNS = [
    "id",
    "strategy_name",
    "tier",
    "strategy_type",
    "description",
    "source",
    "file_path",
    "ml_entry_model",
    "ml_exit_model",
    "bt_win_rate",
    "bt_sharpe",
    "bt_pnl_pct",
    "bt_max_dd",
    "bt_trades",
    "bt_eep_score",
    "bt_last_run",
    "ft_win_rate",
    "ft_sharpe",
    "ft_pnl_pct",
    "ft_max_dd",
    "ft_trades",
    "ft_eep_score",
    "ft_started",
    "ft_last_update",
    "promoted_at",
    "demoted_at",
    "archived",
    "archive_reason",
    "created_at",
    "updated_at",
]

ISSUE_TABLES = {
    "strategy_registry",
    "strategy_backtest_results",
    "ranking_history",
    "daily_reports",
    "signals",
    "paper_trades",
    "ml_model_results",
    "ml_ensembles",
}


def seed_registry_columns(text: str) -> list[str]:
    """Column names of the ``CREATE TABLE strategy_registry (...)`` block of the seed document."""
    block = text.split("CREATE TABLE strategy_registry (", 1)[1].split(");", 1)[0]
    names = []
    for line in block.splitlines():
        match = re.match(r"\s*([a-z_]+)\s+(INTEGER|TEXT|REAL)\b", line)
        if match:
            names.append(match.group(1))
    return names


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{(tmp_path / 'schema.db').as_posix()}"
    dispose_engines()


@pytest.fixture
def migrated(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(sqlite_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def schema_differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_seed_column_list_matches_the_seed_document() -> None:
    if not SEED.is_file():
        pytest.skip(f"seed document not found at {SEED}")
    assert seed_registry_columns(SEED.read_text()) == SEED_REGISTRY_COLUMNS


def test_upgrade_creates_every_table_of_the_issue(migrated: sa.Engine) -> None:
    inspector = sa.inspect(migrated)
    tables = set(inspector.get_table_names())
    assert tables >= ISSUE_TABLES
    assert "alembic_version" in tables
    registry_columns = {c["name"] for c in inspector.get_columns("strategy_registry")}
    assert set(SEED_REGISTRY_COLUMNS) <= registry_columns
    unique = inspector.get_unique_constraints("strategy_registry")
    assert any(u["column_names"] == ["strategy_name"] for u in unique)
    backtest_columns = {c["name"] for c in inspector.get_columns("strategy_backtest_results")}
    assert {
        "strategy_name",
        "inst_id",
        "timeframe",
        "window_start",
        "window_end",
        "params",
        "trades",
        "win_rate",
        "avg_pnl_pct",
        "total_pnl_pct",
        "sharpe",
        "sortino",
        "max_drawdown_pct",
        "profit_factor",
        "expectancy_pct",
        "exposure_pct",
        "avg_hold_bars",
        "score",
        "status",
        "tuning_attempt",
    } <= backtest_columns


def test_migrated_schema_equals_the_table_metadata(migrated: sa.Engine) -> None:
    assert schema_differences(migrated) == []


def test_comparison_detects_a_schema_drift(migrated: sa.Engine) -> None:
    """The comparison above can fail: a column missing from the database is reported."""
    with migrated.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE signals DROP COLUMN reason")
    diffs = schema_differences(migrated)
    assert any(d[0] == "add_column" and d[2] == "signals" and d[3].name == "reason" for d in diffs)  # type: ignore[index]


def test_sqlite_database_is_in_wal_mode(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    dispose_engines()
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    raw = sqlite3.connect(sa.make_url(sqlite_url).database)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_get_engine_is_cached_and_migrates_once(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_upgrade = command.upgrade

    def counting_upgrade(config: object, revision: str) -> None:
        calls.append(revision)
        real_upgrade(config, revision)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module.command, "upgrade", counting_upgrade)
    first = get_engine(sqlite_url)
    second = get_engine(sqlite_url)
    assert first is second
    assert calls == ["head"]
    assert schema_is_current(first)
    # a new process (here: a cleared cache) finds the schema current and does not migrate again
    dispose_engines()
    third = get_engine(sqlite_url)
    assert third is not first
    assert calls == ["head"]


def test_schema_is_current_before_and_after_upgrade(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        assert schema_is_current(engine) is False
        upgrade(engine)
        assert schema_is_current(engine) is True
        upgrade(engine)  # idempotent
        assert schema_is_current(engine) is True
    finally:
        engine.dispose()


def test_schema_is_current_never_creates_tables(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        schema_is_current(engine)
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_utc_datetime_round_trips_an_aware_datetime_as_utc(migrated: sa.Engine) -> None:
    table = sa.Table(
        "utc_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UtcDateTime)
    )
    table.create(migrated)
    plus_five = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=plus_five)
    with migrated.begin() as connection:
        connection.execute(table.insert(), [{"id": 1, "at": local}, {"id": 2, "at": None}])
    with migrated.connect() as connection:
        stored = dict(connection.execute(sa.select(table.c.id, table.c.at)).all())
    assert stored[1] == local  # the same instant
    assert stored[1].utcoffset() == timedelta(0)
    assert stored[1].replace(tzinfo=None) == datetime(2025, 6, 1, 6, 30, 0, 123456)
    assert stored[2] is None


def test_utc_datetime_rejects_a_naive_datetime(migrated: sa.Engine) -> None:
    table = sa.Table(
        "naive_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UtcDateTime)
    )
    table.create(migrated)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), migrated.begin() as connection:
        connection.execute(table.insert().values(id=1, at=datetime(2025, 6, 1, 12, 0)))
    with migrated.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


@pytest.mark.postgres
def test_postgres_upgrade_compare_and_registry_upsert() -> None:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set TEST_POSTGRES_URL to a throw-away PostgreSQL database to run this test")
    engine = create_engine(url)

    def drop_everything() -> None:
        with engine.begin() as connection:
            metadata.drop_all(connection)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")

    try:
        drop_everything()
        assert schema_is_current(engine) is False
        upgrade(engine)
        assert schema_is_current(engine) is True
        assert set(sa.inspect(engine).get_table_names()) >= ISSUE_TABLES
        assert schema_differences(engine) == []
        with engine.begin() as connection:
            upsert_strategy(connection, "pg_probe", {"description": "first", "tier": 1})
            upsert_strategy(connection, "pg_probe", {"description": "second"})
        with engine.connect() as connection:
            rows = list_strategies(connection)
        assert [(r["strategy_name"], r["description"], r["tier"]) for r in rows] == [("pg_probe", "second", 1)]
        assert rows[0]["created_at"].tzinfo is not None
        assert rows[0]["created_at"].utcoffset() == timedelta(0)
        assert rows[0]["updated_at"] >= rows[0]["created_at"]
        assert rows[0]["created_at"] <= datetime.now(UTC)
    finally:
        drop_everything()
        engine.dispose()
