"""``blofin features list|show``: the feature library."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from blofin_stack.cli.output import console, fail, iso, print_json
from blofin_stack.cli.plugins import load_cli_plugins, plugin_option
from blofin_stack.config import get_settings
from blofin_stack.features import GROUPS, REGISTRY, FeatureError, FeatureManager, UnknownFeatureError
from blofin_stack.market.store import UnknownInstrumentError
from blofin_stack.market.timeframes import TimeframeError

app = typer.Typer(help="The feature library.", no_args_is_help=True)


@app.command("list")
def list_features(
    group: str | None = typer.Option(None, "--group", "-g", help=f"Only this group: {', '.join(GROUPS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Every feature: name, group, units, warm-up, description; then the parameterised families."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    if group is not None and group not in GROUPS:
        raise fail(f"unknown group {group!r}; use one of {', '.join(GROUPS)}", 2)
    listed = [
        entry
        for entry in FeatureManager.from_settings(settings).list_available_features()
        if group is None or entry["group"] == group
    ]
    if as_json:
        print_json(listed)
        return
    table = Table(
        title=f"{sum('family' not in e for e in listed)} features, {sum('family' in e for e in listed)} families"
    )
    for column in ("name", "group", "units", "warm-up", "description"):
        table.add_column(column, overflow="fold")
    for entry in listed:
        table.add_row(
            str(entry["name"]),
            str(entry["group"]),
            str(entry.get("units", "")),
            str(entry.get("warmup_bars", "n-dependent")),
            str(entry["description"]),
        )
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Feature name, e.g. rsi_14, ema_50, 1H:ema_21."),
    inst: str | None = typer.Option(None, "--inst", help="Instrument for the sample (default: the first stored)."),
    timeframe: str = typer.Option("5m", "--timeframe", "-t", help="Timeframe of the sample."),
    bars: int = typer.Option(10, "--bars", min=1, help="How many recent values to show."),
    as_json: bool = typer.Option(False, "--json", help="Print metadata and sample as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """A feature's description, units, warm-up, source, and its latest values on stored data."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    try:
        spec = REGISTRY.resolve(name)
    except UnknownFeatureError as exc:
        raise fail(str(exc), 2) from None
    manager = FeatureManager.from_settings(settings)
    stored = manager.store.instruments()
    inst = inst or (stored[0] if stored else None)
    sample: list[dict[str, object]] = []
    note = ""
    if inst is None:
        note = "no stored candles to show values on (blofin data import PATH)"
    else:
        try:
            values = manager.get_features(inst, timeframe, [spec.name], lookback_bars=bars)[spec.name]
        except (UnknownInstrumentError, TimeframeError, FeatureError) as exc:
            raise fail(str(exc), 2) from None
        sample = [{"ts": int(ts), "time": iso(int(ts)), "value": float(v)} for ts, v in values.items()]
    info = {**spec.describe(), "sample": {"inst_id": inst, "timeframe": timeframe, "values": sample}}
    if as_json:
        print_json(info)
        return
    for key in ("name", "group", "description", "units", "warmup_bars", "timeframe", "source"):
        if info[key] is not None:
            console.print(f"[bold]{key}[/]: {info[key]}")
    if note:
        console.print(note)
    else:
        table = Table(title=f"{spec.name} on {inst} {timeframe} (latest closed bars)")
        table.add_column("bar open (UTC)")
        table.add_column("value", justify="right")
        for row in sample:
            table.add_row(str(row["time"]), f"{row['value']:.6g}")
        console.print(table)
