"""The model store: round trips per file format, numbering, config/metadata/README, refusals, no pickles."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from blofin_stack.ml import store
from blofin_stack.ml.base import LabelSpec, ModelSpec
from blofin_stack.ml.models import get_spec
from blofin_stack.ml.models._common import scaled
from blofin_stack.ml.store import ModelStoreError, list_models, load_model, save_model, update_status

FEATURES = [f"feat_{i}" for i in range(6)]
NOW_MS = 1_750_000_000_000  # 2025-06-15T15:06:40Z
PERFORMANCE = {
    "mean": {
        "oos": {"accuracy": 0.53, "log_loss": 0.69},
        "baseline": {"accuracy": 0.51, "log_loss": 0.693},
        "lift": {"accuracy": 0.02, "log_loss": 0.003},
    },
    "std": {"oos": {"accuracy": 0.01, "log_loss": 0.002}},
    "folds": 3,
    "baseline_kind": "majority",
}
TRAINING = {
    "instruments": ["BTC-USDT", "ETH-USDT"],
    "data_points": 400,
    "folds": 3,
    "train_window": "7d",
    "test_window": "3d",
}


def _label(name: str, task: str) -> LabelSpec:
    def func(ohlcv: pd.DataFrame) -> pd.Series:
        return pd.Series(np.nan, index=ohlcv.index)

    return LabelSpec(name, task, 12, func, func, "a test label")  # type: ignore[arg-type]


def _xy(task: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, len(FEATURES)))
    signal = X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(400)
    return X, (signal > 0).astype(float) if task == "classification" else 0.01 * signal


def _fitted(name: str, **hyperparams: Any) -> tuple[ModelSpec, Any, np.ndarray]:
    task = {"direction_predictor": "classification", "momentum_classifier": "classification"}.get(name, "regression")
    spec = get_spec(name, label=_label(f"test_{name}", task), features=FEATURES, hyperparams=hyperparams)
    X, y = _xy(task)
    estimator = spec.make(spec.hyperparams).fit(X[:300], y[:300])
    return spec, estimator, X[300:]


def _save(root: Path, spec: ModelSpec, estimator: Any, **metadata: Any) -> Path:
    meta = {"training": TRAINING, "performance": PERFORMANCE, **metadata}
    return save_model(root, spec, estimator, meta, {"timeframe": "5m"}, now_ms=NOW_MS)


def _assert_not_pickle(file: Path) -> None:
    data = file.read_bytes()
    assert not data.startswith(b"\x80"), f"{file.name} starts like a pickle protocol 2+ stream"
    with pytest.raises(Exception):  # noqa: B017 - any failure will do: it must not unpickle
        pickle.loads(data)


FORMAT_CASES = [
    ("volatility_regressor", {}, "skops", ["model.skops"]),
    ("risk_scorer", {"n_estimators": 10}, "skops", ["model.skops"]),
    ("momentum_classifier", {}, "skops", ["model.skops"]),
    ("price_predictor", {"backend": "sklearn", "epochs": 5}, "skops", ["model.skops"]),
    ("direction_predictor", {"n_estimators": 20}, "xgboost-json", ["model.json", "scaler.skops"]),
    ("ml_entry_confidence", {"n_estimators": 20}, "xgboost-json", ["model.json", "scaler.skops"]),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("name", "hyperparams", "fmt", "files"), FORMAT_CASES)
def test_round_trip_gives_identical_predictions(
    tmp_path: Path, name: str, hyperparams: dict[str, Any], fmt: str, files: list[str]
) -> None:
    spec, estimator, X_test = _fitted(name, **hyperparams)
    path = _save(tmp_path, spec, estimator)
    assert sorted(p.name for p in path.iterdir()) == sorted([*files, "config.json", "metadata.json", "README.md"])
    loaded, config, metadata = load_model(path, available_features=set(FEATURES) | {"extra"})
    assert config["file_format"] == metadata["file_format"] == fmt
    np.testing.assert_array_equal(loaded.predict(X_test), estimator.predict(X_test))
    if hasattr(estimator, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X_test), estimator.predict_proba(X_test))
        np.testing.assert_array_equal(loaded.classes_, estimator.classes_)
    for file in files:
        _assert_not_pickle(path / file)
    if fmt == "xgboost-json":
        assert json.loads((path / "model.json").read_text())["learner"]  # XGBoost's own JSON


def test_torch_round_trip(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra: pip install torch==2.13.0)")
    spec, estimator, X_test = _fitted("price_predictor", backend="torch", epochs=3)
    path = _save(tmp_path, spec, estimator)
    assert {p.name for p in path.iterdir()} >= {"model.pt", "scaler.skops"}
    loaded, config, metadata = load_model(path, available_features=set(FEATURES))
    assert config["file_format"] == "torch-state-dict"
    assert metadata["backend"].startswith(f"torch {torch.__version__}")
    assert metadata["dependencies"]["torch"] == torch.__version__
    np.testing.assert_allclose(loaded.predict(X_test), estimator.predict(X_test), rtol=1e-6, atol=1e-9)
    _assert_not_pickle(path / "model.pt")
    state = torch.load(path / "model.pt", weights_only=True)  # tensors only: the restricted loader accepts it
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_a_torch_file_holding_other_objects_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra: pip install torch==2.13.0)")
    spec, estimator, _ = _fitted("price_predictor", backend="torch", epochs=2)
    path = _save(tmp_path, spec, estimator)
    evil = estimator.named_steps["model"].state_dict() | {"payload": Path("/etc/passwd")}
    torch.save(evil, path / "model.pt")
    config = json.loads((path / "config.json").read_text())
    config["files"]["model"]["sha256"] = store._sha256(path / "model.pt")
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelStoreError, match="not a plain state dict"):
        load_model(path)


def test_models_are_numbered_from_001(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("volatility_regressor")
    first = _save(tmp_path, spec, estimator)
    second = _save(tmp_path, spec, estimator)
    assert (first.name, second.name) == ("model_001", "model_002")
    (tmp_path / "model_041").mkdir()
    (tmp_path / "notes").mkdir()
    assert _save(tmp_path, spec, estimator).name == "model_042"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_config_metadata_and_readme(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("direction_predictor", n_estimators=20)
    path = _save(tmp_path, spec, estimator)
    config = json.loads((path / "config.json").read_text())
    assert config["name"] == "direction_predictor" and config["model_type"] == "xgboost"
    assert config["features"] == FEATURES and config["n_features"] == len(FEATURES)
    assert config["hyperparams"]["n_estimators"] == 20 and config["hyperparams"]["max_depth"] == 6
    assert config["label"] == {
        "name": "test_direction_predictor",
        "task": "classification",
        "horizon": 12,
        "description": "a test label",
    }
    assert (config["label_name"], config["horizon"], config["timeframe"]) == ("test_direction_predictor", 12, "5m")
    assert config["file_format"] == "xgboost-json"
    assert config["classes"] == [0.0, 1.0]
    assert set(config["files"]) == {"model", "scaler"} and len(config["files"]["model"]["sha256"]) == 64

    meta = json.loads((path / "metadata.json").read_text())
    for field in (
        "name", "type", "description", "created_ts", "version", "status", "features", "feature_count",
        "hyperparams", "training", "performance", "dependencies", "backend",
    ):  # fmt: skip
        assert field in meta, field
    assert meta["model_id"] == "model_001"
    assert meta["created_ts"] == "2025-06-15T15:06:40Z"
    assert (meta["version"], meta["status"], meta["feature_count"]) == (1, "candidate", len(FEATURES))
    assert meta["training"] == TRAINING
    assert meta["performance"] == PERFORMANCE
    assert {"numpy", "scikit-learn", "skops", "xgboost", "python"} <= set(meta["dependencies"])
    assert meta["backend"].startswith("xgboost ")
    assert meta["status_history"] == [{"ts": "2025-06-15T15:06:40Z", "status": "candidate", "reason": "saved"}]

    readme = (path / "README.md").read_text()
    assert readme.startswith("# model_001: direction_predictor (xgboost)")
    assert "**Status**: candidate" in readme
    assert "`test_direction_predictor`" in readme and "`feat_5`" in readme
    assert "| accuracy | 0.53 | 0.51 | 0.02 | 0.01 |" in readme
    assert "mean over 3 folds" in readme and "baseline (majority)" in readme
    assert "BTC-USDT, ETH-USDT" in readme

    again = _save(tmp_path, spec, estimator, performance={})
    assert json.loads((again / "metadata.json").read_text())["version"] == 2
    assert "Not evaluated." in (again / "README.md").read_text()


def test_missing_features_are_refused_by_name(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("volatility_regressor")
    path = _save(tmp_path, spec, estimator)
    available = set(FEATURES) - {"feat_2", "feat_4"}
    with pytest.raises(ModelStoreError, match=r"needs 2 feature\(s\) that are not available: feat_2, feat_4"):
        load_model(path, available_features=available)
    load_model(path)  # no list given: no check


def test_feature_list_must_match_the_fitted_estimator(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("volatility_regressor")
    with pytest.raises(ModelStoreError, match="fitted on 6 features but 3 are listed"):
        save_model(tmp_path, spec, estimator, {}, {"features": FEATURES[:3]})
    frame = pd.DataFrame(np.random.default_rng(0).standard_normal((50, 6)), columns=[f"x{i}" for i in range(6)])
    by_name = spec.make(spec.hyperparams).fit(frame, frame["x0"])
    with pytest.raises(ModelStoreError, match="fitted on columns"):
        save_model(tmp_path, spec, by_name, {}, {"features": FEATURES})
    with pytest.raises(ModelStoreError, match="not fitted"):
        save_model(tmp_path, spec, spec.make(spec.hyperparams), {}, {})
    with pytest.raises(ModelStoreError, match="unknown status"):
        save_model(tmp_path, spec, estimator, {"status": "great"}, {})
    assert list(tmp_path.iterdir()) == []


def _replace_model_file(path: Path, obj: Any) -> None:
    sio.dump(obj, path / "model.skops")
    config = json.loads((path / "config.json").read_text())
    config["files"]["model"]["sha256"] = store._sha256(path / "model.skops")
    (path / "config.json").write_text(json.dumps(config))


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("volatility_regressor")
    path = _save(tmp_path, spec, estimator)
    _replace_model_file(path, Pipeline([("scaler", StandardScaler()), ("model", FunctionTransformer(os.system))]))
    with pytest.raises(ModelStoreError, match=r"untrusted types: posix\.system"):
        load_model(path)
    # a function of our own package is not a class either
    _replace_model_file(path, Pipeline([("model", FunctionTransformer(scaled))]))
    with pytest.raises(ModelStoreError, match=r"untrusted types: blofin_stack\.ml\.models\._common\.scaled"):
        load_model(path)


def test_an_altered_model_file_is_refused(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("direction_predictor", n_estimators=5)
    path = _save(tmp_path, spec, estimator)
    with (path / "model.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(ModelStoreError, match="does not match its SHA-256"):
        load_model(path)
    (path / "model.json").unlink()
    with pytest.raises(ModelStoreError, match=r"model file model\.json is missing"):
        load_model(path)
    with pytest.raises(ModelStoreError, match="not a complete stored model"):
        load_model(tmp_path / "model_999")


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, estimator, _ = _fitted("volatility_regressor")

    def boom(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "render_readme", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, spec, estimator)
    assert list(tmp_path.iterdir()) == []


def test_list_models_and_update_status(tmp_path: Path) -> None:
    spec, estimator, _ = _fitted("volatility_regressor")
    first = _save(tmp_path, spec, estimator)
    _save(tmp_path, spec, estimator)
    (tmp_path / "model_003").mkdir()
    rows = list_models(tmp_path)
    assert [r["id"] for r in rows] == ["model_001", "model_002", "model_003"]
    assert [r["version"] for r in rows[:2]] == [1, 2]
    assert rows[0]["name"] == "volatility_regressor" and rows[0]["status"] == "candidate"
    assert rows[0]["file_format"] == "skops" and rows[0]["feature_count"] == len(FEATURES)
    assert rows[2]["status"] == "broken" and "metadata.json is missing" in rows[2]["error"]
    assert list_models(tmp_path / "nowhere") == []

    meta = update_status(first, "suspect", "label permutation beats the baseline", now_ms=NOW_MS + 60_000)
    assert meta["status"] == "suspect"
    assert meta["status_history"][-1] == {
        "ts": "2025-06-15T15:07:40Z",
        "status": "suspect",
        "reason": "label permutation beats the baseline",
    }
    assert json.loads((first / "metadata.json").read_text())["status"] == "suspect"
    assert "**Status**: suspect (label permutation beats the baseline)" in (first / "README.md").read_text()
    with pytest.raises(ModelStoreError, match="unknown status 'retired'"):
        update_status(first, "retired", "no")
