"""Promotion gates: the seed's numbers by default, configurable, every criterion explained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blofin_stack.config import Settings
from blofin_stack.lifecycle.gates import evaluate_gate, gate_metrics, gates_from_settings

PASSING_BACKTEST = {
    "bt_trades": 60,
    "bt_win_rate": 0.45,
    "bt_sharpe": 0.8,
    "bt_max_dd": 12.0,
    "bt_profit_factor": 1.3,
    "bt_eep_score": 55.0,
}


def test_defaults_are_the_seed_gates(settings: Settings) -> None:
    gates = gates_from_settings(settings)
    thresholds = {tier: {c.metric: (c.op, c.threshold) for c in gate} for tier, gate in gates.items()}
    assert thresholds[2] == {
        "bt_trades": (">=", 50),
        "bt_win_rate": (">=", 0.40),
        "bt_sharpe": (">=", 0.5),
        "bt_max_dd": ("<=", 30.0),
        "bt_profit_factor": (">=", 1.1),
        "bt_eep_score": (">=", 50.0),
    }
    assert thresholds[3] == {
        "ft_trades": (">=", 100),
        "ft_win_rate": (">=", 0.45),
        "ft_sharpe": (">=", 1.0),
        "drift_pct": ("<", 20.0),
        "ft_profit_factor": (">=", 1.3),
        "ft_eep_score": (">=", 65.0),
        "ft_days": (">=", 14.0),
    }
    assert thresholds[1] == {"loads": ("==", 1), "bt_trades": (">=", 1)}


def test_backtest_gate_names_each_failed_criterion(settings: Settings) -> None:
    gate = gates_from_settings(settings)[2]
    assert evaluate_gate(gate, 2, gate_metrics(PASSING_BACKTEST, loads=True)).passed
    weak = {**PASSING_BACKTEST, "bt_win_rate": 0.38, "bt_max_dd": 31.5, "bt_eep_score": None}
    result = evaluate_gate(gate, 2, gate_metrics(weak, loads=True))
    assert not result.passed
    assert result.failures == [
        "win rate: 0.38 < 0.4",
        "max drawdown %: 31.5 > 30",
        "EEP score: no value yet (needs >= 50)",
    ]
    assert result.summary().startswith("fails the gate to tier 2 (forward): win rate")


def test_thresholds_come_from_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("GATE_T2_MIN_SHARPE", "2.5")
    monkeypatch.setenv("GATE_T2_MIN_TRADES", "10")
    custom = Settings()
    gate = {c.metric: c.threshold for c in gates_from_settings(custom)[2]}
    assert gate["bt_sharpe"] == 2.5 and gate["bt_trades"] == 10


def test_forward_gate_derives_drift_and_days(settings: Settings) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    row = {
        "bt_win_rate": 0.50,
        "ft_win_rate": 0.46,
        "ft_trades": 120,
        "ft_sharpe": 1.2,
        "ft_profit_factor": 1.4,
        "ft_eep_score": 66.0,
        "ft_started": start,
        "ft_last_update": start + timedelta(days=15),
    }
    metrics = gate_metrics(row, loads=True)
    assert metrics["drift_pct"] == pytest.approx(8.0) and metrics["ft_days"] == pytest.approx(15.0)
    assert evaluate_gate(gates_from_settings(settings)[3], 3, metrics).passed
    short = gate_metrics({**row, "ft_last_update": start + timedelta(days=10)}, loads=True)
    assert evaluate_gate(gates_from_settings(settings)[3], 3, short).failures == ["days of forward testing: 10 < 14"]
    drifting = gate_metrics({**row, "ft_win_rate": 0.35}, loads=True)
    assert (
        "backtest-to-forward drift %: 30 >= 20" in evaluate_gate(gates_from_settings(settings)[3], 3, drifting).failures
    )
    assert evaluate_gate(gates_from_settings(settings)[1], 1, gate_metrics({"bt_trades": 3}, loads=False)).failures == [
        "implementation loads and can run: 0 != 1"
    ]
