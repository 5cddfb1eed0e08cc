"""Promotion gates (seed 000): what a strategy must show to move up a tier, every number configurable.

Tiers: 0 library, 1 backtest, 2 forward (paper) test, 3 live. The gate *into* tier ``t`` is a list of
criteria on the registry row's metrics; a strategy at tier ``t`` that fails that same gate on fresh
results is demoted to ``t - 1``.

Metrics (registry columns, see ``lifecycle.registry``): backtest figures ``bt_*`` are over the
strategy's own timeframes in the latest cycle, pooled over instruments for trades and win rate and
medians otherwise; forward figures ``ft_*`` come from paper trading. Two are derived here:
``drift_pct`` = |ft_win_rate - bt_win_rate| / bt_win_rate x 100, and ``ft_days`` = days between
``ft_started`` and ``ft_last_update``. A missing metric fails its criterion.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blofin_stack.config import Settings

TIERS = {0: "library", 1: "backtest", 2: "forward", 3: "live"}
_OPS = {">=": operator.ge, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Criterion:
    """One condition of a gate: ``metric op threshold``."""

    label: str
    metric: str
    op: str
    threshold: float

    def check(self, metrics: Mapping[str, Any]) -> tuple[bool, str]:
        """(passed, a sentence saying why)."""
        value = metrics.get(self.metric)
        if value is None:
            return False, f"{self.label}: no value yet (needs {self.op} {self.threshold:g})"
        passed = bool(_OPS[self.op](value, self.threshold))
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        relation = self.op if passed else {">=": "<", "<=": ">", "<": ">=", "==": "!="}[self.op]
        return passed, f"{self.label}: {shown} {relation} {self.threshold:g}"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate: every criterion with its verdict."""

    target_tier: int
    checks: tuple[tuple[Criterion, bool, str], ...]

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    @property
    def failures(self) -> list[str]:
        return [text for _, ok, text in self.checks if not ok]

    def summary(self) -> str:
        if self.passed:
            return f"passed the gate to tier {self.target_tier} ({TIERS[self.target_tier]})"
        return f"fails the gate to tier {self.target_tier} ({TIERS[self.target_tier]}): " + "; ".join(self.failures)


def gates_from_settings(settings: Settings) -> dict[int, tuple[Criterion, ...]]:
    """The gate into each tier 1..3, with the thresholds of ``settings`` (``GATE_*`` variables)."""
    s = settings
    return {
        1: (
            Criterion("implementation loads and can run", "loads", "==", 1),
            Criterion("backtest trades", "bt_trades", ">=", s.gate_t1_min_trades),
        ),
        2: (
            Criterion("backtest trades", "bt_trades", ">=", s.gate_t2_min_trades),
            Criterion("win rate", "bt_win_rate", ">=", s.gate_t2_min_win_rate),
            Criterion("Sharpe", "bt_sharpe", ">=", s.gate_t2_min_sharpe),
            Criterion("max drawdown %", "bt_max_dd", "<=", s.gate_t2_max_drawdown_pct),
            Criterion("profit factor", "bt_profit_factor", ">=", s.gate_t2_min_profit_factor),
            Criterion("EEP score", "bt_eep_score", ">=", s.gate_t2_min_eep),
        ),
        3: (
            Criterion("forward trades", "ft_trades", ">=", s.gate_t3_min_trades),
            Criterion("forward win rate", "ft_win_rate", ">=", s.gate_t3_min_win_rate),
            Criterion("forward Sharpe", "ft_sharpe", ">=", s.gate_t3_min_sharpe),
            Criterion("backtest-to-forward drift %", "drift_pct", "<", s.gate_t3_max_drift_pct),
            Criterion("forward profit factor", "ft_profit_factor", ">=", s.gate_t3_min_profit_factor),
            Criterion("forward EEP score", "ft_eep_score", ">=", s.gate_t3_min_eep),
            Criterion("days of forward testing", "ft_days", ">=", s.gate_t3_min_forward_days),
        ),
    }


def gate_metrics(row: Mapping[str, Any], loads: bool) -> dict[str, Any]:
    """The metrics the gates read: the registry row plus ``loads``, ``drift_pct`` and ``ft_days``."""
    metrics = dict(row)
    metrics["loads"] = int(loads)
    bt, ft = row.get("bt_win_rate"), row.get("ft_win_rate")
    metrics["drift_pct"] = abs(ft - bt) / bt * 100 if bt and ft is not None else None
    started, updated = row.get("ft_started"), row.get("ft_last_update")
    metrics["ft_days"] = (
        (updated - started).total_seconds() / 86_400
        if isinstance(started, datetime) and isinstance(updated, datetime)
        else None
    )
    return metrics


def evaluate_gate(criteria: tuple[Criterion, ...], target_tier: int, metrics: Mapping[str, Any]) -> GateResult:
    """Check every criterion of the gate into ``target_tier``."""
    return GateResult(target_tier, tuple((c, *c.check(metrics)) for c in criteria))
