"""``blofin registry ...`` and ``blofin strategies validate|add`` through the typer app, on a temporary
``DATA_DIR``. Expected values come from the issue (the seed gates) and from the files the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from blofin_stack.config import Settings, get_settings
from blofin_stack.market.store import MarketStore
from blofin_stack.pipeline.daily import run_pipeline
from blofin_stack.strategies import BUILTIN_STRATEGIES
from helpers import flat, invoke, ok_json, write

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "docs" / "examples" / "rsi_dip_buyer.yaml"

pytestmark = pytest.mark.usefixtures("isolated_plugins")  # `strategies add` and every registry command load specs


GOOD_SPEC = """
name: fast_ema_cli
description: EMA(9) crossing EMA(21)
timeframes: [5m]
direction: both
entry_long: {cross: above, left: ema_9, right: ema_21}
exit_long: {cross: below, left: ema_9, right: ema_21}
entry_short: {cross: below, left: ema_9, right: ema_21}
exit_short: {cross: above, left: ema_9, right: ema_21}
stop_loss: {pct: 1.5}
"""

BAD_SPEC = """
name: bad_one
timeframes: [5m]
direction: long
params:
  level: {default: 30, low: 10, high: 45}
entry_long:
  all:
    - {left: rsi_14, op: "<", right: $levle}
    - {left: close, op: "=>", right: ema_21}
exit_long: {cross: sideways, left: rsi_14, right: 55}
stop_loss: {atr: -2}
"""


# -------------------------------------------------------------------------------------------------- gates
def test_gates_json_are_the_seed_numbers(settings: Settings) -> None:
    gates = ok_json("registry", "gates", "--json")
    thresholds = {tier: {c["metric"]: (c["op"], c["threshold"]) for c in crit} for tier, crit in gates.items()}
    assert thresholds == {
        "1": {"loads": ("==", 1), "bt_trades": (">=", 1)},
        "2": {
            "bt_trades": (">=", 50),
            "bt_win_rate": (">=", 0.40),
            "bt_sharpe": (">=", 0.5),
            "bt_max_dd": ("<=", 30),
            "bt_profit_factor": (">=", 1.1),
            "bt_eep_score": (">=", 50),
        },
        "3": {
            "ft_trades": (">=", 100),
            "ft_win_rate": (">=", 0.45),
            "ft_sharpe": (">=", 1.0),
            "drift_pct": ("<", 20),
            "ft_profit_factor": (">=", 1.3),
            "ft_eep_score": (">=", 65),
            "ft_days": (">=", 14),
        },
    }
    assert all(c["label"] for crit in gates.values() for c in crit)


def test_gates_follow_the_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_T2_MIN_SHARPE", "1.75")
    monkeypatch.setenv("GATE_T3_MIN_FORWARD_DAYS", "30")
    get_settings.cache_clear()
    gates = ok_json("registry", "gates", "--json")
    assert {c["metric"]: c["threshold"] for c in gates["2"]}["bt_sharpe"] == 1.75
    assert {c["metric"]: c["threshold"] for c in gates["3"]}["ft_days"] == 30
    human = invoke("registry", "gates")
    assert human.exit_code == 0 and "Sharpe: bt_sharpe >= 1.75" in human.stderr


# ---------------------------------------------------------------------------------------------- list, show
def test_list_tier_0_json_has_every_builtin(settings: Settings) -> None:
    rows = ok_json("registry", "list", "--tier", "0", "--json")
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == set(BUILTIN_STRATEGIES)
    for name, r in by_name.items():
        assert r["tier"] == 0 and r["tier_name"] == "library" and r["source"] == "builtin", name
        assert r["implementation"] == f"{BUILTIN_STRATEGIES[name].__module__.replace('.', '/')}.py"
        assert not r["archived"]
        assert set(r["bt"]) >= {"trades", "win_rate", "sharpe", "max_dd", "profit_factor", "eep_score"}
        assert r["bt"]["trades"] is None  # no cycle has run
    assert "ML cycle" in by_name["ml_gbt_5m"]["reason"]
    assert {n for n, r in by_name.items() if r["reason"]} == {"ml_gbt_5m", "ema_crossover_ml", "macd_crossover_mlexit"}
    assert by_name["ensemble_vote"]["type"] == "ensemble" and by_name["ml_gbt_5m"]["type"] == "ml_entry"
    assert ok_json("registry", "list", "--tier", "1", "--json") == []
    # listing twice registers nothing new
    history = ok_json("registry", "history", "sma_cross", "--json")
    assert [t["action"] for t in history] == ["register"]


def test_show_json_gives_the_next_gate_and_history(settings: Settings) -> None:
    shown = ok_json("registry", "show", "sma_cross", "--json")
    assert shown["name"] == "sma_cross" and shown["tier"] == 0
    assert shown["next_gate"]["tier"] == 1 and shown["next_gate"]["passed"] is False
    checks = shown["next_gate"]["checks"]
    assert checks[0] == "implementation loads and can run: 1 == 1"
    assert checks[1].startswith("backtest trades: no value yet")
    assert [(t["action"], t["from_tier"], t["to_tier"], t["actor"]) for t in shown["history"]] == [
        ("register", None, 0, "loader")
    ]
    assert "blofin_stack/strategies/sma_cross.py" in shown["history"][0]["reason"]
    blocked = ok_json("registry", "show", "ml_gbt_5m", "--json")
    assert blocked["next_gate"]["checks"][0] == "implementation loads and can run: 0 != 1"  # cannot run yet
    missing = invoke("registry", "show", "nope", "--json")
    assert missing.exit_code == 2 and "no strategy 'nope'" in missing.stderr and missing.stdout == ""


# ------------------------------------------------------------------------------------------ promote, archive
def test_promote_unknown_name_exits_2(settings: Settings) -> None:
    result = invoke("registry", "promote", "no_such_strategy")
    assert result.exit_code == 2
    assert "no strategy 'no_such_strategy'" in flat(result.stderr)
    bad_tier = invoke("registry", "promote", "sma_cross", "--to", "7", "--force")
    assert bad_tier.exit_code == 2 and "tier 7 does not exist" in flat(bad_tier.stderr)
    unknown_history = invoke("registry", "history", "no_such_strategy")
    assert unknown_history.exit_code == 2


def test_promote_without_force_names_the_failed_criterion_and_force_moves(settings: Settings) -> None:
    refused = invoke("registry", "promote", "sma_cross")
    assert refused.exit_code == 1
    assert "fails the gate to tier 1 (backtest): backtest trades: no value yet" in flat(refused.stderr)
    assert ok_json("registry", "show", "sma_cross", "--json")["tier"] == 0
    forced = invoke("registry", "promote", "sma_cross", "--to", "2", "--force")
    assert forced.exit_code == 0, forced.output
    assert "tier 0 -> 2" in flat(forced.stderr)
    history = ok_json("registry", "history", "sma_cross", "--json")
    assert [(t["action"], t["from_tier"], t["to_tier"], t["actor"], t["reason"]) for t in history[1:]] == [
        ("promote", 0, 2, "manual", "forced by the operator")
    ]
    down = invoke("registry", "promote", "sma_cross", "--to", "0")
    assert down.exit_code == 0 and "demoted sma_cross: tier 2 -> 0" in flat(down.stderr)
    shown = ok_json("registry", "show", "sma_cross", "--json")
    assert shown["tier"] == 0 and shown["promoted_at"] and shown["demoted_at"]


@pytest.fixture
def btc_store(settings: Settings, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Two days of real BTC-USDT, a one-day window, one worker."""
    monkeypatch.setenv("PIPELINE_WORKERS", "1")
    monkeypatch.setenv("BACKTEST_LOOKBACK_DAYS", "1")
    monkeypatch.setenv("BACKTEST_TIMEFRAMES", "5m")
    get_settings.cache_clear()
    fresh = get_settings()
    candles = pd.read_csv(real_data_dir / "BTC-USDT.csv.gz").set_index("ts").iloc[-2 * 1440 :]
    MarketStore(fresh.market_dir).write_candles("BTC-USDT", candles)
    return fresh


def test_archive_then_list_and_the_next_cycle_skips_it(btc_store: Settings) -> None:
    missing_reason = invoke("registry", "archive", "momentum")
    assert missing_reason.exit_code == 2  # --reason is required
    empty = invoke("registry", "archive", "momentum", "--reason", "  ")
    assert empty.exit_code == 2 and "needs a reason" in flat(empty.stderr)
    unknown = invoke("registry", "archive", "nope", "--reason", "x")
    assert unknown.exit_code == 2 and "no strategy 'nope'" in flat(unknown.stderr)

    done = invoke("registry", "archive", "momentum", "--reason", "replaced by momentum_reversal")
    assert done.exit_code == 0, done.output
    rows = {r["name"]: r for r in ok_json("registry", "list", "--json")}
    assert rows["momentum"]["archived"] is True
    assert rows["momentum"]["reason"] == "replaced by momentum_reversal"
    assert sum(r["archived"] for r in rows.values()) == 1
    human = invoke("registry", "list")
    assert "archived: replaced by momentum_reversal" in flat(human.stderr)
    history = ok_json("registry", "history", "momentum", "--json")
    assert (history[-1]["action"], history[-1]["actor"], history[-1]["reason"]) == (
        "archive",
        "manual",
        "replaced by momentum_reversal",
    )
    refused = invoke("registry", "promote", "momentum", "--force")
    assert refused.exit_code == 2 and "archived" in flat(refused.stderr)

    run = run_pipeline(btc_store, "all")
    assert run.cycle is not None and run.report is not None
    assert run.cycle.skipped["momentum"] == "archived"
    assert "momentum" not in run.cycle.strategies
    assert all(row["strategy_name"] != "momentum" for row in run.cycle.rows)
    assert {"name": "momentum", "reason": "archived"} in run.report["strategy_changes"]["not_run"]
    assert "momentum_reversal" in run.cycle.strategies  # the others ran
    after = {r["name"]: r for r in ok_json("registry", "list", "--json")}
    assert after["momentum"]["archived"] and after["momentum"]["bt"]["trades"] is None
    assert after["momentum_reversal"]["bt"]["trades"] is not None


# -------------------------------------------------------------------------------------- strategies validate/add
def test_validate_good_and_bad_files(settings: Settings, tmp_path: Path) -> None:
    good = write(tmp_path / "fast.yaml", GOOD_SPEC)
    result = invoke("strategies", "validate", str(good))
    assert result.exit_code == 0, result.output
    assert "valid strategy 'fast_ema_cli'" in flat(result.stderr)
    payload = ok_json("strategies", "validate", str(good), "--json")
    assert payload["valid"] is True and payload["spec"]["name"] == "fast_ema_cli"
    assert payload["spec"]["stop_loss"] == {"pct": 1.5}

    bad = write(tmp_path / "bad.yaml", BAD_SPEC)
    result = invoke("strategies", "validate", str(bad))
    assert result.exit_code == 2 and result.stdout == ""
    text = flat(result.stderr)
    assert "invalid strategy spec (4 problems)" in text
    for path, fragment in [
        ("entry_long.all[0].right", "unknown parameter '$levle'"),
        ("entry_long.all[1].op", "'=>'"),
        ("exit_long.cross", "'sideways'"),
        ("stop_loss.atr", "must be > 0"),
    ]:
        assert f"{path}: " in text and fragment in text, (path, text)
    # nothing was registered by validating
    assert "fast_ema_cli" not in {r["name"] for r in ok_json("registry", "list", "--json")}

    broken_yaml = write(tmp_path / "broken.yaml", "name: x\ntimeframes: [5m\n")
    result = invoke("strategies", "validate", str(broken_yaml))
    assert result.exit_code == 2 and "invalid YAML" in flat(result.stderr)
    unknown_field = write(tmp_path / "typo.json", json.dumps({"name": "x", "timeframes": ["5m"], "entry_lng": {}}))
    result = invoke("strategies", "validate", str(unknown_field))
    assert result.exit_code == 2 and "entry_lng: unknown field 'entry_lng'" in flat(result.stderr)


def test_add_the_example_registers_it(settings: Settings) -> None:
    added = ok_json("strategies", "add", str(EXAMPLE), "--json")
    row = added["row"]
    assert row["strategy_name"] == "rsi_dip_buyer" and row["tier"] == 0 and row["source"] == "dsl"
    assert added["replaced"] is False
    stored = settings.strategies_dir / "rsi_dip_buyer.json"
    assert stored.is_file() and row["file_path"] == str(stored.resolve())
    assert ("rsi_dip_buyer", "register") in {(t["strategy_name"], t["action"]) for t in added["transitions"]}
    rows = {r["name"]: r for r in ok_json("registry", "list", "--tier", "0", "--json")}
    assert rows["rsi_dip_buyer"]["source"] == "dsl" and rows["rsi_dip_buyer"]["type"] == "pattern"
    assert len(rows) == len(BUILTIN_STRATEGIES) + 1
    # adding it again replaces the stored copy without a new registration
    again = ok_json("strategies", "add", str(EXAMPLE), "--json")
    assert again["replaced"] is True and again["transitions"] == []
    history = ok_json("registry", "history", "rsi_dip_buyer", "--json")
    assert [t["action"] for t in history] == ["register"]
    human = invoke("strategies", "add", str(EXAMPLE))
    assert human.exit_code == 0 and "updated rsi_dip_buyer at tier 0" in flat(human.stderr)


def test_add_a_name_clash_with_a_builtin_exits_2(settings: Settings, tmp_path: Path) -> None:
    before = ok_json("registry", "list", "--json")
    clash = write(tmp_path / "clash.yaml", GOOD_SPEC.replace("name: fast_ema_cli", "name: sma_cross"))
    result = invoke("strategies", "add", str(clash))
    assert result.exit_code == 2 and result.stdout == ""
    text = flat(result.stderr)
    assert "strategy name 'sma_cross' is taken by the builtin strategy" in text and "sma_cross.py" in text
    assert not (settings.strategies_dir / "sma_cross.json").exists()
    assert ok_json("registry", "list", "--json") == before
    bad = write(tmp_path / "bad.yaml", BAD_SPEC)
    result = invoke("strategies", "add", str(bad))
    assert result.exit_code == 2 and "entry_long.all[0].right" in flat(result.stderr)
    assert ok_json("registry", "list", "--json") == before
