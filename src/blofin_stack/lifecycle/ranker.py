"""The ranker: orders strategies by their cycle's backtests; no fixed thresholds (seed 001).

A strategy's ranking score is the **median** composite score of all its backtests in the cycle (every
instrument x timeframe, including backtests without trades, which score 0): one lucky instrument
cannot carry it. The top ``top_n`` are kept; the bottom ``replace_fraction`` (rounded down,
so never more than that share) are marked as replacement candidates.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

KEPT = "kept"
BELOW_TOP_N = "below_top_n"
REPLACE = "replace_candidate"


@dataclass(frozen=True)
class RankEntry:
    """One strategy's place in a cycle's ranking.

    Attributes:
        score: median composite score over the strategy's backtests.
        backtests: backtests run; ``with_trades``: those with at least one trade.
        trades: total closed trades; ``win_rate`` (fraction) and ``avg_pnl_pct`` (percent per
            trade) pooled over all of them.
        median_sharpe, median_total_pnl_pct, median_max_drawdown_pct: medians over the backtests.
        best: instrument, timeframe and score of the strategy's best backtest.
        status: ``kept``, ``below_top_n`` or ``replace_candidate``.
    """

    rank: int
    strategy_name: str
    score: float
    backtests: int
    with_trades: int
    trades: int
    win_rate: float
    avg_pnl_pct: float
    median_sharpe: float
    median_total_pnl_pct: float
    median_max_drawdown_pct: float
    best: dict[str, Any]
    status: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _aggregate(name: str, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    trades = np.array([r["trades"] for r in rows])
    total = int(trades.sum())
    pooled_wins = sum(r["win_rate"] * r["trades"] for r in rows)
    pooled_pnl = sum(r["avg_pnl_pct"] * r["trades"] for r in rows)
    best = max(rows, key=lambda r: r["score"])
    return {
        "strategy_name": name,
        "score": float(np.median([r["score"] for r in rows])),
        "backtests": len(rows),
        "with_trades": int((trades > 0).sum()),
        "trades": total,
        "win_rate": pooled_wins / total if total else 0.0,
        "avg_pnl_pct": pooled_pnl / total if total else 0.0,
        "median_sharpe": float(np.median([r["sharpe"] for r in rows])),
        "median_total_pnl_pct": float(np.median([r["total_pnl_pct"] for r in rows])),
        "median_max_drawdown_pct": float(np.median([r["max_drawdown_pct"] for r in rows])),
        "best": {"inst_id": best["inst_id"], "timeframe": best["timeframe"], "score": best["score"]},
    }


def rank_strategies(
    results: Iterable[Mapping[str, Any]], top_n: int = 20, replace_fraction: float = 0.2
) -> list[RankEntry]:
    """Rank strategies by the median score of their backtests.

    Args:
        results: backtest rows with ``strategy_name``, ``inst_id``, ``timeframe``, ``status`` and the
            metrics of :mod:`blofin_stack.backtest.metrics`; rows whose ``status`` is ``error`` are
            ignored.
        top_n: how many to keep.
        replace_fraction: bottom share marked as replacement candidates (rounded down).

    Returns:
        Entries best first; ties broken by more trades, then by name.
    """
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in results:
        if row.get("status") != "error":
            grouped[row["strategy_name"]].append(row)
    aggregates = sorted(
        (_aggregate(name, rows) for name, rows in grouped.items()),
        key=lambda a: (-a["score"], -a["trades"], a["strategy_name"]),
    )
    n = len(aggregates)
    replace_from = n - math.floor(n * replace_fraction + 1e-9)  # 1e-9: 0.7 * 90 is 62.99999...
    entries = []
    for rank, agg in enumerate(aggregates, start=1):
        status = REPLACE if rank > replace_from else KEPT if rank <= top_n else BELOW_TOP_N
        entries.append(RankEntry(rank=rank, status=status, **agg))
    return entries
