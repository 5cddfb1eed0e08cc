"""Repository functions for ``daily_reports`` (one row per report date; a rerun replaces it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from blofin_stack.db.tables import daily_reports as table
from blofin_stack.db.tables import utcnow


def save_report(connection: sa.Connection, report: dict[str, Any]) -> None:
    """Store ``report`` (the JSON of ``blofin_stack.pipeline.reporter``) under its ``report_date``."""
    performance = report.get("performance", {})
    row = {
        "report_date": report["report_date"],
        "report_json": report,
        "strategy_changes": report.get("strategy_changes"),
        "model_changes": report.get("ml_changes"),
        "ensemble_changes": report.get("ml_changes", {}).get("ensembles_tested"),
        "top_strategies": performance.get("top_5_strategies"),
        "top_models": performance.get("top_5_models"),
        "ai_recommendations": report.get("ai_next_steps"),
        "timestamp": utcnow(),
    }
    connection.execute(table.delete().where(table.c.report_date == row["report_date"]))
    connection.execute(table.insert().values(**row))


def load_report(connection: sa.Connection, report_date: str | None = None) -> dict[str, Any] | None:
    """The report of ``report_date`` (``YYYY-MM-DD``), or the newest one; ``None`` when absent."""
    query = sa.select(table.c.report_json)
    if report_date is not None:
        query = query.where(table.c.report_date == report_date)
    row = connection.execute(query.order_by(table.c.report_date.desc()).limit(1)).scalar()
    return dict(row) if row is not None else None
