"""Deploying stored models into trading: the active entry classifier and exit model become the model
features (``ml:ml_entry_classifier:long`` / ``:short``) and the position model (``ml_exit_timing``) that
the ML strategies use (:mod:`blofin_stack.ml.serving`, :mod:`blofin_stack.strategies.ml_filter`).

Which version: the one the ML cycle made ``active`` (a suspect model never is). Its predictions count
from ``metadata.training.available_from`` on (the end of the deployed fit's labels plus the embargo,
which the ML cycle places at the start of the strategy cycle's backtest window), and are NaN before.
Every process that runs strategies calls :func:`activate_trading_models` (the strategy cycle and its
workers, the CLI's backtest, audit and feature commands, the registry sync): it loads a model once per
process and retires the features of a model that is no longer active.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blofin_stack.features import REGISTRY, UnknownFeatureError
from blofin_stack.ml.base import TRADE_INPUTS
from blofin_stack.ml.serving import (
    POSITION_MODELS,
    PositionModel,
    model_feature_specs,
    register_model_features,
    register_position_model,
)
from blofin_stack.ml.store import ModelStoreError, list_models, load_model

#: The models strategies use: how (as bar features or as the position model) and by which strategies.
TRADING_MODELS: dict[str, tuple[str, str]] = {
    "ml_entry_classifier": ("features", "ml_gbt_5m and the ML entry filters (e.g. ema_crossover_ml)"),
    "ml_exit_timing": ("position", "the ML exit wrappers (e.g. macd_crossover_mlexit)"),
}

#: name -> (model folder, creation time, registered feature names) of what this process has registered.
_DEPLOYED: dict[str, tuple[str, Any, list[str]]] = {}


def available_features(names: Sequence[str]) -> set[str]:
    """The names among ``names`` the feature registry resolves, plus :data:`TRADE_INPUTS` (model inputs
    that are not registered features): what :func:`~blofin_stack.ml.store.load_model` may accept."""
    out = set(TRADE_INPUTS)
    for name in names:
        try:
            REGISTRY.resolve(name)
        except UnknownFeatureError:
            continue
        out.add(name)
    return out


def load_stored(path: Path | str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """:func:`~blofin_stack.ml.store.load_model` with the feature check against the registry.

    Raises:
        ModelStoreError: missing features, bad files.
    """
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"{path.name}: cannot read config.json: {exc}") from None
    return load_model(path, available_features(config.get("features", [])))


def _retire(name: str) -> None:
    _, _, features = _DEPLOYED.pop(name, ("", None, []))
    for feature in features:
        REGISTRY.unregister(feature)
    POSITION_MODELS.pop(name, None)


def activate_trading_models(models_root: Path | str) -> dict[str, str]:
    """Register the active version of each of :data:`TRADING_MODELS` for the strategies.

    Returns:
        model name -> the folder now serving it (``model_007``), or why none is (no active version, or
        the stored model could not be loaded: the message names the file or the missing features).
    """
    active = {
        row["name"]: row
        for row in list_models(models_root)
        if row.get("status") == "active" and row.get("name") in TRADING_MODELS
    }
    out: dict[str, str] = {}
    for name, (use, _) in TRADING_MODELS.items():
        row = active.get(name)
        if row is None:
            _retire(name)
            out[name] = "no active version (run the ML cycle: blofin pipeline run --mode ml)"
            continue
        key = (str(row["path"]), row.get("created_ts"))
        if _DEPLOYED.get(name, ("", None, []))[:2] == key:
            out[name] = str(row["id"])
            continue
        _retire(name)
        try:
            estimator, config, metadata = load_stored(row["path"])
            available_from = int(metadata["training"]["available_from"])
        except (ModelStoreError, KeyError, TypeError, ValueError) as exc:
            out[name] = f"{row['id']} cannot be loaded: {exc}"
            continue
        inputs = tuple(config["features"])
        registered: list[str] = []
        if use == "features":
            version = f"{row['id']} (created {row.get('created_ts')})"  # in the feature cache key
            specs = model_feature_specs(name, estimator, inputs, config["timeframe"], available_from, version)
            registered = register_model_features(specs)
        else:
            model = PositionModel(name, estimator, inputs, available_from, str(row["id"]), config["timeframe"])
            register_position_model(model)
        _DEPLOYED[name] = (*key, registered)
        out[name] = str(row["id"])
    return out
