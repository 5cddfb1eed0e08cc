"""Services behind ``blofin ml``: find a stored model, re-score it on the newest data, predict the last bar.

Training itself is the ML cycle (:mod:`blofin_stack.pipeline.ml_cycle`); these functions read the model
store and the market store and compute, they never change a stored model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from blofin_stack.config import Settings
from blofin_stack.features import compute_features, max_warmup
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import MINUTE_MS, timeframe_ms
from blofin_stack.ml.base import ENTRY_INPUTS, TRADE_INPUTS
from blofin_stack.ml.deploy import load_stored
from blofin_stack.ml.splits import WalkForward
from blofin_stack.ml.store import ModelStoreError, list_models
from blofin_stack.pipeline.ml_cycle import (
    TRADE_LABELS,
    DriftCheck,
    MlData,
    check_drift,
    load_cycle_bars,
)
from blofin_stack.serialize import iso

_MODEL_ID = re.compile(r"^model_\d{3,}$")


class ModelNotFoundError(LookupError):
    """No stored model answers to a name or id."""

    def __str__(self) -> str:
        return str(self.args[0])


def find_model(root: Path | str, name: str, *, prefer_active: bool = False) -> dict[str, Any]:
    """The :func:`list_models` row of ``name``: a folder id (``model_007``), or the newest model of that
    name (with ``prefer_active``: its active version when it has one).

    Raises:
        ModelNotFoundError: nothing matches (the message lists the stored names).
    """
    rows = [r for r in list_models(root) if r.get("status") != "broken"]
    if _MODEL_ID.match(name):
        for row in rows:
            if row["id"] == name:
                return row
    same = [r for r in rows if r.get("name") == name]
    if prefer_active:
        active = [r for r in same if r.get("status") == "active"]
        same = active or same
    if same:
        return same[-1]
    known = sorted({str(r.get("name")) for r in rows})
    raise ModelNotFoundError(
        f"no stored model {name!r} in {root}; stored: {', '.join(known) or 'none (run blofin ml train)'}"
    )


def show_model(root: Path | str, name: str) -> dict[str, Any]:
    """``{"id", "path", "config", "metadata"}`` of the newest model of ``name`` (or folder id ``name``).

    Raises:
        ModelNotFoundError, ModelStoreError.
    """
    row = find_model(root, name)
    path = Path(row["path"])
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        metadata = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"{row['id']}: cannot read its files: {exc}") from None
    return {"id": row["id"], "path": str(path), "config": config, "metadata": metadata}


def validate_model(settings: Settings, name: str) -> DriftCheck:
    """Re-score a stored model (its active version, else the newest) on the newest test window: the last
    ``ML_TEST_DAYS`` of data after the end of its own training window, as the ML cycle's drift check
    does (nothing is retrained or changed; a ``retrain`` decision says the cycle would retrain it).

    Raises:
        ModelNotFoundError, ModelStoreError, NoMarketDataError.
    """
    row = find_model(settings.ml_models_path, name, prefer_active=True)
    _, config, _ = load_stored(row["path"])
    timeframe = str(config.get("timeframe") or settings.ml_timeframe)
    registered = [f for f in config["features"] if f not in TRADE_INPUTS]
    bars, window = load_cycle_bars(settings, timeframe, registered, config.get("label_name") in TRADE_LABELS)
    data = MlData(settings, bars, window, timeframe)
    splitter = WalkForward(settings.ml_train_days, settings.ml_test_days, settings.ml_embargo_hours)
    return check_drift(row, data, settings, splitter)


def predict_latest(settings: Settings, name: str, inst: str) -> dict[str, Any]:
    """The stored model's prediction on the last closed bar of ``inst`` (its active version, else the newest).

    Entry models (input ``trade_side``) give one prediction per side; the exit model needs an open
    position (bars held, open return) and is refused.

    Returns:
        ``{"model_id", "name", "inst_id", "timeframe", "bar_ts", "bar_iso", "target", "task",
        "predictions": [{"side"?, "prediction", "probabilities"?}]}``.

    Raises:
        ModelNotFoundError, ModelStoreError, UnknownInstrumentError, ValueError (features not finite at the
        last bar, or a model that needs an open position).
    """
    row = find_model(settings.ml_models_path, name, prefer_active=True)
    estimator, config, _ = load_stored(row["path"])
    features = list(config["features"])
    needs_position = [f for f in features if f in TRADE_INPUTS and f not in ENTRY_INPUTS]
    if needs_position:
        raise ValueError(
            f"{row['id']} ({config['name']}) needs an open position ({', '.join(needs_position)}): it predicts for "
            "a trade in progress, not for a bar"
        )
    registered = [f for f in features if f not in TRADE_INPUTS]
    timeframe = str(config.get("timeframe") or settings.ml_timeframe)
    store = MarketStore(settings.market_dir)
    end = store.last_ts(inst) + MINUTE_MS
    step = timeframe_ms(timeframe)
    bars = load_bars(store, inst, timeframe, start_ms=end - step, warmup_bars=max_warmup(registered, timeframe) + 50)
    if not len(bars):
        raise ValueError(f"{inst}: no closed {timeframe} bar")
    values = compute_features(bars, registered).iloc[[-1]]
    bad = [f for f in registered if not np.isfinite(values[f].to_numpy(dtype="float64")).all()]
    if bad:
        raise ValueError(f"features not finite at the last bar of {inst}: {', '.join(bad)} (too little history?)")
    sides = {"long": 1.0, "short": -1.0} if "trade_side" in features else {"": None}
    out = []
    for side, value in sides.items():
        frame = values.copy()
        if value is not None:
            frame["trade_side"] = value
        X = frame[features].to_numpy(dtype="float64")
        entry: dict[str, Any] = {"prediction": float(np.asarray(estimator.predict(X))[0])}
        if config.get("task") == "classification":
            proba = np.asarray(estimator.predict_proba(X))[0]
            entry["probabilities"] = {str(c): float(p) for c, p in zip(estimator.classes_, proba, strict=True)}
        if side:
            entry = {"side": side, **entry}
        out.append(entry)
    ts = int(bars.index[-1])
    return {
        "model_id": row["id"],
        "name": config["name"],
        "inst_id": inst,
        "timeframe": timeframe,
        "bar_ts": ts,
        "bar_iso": iso(ts),
        "target": config.get("label_name"),
        "task": config.get("task"),
        "status": row.get("status"),
        "predictions": out,
    }
