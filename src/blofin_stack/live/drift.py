"""Forward-vs-backtest drift: each tier-2 strategy's recorded paper trades against a fresh backtest of the
same strategy over the same period, and demotion on persistent drift.

**The comparison.** For each paper account of the strategy (instrument, timeframe) in its current forward
test, the backtest runs over the account's period -- ``ft_started`` to its last processed bar, the same
bars, parameters, costs, initial capital and code as the paper trader
(:func:`~blofin_stack.live.forward.run_forward`) -- and its *closed* trades (not the kernel's close of a
position still open at the end) are set against the account's ``closed`` paper trades. Figures, pooled
over the accounts:

=================  ==================================================================================
trades             closed trades (count)
win_rate           fraction of them with net PnL > 0 (0 without trades)
avg_pnl_pct        mean net PnL per trade, percent of entry notional (0 without trades)
total_pnl_pct      median over the accounts of the compounded growth of their closed trades, percent
=================  ==================================================================================

**Drift.** For each figure, ``difference = 100 x |forward - backtest| / max(|forward|, |backtest|)`` percent:
0 when both are equal (both 0 included), 100 when one of them is 0 and the other is not, up to 200 for
opposite signs. A check *drifts* when any difference exceeds ``DRIFT_THRESHOLD_PCT``. Every check is stored
(``drift_checks``) with the count of consecutive drifting checks in the same forward test; at
``DRIFT_DEMOTE_AFTER`` the strategy is demoted from tier 2 to tier 1 (actor ``drift``) with a reason that
names the drifting figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import ArrayLike

from blofin_stack.backtest.engine import CostModel
from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import insert_drift_check, list_accounts, list_drift_checks, list_paper_trades
from blofin_stack.db.registry import get_strategy_row
from blofin_stack.db.tables import utcnow
from blofin_stack.features import FeatureManager
from blofin_stack.lifecycle.registry import move_tier
from blofin_stack.live.forward import (
    StrategyUnavailableError,
    forward_rows,
    forward_strategy,
    load_strategies,
    run_forward,
    to_ms,
)
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.strategies import UnknownStrategyError
from blofin_stack.strategies.plugins import describe_exception

#: The figures compared, in report order.
DRIFT_FIGURES = ("trades", "win_rate", "total_pnl_pct", "avg_pnl_pct")
#: Differences smaller than this (absolute) are floating-point noise, not drift.
_NOISE = 1e-9


def trade_figures(pnl_pct_by_account: Sequence[ArrayLike]) -> dict[str, float]:
    """:data:`DRIFT_FIGURES` of the closed trades of several accounts (each an array of net PnL % per trade,
    in time order); see the module docstring for their definitions."""
    pnl = np.concatenate([np.asarray(p, dtype="float64") for p in pnl_pct_by_account] or [np.empty(0)])
    growth = [(float(np.prod(1.0 + np.asarray(p, dtype="float64") / 100.0)) - 1.0) * 100.0 for p in pnl_pct_by_account]
    return {
        "trades": len(pnl),
        "win_rate": float(np.mean(pnl > 0)) if len(pnl) else 0.0,
        "total_pnl_pct": float(np.median(growth)) if growth else 0.0,
        "avg_pnl_pct": float(pnl.mean()) if len(pnl) else 0.0,
    }


def relative_difference_pct(forward: float, backtest: float) -> float:
    """``100 x |forward - backtest| / max(|forward|, |backtest|)`` in percent; 0 when they differ by less than
    1e-9 (both 0 included)."""
    gap = abs(forward - backtest)
    return 0.0 if gap < _NOISE else 100.0 * gap / max(abs(forward), abs(backtest))


@dataclass
class DriftCheck:
    """The drift check of one tier-2 strategy.

    Attributes:
        status: ``ok``, ``drift``, or why it was not compared (not paper-trading yet, not running, error).
        period_start, period_end: ms UTC, ``ft_started`` and the end of the newest account's last bar.
        forward, backtest: :func:`trade_figures`; differences: figure -> percent (module docstring).
        drifting: ``None`` when not compared; consecutive: drifting checks in a row in this forward test.
        action: ``demote`` when this check demoted the strategy.
    """

    strategy: str
    status: str
    accounts: int = 0
    period_start: int | None = None
    period_end: int | None = None
    forward: dict[str, float] = field(default_factory=dict)
    backtest: dict[str, float] = field(default_factory=dict)
    differences: dict[str, float] = field(default_factory=dict)
    drifting: bool | None = None
    consecutive: int = 0
    action: str | None = None
    reason: str = ""

    @property
    def accuracy(self) -> float | None:
        """1 - mean difference (capped at 100 %) / 100: 1.0 when forward and backtest agree; None if not compared."""
        if self.drifting is None:
            return None
        return 1.0 - float(np.mean([min(d, 100.0) for d in self.differences.values()])) / 100.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": self.accuracy}


@dataclass
class DriftReport:
    """Every tier-2 strategy's check, with the settings used."""

    threshold_pct: float
    demote_after: int
    checks: list[DriftCheck]

    def backtest_vs_live(self) -> dict[str, Any]:
        """The daily report's ``performance.backtest_vs_live`` (:func:`backtest_vs_live`) of these checks."""
        return backtest_vs_live(self.checks, self.threshold_pct)

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold_pct": self.threshold_pct,
            "demote_after": self.demote_after,
            "checks": [c.as_dict() for c in self.checks],
            "backtest_vs_live": self.backtest_vs_live(),
        }


def backtest_vs_live(checks: Sequence[DriftCheck], threshold_pct: float) -> dict[str, Any]:
    """``{"drift_detected", "avg_accuracy", "status", "strategies"}``: whether any compared strategy drifts
    (``None`` when none was compared), the mean :attr:`DriftCheck.accuracy` (0..1), a sentence, and per
    strategy ``{name, status, drifting, accuracy, differences, consecutive, action}``."""
    compared = [c for c in checks if c.drifting is not None]
    drifting = [c.strategy for c in compared if c.drifting]
    if not checks:
        status = "no strategy in forward test (tier 2)"
    elif not compared:
        status = f"{len(checks)} strategies in forward test, none with forward data to compare yet"
    else:
        status = (
            f"{len(compared)} of {len(checks)} forward-tested strategies compared with their backtests over the "
            f"same period: {len(drifting)} drifting above {threshold_pct:g} %"
            + (f" ({', '.join(drifting)})" if drifting else "")
        )
    return {
        "drift_detected": bool(drifting) if compared else None,
        "avg_accuracy": float(np.mean([c.accuracy for c in compared])) if compared else None,
        "status": status,
        "strategies": [
            {
                "name": c.strategy,
                "status": c.status,
                "drifting": c.drifting,
                "accuracy": c.accuracy,
                "differences": c.differences,
                "consecutive": c.consecutive,
                "action": c.action,
            }
            for c in checks
        ],
    }


def latest_backtest_vs_live(settings: Settings) -> dict[str, Any]:
    """:func:`backtest_vs_live` of the latest stored check of each strategy now in tier 2 (reads only; for
    the daily report). A strategy never checked in its current forward test counts as not compared."""
    with get_engine(settings.database_url).connect() as connection:
        checks = []
        for row in forward_rows(connection):
            name = row["strategy_name"]
            stored = list_drift_checks(connection, name, limit=1)
            started = None if row["ft_started"] is None else to_ms(row["ft_started"])
            if stored and stored[0]["period_start"] == started:
                checks.append(_from_row(stored[0]))
            else:
                checks.append(DriftCheck(name, "not checked in this forward test yet"))
    return backtest_vs_live(checks, settings.drift_threshold_pct)


def _from_row(row: Mapping[str, Any]) -> DriftCheck:
    return DriftCheck(
        strategy=row["strategy_name"],
        status="drift" if row["drifting"] else "ok",
        period_start=row["period_start"],
        period_end=row["period_end"],
        forward=row["forward"],
        backtest=row["backtest"],
        differences=row["differences"],
        drifting=bool(row["drifting"]),
        consecutive=row["consecutive"],
        action=row["action"],
        reason=row["reason"],
    )


def check_drift(settings: Settings, now: datetime | None = None) -> DriftReport:
    """Compare every tier-2 strategy's forward test with its backtest, store each check, and demote a
    strategy drifting in ``DRIFT_DEMOTE_AFTER`` consecutive checks (2 -> 1).

    Returns:
        :class:`DriftReport`; a strategy that cannot be compared has a check with ``drifting=None`` and
        the reason in ``status`` (nothing is stored for it).
    """
    now = now or utcnow()
    load_strategies(settings)
    engine = get_engine(settings.database_url)
    manager = FeatureManager(MarketStore(settings.market_dir))
    costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
    with engine.connect() as connection:
        rows = forward_rows(connection)
    checks = []
    for row in rows:
        check = _compare(settings, engine, manager, costs, row)
        if check.drifting is not None:
            with engine.begin() as connection:
                _record(connection, settings, check, now)
        checks.append(check)
    return DriftReport(settings.drift_threshold_pct, settings.drift_demote_after, checks)


def _compare(
    settings: Settings, engine: sa.Engine, manager: FeatureManager, costs: CostModel, row: Mapping[str, Any]
) -> DriftCheck:
    """The figures of one strategy's forward test and of its backtest (not yet judged or stored)."""
    name = row["strategy_name"]
    if row["ft_started"] is None:
        return DriftCheck(name, "not paper-trading yet")
    start = to_ms(row["ft_started"])
    try:
        strategy = forward_strategy(name, settings.paper_ml_confirm)
    except (UnknownStrategyError, StrategyUnavailableError) as exc:
        return DriftCheck(name, f"not running: {exc}", period_start=start)
    with engine.connect() as connection:
        accounts = [
            a
            for a in list_accounts(connection, name)
            if a["started"] == start and a["last_bar_ts"] is not None and a["timeframe"] in strategy.timeframes
        ]
        paper = [
            list_paper_trades(connection, key=(name, a["inst_id"], a["timeframe"]), status="closed", since_ts=start)
            for a in accounts
        ]
    if not accounts:
        return DriftCheck(name, "no closed bar in the forward test yet", period_start=start)
    ends = [a["last_bar_ts"] + timeframe_ms(a["timeframe"]) for a in accounts]
    try:
        backtests = [
            run_forward(
                manager,
                strategy,
                row["params"],
                a["inst_id"],
                a["timeframe"],
                start,
                end,
                costs,
                a["initial_capital"],
            ).closed["pnl_pct"]
            for a, end in zip(accounts, ends, strict=True)
        ]
    except Exception as exc:  # one strategy's failure must not stop the others
        return DriftCheck(name, f"error: {describe_exception(exc)}", period_start=start)
    forward = trade_figures([np.array([t["pnl_pct"] for t in trades], dtype="float64") for trades in paper])
    backtest = trade_figures([p.to_numpy(dtype="float64") for p in backtests])
    differences = {k: relative_difference_pct(forward[k], backtest[k]) for k in DRIFT_FIGURES}
    drifting = any(d > settings.drift_threshold_pct for d in differences.values())
    return DriftCheck(
        name,
        "drift" if drifting else "ok",
        accounts=len(accounts),
        period_start=start,
        period_end=max(ends),
        forward=forward,
        backtest=backtest,
        differences=differences,
        drifting=drifting,
    )


def _record(connection: sa.Connection, settings: Settings, check: DriftCheck, now: datetime) -> None:
    """Count the consecutive drifting checks, write the reason, demote when persistent, store the check."""
    threshold = settings.drift_threshold_pct
    previous = list_drift_checks(connection, check.strategy, limit=1)
    streak = previous[0]["consecutive"] if previous and previous[0]["period_start"] == check.period_start else 0
    check.consecutive = streak + 1 if check.drifting else 0
    if check.drifting:
        figures = "; ".join(
            f"{k} {check.forward[k]:.4g} forward vs {check.backtest[k]:.4g} backtest ({check.differences[k]:.1f} %)"
            for k in DRIFT_FIGURES
            if check.differences[k] > threshold
        )
        check.reason = (
            f"forward test drifts from its backtest over the same period above {threshold:g} %: {figures}; "
            f"{check.consecutive} consecutive drifting check(s) (demotion after {settings.drift_demote_after})"
        )
    else:
        check.reason = f"forward test matches its backtest over the same period within {threshold:g} %"
    row = get_strategy_row(connection, check.strategy)
    if check.drifting and check.consecutive >= settings.drift_demote_after and row is not None and row["tier"] == 2:
        move_tier(connection, row, 1, "drift", check.reason, now)
        check.action = "demote"
    insert_drift_check(
        connection,
        {
            "timestamp": now,
            "strategy_name": check.strategy,
            "period_start": check.period_start,
            "period_end": check.period_end,
            "forward": check.forward,
            "backtest": check.backtest,
            "differences": check.differences,
            "threshold_pct": threshold,
            "drifting": bool(check.drifting),
            "consecutive": check.consecutive,
            "action": check.action,
            "reason": check.reason,
        },
    )
