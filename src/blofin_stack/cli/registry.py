"""``blofin registry``: the strategy registry, its tiers, gates and audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from blofin_stack.cli.output import console, fail, print_json
from blofin_stack.cli.plugins import plugin_option
from blofin_stack.config import get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.registry import get_strategy_row, list_strategies, list_transitions
from blofin_stack.lifecycle.gates import TIERS, evaluate_gate, gate_metrics, gates_from_settings
from blofin_stack.lifecycle.registry import RegistryError, archive, load_and_sync, promote
from blofin_stack.strategies import strategy_classes

app = typer.Typer(help="The strategy registry: tiers, gates, audit trail.", no_args_is_help=True)

BT = ("trades", "win_rate", "sharpe", "pnl_pct", "max_dd", "profit_factor", "eep_score", "last_run")
FT = ("trades", "win_rate", "sharpe", "pnl_pct", "max_dd", "profit_factor", "eep_score", "started", "last_update")


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["strategy_name"],
        "tier": row["tier"],
        "tier_name": TIERS[row["tier"]],
        "type": row["strategy_type"],
        "source": row["source"],
        "implementation": row["file_path"],
        "description": row["description"],
        "params": row["params"],
        "bt": {k: row[f"bt_{k}"] for k in BT},
        "ft": {k: row[f"ft_{k}"] for k in FT},
        "promoted_at": row["promoted_at"],
        "demoted_at": row["demoted_at"],
        "archived": bool(row["archived"]),
        "reason": row["archive_reason"] or row["blocked_reason"],
    }


def _synced(plugin: list[Path]) -> Any:
    """An open transaction on a registry just brought in line with the loadable strategies."""
    settings = get_settings()
    engine = get_engine(settings.database_url)
    connection = engine.connect()
    transaction = connection.begin()
    _, report = load_and_sync(connection, settings, plugin)
    for error in report.errors:
        console.print(f"[bold red]{error}[/]", soft_wrap=True)
    return connection, transaction


@app.command("list")
def list_command(
    tier: int | None = typer.Option(None, "--tier", help="Only this tier (0 library .. 3 live)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Every strategy: tier, type, source, implementation, latest backtest/forward metrics, archive state."""
    connection, transaction = _synced(plugin)
    with connection:
        rows = [_entry(r) for r in list_strategies(connection, tier)]
        transaction.commit()
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Strategy registry ({len(rows)}); backtest figures on each strategy's own timeframes")
    table.add_column("tier", no_wrap=True)
    table.add_column("name", no_wrap=True)
    for column in ("trades", "win", "Sharpe", "EEP"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("state", overflow="fold")
    for r in rows:
        bt = r["bt"]
        state = f"archived: {r['reason']}" if r["archived"] else (f"blocked: {r['reason']}" if r["reason"] else "")
        table.add_row(
            str(r["tier"]),
            r["name"],
            "" if bt["trades"] is None else str(bt["trades"]),
            "" if bt["win_rate"] is None else f"{bt['win_rate']:.2f}",
            "" if bt["sharpe"] is None else f"{bt['sharpe']:.2f}",
            "" if bt["eep_score"] is None else f"{bt['eep_score']:.1f}",
            state,
        )
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Strategy name."),
    as_json: bool = typer.Option(False, "--json", help="Print the row, its next gate and its history as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """One strategy: its row, where it stands against the next gate, and its recent transitions."""
    settings = get_settings()
    connection, transaction = _synced(plugin)
    with connection:
        row = get_strategy_row(connection, name)
        if row is None:
            raise fail(f"no strategy {name!r} in the registry", 2)
        history = list_transitions(connection, name)
        transaction.commit()
    entry = _entry(row)
    gates = gates_from_settings(settings)
    metrics = gate_metrics(row, loads=name in strategy_classes() and not row["blocked_reason"])
    next_gate = None
    if row["tier"] < 3:
        result = evaluate_gate(gates[row["tier"] + 1], row["tier"] + 1, metrics)
        next_gate = {"tier": row["tier"] + 1, "passed": result.passed, "checks": [text for _, _, text in result.checks]}
    payload = {**entry, "next_gate": next_gate, "history": history[-10:]}
    if as_json:
        print_json(payload)
        return
    for key in ("name", "tier_name", "type", "source", "implementation", "description", "params", "reason"):
        if payload[key] is not None:
            console.print(f"[bold]{key}[/]: {payload[key]}")
    console.print(f"[bold]backtest[/]: {entry['bt']}")
    console.print(f"[bold]forward[/]: {entry['ft']}")
    if next_gate:
        console.print(f"[bold]gate to tier {next_gate['tier']}[/]: " + ("passes" if next_gate["passed"] else "fails"))
        for text in next_gate["checks"]:
            console.print(f"  - {text}")
    for t in history[-10:]:
        move = f"{t['action']} {t['from_tier']} -> {t['to_tier']}"
        console.print(f"{t['timestamp']:%Y-%m-%d %H:%M} {move} ({t['actor']}): {t['reason']}", soft_wrap=True)


@app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="Strategy name."),
    to: int | None = typer.Option(None, "--to", help="Target tier (default: one up; lower = demote)."),
    force: bool = typer.Option(False, "--force", help="Skip the gates."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Move a strategy to another tier; without --force every gate on the way must pass."""
    settings = get_settings()
    connection, transaction = _synced(plugin)
    with connection:
        try:
            result = promote(
                connection, name, gates_from_settings(settings), loads=name in strategy_classes(), to=to, force=force
            )
        except RegistryError as exc:
            raise fail(str(exc), 2) from None
        transaction.commit()
    if result.refused is not None:
        console.print(f"{name} {result.refused.summary()}", soft_wrap=True)
        raise typer.Exit(1)
    for t in result.transitions:
        console.print(f"{t.action}d {name}: tier {t.from_tier} -> {t.to_tier} ({t.reason})", soft_wrap=True)
    if not result.transitions:
        console.print(f"{name} is already at that tier")


@app.command("archive")
def archive_command(
    name: str = typer.Argument(..., help="Strategy name."),
    reason: str = typer.Option(..., "--reason", help="Why (kept on the audit trail)."),
) -> None:
    """Archive a strategy: the cycles stop running it."""
    connection, transaction = _synced([])
    with connection:
        try:
            archive(connection, name, reason)
        except RegistryError as exc:
            raise fail(str(exc), 2) from None
        transaction.commit()
    console.print(f"archived {name}: {reason}")


@app.command("history")
def history_command(
    name: str = typer.Argument(..., help="Strategy name."),
    as_json: bool = typer.Option(False, "--json", help="Print the transitions as JSON."),
) -> None:
    """Every transition of a strategy: time, action, from, to, actor, reason."""
    connection, transaction = _synced([])
    with connection:
        if get_strategy_row(connection, name) is None:
            raise fail(f"no strategy {name!r} in the registry", 2)
        history = list_transitions(connection, name)
        transaction.commit()
    if as_json:
        print_json(history)
        return
    table = Table(title=f"{name}: history")
    for column in ("time", "action", "from", "to", "actor", "reason"):
        table.add_column(column, overflow="fold")
    for t in history:
        table.add_row(
            f"{t['timestamp']:%Y-%m-%d %H:%M:%S}",
            t["action"],
            str(t["from_tier"]),
            str(t["to_tier"]),
            t["actor"],
            t["reason"],
        )
    console.print(table)


@app.command("gates")
def gates_command(as_json: bool = typer.Option(False, "--json", help="Print the gates as JSON.")) -> None:
    """The promotion gates in force (GATE_* settings)."""
    gates = gates_from_settings(get_settings())
    payload = {
        str(tier): [{"label": c.label, "metric": c.metric, "op": c.op, "threshold": c.threshold} for c in criteria]
        for tier, criteria in gates.items()
    }
    if as_json:
        print_json(payload)
        return
    for tier, criteria in gates.items():
        console.print(f"[bold]into tier {tier} ({TIERS[tier]})[/]")
        for c in criteria:
            console.print(f"  {c.label}: {c.metric} {c.op} {c.threshold:g}")
