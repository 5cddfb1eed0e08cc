"""SQLAlchemy Core table definitions: the current schema.

Column names follow the operator's documents (``../shared/seeds``); where a seed says ``symbol`` this
schema says ``inst_id`` (Blofin's ``instId``). Market times (bar open times, backtest windows) are
``BIGINT`` epoch milliseconds UTC; event times (``timestamp``, ``created_at``, ``promoted_at``...) are
timezone-aware UTC datetimes. The Alembic migrations in ``db/migrations`` build exactly this schema
(a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores ISO text without an offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Current time as a timezone-aware UTC datetime (the only clock the DB layer uses)."""
    return datetime.now(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

strategy_registry = sa.Table(
    "strategy_registry",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("strategy_name", sa.String(128), nullable=False, unique=True),
    sa.Column("tier", sa.Integer, nullable=False, server_default="0"),
    sa.Column("strategy_type", sa.String(32)),
    sa.Column("description", sa.Text),
    sa.Column("source", sa.String(32)),
    sa.Column("file_path", sa.Text),
    sa.Column("ml_entry_model", sa.String(128)),
    sa.Column("ml_exit_model", sa.String(128)),
    sa.Column("bt_win_rate", sa.Float),
    sa.Column("bt_sharpe", sa.Float),
    sa.Column("bt_pnl_pct", sa.Float),
    sa.Column("bt_max_dd", sa.Float),
    sa.Column("bt_trades", sa.Integer),
    sa.Column("bt_eep_score", sa.Float),
    sa.Column("bt_profit_factor", sa.Float),
    sa.Column("bt_last_run", UtcDateTime),
    sa.Column("ft_win_rate", sa.Float),
    sa.Column("ft_sharpe", sa.Float),
    sa.Column("ft_pnl_pct", sa.Float),
    sa.Column("ft_max_dd", sa.Float),
    sa.Column("ft_trades", sa.Integer),
    sa.Column("ft_eep_score", sa.Float),
    sa.Column("ft_profit_factor", sa.Float),
    sa.Column("ft_started", UtcDateTime),
    sa.Column("ft_last_update", UtcDateTime),
    sa.Column("promoted_at", UtcDateTime),
    sa.Column("demoted_at", UtcDateTime),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("archive_reason", sa.Text),
    # not in the seed: the parameters the cycles run with, and why a registered strategy cannot run yet
    sa.Column("params", sa.JSON),
    sa.Column("blocked_reason", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

#: The audit trail of the registry: every tier change, archive and restore, with its reason.
strategy_transitions = sa.Table(
    "strategy_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("strategy_name", sa.String(128), nullable=False, index=True),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_tier", sa.Integer),
    sa.Column("to_tier", sa.Integer),
    sa.Column("actor", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("details", sa.JSON),
)

strategy_backtest_results = sa.Table(
    "strategy_backtest_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cycle_id", sa.String(64), index=True),
    sa.Column("strategy_name", sa.String(128), nullable=False),
    sa.Column("inst_id", sa.String(64), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("window_start", sa.BigInteger, nullable=False),
    sa.Column("window_end", sa.BigInteger, nullable=False),
    sa.Column("backtest_period", sa.String(32)),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("fee_bps", sa.Float, nullable=False),
    sa.Column("slippage_bps", sa.Float, nullable=False),
    sa.Column("bars", sa.Integer, nullable=False),
    sa.Column("trades", sa.Integer, nullable=False),
    sa.Column("win_rate", sa.Float),
    sa.Column("avg_pnl_pct", sa.Float),
    sa.Column("total_pnl_pct", sa.Float),
    sa.Column("sharpe", sa.Float),
    sa.Column("sortino", sa.Float),
    sa.Column("max_drawdown_pct", sa.Float),
    sa.Column("profit_factor", sa.Float),
    sa.Column("expectancy_pct", sa.Float),
    sa.Column("exposure_pct", sa.Float),
    sa.Column("avg_hold_bars", sa.Float),
    sa.Column("eep_score", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("status", sa.String(32)),
    sa.Column("error", sa.Text),
    sa.Column("tuning_attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("design_prompt", sa.Text),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Index(None, "strategy_name", "timestamp"),
)

ranking_history = sa.Table(
    "ranking_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cycle_id", sa.String(64), index=True),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("strategy_name", sa.String(128), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("backtests", sa.Integer, nullable=False),
    sa.Column("trades", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("details", sa.JSON),
)

daily_reports = sa.Table(
    "daily_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report_date", sa.String(10), nullable=False, unique=True),
    sa.Column("report_json", sa.JSON, nullable=False),
    sa.Column("strategy_changes", sa.JSON),
    sa.Column("model_changes", sa.JSON),
    sa.Column("ensemble_changes", sa.JSON),
    sa.Column("top_strategies", sa.JSON),
    sa.Column("top_models", sa.JSON),
    sa.Column("ai_recommendations", sa.Text),
    sa.Column("timestamp", UtcDateTime, nullable=False),
)

signals = sa.Table(
    "signals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("strategy_name", sa.String(128), nullable=False),
    sa.Column("inst_id", sa.String(64), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("signal_type", sa.String(16), nullable=False),
    sa.Column("price", sa.Float),
    sa.Column("confidence", sa.Float),
    sa.Column("reason", sa.Text),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.UniqueConstraint("strategy_name", "inst_id", "timeframe", "ts", "signal_type"),
)

paper_trades = sa.Table(
    "paper_trades",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("strategy_name", sa.String(128), nullable=False),
    sa.Column("inst_id", sa.String(64), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("entry_ts", sa.BigInteger, nullable=False),
    sa.Column("entry_price", sa.Float, nullable=False),
    sa.Column("size", sa.Float, nullable=False),
    sa.Column("exit_ts", sa.BigInteger),
    sa.Column("exit_price", sa.Float),
    sa.Column("fees", sa.Float),
    sa.Column("pnl", sa.Float),
    sa.Column("pnl_pct", sa.Float),
    sa.Column("exit_reason", sa.String(32)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index(None, "strategy_name", "inst_id", "status"),
    sa.UniqueConstraint("strategy_name", "inst_id", "timeframe", "entry_ts"),  # one position per entry fill
)

#: The paper trader's state per strategy, instrument and timeframe ("account"): derived from the stored bars
#: and ``ft_started`` (it can be rebuilt), kept for status, drift checks and the next step.
paper_accounts = sa.Table(
    "paper_accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("strategy_name", sa.String(128), nullable=False),
    sa.Column("inst_id", sa.String(64), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("started", sa.BigInteger, nullable=False),  # ms: the forward test's start (ft_started)
    sa.Column("last_bar_ts", sa.BigInteger),  # open time (ms) of the last processed closed bar
    sa.Column("initial_capital", sa.Float, nullable=False),  # USDT
    sa.Column("equity", sa.Float),  # USDT, marked to market at the last bar's close
    sa.Column("position", sa.String(8)),  # long, short or NULL (flat)
    sa.Column("metrics", sa.JSON),  # backtest metrics of the forward period over its closed trades
    sa.Column("latency_ms", sa.BigInteger),  # recorded - last bar's close time
    sa.Column("error", sa.Text),  # the last step's error, if it failed
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("strategy_name", "inst_id", "timeframe"),
)

#: Every forward-vs-backtest drift check of a tier-2 strategy, and the demotion it caused.
drift_checks = sa.Table(
    "drift_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("strategy_name", sa.String(128), nullable=False, index=True),
    sa.Column("period_start", sa.BigInteger, nullable=False),
    sa.Column("period_end", sa.BigInteger, nullable=False),
    sa.Column("forward", sa.JSON, nullable=False),
    sa.Column("backtest", sa.JSON, nullable=False),
    sa.Column("differences", sa.JSON, nullable=False),
    sa.Column("threshold_pct", sa.Float, nullable=False),
    sa.Column("drifting", sa.Boolean, nullable=False),
    sa.Column("consecutive", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16)),
    sa.Column("reason", sa.Text, nullable=False),
)

ml_model_results = sa.Table(
    "ml_model_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("model_type", sa.String(64)),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("accuracy", sa.Float),
    sa.Column("precision", sa.Float),
    sa.Column("recall", sa.Float),
    sa.Column("f1", sa.Float),
    sa.Column("features_used", sa.JSON),
    sa.Column("hyperparams", sa.JSON),
    sa.Column("status", sa.String(32)),
    sa.Column("train_loss", sa.Float),
    # not in the seed: what was predicted, where it is stored, and the whole out-of-sample picture
    sa.Column("cycle_id", sa.String(64), index=True),
    sa.Column("model_path", sa.Text),
    sa.Column("target", sa.String(64)),
    sa.Column("timeframe", sa.String(8)),
    sa.Column("roc_auc", sa.Float),
    sa.Column("log_loss", sa.Float),
    sa.Column("mae", sa.Float),
    sa.Column("rmse", sa.Float),
    sa.Column("r2", sa.Float),
    sa.Column("mape", sa.Float),
    sa.Column("oos", sa.JSON),
    sa.Column("baseline", sa.JSON),
    sa.Column("lift", sa.JSON),
    sa.Column("folds", sa.JSON),
    sa.Column("reasons", sa.JSON),
    sa.UniqueConstraint("model_name", "timestamp"),
)

#: Every drift check and retraining decision, with the metrics compared.
ml_retrain_log = sa.Table(
    "ml_retrain_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False, index=True),
    sa.Column("model_path", sa.Text),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("validated", sa.Float),
    sa.Column("fresh", sa.Float),
    sa.Column("drop_pct", sa.Float),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("details", sa.JSON),
)

ml_ensembles = sa.Table(
    "ml_ensembles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ensemble_name", sa.String(128), nullable=False),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("model_list", sa.JSON),
    sa.Column("weights", sa.JSON),
    sa.Column("combination_method", sa.String(32)),
    sa.Column("accuracy", sa.Float),
    sa.Column("f1", sa.Float),
    sa.Column("backtest_sharpe", sa.Float),
    sa.Column("status", sa.String(32)),
    sa.UniqueConstraint("ensemble_name", "timestamp"),
)

#: Trades recorded from Blofin's public ``trades`` channel (ingestor), one row per instrument and trade id.
market_trades = sa.Table(
    "market_trades",
    metadata,
    sa.Column("inst_id", sa.String(64), primary_key=True),
    sa.Column("trade_id", sa.BigInteger, primary_key=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("size", sa.Float, nullable=False),  # contracts, as Blofin sends it
    sa.Column("size_base", sa.Float, nullable=False),  # base currency: size x contractValue
    sa.Column("side", sa.String(4), nullable=False),  # taker side: buy / sell
    sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),  # made up by a replay
    sa.Index(None, "inst_id", "ts"),
)
