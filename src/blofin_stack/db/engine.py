"""The SQLAlchemy engine: SQLite in WAL mode by default, PostgreSQL (or any SQLAlchemy URL) by URL.

The first :func:`get_engine` call for a URL upgrades its schema to the newest Alembic revision, so a
fresh ``DATA_DIR`` needs no set-up step.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

_MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: sa.Engine) -> Config:
    """An Alembic :class:`Config` for the package's migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def schema_is_current(engine: sa.Engine) -> bool:
    """True when the database is at the newest migration (reads only; never writes)."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def upgrade(engine: sa.Engine) -> None:
    """Upgrade the schema of ``engine`` to the newest migration (no-op when already current)."""
    if not schema_is_current(engine):
        command.upgrade(alembic_config(engine), "head")


def create_engine(url: str) -> sa.Engine:
    """A new engine for ``url`` with the house settings (WAL and a busy timeout on SQLite)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def get_engine(url: str | None = None) -> sa.Engine:
    """The process-wide engine for ``url`` (default: ``Settings.database_url``), migrated to head.

    Raises:
        sqlalchemy.exc.ArgumentError: ``url`` is not a valid SQLAlchemy URL.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    if url is None:
        from blofin_stack.config import get_settings

        url = get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(url)
            upgrade(engine)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests and forked workers call this)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
