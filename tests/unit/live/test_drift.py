"""Forward-vs-backtest drift on real data: none when the paper trades are the backtest's, a planted
difference is flagged with the figures it moves, and persistent drift demotes the strategy with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from blofin_stack.config import Settings, get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import list_drift_checks, list_paper_trades
from blofin_stack.db.registry import get_strategy_row, list_transitions
from blofin_stack.db.tables import paper_trades
from blofin_stack.live.drift import (
    DRIFT_FIGURES,
    check_drift,
    latest_backtest_vs_live,
    relative_difference_pct,
    trade_figures,
)
from blofin_stack.live.paper import PaperTrader
from blofin_stack.market.timeframes import DAY_MS, HOUR_MS
from paper_world import STRATEGIES, fill_store, recent_candles, to_tier2

PLANTED = "sma_cross"


@pytest.fixture
def traded(settings: Settings, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A day of paper trading in three steps, drift demotion after 2 checks; returns those settings."""
    first, end = fill_store(settings, recent_candles(real_data_dir))
    start = (first + 2 * DAY_MS) // HOUR_MS * HOUR_MS
    to_tier2(settings, STRATEGIES, start)
    monkeypatch.setenv("DRIFT_DEMOTE_AFTER", "2")
    get_settings.cache_clear()
    trader = PaperTrader(get_settings())
    for now in (start + 8 * HOUR_MS, start + 16 * HOUR_MS, end):
        trader.step(now)
    return get_settings()


def plant(settings: Settings, pnl_pct: float | None = None) -> tuple[int, float]:
    """Turn the first winning closed trade of :data:`PLANTED` into a loss of ``pnl_pct`` (default: as big as
    its win); returns (row id, original PnL %)."""
    engine = get_engine(settings.database_url)
    with engine.begin() as connection:
        trade = next(t for t in list_paper_trades(connection, PLANTED, status="closed") if t["pnl_pct"] > 0)
        loss = -trade["pnl_pct"] if pnl_pct is None else pnl_pct
        connection.execute(sa.update(paper_trades).where(paper_trades.c.id == trade["id"]).values(pnl_pct=loss))
    return trade["id"], trade["pnl_pct"]


def restore(settings: Settings, row_id: int, pnl_pct: float) -> None:
    with get_engine(settings.database_url).begin() as connection:
        connection.execute(sa.update(paper_trades).where(paper_trades.c.id == row_id).values(pnl_pct=pnl_pct))


def test_figures_and_differences_by_hand() -> None:
    figures = trade_figures([[1.0, -1.0], [2.0], []])
    assert figures["trades"] == 3
    assert figures["win_rate"] == pytest.approx(2 / 3)
    assert figures["avg_pnl_pct"] == pytest.approx(2 / 3)
    # accounts: 1.01 * 0.99 - 1 = -0.01 %, +2 %, 0 % -> median 0 %
    assert figures["total_pnl_pct"] == pytest.approx(0.0)
    assert trade_figures([]) == {"trades": 0, "win_rate": 0.0, "total_pnl_pct": 0.0, "avg_pnl_pct": 0.0}
    assert relative_difference_pct(0.0, 0.0) == 0.0
    assert relative_difference_pct(0.0, 0.3) == 100.0
    assert relative_difference_pct(2.0, -2.0) == 200.0
    assert relative_difference_pct(10.0, 9.0) == pytest.approx(10.0)
    assert relative_difference_pct(0.5, 0.5 + 1e-12) == 0.0


def test_identical_forward_and_backtest_show_no_drift(traded: Settings) -> None:
    report = check_drift(traded)
    assert [c.strategy for c in sorted(report.checks, key=lambda c: c.strategy)] == sorted(STRATEGIES)
    with get_engine(traded.database_url).connect() as connection:
        for check in report.checks:
            closed = list_paper_trades(connection, check.strategy, status="closed")
            assert check.status == "ok" and check.drifting is False and check.consecutive == 0
            assert check.forward == check.backtest and check.forward["trades"] == len(closed) > 0
            assert check.differences == dict.fromkeys(DRIFT_FIGURES, 0.0) and check.accuracy == 1.0
        stored = list_drift_checks(connection)
    assert len(stored) == len(STRATEGIES) and not any(row["drifting"] for row in stored)
    section = report.backtest_vs_live()
    assert section["drift_detected"] is False and section["avg_accuracy"] == 1.0
    assert "0 drifting above 10 %" in section["status"]
    assert latest_backtest_vs_live(traded) == section


def test_a_planted_difference_is_flagged_and_a_clean_check_resets_the_streak(traded: Settings) -> None:
    row_id, original = plant(traded)
    first = {c.strategy: c for c in check_drift(traded).checks}
    flagged = first[PLANTED]
    assert flagged.status == "drift" and flagged.drifting is True and flagged.consecutive == 1
    assert flagged.forward["trades"] == flagged.backtest["trades"]
    assert flagged.forward["win_rate"] < flagged.backtest["win_rate"]
    assert {"win_rate", "avg_pnl_pct"} <= {k for k, v in flagged.differences.items() if v > 10.0}
    assert "win_rate" in flagged.reason and "1 consecutive" in flagged.reason and flagged.action is None
    assert all(c.drifting is False for name, c in first.items() if name != PLANTED)
    section = latest_backtest_vs_live(traded)
    assert section["drift_detected"] is True and PLANTED in section["status"]
    restore(traded, row_id, original)
    clean = {c.strategy: c for c in check_drift(traded).checks}[PLANTED]
    assert clean.drifting is False and clean.consecutive == 0
    plant(traded)
    again = {c.strategy: c for c in check_drift(traded).checks}[PLANTED]
    assert again.consecutive == 1 and again.action is None  # the streak started over


def test_persistent_drift_demotes_to_tier_1_with_the_figures_in_the_reason(traded: Settings) -> None:
    plant(traded)
    check_drift(traded)
    engine = get_engine(traded.database_url)
    with engine.connect() as connection:
        assert get_strategy_row(connection, PLANTED)["tier"] == 2  # type: ignore[index]
    second = {c.strategy: c for c in check_drift(traded).checks}[PLANTED]
    assert second.consecutive == 2 and second.action == "demote"
    with engine.connect() as connection:
        row = get_strategy_row(connection, PLANTED)
        move = list_transitions(connection, PLANTED)[-1]
        stored = list_drift_checks(connection, PLANTED, limit=1)[0]
    assert row is not None and row["tier"] == 1 and row["demoted_at"] is not None
    assert (move["action"], move["from_tier"], move["to_tier"], move["actor"]) == ("demote", 2, 1, "drift")
    assert "win_rate" in move["reason"] and "avg_pnl_pct" in move["reason"] and "2 consecutive" in move["reason"]
    assert stored["action"] == "demote" and stored["reason"] == move["reason"]
    assert PLANTED not in {c.strategy for c in check_drift(traded).checks}  # no longer forward-tested


def test_no_forward_test_means_nothing_to_compare(settings: Settings) -> None:
    report = check_drift(settings)
    assert report.checks == []
    section = report.backtest_vs_live()
    assert section == {
        "drift_detected": None,
        "avg_accuracy": None,
        "status": "no strategy in forward test (tier 2)",
        "strategies": [],
    }
