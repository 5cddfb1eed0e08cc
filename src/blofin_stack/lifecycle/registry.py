"""The strategy registry: the one source of truth of which strategies exist, their tier and their record.

* **Every runnable strategy has a row** (built-in, plugin, DSL): :func:`sync_registry` creates missing
  rows at tier 0 and archives, with the loader's reason, every row whose implementation can no longer
  be loaded (a plugin file removed or broken, a DSL file gone). When the implementation loads again,
  the row is restored. A strategy that loads but cannot run yet (``ml_gbt_5m`` before its model
  exists) keeps a row with ``blocked_reason``.
* **Tiers move through gates** (:mod:`blofin_stack.lifecycle.gates`): after every strategy cycle
  :func:`apply_gates` promotes a strategy that passes the gate into the next tier and demotes one
  that fails the gate of its own tier on fresh results, one step per cycle; operators can promote
  (``force`` skips the gate) and archive by hand.
* **Every change is on the audit trail** (``strategy_transitions``: time, action, from, to, actor,
  reason), and ``promoted_at`` / ``demoted_at`` follow.
"""

from __future__ import annotations

import os
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from blofin_stack.config import Settings
from blofin_stack.db.registry import (
    get_strategy_row,
    insert_transition,
    list_strategies,
    list_transitions,
    update_backtest_metrics,
    update_strategy,
    upsert_strategy,
)
from blofin_stack.db.tables import utcnow
from blofin_stack.lifecycle.gates import TIERS, Criterion, GateResult, evaluate_gate, gate_metrics
from blofin_stack.ml.deploy import activate_trading_models
from blofin_stack.strategies.base import Strategy
from blofin_stack.strategies.catalog import all_strategies, strategy_classes, strategy_file, strategy_source
from blofin_stack.strategies.dsl import dump_strategy_spec, load_strategy_spec
from blofin_stack.strategies.ensemble import score_weights
from blofin_stack.strategies.plugins import PluginReport, load_plugins, plugin_paths

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class RegistryError(ValueError):
    """An operation on the registry that cannot be done (unknown or archived strategy, bad tier)."""


@dataclass(frozen=True)
class Transition:
    """One entry of the audit trail."""

    strategy_name: str
    action: str  # register, promote, demote, archive, restore
    from_tier: int | None
    to_tier: int | None
    actor: str  # gate, manual, loader
    reason: str
    timestamp: datetime
    details: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _record(connection: sa.Connection, transition: Transition) -> Transition:
    insert_transition(connection, transition.as_dict())
    return transition


def _file_path(strategy: Strategy) -> str:
    path = strategy_file(type(strategy))
    try:
        return path.relative_to(_PACKAGE_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def _last_archive_actor(connection: sa.Connection, name: str) -> str | None:
    archives = [t for t in list_transitions(connection, name) if t["action"] == "archive"]
    return archives[-1]["actor"] if archives else None


def sync_registry(
    connection: sa.Connection,
    strategies: Iterable[Strategy],
    *,
    file_errors: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[Transition]:
    """Make the registry match the strategies that load.

    Args:
        connection: an open transaction.
        strategies: every strategy that loaded (built-in, plugin, DSL).
        file_errors: resolved file path -> loader error, for plugin and DSL files that failed to load.
        now: the time of the transitions (default: now, UTC).

    Returns:
        The transitions made: ``register`` (new row at tier 0), ``archive`` (implementation gone, actor
        ``loader``, reason = the loader's error), ``restore`` (an implementation archived by the loader
        loads again).
    """
    now = now or utcnow()
    errors = {str(Path(k).resolve()): v for k, v in (file_errors or {}).items()}
    rows = {row["strategy_name"]: row for row in list_strategies(connection)}
    made: list[Transition] = []
    loaded = set()
    for strategy in strategies:
        loaded.add(strategy.name)
        blocked = strategy.unavailable_reason()
        values = {
            "strategy_type": strategy.strategy_type,
            "description": strategy.description,
            "source": strategy_source(strategy.name),
            "file_path": _file_path(strategy),
            "blocked_reason": blocked,
        }
        row = rows.get(strategy.name)
        if row is None:
            upsert_strategy(connection, strategy.name, {**values, "tier": 0})
            reason = f"registered from {values['file_path']} ({values['source']})"
            if blocked:
                reason += f"; cannot run yet: {blocked}"
            made.append(_record(connection, Transition(strategy.name, "register", None, 0, "loader", reason, now)))
            continue
        update_strategy(connection, strategy.name, values)
        if row["archived"] and _last_archive_actor(connection, strategy.name) == "loader":
            update_strategy(connection, strategy.name, {"archived": False, "archive_reason": None})
            reason = f"implementation loads again from {values['file_path']}"
            made.append(
                _record(
                    connection, Transition(strategy.name, "restore", row["tier"], row["tier"], "loader", reason, now)
                )
            )
    for name, row in rows.items():
        if name in loaded or row["archived"]:
            continue
        path = row["file_path"] or ""
        absolute = str((_PACKAGE_ROOT / path).resolve()) if path and not Path(path).is_absolute() else path
        if absolute in errors:
            reason = f"implementation does not load: {errors[absolute]}"
        elif path and not Path(absolute).exists():
            reason = f"implementation not found: {path} no longer exists"
        else:
            reason = f"implementation not found: {path or 'no file'} no longer defines strategy {name!r}"
        update_strategy(connection, name, {"archived": True, "archive_reason": reason})
        made.append(_record(connection, Transition(name, "archive", row["tier"], row["tier"], "loader", reason, now)))
    return made


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def backtest_summary(
    rows: Iterable[Mapping[str, Any]], own_timeframes: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, float | int | None]]:
    """Per strategy, its cycle's figures on its **own timeframes** (what the gates judge).

    ``trades`` is the total and ``win_rate`` is pooled over all those trades; ``sharpe``, ``pnl_pct``
    (total PnL %), ``max_dd`` (max drawdown %), ``profit_factor`` and ``eep_score`` are medians over the
    instrument backtests (the last two over backtests with trades; a profit factor with no losing
    trade counts as +inf). Error rows are ignored; a strategy whose own timeframes were not run is
    summarised over all it ran.
    """
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("status") != "error":
            grouped[row["strategy_name"]].append(row)
    summary = {}
    for name, runs in grouped.items():
        own = [r for r in runs if r["timeframe"] in set(own_timeframes.get(name, ()))] or runs
        traded = [r for r in own if r["trades"] > 0]
        trades = int(sum(r["trades"] for r in own))
        summary[name] = {
            "trades": trades,
            "win_rate": sum(r["win_rate"] * r["trades"] for r in own) / trades if trades else None,
            "sharpe": _median([r["sharpe"] for r in own]),
            "pnl_pct": _median([r["total_pnl_pct"] for r in own]),
            "max_dd": _median([r["max_drawdown_pct"] for r in own]),
            "profit_factor": _median(
                [float("inf") if r["profit_factor"] is None else r["profit_factor"] for r in traded]
            ),
            "eep_score": _median([r.get("eep_score") for r in traded]),
        }
    return summary


def record_backtests(
    connection: sa.Connection, summary: Mapping[str, Mapping[str, float | int | None]], run_at: datetime
) -> None:
    """Write each strategy's :func:`backtest_summary` into its ``bt_*`` columns and ``bt_last_run``."""
    for name, metrics in summary.items():
        update_backtest_metrics(connection, name, metrics, run_at)


def refresh_ensemble_weights(
    connection: sa.Connection, strategies: Iterable[Strategy], scores: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Set each score-weighted ensemble's ``w_<member>`` parameters from its members' latest ranking
    scores (:func:`~blofin_stack.strategies.ensemble.score_weights`); the next cycle runs with them.

    Returns:
        Report entries ``{name, params_changed: {param: "old->new"}}`` for the ensembles whose weights moved.
    """
    changes = []
    for strategy in strategies:
        members = getattr(strategy, "members", None)
        if not members or not any(p.startswith("w_") for p in strategy.params):
            continue
        row = get_strategy_row(connection, strategy.name)
        if row is None:
            continue
        current = dict(row["params"] or {})
        weights = {k: round(v, 4) for k, v in score_weights(scores, members).items()}
        moved = {
            k: f"{current.get(k, strategy.params[k].default):g}->{v:g}"
            for k, v in weights.items()
            if current.get(k, strategy.params[k].default) != v
        }
        if moved:
            update_strategy(connection, strategy.name, {"params": {**current, **weights}})
            changes.append({"name": strategy.name, "params_changed": moved, "reason": "weights follow member scores"})
    return changes


def move_tier(
    connection: sa.Connection, row: Mapping[str, Any], to_tier: int, actor: str, reason: str, now: datetime
) -> Transition:
    from_tier = int(row["tier"])
    action = "promote" if to_tier > from_tier else "demote"
    stamp = {"promoted_at": now} if action == "promote" else {"demoted_at": now}
    update_strategy(connection, row["strategy_name"], {"tier": to_tier, **stamp})
    transition = Transition(row["strategy_name"], action, from_tier, to_tier, actor, reason, now)
    return _record(connection, transition)


def apply_gates(
    connection: sa.Connection,
    gates: Mapping[int, tuple[Criterion, ...]],
    loadable: Iterable[str],
    now: datetime | None = None,
    fresh: Iterable[str] | None = None,
) -> list[Transition]:
    """After a strategy cycle: demote strategies that fail the gate of their tier, promote those that
    pass the gate into the next one (one step per cycle; archived rows are left alone).

    Args:
        gates: :func:`~blofin_stack.lifecycle.gates.gates_from_settings`.
        loadable: names of the strategies whose implementation loaded in this process.
        fresh: the strategies with fresh results (backtested in this cycle); others keep their tier,
            since their figures are old. ``None``: judge every row.
    """
    now = now or utcnow()
    runnable = set(loadable)
    judged = None if fresh is None else set(fresh)
    made = []
    for row in list_strategies(connection):
        if row["archived"] or (judged is not None and row["strategy_name"] not in judged):
            continue
        name, tier = row["strategy_name"], int(row["tier"])
        metrics = gate_metrics(row, loads=name in runnable and not row["blocked_reason"])
        if tier >= 1:
            held = evaluate_gate(gates[tier], tier, metrics)
            if not held.passed:
                made.append(move_tier(connection, row, tier - 1, "gate", held.summary(), now))
                continue
        if tier < 3:
            up = evaluate_gate(gates[tier + 1], tier + 1, metrics)
            if up.passed:
                made.append(move_tier(connection, row, tier + 1, "gate", up.summary(), now))
    return made


@dataclass
class PromotionResult:
    """What a manual promotion did: the transitions made, or the gate that stopped it."""

    transitions: list[Transition]
    refused: GateResult | None = None


def promote(
    connection: sa.Connection,
    name: str,
    gates: Mapping[int, tuple[Criterion, ...]],
    *,
    loads: bool,
    to: int | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> PromotionResult:
    """Move ``name`` to tier ``to`` (default: one up). Without ``force`` every gate on the way must pass
    (the first failing one is returned, nothing changes); a lower ``to`` is a manual demotion.

    Raises:
        RegistryError: unknown or archived strategy, or a tier outside 0..3.
    """
    now = now or utcnow()
    row = get_strategy_row(connection, name)
    if row is None:
        raise RegistryError(f"no strategy {name!r} in the registry")
    if row["archived"]:
        raise RegistryError(f"{name!r} is archived ({row['archive_reason']})")
    tier = int(row["tier"])
    target = tier + 1 if to is None else to
    if target not in TIERS:
        raise RegistryError(
            f"tier {target} does not exist; tiers are {', '.join(f'{t} {n}' for t, n in TIERS.items())}"
        )
    if target == tier:
        return PromotionResult([])
    if force or target < tier:
        reason = "forced by the operator" if force else "demoted by the operator"
        return PromotionResult([move_tier(connection, row, target, "manual", reason, now)])
    metrics = gate_metrics(row, loads=loads and not row["blocked_reason"])
    for step in range(tier + 1, target + 1):
        result = evaluate_gate(gates[step], step, metrics)
        if not result.passed:
            return PromotionResult([], refused=result)
    return PromotionResult(
        [move_tier(connection, row, target, "manual", f"promoted by the operator; {result.summary()}", now)]
    )


def archive(connection: sa.Connection, name: str, reason: str, now: datetime | None = None) -> Transition:
    """Archive ``name`` by hand with ``reason`` (the cycles stop running it).

    Raises:
        RegistryError: unknown strategy or empty reason.
    """
    row = get_strategy_row(connection, name)
    if row is None:
        raise RegistryError(f"no strategy {name!r} in the registry")
    if not reason.strip():
        raise RegistryError("an archive needs a reason")
    update_strategy(connection, name, {"archived": True, "archive_reason": reason})
    return _record(connection, Transition(name, "archive", row["tier"], row["tier"], "manual", reason, now or utcnow()))


def load_and_sync(
    connection: sa.Connection, settings: Settings, plugins: Sequence[Path] = ()
) -> tuple[list[Transition], PluginReport]:
    """Load every strategy implementation (built-ins, ``PLUGINS_DIR`` and ``plugins``, with the active
    trading models: :func:`~blofin_stack.ml.deploy.activate_trading_models`) and bring the
    registry in line with what loaded (:func:`sync_registry`): what every registry command does first."""
    report = load_plugins(plugin_paths(settings.plugins_dir, plugins, settings.strategies_dir))
    activate_trading_models(settings.ml_models_path)  # an ML strategy can run once its model is active
    made = sync_registry(connection, all_strategies(), file_errors={str(e.path): str(e) for e in report.errors})
    return made, report


def add_dsl_strategy(
    connection: sa.Connection, settings: Settings, path: Path
) -> tuple[dict[str, Any], list[Transition], bool]:
    """Validate a DSL spec file, keep a canonical copy in ``DATA_DIR/strategies`` and register it (tier 0).

    Returns:
        (the registry row, the transitions made, whether an earlier copy of the same strategy was
        replaced).

    Raises:
        DslError: the spec is invalid (every problem named with its field path).
        RegistryError: the name belongs to a built-in, a plugin or a DSL strategy from another file.
    """
    spec = load_strategy_spec(path)
    target = (settings.strategies_dir / f"{spec.name}.json").resolve()
    load_plugins(plugin_paths(settings.plugins_dir, (), settings.strategies_dir))
    existing = strategy_classes().get(spec.name)
    if existing is not None and strategy_file(existing) != target:
        raise RegistryError(
            f"{path}: strategy name {spec.name!r} is taken by the {strategy_source(spec.name)} strategy in "
            f"{strategy_file(existing)}; choose another name"
        )
    replaced = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{secrets.token_hex(4)}.tmp")
    tmp.write_text(dump_strategy_spec(spec, "json"))
    os.replace(tmp, target)
    made, report = load_and_sync(connection, settings)
    errors = [e for e in report.errors if e.path == target]
    if errors:  # cannot happen for a spec that validated, but never register silently
        raise RegistryError(str(errors[0]))
    row = get_strategy_row(connection, spec.name)
    assert row is not None
    return row, made, replaced
