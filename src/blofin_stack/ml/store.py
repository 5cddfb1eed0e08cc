"""The model store: one folder per trained model under ``ML_MODELS_PATH``, never a pickle.

Layout of ``<root>/model_NNN/`` (``NNN`` = next number after the highest in use, zero-padded to 3 digits)::

    model.skops         the whole fitted pipeline (format ``skops``: scikit-learn models), or
    model.json          XGBoost's own JSON model (``xgboost-json``), or
    model.pt            a PyTorch state dict (``torch-state-dict``: tensors only),
    scaler.skops        with the two native formats: the pipeline's steps before the model (the scaler)
    config.json         what is needed to rebuild and feed it: features (in order), hyper-parameters,
                        the estimator's constructor parameters, label, horizon, timeframe, classes,
                        file format and SHA-256 of each model file
    metadata.json       what it is and how good it was (seed 003's fields): name, type, description,
                        created_ts, version, status (+ history), features, feature_count, hyperparams,
                        training (instruments, data points, folds, windows), performance (OOS metrics,
                        baseline, lift), dependencies (package versions), backend
    README.md           generated from the two JSON files

**No pickles.** skops files are zip archives of JSON plus numpy arrays; :func:`load_model` first lists the
types a file would create (``skops.io.get_untrusted_types``) and accepts only classes from scikit-learn,
numpy, scipy, XGBoost, LightGBM and this package (functions or other modules are refused:
:class:`ModelStoreError` naming them). XGBoost models are its JSON format. A PyTorch state dict is written
with ``torch.save`` (a zip holding the tensors; its small index is pickle-encoded by PyTorch) and read back
only with ``torch.load(weights_only=True)``, PyTorch's restricted loader that admits tensors and plain
containers and refuses any other object. Each model file's SHA-256 is checked before loading.

**Loading checks the features.** ``load_model(path, available_features)`` refuses a model that needs a
feature the FeatureManager does not offer, naming the missing ones.

**Atomic saves.** A model is written into a hidden temporary folder and renamed to ``model_NNN`` in one
step; a crash leaves no half-written model, and two processes saving at once get different numbers.

**Time.** ``created_ts`` and status changes take ``now_ms`` when the caller gives it (the ML cycle passes its
own clock); otherwise the store stamps the wall clock: it is an I/O edge of ``ml/``, like ``db/``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from blofin_stack.ml.base import ModelSpec
from blofin_stack.ml.models._common import MODEL_STEP, EncodedXGBClassifier, final_estimator
from blofin_stack.serialize import iso, to_json

#: Statuses a stored model can have. ``candidate`` on save; the ML cycle moves it on.
STATUSES = ("candidate", "active", "suspect", "superseded", "archived")
FORMATS = ("skops", "xgboost-json", "torch-state-dict")
#: Top-level packages whose classes a skops file may create.
TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "xgboost", "lightgbm", "blofin_stack")
MODEL_DIR = re.compile(r"^model_(\d{3,})$")
_FILES = {
    "skops": {"model": "model.skops"},
    "xgboost-json": {"model": "model.json", "scaler": "scaler.skops"},
    "torch-state-dict": {"model": "model.pt", "scaler": "scaler.skops"},
}


class ModelStoreError(Exception):
    """A model that cannot be saved or loaded as asked (missing features, untrusted types, bad files)."""


# --------------------------------------------------------------------------------------------------
# helpers


def _now_iso(now_ms: int | None) -> str:
    return str(iso(int(time.time() * 1000) if now_ms is None else int(now_ms)))


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_json(payload) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelStoreError(f"{path} is missing: {path.parent} is not a complete stored model") from None
    except json.JSONDecodeError as exc:
        raise ModelStoreError(f"{path} is not valid JSON: {exc}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _model_number(path: Path) -> int | None:
    match = MODEL_DIR.match(path.name)
    return int(match.group(1)) if match else None


def _model_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _model_number(p) is not None]
    return sorted(found, key=lambda p: _model_number(p) or 0)


def file_format_of(estimator: Any) -> str:
    """How a fitted zoo estimator is stored: ``xgboost-json`` for XGBoost models, ``torch-state-dict`` for
    the torch network, ``skops`` for everything else."""
    from xgboost import XGBModel

    from blofin_stack.ml.models.price_predictor import TorchMLPRegressor

    model = final_estimator(estimator)
    if isinstance(model, TorchMLPRegressor):
        return "torch-state-dict"
    if isinstance(model, EncodedXGBClassifier | XGBModel):
        return "xgboost-json"
    return "skops"


def _innermost(model: Any) -> Any:
    """The estimator inside the zoo's wrappers (clipping, recent rows, calibration, target scaling)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import TransformedTargetRegressor

    from blofin_stack.ml.models._common import ClippedRegressor, RecentSamplesClassifier

    if isinstance(model, ClippedRegressor | RecentSamplesClassifier):
        return _innermost(getattr(model, "estimator_", model.estimator))
    if isinstance(model, CalibratedClassifierCV):
        return _innermost(model.estimator)
    if isinstance(model, TransformedTargetRegressor):
        return _innermost(getattr(model, "regressor_", model.regressor))
    return model


def describe_backend(estimator: Any) -> str:
    """What computes the predictions, with its version: ``xgboost 3.2.0 XGBClassifier``, ``torch 2.13.0
    (cuda)``, ``scikit-learn 1.9.1 MLPRegressor (torch not installed; ...)``."""
    from blofin_stack.ml.models import price_predictor

    model = final_estimator(estimator)
    inner = _innermost(model)
    if isinstance(model, price_predictor.TorchMLPRegressor) or type(inner).__name__ == "MLPRegressor":
        return price_predictor.backend_of(estimator)
    if isinstance(model, EncodedXGBClassifier):
        import xgboost

        return f"xgboost {xgboost.__version__} XGBClassifier"
    top = type(inner).__module__.split(".")[0]
    library = {"sklearn": "scikit-learn"}.get(top, top)
    try:
        version = importlib.import_module(top).__version__
    except (ImportError, AttributeError):
        version = "?"
    return f"{library} {version} {type(inner).__name__}"


def _dependencies(file_format: str) -> dict[str, str]:
    import sklearn
    import skops
    import xgboost

    import blofin_stack

    deps = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "xgboost": xgboost.__version__,
        "blofin-stack": getattr(blofin_stack, "__version__", "0.1.0"),
    }
    if file_format == "torch-state-dict":
        import torch

        deps["torch"] = torch.__version__
    return deps


def _estimator_params(model: Any) -> dict[str, Any]:
    """Constructor parameters of a natively stored model, JSON-safe (None and NaN ``missing`` left out)."""
    params = model.get_params(deep=False)
    out = {}
    for key, value in params.items():
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            continue
        if key in ("callbacks", "kwargs"):
            continue
        out[key] = _jsonable(value)
    return out


def _fitted_feature_count(estimator: Any) -> int:
    count = getattr(estimator, "n_features_in_", None)
    if count is None:
        raise ModelStoreError(f"{type(estimator).__name__} is not fitted: only fitted models are stored")
    return int(count)


# --------------------------------------------------------------------------------------------------
# trusted types


def _resolves_to_class(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return isinstance(obj, type)
    return False


def untrusted_types(file: Path) -> list[str]:
    """Types in skops file ``file`` that :func:`load_model` refuses: anything not a class of
    :data:`TRUSTED_PACKAGES` (skops' own defaults, builtins and numpy basics, are accepted by skops)."""
    import skops.io as sio

    refused = []
    for name in sio.get_untrusted_types(file=file):
        if name.split(".")[0] not in TRUSTED_PACKAGES or not _resolves_to_class(name):
            refused.append(name)
    return refused


def _load_skops(file: Path) -> Any:
    import skops.io as sio

    if not file.is_file():
        raise ModelStoreError(f"{file} is missing")
    refused = untrusted_types(file)
    if refused:
        raise ModelStoreError(
            f"{file} would create untrusted types: {', '.join(refused)}; only classes of "
            f"{', '.join(TRUSTED_PACKAGES)} are loaded"
        )
    try:
        return sio.load(file, trusted=sio.get_untrusted_types(file=file))
    except Exception as exc:
        raise ModelStoreError(f"{file} cannot be loaded by skops: {exc}") from exc


# --------------------------------------------------------------------------------------------------
# README


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_readme(model_id: str, config: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
    """The ``README.md`` of a stored model, from its config and metadata."""
    label = config.get("label", {})
    training = metadata.get("training", {}) or {}
    lines = [
        f"# {model_id}: {metadata.get('name')} ({metadata.get('type')})",
        "",
        str(metadata.get("description") or ""),
        "",
        f"- **Status**: {metadata.get('status')}"
        + (f" ({metadata['status_reason']})" if metadata.get("status_reason") else ""),
        f"- **Predicts**: `{label.get('name')}` ({label.get('task')}; horizon {label.get('horizon')} bars of "
        f"{config.get('timeframe')}): {label.get('description', '')}",
        f"- **Created**: {metadata.get('created_ts')}, version {metadata.get('version')}",
        f"- **Backend**: {metadata.get('backend')}",
        f"- **Stored as**: `{config.get('file_format')}` ("
        + ", ".join(f"`{f['name']}`" for f in config.get("files", {}).values())
        + ")",
    ]
    if config.get("classes") is not None:
        lines.append(f"- **Classes**: {', '.join(_fmt(c) for c in config['classes'])}")
    if training:
        lines += ["", "## Training", ""]
        lines += [
            f"- {key}: {_fmt(value) if not isinstance(value, list) else ', '.join(map(str, value))}"
            for key, value in training.items()
        ]
    features = config.get("features", [])
    lines += ["", f"## Features ({len(features)})", "", ", ".join(f"`{f}`" for f in features) or "-"]
    performance = metadata.get("performance") or {}
    summary = performance.get("mean", performance)
    spread = performance.get("std", {})
    oos = summary.get("oos") or {}
    if oos:
        kind = performance.get("baseline_kind") or summary.get("baseline_kind") or "naive"
        folds = performance.get("folds")
        lines += [
            "",
            "## Out-of-sample performance" + (f" (mean over {folds} folds)" if folds else ""),
            "",
            f"| metric | model | baseline ({kind}) | lift |" + (" std |" if spread else ""),
            "| --- | --- | --- | --- |" + (" --- |" if spread else ""),
        ]
        for name, value in oos.items():
            row = f"| {name} | {_fmt(value)} | {_fmt((summary.get('baseline') or {}).get(name))} | "
            row += f"{_fmt((summary.get('lift') or {}).get(name))} |"
            if spread:
                row += f" {_fmt((spread.get('oos') or {}).get(name))} |"
            lines.append(row)
        lines += ["", "Lift is positive when the model beats the baseline (for losses and errors: baseline - model)."]
    else:
        lines += ["", "## Out-of-sample performance", "", "Not evaluated."]
    lines += ["", "## Hyper-parameters", "", "| name | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in (config.get("hyperparams") or {}).items()]
    deps = metadata.get("dependencies") or {}
    lines += ["", "## Dependencies", "", ", ".join(f"{k} {v}" for k, v in deps.items()) or "-"]
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "from blofin_stack.ml.store import load_model",
        "estimator, config, metadata = load_model(path, available_features=set(feature_manager_names))",
        "estimator.predict(features[config['features']].to_numpy())",
        "```",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# public API


def next_model_id(root: Path) -> str:
    """``model_NNN`` after the highest number in ``root`` (``model_001`` for an empty store)."""
    numbers = [_model_number(p) or 0 for p in _model_dirs(Path(root))]
    return f"model_{(max(numbers) if numbers else 0) + 1:03d}"


def save_model(
    root: Path | str,
    spec: ModelSpec,
    fitted_estimator: Any,
    metadata: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    now_ms: int | None = None,
) -> Path:
    """Store a fitted zoo estimator as ``root/model_NNN/`` and return that folder.

    Args:
        root: the store (``Settings.ml_models_path``); created if absent.
        spec: the model's spec (name, type, label, default features and hyper-parameters).
        fitted_estimator: the fitted pipeline (scaler + model) as :func:`ModelSpec.make` built it.
        metadata: merged into ``metadata.json``: usually ``training`` (instruments, data_points, folds,
            train_window, test_window), ``performance`` (``evaluate``/``aggregate`` output), ``status``
            (default ``candidate``), ``status_reason``, ``version`` (default: 1 + models of that name).
        config: merged into ``config.json``: usually ``features`` (the columns the estimator was fitted
            on, in order; default the spec's), ``timeframe``, ``hyperparams`` (the ones used, if not the
            spec's).
        now_ms: creation time (epoch ms); default the wall clock.

    Raises:
        ModelStoreError: not fitted, feature list not matching the fitted estimator, unknown status.
    """
    root = Path(root)
    metadata = dict(metadata or {})
    config = dict(config or {})
    n_features = _fitted_feature_count(fitted_estimator)
    features = [str(f) for f in config.pop("features", None) or spec.features]
    if len(features) != n_features:
        raise ModelStoreError(
            f"{spec.name}: the estimator was fitted on {n_features} features but {len(features)} are listed"
        )
    fitted_names = getattr(fitted_estimator, "feature_names_in_", None)
    if fitted_names is not None and [str(n) for n in fitted_names] != features:
        raise ModelStoreError(f"{spec.name}: the estimator was fitted on columns {list(fitted_names)}, not {features}")
    status = metadata.pop("status", "candidate")
    if status not in STATUSES:
        raise ModelStoreError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
    fmt = file_format_of(fitted_estimator)
    model = final_estimator(fitted_estimator)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".model_tmp_", dir=root))
    try:
        files = _write_model_files(tmp, fmt, fitted_estimator, model)
        timeframe = config.pop("timeframe", None)
        if timeframe is None:
            from blofin_stack.ml import models

            timeframe = models.timeframe_for(spec.name) if spec.name in models.NAMES else None
        hyperparams = _jsonable({**dict(spec.hyperparams), **dict(config.pop("hyperparams", {}) or {})})
        label = {
            "name": spec.label.name,
            "task": spec.label.task,
            "horizon": spec.label.horizon,
            "description": spec.label.description,
        }
        classes = getattr(model, "classes_", None)
        config_out: dict[str, Any] = {
            "name": spec.name,
            "model_type": spec.model_type,
            "task": spec.task,
            "label": label,
            "label_name": spec.label.name,
            "horizon": spec.label.horizon,
            "timeframe": timeframe,
            "features": features,
            "n_features": n_features,
            "hyperparams": hyperparams,
            "max_train_samples": spec.max_train_samples,
            **_jsonable(config),
            "file_format": fmt,
            "files": files,
            "estimator_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "estimator_params": _estimator_params(model) if fmt != "skops" else None,
            "classes": _jsonable(np.asarray(classes).tolist()) if classes is not None else None,
        }
        _write_json(tmp / "config.json", config_out)
        name = metadata.pop("name", spec.name)
        version = metadata.pop("version", None)
        if version is None:
            version = 1 + sum(1 for row in list_models(root) if row.get("name") == name)
        created = metadata.pop("created_ts", None) or _now_iso(now_ms)
        reason = metadata.pop("status_reason", "saved")
        metadata_out: dict[str, Any] = {
            "name": name,
            "type": spec.model_type,
            "description": spec.description,
            "created_ts": created,
            "version": version,
            "status": status,
            "status_reason": reason,
            "status_history": [{"ts": created, "status": status, "reason": reason}],
            "features": features,
            "feature_count": n_features,
            "hyperparams": hyperparams,
            "label": label,
            "timeframe": timeframe,
            "training": {
                "instruments": [],
                "data_points": None,
                "folds": None,
                "train_window": None,
                "test_window": None,
                **_jsonable(metadata.pop("training", {}) or {}),
            },
            "performance": _jsonable(metadata.pop("performance", {}) or {}),
            **_jsonable(metadata),
            "dependencies": _dependencies(fmt),
            "backend": describe_backend(fitted_estimator),
            "file_format": fmt,
        }
        target = _claim(root, tmp, config_out, metadata_out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_model_files(folder: Path, fmt: str, estimator: Any, model: Any) -> dict[str, dict[str, str]]:
    import skops.io as sio

    names = _FILES[fmt]
    if fmt == "skops":
        sio.dump(estimator, folder / names["model"])
    else:
        if not isinstance(estimator, Pipeline) or estimator.steps[-1][0] != MODEL_STEP:
            raise ModelStoreError(f"a {fmt} model must be the last step ({MODEL_STEP!r}) of a pipeline")
        sio.dump(Pipeline(estimator.steps[:-1]), folder / names["scaler"])
        if fmt == "xgboost-json":
            if isinstance(model, EncodedXGBClassifier):
                model.save_native(folder / names["model"])
            else:
                model.save_model(str(folder / names["model"]))
        else:
            import torch

            torch.save(model.state_dict(), folder / names["model"])
    return {role: {"name": name, "sha256": _sha256(folder / name)} for role, name in names.items()}


def _claim(root: Path, tmp: Path, config: dict[str, Any], metadata: dict[str, Any]) -> Path:
    """Rename ``tmp`` to the next free ``model_NNN`` (retrying when another process took it first)."""
    for _ in range(1000):
        model_id = next_model_id(root)
        metadata["model_id"] = model_id
        _write_json(tmp / "metadata.json", metadata)
        (tmp / "README.md").write_text(render_readme(model_id, config, metadata), encoding="utf-8")
        target = root / model_id
        try:
            target.mkdir()
        except FileExistsError:
            continue
        try:
            os.replace(tmp, target)  # replaces the empty folder just claimed
        except OSError:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target
    raise ModelStoreError(f"could not claim a model folder in {root}")


def load_model(
    path: Path | str, available_features: set[str] | None = None
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The fitted estimator of a stored model, with its config and metadata.

    Args:
        path: the ``model_NNN`` folder.
        available_features: feature names the FeatureManager can compute; ``None`` skips the check.

    Raises:
        ModelStoreError: a feature the model needs is not available (the message names them), a file is
            missing or altered (SHA-256), a skops file holds untrusted types, torch is needed but absent.
    """
    path = Path(path)
    config = _read_json(path / "config.json")
    metadata = _read_json(path / "metadata.json")
    features = list(config.get("features", []))
    if available_features is not None:
        missing = [f for f in features if f not in available_features]
        if missing:
            raise ModelStoreError(
                f"{path.name} ({config.get('name')}) needs {len(missing)} feature(s) that are not available: "
                f"{', '.join(missing)}"
            )
    fmt = config.get("file_format")
    if fmt not in FORMATS:
        raise ModelStoreError(f"{path.name}: unknown file format {fmt!r}; known: {', '.join(FORMATS)}")
    files = config.get("files", {})
    for role, entry in files.items():
        file = path / entry["name"]
        if not file.is_file():
            raise ModelStoreError(f"{path.name}: {role} file {entry['name']} is missing")
        if entry.get("sha256") and _sha256(file) != entry["sha256"]:
            raise ModelStoreError(f"{path.name}: {entry['name']} does not match its SHA-256 in config.json")
    if fmt == "skops":
        estimator = _load_skops(path / files["model"]["name"])
    else:
        pre = _load_skops(path / files["scaler"]["name"])
        model = _load_native(path, fmt, config)
        estimator = Pipeline([*pre.steps, (MODEL_STEP, model)])
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and int(n_features) != len(features):
        raise ModelStoreError(f"{path.name}: the model takes {n_features} features, config.json lists {len(features)}")
    return estimator, config, metadata


def _load_native(path: Path, fmt: str, config: Mapping[str, Any]) -> Any:
    file = path / config["files"]["model"]["name"]
    params = dict(config.get("estimator_params") or {})
    n_features = int(config["n_features"])
    if fmt == "xgboost-json":
        cls = config.get("estimator_class", "")
        if cls.endswith("EncodedXGBClassifier"):
            return EncodedXGBClassifier.from_native(file, params, config["classes"], n_features)
        from xgboost import XGBClassifier, XGBRegressor

        native = {"xgboost.sklearn.XGBRegressor": XGBRegressor, "xgboost.sklearn.XGBClassifier": XGBClassifier}
        if cls not in native:
            raise ModelStoreError(f"{path.name}: unknown XGBoost estimator class {cls!r}")
        model = native[cls](**params)
        model.load_model(str(file))
        return model
    try:
        import torch
    except ImportError:
        raise ModelStoreError(
            f"{path.name} is a PyTorch model but torch is not installed (pip install torch==2.13.0)"
        ) from None
    from blofin_stack.ml.models.price_predictor import TorchMLPRegressor

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelStoreError(f"{path.name}: {file.name} is not a plain state dict: {exc}") from exc
    params["hidden_layer_sizes"] = tuple(params.get("hidden_layer_sizes", (128, 64, 32)))
    return TorchMLPRegressor.from_state_dict(state, params, n_features)


def list_models(root: Path | str) -> list[dict[str, Any]]:
    """One summary per stored model, in number order: ``id``, ``path``, ``name``, ``type``, ``status``,
    ``version``, ``created_ts``, ``label``, ``timeframe``, ``feature_count``, ``file_format``, ``backend``,
    ``performance``; a folder whose metadata cannot be read gets ``status: "broken"`` and ``error``."""
    rows: list[dict[str, Any]] = []
    for folder in _model_dirs(Path(root)):
        try:
            meta = _read_json(folder / "metadata.json")
        except ModelStoreError as exc:
            rows.append({"id": folder.name, "path": str(folder), "status": "broken", "error": str(exc)})
            continue
        rows.append(
            {
                "id": folder.name,
                "path": str(folder),
                "name": meta.get("name"),
                "type": meta.get("type"),
                "status": meta.get("status"),
                "version": meta.get("version"),
                "created_ts": meta.get("created_ts"),
                "label": (meta.get("label") or {}).get("name"),
                "timeframe": meta.get("timeframe"),
                "feature_count": meta.get("feature_count"),
                "file_format": meta.get("file_format"),
                "backend": meta.get("backend"),
                "performance": meta.get("performance"),
            }
        )
    return rows


def update_status(path: Path | str, status: str, reason: str, *, now_ms: int | None = None) -> dict[str, Any]:
    """Set a stored model's status with a reason (kept in ``status_history``); rewrites metadata and README.

    Raises:
        ModelStoreError: unknown status, or not a stored model.
    """
    if status not in STATUSES:
        raise ModelStoreError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
    path = Path(path)
    config = _read_json(path / "config.json")
    metadata = _read_json(path / "metadata.json")
    ts = _now_iso(now_ms)
    metadata["status"] = status
    metadata["status_reason"] = reason
    metadata.setdefault("status_history", []).append({"ts": ts, "status": status, "reason": reason})
    _write_json(path / "metadata.json", metadata)
    readme = path / "README.md"
    tmp = readme.with_name(".README.md.tmp")
    tmp.write_text(render_readme(path.name, config, metadata), encoding="utf-8")
    os.replace(tmp, readme)
    return metadata
