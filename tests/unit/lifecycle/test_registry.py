"""The strategy registry: sync with what loads, backtest summaries, gates, manual moves, audit trail.

Everything runs on a migrated SQLite database in a temporary ``DATA_DIR`` with tiny hand-made strategies
(no market data): every expectation is worked out from the issue's rules, not copied from a run.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.registry import get_strategy_row, list_strategies, list_transitions, update_backtest_metrics
from blofin_stack.lifecycle.gates import Criterion, gates_from_settings
from blofin_stack.lifecycle.registry import (
    RegistryError,
    Transition,
    apply_gates,
    archive,
    backtest_summary,
    load_and_sync,
    promote,
    record_backtests,
    refresh_ensemble_weights,
    sync_registry,
)
from blofin_stack.strategies import BUILTIN_STRATEGIES, Strategy, signal_frame, strategy_classes
from blofin_stack.strategies.ensemble import EnsembleVote, EnsembleWeighted
from blofin_stack.strategies.plugins import load_plugins
from blofin_stack.strategies.sma_cross import SmaCross

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
THIS_FILE = str(Path(__file__).resolve())


class TinyFlat(Strategy):
    """Never trades; enough for the registry, which never runs it."""

    name = "tiny_flat"
    description = "a hand-made strategy that never signals"
    timeframes = ("5m",)

    def generate_signals(self, features: Any, params: Mapping[str, Any]) -> Any:
        return signal_frame(features.index)


class TinyOther(TinyFlat):
    name = "tiny_other"
    description = "another hand-made strategy"
    timeframes = ("15m",)


class TinyBlocked(TinyFlat):
    name = "tiny_blocked"
    description = "loads but waits for a model"
    strategy_type = "ml_entry"

    def unavailable_reason(self) -> str | None:
        return "needs the tiny model, which nobody has trained"


PLUGIN = """
from blofin_stack.strategies import Strategy, signal_frame


class TinyPlugin(Strategy):
    name = "tiny_plugin"
    description = "a plugin strategy in a file"
    timeframes = ("5m",)

    def generate_signals(self, features, params):
        return signal_frame(features.index)
"""

BROKEN_PLUGIN = """
from blofin_stack.strategies import Strategy

VALUE = 1
raise RuntimeError("tiny plugin is broken on purpose")
"""

#: Backtest figures that pass the default (seed) gate into tier 2 with a margin on every criterion.
PASSING: dict[str, float | int] = {
    "trades": 80,
    "win_rate": 0.5,
    "sharpe": 1.2,
    "pnl_pct": 4.0,
    "max_dd": 10.0,
    "profit_factor": 1.6,
    "eep_score": 60.0,
}


@pytest.fixture
def connection(settings: Settings) -> Iterator[sa.Connection]:
    """One open transaction on a freshly migrated database in the temporary ``DATA_DIR``."""
    with get_engine(settings.database_url).begin() as conn:
        yield conn


@pytest.fixture
def gates(settings: Settings) -> dict[int, tuple[Criterion, ...]]:
    return gates_from_settings(settings)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def row(connection: sa.Connection, name: str) -> dict[str, Any]:
    found = get_strategy_row(connection, name)
    assert found is not None, name
    return found


def actions(connection: sa.Connection, name: str) -> list[tuple[str, int | None, int | None, str]]:
    return [(t["action"], t["from_tier"], t["to_tier"], t["actor"]) for t in list_transitions(connection, name)]


def set_tier(connection: sa.Connection, name: str, tier: int) -> None:
    """Put a row at ``tier`` by force (what earlier cycles would have done)."""
    promote(connection, name, {}, loads=True, to=tier, force=True, now=T0)


def bt(connection: sa.Connection, name: str, **overrides: float | int | None) -> None:
    update_backtest_metrics(connection, name, {**PASSING, **overrides}, T0)


# ------------------------------------------------------------------------------------------------ sync
def test_sync_registers_new_rows_at_tier_0_with_a_register_transition(connection: sa.Connection) -> None:
    made = sync_registry(connection, [SmaCross(), TinyFlat()], now=T0)
    assert [(t.strategy_name, t.action, t.from_tier, t.to_tier, t.actor) for t in made] == [
        ("sma_cross", "register", None, 0, "loader"),
        ("tiny_flat", "register", None, 0, "loader"),
    ]
    builtin = row(connection, "sma_cross")
    assert builtin["tier"] == 0 and not builtin["archived"] and builtin["archive_reason"] is None
    assert builtin["source"] == "builtin"
    assert builtin["file_path"] == "blofin_stack/strategies/sma_cross.py"
    assert builtin["strategy_type"] == "pattern" and builtin["description"] == SmaCross.description
    assert builtin["blocked_reason"] is None and builtin["promoted_at"] is None and builtin["demoted_at"] is None
    # the reason names the file and the source
    assert "blofin_stack/strategies/sma_cross.py" in made[0].reason and "builtin" in made[0].reason
    tiny = row(connection, "tiny_flat")
    assert tiny["file_path"] == THIS_FILE  # outside the package: the absolute path
    assert THIS_FILE in made[1].reason and "(plugin)" in made[1].reason
    # what was returned is what was stored
    stored = list_transitions(connection)
    assert [Transition(**{k: t[k] for k in Transition.__dataclass_fields__}) for t in stored] == made
    assert all(t["timestamp"] == T0 for t in stored)


def test_resync_makes_no_new_transitions_and_keeps_tiers(connection: sa.Connection) -> None:
    sync_registry(connection, [SmaCross(), TinyFlat()], now=T0)
    set_tier(connection, "tiny_flat", 1)
    before = list_transitions(connection)
    assert sync_registry(connection, [SmaCross(), TinyFlat()], now=T0 + timedelta(hours=1)) == []
    assert list_transitions(connection) == before
    assert row(connection, "tiny_flat")["tier"] == 1
    assert len(list_strategies(connection)) == 2


def test_a_dsl_spec_is_registered_with_source_dsl(
    connection: sa.Connection, tmp_path: Path, isolated_plugins: None
) -> None:
    spec = write(
        tmp_path / "tiny_dsl.yaml",
        """
        name: tiny_dsl
        timeframes: [5m]
        direction: long
        entry_long: {cross: above, left: ema_9, right: ema_21}
        exit_long: {cross: below, left: ema_9, right: ema_21}
        """,
    )
    report = load_plugins([spec])
    assert report.errors == []
    made = sync_registry(connection, [strategy_classes()["tiny_dsl"]()], now=T0)
    assert [(t.action, t.to_tier) for t in made] == [("register", 0)]
    registered = row(connection, "tiny_dsl")
    assert registered["source"] == "dsl" and registered["file_path"] == str(spec.resolve())
    assert str(spec.resolve()) in made[0].reason and "(dsl)" in made[0].reason


def test_a_removed_plugin_file_is_archived_and_restored_when_it_loads_again(
    connection: sa.Connection, tmp_path: Path, isolated_plugins: None
) -> None:
    path = write(tmp_path / "tiny_plugin.py", PLUGIN)
    assert load_plugins([path]).errors == []
    plugin = strategy_classes()["tiny_plugin"]
    sync_registry(connection, [plugin(), TinyFlat()], now=T0)
    assert row(connection, "tiny_plugin")["source"] == "plugin"
    set_tier(connection, "tiny_plugin", 1)

    path.unlink()
    assert load_plugins([]).errors == []  # the next load forgets what the deleted file registered
    assert "tiny_plugin" not in strategy_classes()
    made = sync_registry(connection, [TinyFlat()], now=T0 + timedelta(hours=1))
    reason = f"implementation not found: {path.resolve()} no longer exists"
    assert [(t.strategy_name, t.action, t.from_tier, t.to_tier, t.actor, t.reason) for t in made] == [
        ("tiny_plugin", "archive", 1, 1, "loader", reason)
    ]
    gone = row(connection, "tiny_plugin")
    assert gone["archived"] and gone["archive_reason"] == reason and gone["tier"] == 1
    # an archived row is not archived twice
    assert sync_registry(connection, [TinyFlat()], now=T0 + timedelta(hours=2)) == []

    write(path, PLUGIN)
    assert load_plugins([path]).errors == []
    made = sync_registry(connection, [strategy_classes()["tiny_plugin"](), TinyFlat()], now=T0 + timedelta(hours=3))
    assert [(t.strategy_name, t.action, t.from_tier, t.to_tier, t.actor) for t in made] == [
        ("tiny_plugin", "restore", 1, 1, "loader")
    ]
    assert str(path.resolve()) in made[0].reason
    back = row(connection, "tiny_plugin")
    assert not back["archived"] and back["archive_reason"] is None and back["tier"] == 1
    assert [a for a, *_ in actions(connection, "tiny_plugin")] == ["register", "promote", "archive", "restore"]


def test_a_file_that_no_longer_defines_the_strategy_is_named(connection: sa.Connection) -> None:
    sync_registry(connection, [TinyFlat(), TinyOther()], now=T0)
    made = sync_registry(connection, [TinyFlat()], now=T0)
    assert len(made) == 1 and made[0].action == "archive" and made[0].actor == "loader"
    assert made[0].reason == f"implementation not found: {THIS_FILE} no longer defines strategy 'tiny_other'"


def test_a_plugin_that_fails_to_load_is_archived_with_the_loader_error(
    connection: sa.Connection, tmp_path: Path, isolated_plugins: None
) -> None:
    path = write(tmp_path / "tiny_plugin.py", PLUGIN)
    load_plugins([path])
    sync_registry(connection, [strategy_classes()["tiny_plugin"]()], now=T0)

    write(path, BROKEN_PLUGIN)
    report = load_plugins([path])
    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.line == 4  # the raise statement
    assert "tiny_plugin" not in strategy_classes()  # the failed reload dropped the old class
    made = sync_registry(
        connection,
        [cls() for name, cls in strategy_classes().items() if name.startswith("tiny")],
        file_errors={str(error.path): str(error)},
        now=T0 + timedelta(hours=1),
    )
    assert [(t.strategy_name, t.action, t.actor) for t in made] == [("tiny_plugin", "archive", "loader")]
    archived = row(connection, "tiny_plugin")
    assert archived["archived"]
    assert archived["archive_reason"] == made[0].reason == f"implementation does not load: {error}"
    assert f"{path.resolve()}:4" in archived["archive_reason"]
    assert "RuntimeError: tiny plugin is broken on purpose" in archived["archive_reason"]

    write(path, PLUGIN)  # fixed: loads and is restored
    assert load_plugins([path]).errors == []
    made = sync_registry(connection, [strategy_classes()["tiny_plugin"]()], now=T0 + timedelta(hours=2))
    assert [(t.action, t.actor) for t in made] == [("restore", "loader")]
    assert not row(connection, "tiny_plugin")["archived"]


def test_a_blocked_strategy_keeps_a_row_with_its_reason(connection: sa.Connection) -> None:
    made = sync_registry(connection, [TinyBlocked()], now=T0)
    blocked = row(connection, "tiny_blocked")
    assert blocked["tier"] == 0 and not blocked["archived"]
    assert blocked["blocked_reason"] == "needs the tiny model, which nobody has trained"
    assert blocked["strategy_type"] == "ml_entry"
    assert "cannot run yet: needs the tiny model" in made[0].reason


def test_a_manual_archive_is_not_undone_by_the_loader(connection: sa.Connection) -> None:
    sync_registry(connection, [TinyFlat()], now=T0)
    archive(connection, "tiny_flat", "too similar to sma_cross", now=T0)
    assert sync_registry(connection, [TinyFlat()], now=T0 + timedelta(hours=1)) == []
    kept = row(connection, "tiny_flat")
    assert kept["archived"] and kept["archive_reason"] == "too similar to sma_cross"


def test_load_and_sync_registers_every_builtin(connection: sa.Connection, settings: Settings) -> None:
    made, report = load_and_sync(connection, settings)
    assert report.errors == []
    rows = {r["strategy_name"]: r for r in list_strategies(connection)}
    assert set(rows) == set(BUILTIN_STRATEGIES)
    assert {t.strategy_name for t in made} == set(BUILTIN_STRATEGIES)
    assert all(r["tier"] == 0 and r["source"] == "builtin" and not r["archived"] for r in rows.values())
    assert {name for name, r in rows.items() if r["blocked_reason"]} == {
        "ml_gbt_5m",
        "ema_crossover_ml",
        "macd_crossover_mlexit",
    }
    assert "ML cycle" in rows["ml_gbt_5m"]["blocked_reason"]
    for name, r in rows.items():  # every implementation file exists
        assert (Path(__file__).resolve().parents[3] / "src" / r["file_path"]).is_file(), name


# --------------------------------------------------------------------------------------- backtest summary
def result(name: str, timeframe: str, trades: int, **metrics: Any) -> dict[str, Any]:
    base = {
        "strategy_name": name,
        "inst_id": "X-USDT",
        "timeframe": timeframe,
        "status": "ok",
        "trades": trades,
        "win_rate": 0.0,
        "sharpe": 0.0,
        "total_pnl_pct": 0.0,
        "max_drawdown_pct": 0.0,
        "profit_factor": None,
        "eep_score": None,
    }
    return {**base, **metrics}


def ok(
    name: str, timeframe: str, trades: int, win: float, sharpe: float, pnl: float, dd: float, pf: Any, eep: Any
) -> dict[str, Any]:
    """A successful backtest row: trades, win rate, Sharpe, total PnL %, max drawdown %, profit factor, EEP."""
    return result(
        name,
        timeframe,
        trades,
        win_rate=win,
        sharpe=sharpe,
        total_pnl_pct=pnl,
        max_drawdown_pct=dd,
        profit_factor=pf,
        eep_score=eep,
    )


def test_backtest_summary_uses_own_timeframes_and_pools_win_rate() -> None:
    rows = [
        # own timeframe 5m: three instruments
        ok("a", "5m", 10, 0.6, 1.0, 2.0, 3.0, 1.5, 55.0),
        ok("a", "5m", 30, 0.4, -1.0, -1.0, 9.0, 0.8, 45.0),
        ok("a", "5m", 0, 0.0, 0.0, 0.0, 0.0, None, None),
        # another timeframe: must not count
        ok("a", "1m", 500, 0.1, -9.0, -50.0, 60.0, 0.1, 10.0),
        # a failed backtest on the own timeframe: ignored
        {**result("a", "5m", 0), "status": "error", "error": "boom", "win_rate": None},
    ]
    summary = backtest_summary(rows, {"a": ["5m"]})
    a = summary["a"]
    assert a["trades"] == 40
    assert a["win_rate"] == pytest.approx((0.6 * 10 + 0.4 * 30) / 40)  # pooled over trades: 0.45
    assert a["sharpe"] == pytest.approx(0.0)  # median of 1, -1, 0
    assert a["pnl_pct"] == pytest.approx(0.0)  # median of 2, -1, 0
    assert a["max_dd"] == pytest.approx(3.0)  # median of 3, 9, 0
    assert a["profit_factor"] == pytest.approx((1.5 + 0.8) / 2)  # backtests with trades only
    assert a["eep_score"] == pytest.approx(50.0)


def test_backtest_summary_infinite_profit_factors_and_fallbacks() -> None:
    rows = [
        # b: two backtests without a losing trade (+inf, or None as the database stores it) and one 1.2
        result("b", "15m", 3, win_rate=1.0, profit_factor=math.inf, eep_score=70.0),
        result("b", "15m", 2, win_rate=1.0, profit_factor=None, eep_score=80.0),
        result("b", "15m", 4, win_rate=0.5, profit_factor=1.2, eep_score=40.0),
        # c: only an infinite profit factor (no losing trade at all)
        result("c", "5m", 2, win_rate=1.0, profit_factor=math.inf, eep_score=90.0),
        # d: its own timeframe (4H) was not run: summarised over what ran
        result("d", "1H", 6, win_rate=0.5, sharpe=0.3, profit_factor=2.0, eep_score=52.0),
        # e: only errors: no summary at all
        {**result("e", "5m", 0), "status": "error", "error": "boom"},
        # f: ran, never traded
        result("f", "5m", 0),
    ]
    summary = backtest_summary(rows, {"b": ["15m"], "c": ["5m"], "d": ["4H"], "f": ["5m"]})
    # median of (inf, inf, 1.2) is inf: no losing trade in the typical backtest, which passes a ">=" gate
    assert summary["b"]["profit_factor"] == math.inf
    assert summary["b"]["win_rate"] == pytest.approx((3 + 2 + 2) / 9)
    assert summary["b"]["eep_score"] == pytest.approx(70.0)
    assert summary["c"]["profit_factor"] == math.inf
    assert summary["d"]["trades"] == 6 and summary["d"]["sharpe"] == pytest.approx(0.3)
    assert "e" not in summary
    assert summary["f"]["trades"] == 0 and summary["f"]["win_rate"] is None
    assert summary["f"]["profit_factor"] is None and summary["f"]["eep_score"] is None
    # one finite value among infinities still gives that median when it is the middle one
    two = backtest_summary([result("g", "5m", 1, profit_factor=v) for v in (0.9, 1.3, math.inf)], {"g": ["5m"]})
    assert two["g"]["profit_factor"] == pytest.approx(1.3)


def test_record_backtests_writes_bt_columns(connection: sa.Connection) -> None:
    sync_registry(connection, [TinyFlat()], now=T0)
    record_backtests(connection, {"tiny_flat": PASSING}, T0)
    stored = row(connection, "tiny_flat")
    assert {k: stored[f"bt_{k}"] for k in PASSING} == PASSING
    assert stored["bt_last_run"] == T0


# ------------------------------------------------------------------------------------------------- gates
def test_gate_0_to_1_needs_a_trade_and_an_implementation(
    connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]
) -> None:
    sync_registry(connection, [TinyFlat(), TinyOther()], now=T0)
    # no backtest yet: nothing moves
    assert apply_gates(connection, gates, ["tiny_flat", "tiny_other"], T0) == []
    bt(connection, "tiny_flat", trades=0)
    bt(connection, "tiny_other", trades=1)
    made = apply_gates(connection, gates, ["tiny_flat"], T0)  # tiny_other did not load in this process
    assert made == []
    made = apply_gates(connection, gates, ["tiny_flat", "tiny_other"], T0)
    assert [(t.strategy_name, t.action, t.from_tier, t.to_tier, t.actor) for t in made] == [
        ("tiny_other", "promote", 0, 1, "gate")
    ]
    assert made[0].reason == "passed the gate to tier 1 (backtest)"
    assert row(connection, "tiny_other")["promoted_at"] == T0
    assert row(connection, "tiny_flat")["tier"] == 0


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("trades", 49, "backtest trades: 49 < 50"),
        ("win_rate", 0.39, "win rate: 0.39 < 0.4"),
        ("sharpe", 0.49, "Sharpe: 0.49 < 0.5"),
        ("max_dd", 30.5, "max drawdown %: 30.5 > 30"),
        ("profit_factor", 1.09, "profit factor: 1.09 < 1.1"),
        ("eep_score", 49.9, "EEP score: 49.9 < 50"),
        ("eep_score", None, "EEP score: no value yet"),
    ],
)
def test_gate_1_to_2_needs_every_backtest_criterion(
    connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]], metric: str, value: Any, text: str
) -> None:
    sync_registry(connection, [TinyFlat()], now=T0)
    set_tier(connection, "tiny_flat", 1)
    bt(connection, "tiny_flat", **{metric: value})
    assert apply_gates(connection, gates, ["tiny_flat"], T0) == []
    assert row(connection, "tiny_flat")["tier"] == 1
    # the manual promotion says which criterion failed, and nothing changes
    before, history = row(connection, "tiny_flat"), list_transitions(connection)
    outcome = promote(connection, "tiny_flat", gates, loads=True, now=T0)
    assert outcome.transitions == [] and outcome.refused is not None
    assert outcome.refused.target_tier == 2
    assert len(outcome.refused.failures) == 1 and outcome.refused.failures[0].startswith(text)
    assert row(connection, "tiny_flat") == before and list_transitions(connection) == history
    # with every criterion met the gate promotes
    bt(connection, "tiny_flat")
    made = apply_gates(connection, gates, ["tiny_flat"], T0 + timedelta(hours=1))
    assert [(t.action, t.from_tier, t.to_tier) for t in made] == [("promote", 1, 2)]


def test_one_step_per_call_and_demotion_on_fresh_results(
    connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]
) -> None:
    sync_registry(connection, [TinyFlat()], now=T0)
    bt(connection, "tiny_flat")  # passes the gates into tiers 1 and 2 at once
    steps = [apply_gates(connection, gates, ["tiny_flat"], T0 + timedelta(hours=h)) for h in range(3)]
    assert [[(t.from_tier, t.to_tier) for t in made] for made in steps] == [[(0, 1)], [(1, 2)], []]
    at_two = row(connection, "tiny_flat")
    assert at_two["tier"] == 2 and at_two["promoted_at"] == T0 + timedelta(hours=1) and at_two["demoted_at"] is None

    # fresh results fail two criteria of the tier-2 gate: demoted one step, the reason lists both
    bt(connection, "tiny_flat", sharpe=-0.7, win_rate=0.3)
    later = T0 + timedelta(days=1)
    made = apply_gates(connection, gates, ["tiny_flat"], later)
    assert [(t.action, t.from_tier, t.to_tier, t.actor) for t in made] == [("demote", 2, 1, "gate")]
    assert made[0].reason.startswith("fails the gate to tier 2 (forward): ")
    assert "win rate: 0.3 < 0.4" in made[0].reason and "Sharpe: -0.7 < 0.5" in made[0].reason
    assert "backtest trades" not in made[0].reason  # only the failed criteria
    demoted = row(connection, "tiny_flat")
    assert demoted["tier"] == 1 and demoted["demoted_at"] == later
    assert demoted["promoted_at"] == T0 + timedelta(hours=1)  # kept: the last promotion

    # it still holds tier 1 (it trades), so it stays there
    assert apply_gates(connection, gates, ["tiny_flat"], later + timedelta(hours=1)) == []
    # a cycle without trades fails the gate of tier 1 too: one more step down
    bt(connection, "tiny_flat", trades=0)
    made = apply_gates(connection, gates, ["tiny_flat"], later + timedelta(hours=2))
    assert [(t.action, t.from_tier, t.to_tier) for t in made] == [("demote", 1, 0)]
    assert "backtest trades: 0 < 1" in made[0].reason


def test_gates_never_move_archived_or_blocked_rows(
    connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]
) -> None:
    sync_registry(connection, [TinyFlat(), TinyOther(), TinyBlocked()], now=T0)
    for name in ("tiny_flat", "tiny_other", "tiny_blocked"):
        bt(connection, name)
    set_tier(connection, "tiny_other", 2)
    bt(connection, "tiny_other", trades=0, sharpe=-5.0)  # would be demoted if it were not archived
    archive(connection, "tiny_flat", "retired by hand", now=T0)
    archive(connection, "tiny_other", "retired by hand", now=T0)
    before = {r["strategy_name"]: r for r in list_strategies(connection)}
    loadable = ["tiny_flat", "tiny_other", "tiny_blocked"]
    for hour in range(3):
        assert apply_gates(connection, gates, loadable, T0 + timedelta(hours=hour)) == []
    assert {r["strategy_name"]: r for r in list_strategies(connection)} == before
    # the blocked one fails "implementation loads" and says so when promoted by hand
    refused = promote(connection, "tiny_blocked", gates, loads=True, now=T0).refused
    assert refused is not None and refused.failures == ["implementation loads and can run: 0 != 1"]


# ------------------------------------------------------------------------------------ manual promote, archive
def test_manual_promotion_checks_every_gate_on_the_way(
    connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]
) -> None:
    sync_registry(connection, [TinyFlat()], now=T0)
    bt(connection, "tiny_flat")
    # to 3: gates 1 and 2 pass, gate 3 has no forward figures
    before, history = row(connection, "tiny_flat"), list_transitions(connection)
    outcome = promote(connection, "tiny_flat", gates, loads=True, to=3, now=T0)
    assert outcome.transitions == [] and outcome.refused is not None and outcome.refused.target_tier == 3
    assert "forward trades: no value yet" in outcome.refused.summary()
    assert "days of forward testing: no value yet" in outcome.refused.summary()
    assert row(connection, "tiny_flat") == before and list_transitions(connection) == history
    # to 2: both gates pass, one transition 0 -> 2 by the operator
    outcome = promote(connection, "tiny_flat", gates, loads=True, to=2, now=T0)
    assert outcome.refused is None
    assert [(t.action, t.from_tier, t.to_tier, t.actor) for t in outcome.transitions] == [("promote", 0, 2, "manual")]
    assert outcome.transitions[0].reason == "promoted by the operator; passed the gate to tier 2 (forward)"
    assert row(connection, "tiny_flat")["tier"] == 2 and row(connection, "tiny_flat")["promoted_at"] == T0
    # an implementation that does not load cannot be promoted without force
    outcome = promote(connection, "tiny_flat", gates, loads=False, to=2, now=T0)
    assert outcome.transitions == []  # already at 2: nothing to do
    sync_registry(connection, [TinyOther()], now=T0)
    bt(connection, "tiny_other")
    refused = promote(connection, "tiny_other", gates, loads=False, now=T0).refused
    assert refused is not None and refused.failures == ["implementation loads and can run: 0 != 1"]


def test_force_and_manual_demotion(connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]) -> None:
    sync_registry(connection, [TinyFlat()], now=T0)  # no figures at all
    forced = promote(connection, "tiny_flat", gates, loads=True, to=3, force=True, now=T0)
    assert [(t.action, t.from_tier, t.to_tier, t.actor, t.reason) for t in forced.transitions] == [
        ("promote", 0, 3, "manual", "forced by the operator")
    ]
    assert row(connection, "tiny_flat")["tier"] == 3 and row(connection, "tiny_flat")["promoted_at"] == T0
    later = T0 + timedelta(hours=1)
    down = promote(connection, "tiny_flat", gates, loads=True, to=1, now=later)
    assert down.refused is None
    assert [(t.action, t.from_tier, t.to_tier, t.actor, t.reason) for t in down.transitions] == [
        ("demote", 3, 1, "manual", "demoted by the operator")
    ]
    assert row(connection, "tiny_flat")["tier"] == 1 and row(connection, "tiny_flat")["demoted_at"] == later
    assert promote(connection, "tiny_flat", gates, loads=True, to=1, now=later).transitions == []


def test_promote_and_archive_errors(connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]) -> None:
    sync_registry(connection, [TinyFlat(), TinyOther()], now=T0)
    with pytest.raises(RegistryError, match="no strategy 'nope'"):
        promote(connection, "nope", gates, loads=True)
    for tier in (-1, 4):
        with pytest.raises(RegistryError, match=f"tier {tier} does not exist"):
            promote(connection, "tiny_flat", gates, loads=True, to=tier, force=True)
    with pytest.raises(RegistryError, match="no strategy 'nope'"):
        archive(connection, "nope", "because")
    for empty in ("", "   "):
        with pytest.raises(RegistryError, match="needs a reason"):
            archive(connection, "tiny_flat", empty)
    assert not row(connection, "tiny_flat")["archived"]
    made = archive(connection, "tiny_other", "duplicate of tiny_flat", now=T0)
    assert (made.action, made.from_tier, made.to_tier, made.actor, made.reason) == (
        "archive",
        0,
        0,
        "manual",
        "duplicate of tiny_flat",
    )
    with pytest.raises(RegistryError, match="archived \\(duplicate of tiny_flat\\)"):
        promote(connection, "tiny_other", gates, loads=True, force=True)
    assert row(connection, "tiny_other")["tier"] == 0


def test_every_transition_is_on_the_audit_trail(
    connection: sa.Connection, gates: dict[int, tuple[Criterion, ...]]
) -> None:
    made: list[Transition] = []
    made += sync_registry(connection, [TinyFlat()], now=T0)
    bt(connection, "tiny_flat")
    made += apply_gates(connection, gates, ["tiny_flat"], T0 + timedelta(minutes=1))
    made += promote(connection, "tiny_flat", gates, loads=True, now=T0 + timedelta(minutes=2)).transitions
    made += promote(connection, "tiny_flat", gates, loads=True, to=0, now=T0 + timedelta(minutes=3)).transitions
    made.append(archive(connection, "tiny_flat", "done with it", now=T0 + timedelta(minutes=4)))
    trail = list_transitions(connection, "tiny_flat")
    assert [(t["action"], t["from_tier"], t["to_tier"], t["actor"]) for t in trail] == [
        ("register", None, 0, "loader"),
        ("promote", 0, 1, "gate"),
        ("promote", 1, 2, "manual"),
        ("demote", 2, 0, "manual"),
        ("archive", 0, 0, "manual"),
    ]
    assert [t["timestamp"] for t in trail] == [T0 + timedelta(minutes=m) for m in range(5)]
    assert all(t["reason"] for t in trail)
    assert [t["reason"] for t in trail] == [t.reason for t in made]
    assert list_transitions(connection, since=T0 + timedelta(minutes=3)) == trail[3:]


# ---------------------------------------------------------------------------------------- ensemble weights
def test_refresh_ensemble_weights_follows_member_scores(connection: sa.Connection) -> None:
    ensembles = [EnsembleVote(), EnsembleWeighted(), TinyFlat()]
    sync_registry(connection, ensembles, now=T0)
    scores = {"ema_crossover": 40.0, "macd_crossover": 30.0, "momentum": 20.0, "breakout": 0.0, "tiny_flat": 99.0}
    changes = refresh_ensemble_weights(connection, ensembles, scores)
    # best member 1.0, worst 0.1, linear in between: 30 -> 0.1 + 0.9 * 30/40, 20 -> 0.1 + 0.9 * 20/40
    expected = {"w_ema_crossover": 1.0, "w_macd_crossover": 0.775, "w_momentum": 0.55, "w_breakout": 0.1}
    assert row(connection, "ensemble_weighted")["params"] == pytest.approx(expected)
    assert row(connection, "ensemble_vote")["params"] is None  # no weights to set
    assert len(changes) == 1 and changes[0]["name"] == "ensemble_weighted"
    # the default weight is 1, so w_ema_crossover did not move
    assert changes[0]["params_changed"] == {
        "w_macd_crossover": "1->0.775",
        "w_momentum": "1->0.55",
        "w_breakout": "1->0.1",
    }
    assert refresh_ensemble_weights(connection, ensembles, scores) == []  # same scores: nothing moves
    flipped = {"ema_crossover": 0.0, "macd_crossover": 30.0, "momentum": 20.0, "breakout": 40.0}
    changes = refresh_ensemble_weights(connection, ensembles, flipped)
    assert changes[0]["params_changed"]["w_ema_crossover"] == "1->0.1"
    assert changes[0]["params_changed"]["w_breakout"] == "0.1->1"
    assert row(connection, "ensemble_weighted")["params"]["w_breakout"] == 1.0
    # the weights are valid parameters of the strategy
    EnsembleWeighted().resolve_params(row(connection, "ensemble_weighted")["params"])
