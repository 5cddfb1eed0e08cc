"""The model zoo: eleven specs, each a scaler pipeline that fits on synthetic data with a planted signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from blofin_stack.ml.base import LabelSpec, ModelSpec
from blofin_stack.ml.models import NAMES, UnknownModelError, baseline_for, get_spec, price_predictor, timeframe_for
from blofin_stack.ml.models._common import ClippedRegressor, EncodedXGBClassifier, RecentSamplesClassifier

N_TRAIN, N_TEST, N_FEATURES = 600, 200, 8
# scikit-learn's MLP (the no-torch fallback) warns when its epoch budget ends before convergence
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _label(name: str, task: str, horizon: int = 12) -> LabelSpec:
    def func(ohlcv: pd.DataFrame) -> pd.Series:
        return pd.Series(np.nan, index=ohlcv.index)

    return LabelSpec(name, task, horizon, func, func, "test label")  # type: ignore[arg-type]


def _data(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features (the test rows shifted by +3, so training and full-data means differ) and a label that
    depends on the first two features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_TRAIN + N_TEST, N_FEATURES))
    X[N_TRAIN:] += 3.0
    signal = X[:, 0] - X[:, 0].mean() + 0.5 * (X[:, 1] - X[:, 1].mean())
    noise = 0.3 * rng.standard_normal(len(X))
    if kind == "binary":
        y = (signal + noise > 0).astype("float64")
    elif kind == "three":
        y = np.digitize(signal + noise, [-0.5, 0.5]).astype("float64")
    elif kind == "four":
        y = np.digitize(signal + noise, [-0.8, 0.0, 0.8]).astype("float64")
    elif kind == "risk":
        y = np.clip(50 + 30 * (signal + noise), 0, 100)
    elif kind == "vol":
        y = 0.01 * np.exp(0.5 * (signal + noise))
    else:
        y = 0.01 * (signal + noise)
    return X, y


#: name -> (label task, data kind, classes of the default label)
EXPECTED = {
    "direction_predictor": ("classification", "binary", "direction_12"),
    "risk_scorer": ("regression", "risk", "risk_score_12"),
    "price_predictor": ("regression", "return", "forward_return_12"),
    "momentum_classifier": ("classification", "three", "momentum_state_12_th40bp"),
    "volatility_regressor": ("regression", "vol", "forward_volatility_12"),
    "ml_entry_classifier": ("classification", "binary", "trade_profitable"),
    "ml_entry_confidence": ("regression", "return", "trade_return"),
    "ml_exit_timing": ("classification", "binary", "exit_timing"),
    "ml_regime_detector": ("classification", "four", "regime_next_48"),
    "direction_logistic": ("classification", "binary", "direction_12"),
    "direction_forest": ("classification", "binary", "direction_12"),
}
#: Model inputs of the trade models besides the scale-free features (``ml.trades``).
TRADE_MODEL_INPUTS = {
    "ml_entry_classifier": ("trade_side",),
    "ml_entry_confidence": ("trade_side",),
    "ml_exit_timing": ("trade_side", "bars_held", "open_return"),
}


def test_the_zoo_has_eleven_models_with_their_default_labels_and_features() -> None:
    from blofin_stack.ml import dataset
    from blofin_stack.ml.models import ZOO

    assert list(ZOO) == list(NAMES) == list(EXPECTED)
    for name, spec in ZOO.items():
        task, _, label_name = EXPECTED[name]
        assert isinstance(spec, ModelSpec)
        assert spec.name == name
        assert spec.task == task
        assert spec.label.name == label_name
        assert spec.features == (*dataset.SCALE_FREE_FEATURES, *TRADE_MODEL_INPUTS.get(name, ()))
        assert spec.file_format in ("skops", "xgboost-json", "torch-state-dict")
        assert spec.description
        assert timeframe_for(name) == "5m"
        assert baseline_for(name) in ("majority", "zero", "mean")
        assert (baseline_for(name) == "majority") == (task == "classification")


def test_seed_hyperparameters() -> None:
    direction = get_spec("direction_predictor").hyperparams
    assert {k: direction[k] for k in ("n_estimators", "max_depth", "learning_rate", "subsample", "tree_method")} == {
        "n_estimators": 100,
        "max_depth": 6,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "tree_method": "hist",
    }
    risk = get_spec("risk_scorer").hyperparams
    assert (risk["n_estimators"], risk["max_depth"]) == (100, 10)
    nn = get_spec("price_predictor").hyperparams
    assert tuple(nn["hidden_layer_sizes"]) == (128, 64, 32)
    assert (nn["dropout"], nn["learning_rate"]) == (0.2, 0.001)
    assert 20 <= nn["epochs"] <= 50
    svm = get_spec("momentum_classifier")
    assert (svm.hyperparams["kernel"], svm.hyperparams["C"], svm.hyperparams["probability"]) == ("rbf", 1.0, True)
    assert svm.max_train_samples == svm.hyperparams["max_train_samples"] == 2000
    vol = get_spec("volatility_regressor").hyperparams
    assert (vol["max_iter"], vol["learning_rate"], vol["max_depth"]) == (100, 0.1, 5)
    assert get_spec("direction_predictor").file_format == "xgboost-json"
    assert get_spec("risk_scorer").file_format == "skops"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_model_fits_a_planted_signal_and_predicts_the_right_shape(name: str) -> None:
    task, kind, _ = EXPECTED[name]
    spec = get_spec(name, label=_label(f"test_{name}", task), features=[f"f{i}" for i in range(N_FEATURES)])
    assert spec.label.name == f"test_{name}"
    X, y = _data(kind)
    estimator = spec.make(spec.hyperparams)
    assert isinstance(estimator, Pipeline)
    assert isinstance(estimator.steps[0][1], StandardScaler)
    estimator.fit(X[:N_TRAIN], y[:N_TRAIN])
    pred = estimator.predict(X[N_TRAIN:])
    assert pred.shape == (N_TEST,)
    assert np.isfinite(pred).all()
    # the scaler saw the training rows only (the test rows are shifted by +3)
    scaler = estimator.named_steps["scaler"]
    np.testing.assert_allclose(scaler.mean_, X[:N_TRAIN].mean(axis=0))
    assert not np.allclose(scaler.mean_, X.mean(axis=0))
    # the planted signal is learnt in sample (out of sample the +3 shift is deliberately outside the training range)
    if task == "classification":
        classes = np.unique(y[:N_TRAIN])
        proba = estimator.predict_proba(X[N_TRAIN:])
        assert proba.shape == (N_TEST, len(classes))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert set(np.unique(pred)) <= set(classes)
        np.testing.assert_array_equal(estimator.classes_, classes)
        assert (estimator.predict(X[:N_TRAIN]) == y[:N_TRAIN]).mean() > 0.7
    else:
        fitted = estimator.predict(X[:N_TRAIN])
        assert np.corrcoef(fitted, y[:N_TRAIN])[0, 1] > 0.5


def test_hyperparameters_and_overrides_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown hyper-parameter 'max_dept'"):
        get_spec("direction_predictor", hyperparams={"max_dept": 3})
    with pytest.raises(ValueError, match="unknown spec override"):
        get_spec("direction_predictor", horizon=3)
    spec = get_spec("direction_predictor", hyperparams={"max_depth": 3})
    assert spec.hyperparams["max_depth"] == 3
    assert spec.make(spec.hyperparams).named_steps["model"].max_depth == 3
    with pytest.raises(UnknownModelError, match="the zoo has: direction_predictor, risk_scorer"):
        get_spec("lstm")


def test_estimators_clone_unfitted() -> None:
    for name in NAMES:
        spec = get_spec(name)
        estimator = spec.make(spec.hyperparams)
        copy = clone(estimator)
        assert copy.get_params().keys() == estimator.get_params().keys()


def test_trade_labels_are_templates_naming_their_factory() -> None:
    spec = get_spec("ml_entry_classifier")
    with pytest.raises(ValueError, match=r"labels\.trade_label\(trades, bars, 'profitable'\)"):
        spec.label.func(pd.DataFrame())
    with pytest.raises(ValueError, match=r"labels\.exit_timing_label"):
        get_spec("ml_exit_timing").label.func(pd.DataFrame())
    assert get_spec("ml_entry_confidence").label.task == "regression"


def test_xgboost_classifier_accepts_classes_missing_from_a_fold() -> None:
    X, y = _data("four")
    y = np.where(y == 2.0, 3.0, y)  # classes 0, 1, 3: class 2 absent from this training window
    model = EncodedXGBClassifier(n_estimators=20).fit(X[:N_TRAIN], y[:N_TRAIN])
    np.testing.assert_array_equal(model.classes_, [0.0, 1.0, 3.0])
    assert set(np.unique(model.predict(X))) <= {0.0, 1.0, 3.0}
    assert model.predict_proba(X).shape == (len(X), 3)
    assert model.feature_importances_.shape == (N_FEATURES,)
    with pytest.raises(ValueError, match="single class"):
        EncodedXGBClassifier().fit(X, np.ones(len(X)))


def test_risk_predictions_are_clipped_to_0_100() -> None:
    X, y = _data("risk")
    steep = ClippedRegressor(LinearRegression(), lower=0.0, upper=100.0).fit(X[:N_TRAIN], y[:N_TRAIN] * 10 - 400)
    pred = steep.predict(X)
    assert pred.min() == 0.0 and pred.max() == 100.0
    spec = get_spec("risk_scorer")
    estimator = spec.make(spec.hyperparams).fit(X[:N_TRAIN], y[:N_TRAIN])
    out = estimator.predict(X * 50)
    assert ((out >= 0) & (out <= 100)).all()
    assert estimator.named_steps["model"].feature_importances_.shape == (N_FEATURES,)


def test_rbf_svm_trains_on_the_most_recent_max_train_samples_rows() -> None:
    X, y = _data("three")
    spec = get_spec("momentum_classifier", hyperparams={"max_train_samples": 300})
    estimator = spec.make(spec.hyperparams).fit(X[:N_TRAIN], y[:N_TRAIN])
    model = estimator.named_steps["model"]
    assert isinstance(model, RecentSamplesClassifier)
    assert model.n_train_samples_ == 300
    # the same classifier fitted by hand on the last 300 scaled training rows gives the same probabilities
    scaled = estimator.named_steps["scaler"].transform(X[:N_TRAIN])
    by_hand = clone(model.estimator).fit(scaled[-300:], y[N_TRAIN - 300 : N_TRAIN])
    test = estimator.named_steps["scaler"].transform(X[N_TRAIN:])
    np.testing.assert_allclose(model.predict_proba(test), by_hand.predict_proba(test))
    everything = RecentSamplesClassifier(LinearRegression(), max_samples=None)
    assert everything.max_samples is None


def test_price_predictor_without_torch_uses_sklearn_mlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_predictor, "torch_available", lambda: False)
    spec = get_spec("price_predictor", label=_label("r", "regression"))
    assert spec.file_format == "skops"
    estimator = spec.make(spec.hyperparams)
    target = estimator.named_steps["model"]
    assert isinstance(target, TransformedTargetRegressor)
    mlp = target.regressor
    assert isinstance(mlp, MLPRegressor)
    assert mlp.hidden_layer_sizes == (128, 64, 32) and mlp.early_stopping
    X, y = _data("return")
    estimator.fit(X[:N_TRAIN], y[:N_TRAIN])
    assert estimator.predict(X[N_TRAIN:]).shape == (N_TEST,)
    backend = price_predictor.backend_of(estimator)
    assert "MLPRegressor" in backend and "torch not installed" in backend
    with pytest.raises(ValueError, match="torch is not installed"):
        price_predictor.make({"backend": "torch"})


def test_price_predictor_sklearn_backend_on_request() -> None:
    estimator = price_predictor.make({"backend": "sklearn", "epochs": 5})
    assert isinstance(estimator.named_steps["model"], TransformedTargetRegressor)
    with pytest.raises(ValueError, match="unknown backend"):
        price_predictor.make({"backend": "jax"})


def test_price_predictor_with_torch() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra: pip install torch==2.13.0)")
    spec = get_spec("price_predictor", label=_label("r", "regression"), hyperparams={"backend": "torch"})
    assert spec.file_format == "torch-state-dict"
    estimator = spec.make(spec.hyperparams)
    model = estimator.named_steps["model"]
    assert isinstance(model, price_predictor.TorchMLPRegressor)
    X, y = _data("return")
    estimator.fit(X[:N_TRAIN], y[:N_TRAIN])
    pred = estimator.predict(X[N_TRAIN:])
    assert pred.shape == (N_TEST,) and np.isfinite(pred).all()
    assert np.corrcoef(estimator.predict(X[:N_TRAIN]), y[:N_TRAIN])[0, 1] > 0.5
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device_ == expected_device
    assert price_predictor.backend_of(estimator).startswith(f"torch {torch.__version__} ({expected_device})")
    layers = list(model.module_.net)
    widths = [layer.out_features for layer in layers if isinstance(layer, torch.nn.Linear)]
    assert widths == [128, 64, 32, 1]
    assert [layer.p for layer in layers if isinstance(layer, torch.nn.Dropout)] == [0.2, 0.2, 0.2]
    assert 1 <= model.n_epochs_ <= spec.hyperparams["epochs"]
    # deterministic for a fixed random_state
    again = spec.make(spec.hyperparams).fit(X[:N_TRAIN], y[:N_TRAIN])
    np.testing.assert_allclose(again.predict(X[N_TRAIN:]), pred, rtol=1e-5, atol=1e-7)
