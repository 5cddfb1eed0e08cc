"""The one typed configuration of blofin-stack, read from environment variables and ``.env``.

Variable names are the ones the operators already use (see ``.env.example``); nothing else in the
package reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from blofin_stack.market.timeframes import parse_timeframe


def split_csv(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the items of a comma-separated setting or option, stripped."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class Settings(BaseSettings):
    """All settings, each with its environment variable (upper-case field name) and default."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Root of all state: database, market store, reports.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite file DATA_DIR/blofin.db (WAL mode).")
    shared_data_dir: Path = Field(
        Path("../shared/data"), description="Read-only real market data used by the demo, tests, benchmarks."
    )

    backtest_lookback_days: int = Field(7, gt=0, description="Length of the backtest window in days.")
    backtest_timeframes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["1m", "5m", "1H"],
        description="Comma-separated timeframes the strategy cycle backtests (60m is an alias of 1H).",
    )
    backtest_fee_bps: float = Field(6.0, ge=0, description="Fee per side in basis points (Blofin taker 0.06 %).")
    backtest_slippage_bps: float = Field(1.0, ge=0, description="Adverse slippage per fill in basis points.")
    backtest_initial_capital: float = Field(10_000.0, gt=0, description="Starting equity in USDT.")

    ranker_top_n: int = Field(20, gt=0, description="How many strategies the ranker keeps.")
    ranker_replace_fraction: float = Field(
        0.2, ge=0, le=1, description="Bottom fraction of the ranking marked as replacement candidates."
    )
    # Promotion gates (seed 000). t1: library -> backtest, t2: backtest -> forward, t3: forward -> live.
    gate_t1_min_trades: int = Field(1, ge=0, description="Tier 1 needs a signal that trades on history.")
    gate_t2_min_trades: int = Field(50, ge=0, description="Backtest trades on the strategy's own timeframes.")
    gate_t2_min_win_rate: float = Field(0.40, ge=0, le=1, description="Pooled backtest win rate (fraction).")
    gate_t2_min_sharpe: float = Field(0.5, description="Median annualised backtest Sharpe.")
    gate_t2_max_drawdown_pct: float = Field(30.0, ge=0, description="Median backtest max drawdown (percent).")
    gate_t2_min_profit_factor: float = Field(1.1, ge=0, description="Median backtest profit factor.")
    gate_t2_min_eep: float = Field(50.0, ge=0, le=100, description="Median backtest EEP score.")
    gate_t3_min_trades: int = Field(100, ge=0, description="Forward (paper) trades.")
    gate_t3_min_win_rate: float = Field(0.45, ge=0, le=1, description="Forward win rate (fraction).")
    gate_t3_min_sharpe: float = Field(1.0, description="Forward annualised Sharpe.")
    gate_t3_max_drift_pct: float = Field(20.0, ge=0, description="Backtest-to-forward win-rate drift (percent).")
    gate_t3_min_profit_factor: float = Field(1.3, ge=0, description="Forward profit factor.")
    gate_t3_min_eep: float = Field(65.0, ge=0, le=100, description="Forward EEP score.")
    gate_t3_min_forward_days: float = Field(14.0, ge=0, description="Days of forward testing.")

    pipeline_workers: int = Field(-1, description="Parallel worker processes (joblib n_jobs; -1 = all cores).")

    feature_cache_enabled: bool = Field(True, description="Cache computed features in memory and on disk.")
    feature_cache_size: int = Field(1000, gt=0, description="Feature columns kept in the memory cache.")
    plugins_dir: Path = Field(Path(""), description="Folder of plugin files (*.py); empty means DATA_DIR/plugins.")

    ml_models_path: Path = Field(Path(""), description="Model store; empty means DATA_DIR/models.")
    ml_timeframe: str = Field("5m", description="Bars the ML cycle trains on.")
    ml_lookback_days: float = Field(30.0, gt=0, description="History the ML cycle uses, in days.")
    ml_horizon_bars: int = Field(12, gt=0, description="Label horizon in bars (12 x 5m = 1 hour).")
    ml_train_days: float = Field(7.0, gt=0, description="Walk-forward training window, days.")
    ml_test_days: float = Field(3.0, gt=0, description="Walk-forward test window (and step), days.")
    ml_embargo_hours: float = Field(24.0, ge=0, description="Embargo between training end and test start, hours.")
    ml_max_direction_accuracy: float = Field(
        0.65, gt=0.5, le=1, description="OOS direction accuracy above this marks a model suspect (horizons <= 1H)."
    )
    ml_drift_drop_pct: float = Field(
        10.0, ge=0, description="Drop of a model's OOS metric that triggers retraining, %."
    )
    ml_keep_models: int = Field(5, gt=0, description="Active models kept; the rest are archived.")
    ml_keep_ensembles: int = Field(3, gt=0, description="Active ensembles kept; the rest are archived.")
    api_host: str = Field("127.0.0.1", description="REST API and dashboard bind address.")
    api_port: int = Field(8780, gt=0, lt=65536, description="REST API and dashboard port.")
    blofin_ws_url: str = Field("wss://openapi.blofin.com/ws/public", description="Blofin public WebSocket.")
    blofin_rest_url: str = Field("https://openapi.blofin.com", description="Blofin REST base URL.")
    blofin_contract_values: str = Field(
        "", description="Fallback contract values when REST instruments are unavailable: 'BTC-USDT=0.001,...'."
    )

    ingest_instruments: str = Field("", description="Comma-separated instruments to ingest; empty: --top N.")
    ingest_top_n: int = Field(16, gt=0, description="Without a list, ingest the N swaps with most 24h volume.")
    ingest_flush_seconds: float = Field(1.0, gt=0, le=60, description="Longest time a received row waits, s.")
    ingest_backfill_days: float = Field(
        1.0, ge=0, description="History fetched from REST for an instrument with no stored candles, days."
    )
    tick_retention_days: float = Field(
        7.0, gt=0, description="Trades older than this are compacted into their 1m candles and deleted, days."
    )

    paper_instruments: str = Field("", description="Comma-separated instruments paper-traded; empty: all stored.")
    paper_poll_seconds: float = Field(1.0, gt=0, description="How often the paper trader looks for closed bars, s.")
    paper_ml_confirm: bool = Field(
        False, description="Paper entries also need the active entry classifier's confirmation (ML filter)."
    )
    drift_threshold_pct: float = Field(
        10.0, ge=0, description="Forward vs backtest metric difference flagged as drift, percent."
    )
    drift_demote_after: int = Field(3, gt=0, description="Consecutive drifting checks that demote a tier-2 strategy.")

    schedule_strategy_hours: float = Field(2.0, gt=0, description="blofin serve: strategy cycle every N hours.")
    schedule_ml_hours: float = Field(4.0, gt=0, description="blofin serve: ML cycle every N hours.")
    schedule_daily_at: str = Field(
        "00:05", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="blofin serve: daily run (all + report), HH:MM UTC."
    )

    @field_validator("ml_timeframe")
    @classmethod
    def _canonical_timeframe(cls, value: str) -> str:
        return parse_timeframe(value)

    @field_validator("backtest_timeframes", mode="before")
    @classmethod
    def _split_timeframes(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            canonical = [parse_timeframe(str(part)) for part in value]
            return list(dict.fromkeys(canonical))
        return value

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'blofin.db').as_posix()}"
        if self.ml_models_path == Path(""):
            self.ml_models_path = self.data_dir / "models"
        if self.plugins_dir == Path(""):
            self.plugins_dir = self.data_dir / "plugins"
        return self

    @property
    def market_dir(self) -> Path:
        """Directory of the Parquet market-data store."""
        return self.data_dir / "market"

    @property
    def strategies_dir(self) -> Path:
        """Where ``blofin strategies add`` keeps DSL strategy specs (loaded like plugins)."""
        return self.data_dir / "strategies"

    @property
    def log_dir(self) -> Path:
        """Where the services (``blofin serve``) write their logs."""
        return self.data_dir / "logs"

    @property
    def feature_cache_dir(self) -> Path:
        """Directory of the on-disk feature cache."""
        return self.data_dir / "cache" / "features"

    @property
    def reports_dir(self) -> Path:
        """Directory of the daily report files (JSON and Markdown)."""
        return self.data_dir / "reports"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests call ``get_settings.cache_clear()``)."""
    return Settings()
