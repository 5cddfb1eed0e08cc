"""``blofin ml``: train the model zoo, list and show stored models, re-score one, predict the last bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from blofin_stack.cli.output import console, fail, print_json, progress
from blofin_stack.cli.plugins import load_cli_plugins, plugin_option
from blofin_stack.config import get_settings, split_csv
from blofin_stack.db.engine import get_engine
from blofin_stack.features import REGISTRY, UnknownFeatureError
from blofin_stack.market.store import UnknownInstrumentError
from blofin_stack.market.timeframes import TimeframeError, parse_timeframe
from blofin_stack.ml.dataset import refuse_label_features
from blofin_stack.ml.models import NAMES, UnknownModelError, module
from blofin_stack.ml.store import ModelStoreError, list_models
from blofin_stack.pipeline import ml_cycle
from blofin_stack.pipeline.ml_commands import ModelNotFoundError, predict_latest, show_model, validate_model
from blofin_stack.pipeline.ml_cycle import persist_ml_cycle, primary_metric, run_ml_cycle
from blofin_stack.pipeline.strategy_cycle import NoMarketDataError

app = typer.Typer(help="Machine-learning models: train, list, show, validate, predict.", no_args_is_help=True)


def _num(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _features(text: str | None) -> list[str] | None:
    """The ``--features`` list, each name checked against the registry and the label names."""
    if text is None:
        return None
    names = split_csv(text)
    if not names:
        raise fail("--features: give at least one feature name", 2)
    try:
        for name in names:
            REGISTRY.resolve(name)
        refuse_label_features(names)
    except (UnknownFeatureError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    return names


def _train_entry(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "model_type", "target", "features", "oos", "baseline", "lift", "skill", "status", "reasons")
    return {**{k: summary[k] for k in keys}, "model_id": summary["model_id"], "folds": summary["folds"]}


@app.command("train")
def train(
    model: list[str] = typer.Option(
        [], "--model", help=f"Model to train (repeatable); default all: {', '.join(NAMES)}."
    ),
    features: str | None = typer.Option(
        None, "--features", help="Comma-separated features (default: the scale-free set)."
    ),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bars to train on (default ML_TIMEFRAME)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Train and report, store nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the models, ensembles and drift decisions as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Train models with purged walk-forward validation and the leakage canaries, then store them."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    try:
        for name in model:
            module(name)
        if timeframe is not None:
            settings = settings.model_copy(update={"ml_timeframe": parse_timeframe(timeframe)})
    except (UnknownModelError, TimeframeError) as exc:
        raise fail(str(exc), 2) from None
    chosen = _features(features)
    total = len(model or ml_cycle.DEFAULT_MODELS or NAMES)
    try:
        with progress("training models", total, enabled=not as_json) as advance:
            cycle = run_ml_cycle(settings, models=model or None, features=chosen, plugins=plugin, on_progress=advance)
    except NoMarketDataError as exc:
        raise fail(str(exc)) from None
    if not dry_run:
        persist_ml_cycle(get_engine(settings.database_url), settings, cycle)
    changes = cycle.ml_changes()
    if as_json:
        print_json(
            {
                "cycle_id": cycle.cycle_id,
                "stored": not dry_run,
                "models": [_train_entry(m.summary()) for m in cycle.trained],
                "ensembles": changes["ensembles_tested"],
                "retrained": changes["retrained"],
                "canaries": cycle.canaries,
                "timings": cycle.timings,
                "seconds": cycle.seconds,
            }
        )
        return
    console.print(escape(changes["status"]))
    table = Table(title="Out of sample (mean over walk-forward folds) beside the naive baseline")
    for column in ("model", "id", "target", "metric", "OOS", "baseline", "skill", "status", "reasons"):
        table.add_column(column, justify="right" if column in ("OOS", "baseline", "skill") else "left")
    for m in changes["trained"]:
        table.add_row(
            m["name"],
            m["model_id"] or "-",
            m["target"],
            m["metric"],
            _num(m["oos"]),
            _num(m["baseline"]),
            _num(m["skill"], 2),
            m["status"],
            escape("; ".join(m["reasons"])),
        )
    console.print(table)
    for e in changes["ensembles_tested"]:
        console.print(
            f"ensemble {e['name']}: accuracy {_num(e['accuracy'])}, skill {_num(e['skill'], 2)}, {e['status']}"
        )
    for d in changes["retrained"]:
        console.print(escape(f"drift {d['model']}: {d['decision']}: {d['reason']}"))
    if dry_run:
        console.print("dry run: nothing was stored")


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print the stored models as JSON.")) -> None:
    """Every stored model: id, name, status, target, out-of-sample metric beside its baseline, skill."""
    rows = list_models(get_settings().ml_models_path)
    entries = []
    for row in rows:
        performance = row.get("performance") or {}
        mean = performance.get("mean") or {}
        metric = primary_metric("regression" if "mae" in (mean.get("oos") or {}) else "classification")
        entries.append(
            {
                **{k: row.get(k) for k in ("id", "name", "type", "status", "version", "created_ts", "label")},
                "metric": metric,
                "oos": (mean.get("oos") or {}).get(metric),
                "baseline": (mean.get("baseline") or {}).get(metric),
                "skill": performance.get("skill"),
                "path": row["path"],
            }
        )
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"Stored models ({len(entries)}) in {get_settings().ml_models_path}")
    for column in ("id", "name", "status", "target", "metric", "OOS", "baseline", "skill", "created"):
        table.add_column(column, justify="right" if column in ("OOS", "baseline", "skill") else "left")
    for e in entries:
        table.add_row(
            e["id"],
            e["name"] or "",
            e["status"] or "",
            e["label"] or "",
            e["metric"],
            _num(e["oos"]),
            _num(e["baseline"]),
            _num(e["skill"], 2),
            e["created_ts"] or "",
        )
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Model name (its newest version) or folder id (model_007)."),
    as_json: bool = typer.Option(False, "--json", help="Print its config and metadata as JSON."),
) -> None:
    """One stored model: what it predicts, status, training, out-of-sample performance, hyper-parameters."""
    try:
        shown = show_model(get_settings().ml_models_path, name)
    except ModelNotFoundError as exc:
        raise fail(str(exc), 2) from None
    except ModelStoreError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(shown)
        return
    readme = Path(shown["path"]) / "README.md"
    console.print(Markdown(readme.read_text(encoding="utf-8")) if readme.is_file() else shown["metadata"])


@app.command("validate")
def validate(
    name: str = typer.Argument(..., help="Model name (its active version, else the newest) or folder id."),
    as_json: bool = typer.Option(False, "--json", help="Print the check as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """Re-score a stored model on the newest test window (after its own training window) against its
    validated metric, as the ML cycle's drift check does; nothing is changed."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    try:
        check = validate_model(settings, name)
    except ModelNotFoundError as exc:
        raise fail(str(exc), 2) from None
    except (ModelStoreError, NoMarketDataError) as exc:
        raise fail(str(exc)) from None
    payload = {
        **check.summary(),
        "fresh_window": check.details.get("fresh_window"),
        "evaluation": check.evaluation,
        "drift_limit_pct": settings.ml_drift_drop_pct,
    }
    if as_json:
        print_json(payload)
        return
    console.print(
        f"{check.model_id} ({check.model_name}): {check.metric} validated {_num(check.validated)}, fresh "
        f"{_num(check.fresh)}, drop {_num(check.drop_pct, 1)} %: {check.decision}: {escape(check.reason)}",
        soft_wrap=True,
    )


@app.command("predict")
def predict(
    name: str = typer.Argument(..., help="Model name (its active version, else the newest) or folder id."),
    inst: str = typer.Option(..., "--inst", help="Instrument, e.g. BTC-USDT."),
    as_json: bool = typer.Option(False, "--json", help="Print the prediction as JSON."),
    plugin: list[Path] = plugin_option(),
) -> None:
    """The model's prediction on the last closed bar of an instrument (entry models: per side)."""
    settings = get_settings()
    load_cli_plugins(settings, plugin)
    try:
        result = predict_latest(settings, name, inst)
    except (ModelNotFoundError, UnknownInstrumentError) as exc:
        raise fail(str(exc), 2) from None
    except (ModelStoreError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(result)
        return
    console.print(f"{result['model_id']} ({result['name']}) on {inst} {result['timeframe']} bar {result['bar_iso']}:")
    for p in result["predictions"]:
        side = f"{p['side']}: " if "side" in p else ""
        probabilities = p.get("probabilities")
        shown = ", ".join(f"P({c})={v:.3f}" for c, v in probabilities.items()) if probabilities else ""
        console.print(f"  {side}{result['target']} = {p['prediction']:.6g}" + (f" ({shown})" if shown else ""))
