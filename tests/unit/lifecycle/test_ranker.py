"""The ranker on hand-built backtest rows: median score, tie-breaks, errors, bottom fraction, pooling."""

from __future__ import annotations

from typing import Any

import pytest

from blofin_stack.lifecycle.ranker import BELOW_TOP_N, KEPT, REPLACE, rank_strategies


def row(
    name: str,
    score: float,
    *,
    inst: str = "BTC-USDT",
    tf: str = "5m",
    trades: int = 10,
    win_rate: float = 0.5,
    avg_pnl_pct: float = 0.0,
    sharpe: float = 0.0,
    total_pnl_pct: float = 0.0,
    max_drawdown_pct: float = 1.0,
) -> dict[str, Any]:
    return {
        "strategy_name": name,
        "inst_id": inst,
        "timeframe": tf,
        "status": "ok",
        "trades": trades,
        "win_rate": win_rate,
        "avg_pnl_pct": avg_pnl_pct,
        "sharpe": sharpe,
        "total_pnl_pct": total_pnl_pct,
        "max_drawdown_pct": max_drawdown_pct,
        "score": score,
    }


def error_row(name: str, inst: str = "BTC-USDT", tf: str = "5m") -> dict[str, Any]:
    """As the cycle writes it for a failed backtest: no metrics at all."""
    return {
        "strategy_name": name,
        "inst_id": inst,
        "timeframe": tf,
        "status": "error",
        "trades": 0,
        "error": "RuntimeError: boom",
    }


def one_each(n: int) -> list[dict[str, Any]]:
    """``n`` strategies s00, s01, ... with distinct scores, s00 the best."""
    return [row(f"s{i:02d}", score=100.0 - i) for i in range(n)]


def test_median_beats_a_single_outlier() -> None:
    rows = [
        row("steady", 10.0, inst="BTC-USDT"),
        row("steady", 11.0, inst="ETH-USDT"),
        row("steady", 9.0, inst="SOL-USDT"),
        row("lucky", 1000.0, inst="BTC-USDT"),  # mean 333, median 0
        row("lucky", 0.0, inst="ETH-USDT"),
        row("lucky", -1.0, inst="SOL-USDT"),
    ]
    ranking = rank_strategies(rows)
    assert [e.strategy_name for e in ranking] == ["steady", "lucky"]
    assert [e.rank for e in ranking] == [1, 2]
    assert ranking[0].score == 10.0
    assert ranking[1].score == 0.0


def test_median_of_an_even_count_is_the_midpoint() -> None:
    ranking = rank_strategies([row("a", 1.0), row("a", 2.0), row("a", 4.0), row("a", 100.0)])
    assert ranking[0].score == 3.0


def test_ties_are_broken_by_trades_then_name() -> None:
    rows = [
        row("zeta", 5.0, trades=10),
        row("alpha", 5.0, trades=10),
        row("busy", 5.0, trades=50),
        row("top", 6.0, trades=1),
    ]
    assert [e.strategy_name for e in rank_strategies(rows)] == ["top", "busy", "alpha", "zeta"]


def test_error_rows_are_ignored() -> None:
    rows = [
        row("ok", 5.0, inst="BTC-USDT"),
        row("ok", 7.0, inst="ETH-USDT"),
        row("partly", 3.0, inst="BTC-USDT", trades=4),
        error_row("partly", inst="ETH-USDT"),
        error_row("broken", inst="BTC-USDT"),
        error_row("broken", inst="ETH-USDT"),
    ]
    ranking = rank_strategies(rows)
    assert [e.strategy_name for e in ranking] == ["ok", "partly"]  # "broken" has nothing to rank
    partly = ranking[1]
    assert partly.backtests == 1
    assert partly.score == 3.0
    assert partly.trades == 4


@pytest.mark.parametrize(("n", "candidates"), [(7, 1), (10, 2), (4, 0), (5, 1), (1, 0), (15, 3)])
def test_bottom_fraction_rounds_down(n: int, candidates: int) -> None:
    ranking = rank_strategies(one_each(n), top_n=100, replace_fraction=0.2)
    statuses = [e.status for e in ranking]
    assert statuses.count(REPLACE) == candidates
    # the candidates are the bottom of the ranking
    assert statuses == [KEPT] * (n - candidates) + [REPLACE] * candidates
    assert [e.strategy_name for e in ranking] == [f"s{i:02d}" for i in range(n)]


def test_top_n_cut_marks_the_rest_below_top_n() -> None:
    ranking = rank_strategies(one_each(10), top_n=5, replace_fraction=0.2)
    assert [e.status for e in ranking] == [KEPT] * 5 + [BELOW_TOP_N] * 3 + [REPLACE] * 2


def test_no_replacement_with_fraction_zero() -> None:
    ranking = rank_strategies(one_each(4), top_n=3, replace_fraction=0.0)
    assert [e.status for e in ranking] == [KEPT, KEPT, KEPT, BELOW_TOP_N]


def test_pooled_win_rate_and_avg_pnl_are_weighted_by_trades() -> None:
    rows = [
        row("s", 1.0, inst="BTC-USDT", trades=4, win_rate=0.75, avg_pnl_pct=2.0),  # 3 wins, +8 %
        row("s", 2.0, inst="ETH-USDT", trades=6, win_rate=0.5, avg_pnl_pct=-1.0),  # 3 wins, -6 %
        row("s", 3.0, inst="SOL-USDT", trades=0, win_rate=0.0, avg_pnl_pct=0.0),  # no trades
    ]
    entry = rank_strategies(rows)[0]
    assert entry.trades == 10
    assert entry.win_rate == pytest.approx(6 / 10)  # unweighted mean would be 0.4167
    assert entry.avg_pnl_pct == pytest.approx(2 / 10)  # unweighted mean would be 0.333
    assert entry.backtests == 3
    assert entry.with_trades == 2


def test_a_strategy_without_trades_pools_to_zero() -> None:
    entry = rank_strategies([row("idle", 0.0, trades=0, win_rate=0.0), row("idle", 0.0, trades=0, win_rate=0.0)])[0]
    assert (entry.trades, entry.with_trades, entry.win_rate, entry.avg_pnl_pct) == (0, 0, 0.0, 0.0)


def test_medians_of_sharpe_pnl_and_drawdown() -> None:
    rows = [
        row("s", 0.0, sharpe=1.0, total_pnl_pct=-3.0, max_drawdown_pct=9.0),
        row("s", 0.0, sharpe=5.0, total_pnl_pct=1.0, max_drawdown_pct=2.0),
        row("s", 0.0, sharpe=-2.0, total_pnl_pct=10.0, max_drawdown_pct=4.0),
    ]
    entry = rank_strategies(rows)[0]
    assert (entry.median_sharpe, entry.median_total_pnl_pct, entry.median_max_drawdown_pct) == (1.0, 1.0, 4.0)


def test_best_picks_the_backtest_with_the_max_score() -> None:
    rows = [
        row("s", 3.0, inst="BTC-USDT", tf="1m"),
        row("s", 42.0, inst="LAYER-USDT", tf="1H"),
        row("s", -7.0, inst="ETH-USDT", tf="5m"),
    ]
    assert rank_strategies(rows)[0].best == {"inst_id": "LAYER-USDT", "timeframe": "1H", "score": 42.0}


def test_empty_input_gives_an_empty_ranking() -> None:
    assert rank_strategies([]) == []
    assert rank_strategies([error_row("broken")]) == []


def test_as_dict_round_trips() -> None:
    entry = rank_strategies([row("s", 1.0)])[0]
    data = entry.as_dict()
    assert data["strategy_name"] == "s" and data["rank"] == 1 and data["status"] == KEPT
    assert type(entry)(**data) == entry
