"""``blofin paper run|status`` and ``blofin validate drift`` through the typer app, on real data in a temporary
``DATA_DIR``: the JSON shapes, and the numbers they carry against the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import list_paper_trades
from blofin_stack.live.paper import PaperTrader
from blofin_stack.market.timeframes import DAY_MS, HOUR_MS
from helpers import invoke, ok_json
from paper_world import INSTRUMENTS, STRATEGIES, fill_store, recent_candles, to_tier2

STRATEGY_KEYS = {
    "name",
    "state",
    "ft_started",
    "ft_last_update",
    "accounts",
    "open_positions",
    "closed_trades",
    "win_rate",
    "pnl_pct",
    "sharpe",
    "equity",
    "initial_capital",
    "last_bar_ts",
    "last_signal",
    "errors",
    "latency_ms",
}
LATENCY_KEYS = {"count", "p50", "p95", "max"}


@pytest.fixture
def forward(settings: Settings, real_data_dir: Path) -> Settings:
    first, end = fill_store(settings, recent_candles(real_data_dir))
    start = (first + 2 * DAY_MS) // HOUR_MS * HOUR_MS
    to_tier2(settings, STRATEGIES, start)
    PaperTrader(settings).step(end)
    return settings


def test_paper_status_json(forward: Settings) -> None:
    status = ok_json("paper", "status", "--json")
    assert set(status) == {"instruments", "ml_confirm", "strategies", "latency_ms"}
    assert status["instruments"] == list(INSTRUMENTS)
    assert status["ml_confirm"]["enabled"] is False
    assert set(status["latency_ms"]) == LATENCY_KEYS and status["latency_ms"]["count"] > 0
    assert sorted(s["name"] for s in status["strategies"]) == sorted(STRATEGIES)
    with get_engine(forward.database_url).connect() as connection:
        trades = list_paper_trades(connection)
    for entry in status["strategies"]:
        assert set(entry) == STRATEGY_KEYS
        assert entry["state"] == f"running {entry['name']}"
        mine = [t for t in trades if t["strategy_name"] == entry["name"]]
        assert entry["closed_trades"] == sum(t["status"] == "closed" for t in mine) > 0
        assert len(entry["open_positions"]) == sum(t["status"] == "open" for t in mine)
        assert entry["initial_capital"] == entry["accounts"] * forward.backtest_initial_capital
        assert set(entry["last_signal"]) == {"ts", "signal_type", "inst_id", "timeframe", "price", "timestamp"}
        assert 0 <= entry["win_rate"] <= 1


def test_paper_status_human_output(forward: Settings) -> None:
    result = invoke("paper", "status")
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in STRATEGIES)
    assert "latency bar close -> recorded signal" in result.output


def test_validate_drift_json(forward: Settings) -> None:
    report = ok_json("validate", "drift", "--json")
    assert set(report) == {"threshold_pct", "demote_after", "checks", "backtest_vs_live"}
    assert report["threshold_pct"] == forward.drift_threshold_pct
    assert sorted(c["strategy"] for c in report["checks"]) == sorted(STRATEGIES)
    for check in report["checks"]:
        assert check["status"] == "ok" and check["drifting"] is False and check["accuracy"] == 1.0
        assert set(check["forward"]) == set(check["backtest"]) == {"trades", "win_rate", "total_pnl_pct", "avg_pnl_pct"}
    section = report["backtest_vs_live"]
    assert set(section) == {"drift_detected", "avg_accuracy", "status", "strategies"}
    assert section["drift_detected"] is False and len(section["strategies"]) == len(STRATEGIES)


def test_paper_run_json(forward: Settings) -> None:
    summary = ok_json("paper", "run", "--duration", "0", "--json")
    assert summary["steps"] == 1 and summary["errors"] == 0
    assert summary["opened"] == 0  # the fixture's step already processed every stored bar
    assert set(summary["latency_ms"]) == LATENCY_KEYS
    assert summary["last_step"]["skipped"] == {} and summary["last_step"]["missing_instruments"] == []
