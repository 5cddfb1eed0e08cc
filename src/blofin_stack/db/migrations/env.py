"""Alembic environment: runs migrations on the engine handed over by ``blofin_stack.db.engine``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from blofin_stack.db.tables import metadata

config = context.config
engine = config.attributes.get("engine") or sa.create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
