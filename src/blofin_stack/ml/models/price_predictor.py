"""Price (return) predictor: the forward return over the next 12 bars, from a neural network.

* **Predicts**: the forward return over 12 bars (5m bars: the next hour), in the label's units (a
  fraction of the close, e.g. ``0.004`` = +0.4 %). A return, not a price level: it is scale-free, so it
  pools across instruments; the price is ``close * (1 + return)``.
* **Target**: ``labels.forward_return(12)``.
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture** (``backend`` hyper-parameter, ``"auto"`` by default):

  - ``torch`` (when ``torch`` is importable; the ``torch`` extra): ``StandardScaler`` ->
    :class:`TorchMLPRegressor`, a multi-layer perceptron 128-64-32-1 with ReLU and dropout 0.2, Adam
    (learning rate 0.001), mini-batches of 256, up to 30 epochs, early stopping on the chronologically last
    10 % of the training rows (patience 5, best weights kept), on CUDA when ``torch.cuda.is_available()``.
    The target is standardised inside the estimator (returns are ~1e-3; the net learns in unit scale).
    Stored as a PyTorch state dict plus the scaler in skops (``torch-state-dict``).
  - ``sklearn`` (torch absent, or asked for): ``StandardScaler`` -> ``TransformedTargetRegressor``
    (standardised target) around ``MLPRegressor(hidden_layer_sizes=(128, 64, 32), early_stopping=True)``,
    Adam with the same learning rate and batch size. scikit-learn's MLP has no dropout (it uses an L2
    penalty, ``alpha=1e-4``) and draws its early-stopping validation rows at random within the training
    window. Stored as one skops file (``skops``).

  The backend actually used is recorded by :func:`backend_of` and lands in the model's metadata.
* **Source**: operator seed 004 (``price_predictor.py``: PyTorch, 128->64->32->1 with dropout, GPU when
  available; layers [128, 64, 32], dropout 0.2, lr 0.001, epochs 50); baseline: the zero-return forecast.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from blofin_stack.ml.base import LabelSpec
from blofin_stack.ml.models._common import final_estimator, merged, scaled

NAME = "price_predictor"
MODEL_TYPE = "neural_net"
TIMEFRAME = "5m"
HORIZON = 12
BASELINE = "zero"
DESCRIPTION = "Forward return over the next 12 bars (5m bars: one hour) from a 128-64-32-1 neural network"
HYPERPARAMS: dict[str, Any] = {
    "backend": "auto",
    "hidden_layer_sizes": (128, 64, 32),
    "dropout": 0.2,
    "learning_rate": 0.001,
    "epochs": 30,
    "batch_size": 256,
    "validation_fraction": 0.1,
    "patience": 5,
    "random_state": 0,
}
BACKENDS = ("auto", "torch", "sklearn")


def torch_available() -> bool:
    """Whether ``torch`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def resolve_backend(backend: str) -> str:
    """``torch`` or ``sklearn`` for a requested ``auto`` / ``torch`` / ``sklearn``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "torch" if torch_available() else "sklearn"
    if backend == "torch" and not torch_available():
        raise ValueError("backend 'torch' asked for but torch is not installed (pip install torch==2.13.0)")
    return backend


class TorchMLPRegressor(RegressorMixin, BaseEstimator):
    """A PyTorch MLP (``hidden_layer_sizes`` ReLU layers with dropout, one linear output) as a regressor.

    The target is standardised during training (its mean and scale are buffers of the module, so they are
    part of the state dict). Rows are taken in time order: the last ``validation_fraction`` of them are the
    early-stopping set (never shuffled into training); mini-batches of the rest are shuffled with
    ``random_state``. ``device="auto"``: CUDA when available, else CPU; ``device_`` says which was used.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (128, 64, 32),
        dropout: float = 0.2,
        learning_rate: float = 0.001,
        epochs: int = 30,
        batch_size: int = 256,
        validation_fraction: float = 0.1,
        patience: int = 5,
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state

    def _build(self, n_features: int) -> Any:
        import torch
        from torch import nn

        class _MLP(nn.Module):
            def __init__(self, sizes: tuple[int, ...], dropout: float) -> None:
                super().__init__()
                layers: list[nn.Module] = []
                width = n_features
                for size in sizes:
                    layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
                    width = size
                layers.append(nn.Linear(width, 1))
                self.net = nn.Sequential(*layers)
                self.register_buffer("y_mean", torch.zeros(1, dtype=torch.float32))
                self.register_buffer("y_scale", torch.ones(1, dtype=torch.float32))

            def forward(self, x: Any) -> Any:
                return self.net(x).squeeze(-1)

        return _MLP(tuple(int(s) for s in self.hidden_layer_sizes), float(self.dropout))

    def _resolve_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def fit(self, X: Any, y: Any) -> TorchMLPRegressor:
        import torch

        X = np.asarray(X, dtype="float32")
        y = np.asarray(y, dtype="float32")
        torch.manual_seed(self.random_state)
        generator = torch.Generator().manual_seed(self.random_state)
        device = self._resolve_device()
        module = self._build(X.shape[1]).to(device)
        n_val = int(len(y) * self.validation_fraction) if self.patience else 0
        n_val = n_val if len(y) - n_val >= self.batch_size else 0
        X_fit, y_fit = X[: len(y) - n_val], y[: len(y) - n_val]
        mean = float(y_fit.mean())
        scale = float(y_fit.std()) or 1.0
        module.y_mean.fill_(mean)
        module.y_scale.fill_(scale)
        xt = torch.from_numpy(X_fit).to(device)
        yt = torch.from_numpy((y_fit - mean) / scale).to(device)
        xv = torch.from_numpy(X[len(y) - n_val :]).to(device)
        yv = torch.from_numpy((y[len(y) - n_val :] - mean) / scale).to(device)
        optimiser = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        loss_fn = torch.nn.MSELoss()
        best_loss, best_state, stale = float("inf"), None, 0
        self.loss_curve_: list[float] = []
        self.n_epochs_ = 0
        for _ in range(int(self.epochs)):
            module.train()
            order = torch.randperm(len(yt), generator=generator).to(device)
            total = 0.0
            for start in range(0, len(yt), self.batch_size):
                rows = order[start : start + self.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(module(xt[rows]), yt[rows])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(rows)
            self.loss_curve_.append(total / len(yt))
            self.n_epochs_ += 1
            if n_val:
                module.eval()
                with torch.no_grad():
                    val_loss = float(loss_fn(module(xv), yv))
                if val_loss < best_loss - 1e-6:
                    best_loss, stale = val_loss, 0
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        self.module_ = module
        self.device_ = device
        self.n_features_in_ = int(X.shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        import torch

        check_is_fitted(self, "module_")
        X = np.asarray(X, dtype="float32")
        module = self.module_
        module.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(X), 8192):
                batch = torch.from_numpy(X[start : start + 8192]).to(self.device_)
                out.append((module(batch) * module.y_scale + module.y_mean).cpu().numpy())
        return np.concatenate(out).astype("float64") if out else np.empty(0)

    def state_dict(self) -> dict[str, Any]:
        """The fitted network's tensors (on the CPU), for ``torch.save``."""
        check_is_fitted(self, "module_")
        return {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], params: Mapping[str, Any], n_features: int) -> TorchMLPRegressor:
        """The fitted estimator rebuilt from its parameters and a state dict (``torch.load(weights_only=True)``)."""
        est = cls(**params)
        module = est._build(int(n_features))
        module.load_state_dict(dict(state))
        est.device_ = est._resolve_device()
        est.module_ = module.to(est.device_).eval()
        est.n_features_in_ = int(n_features)
        return est


def _torch_params(hp: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("hidden_layer_sizes", "dropout", "learning_rate", "epochs", "batch_size", "validation_fraction")
    return {k: hp[k] for k in keys} | {"patience": hp["patience"], "random_state": hp["random_state"]}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + neural-network pipeline on the resolved backend (torch or scikit-learn)."""
    hp = merged(HYPERPARAMS, hyperparams)
    if resolve_backend(hp["backend"]) == "torch":
        return scaled(TorchMLPRegressor(**_torch_params(hp)))
    mlp = MLPRegressor(
        hidden_layer_sizes=tuple(hp["hidden_layer_sizes"]),
        learning_rate_init=hp["learning_rate"],
        max_iter=hp["epochs"],
        batch_size=hp["batch_size"],
        early_stopping=True,
        validation_fraction=hp["validation_fraction"],
        n_iter_no_change=hp["patience"],
        random_state=hp["random_state"],
    )
    return scaled(TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler()))


def backend_of(estimator: Any) -> str:
    """What runs the network of a (fitted) price-predictor pipeline, e.g. ``torch 2.13.0 (cpu)``."""
    model = final_estimator(estimator)
    if isinstance(model, TorchMLPRegressor):
        import torch

        return f"torch {torch.__version__} ({getattr(model, 'device_', model.device)})"
    import sklearn

    reason = "torch not installed" if not torch_available() else "backend='sklearn' asked for"
    return f"scikit-learn {sklearn.__version__} MLPRegressor ({reason}; no dropout, L2 alpha=1e-4)"


def default_label() -> LabelSpec:
    from blofin_stack.ml import labels

    return labels.forward_return(HORIZON)


def file_format(hyperparams: Mapping[str, Any]) -> str:
    """The file format follows the backend: ``torch-state-dict`` with torch, else ``skops``."""
    return "torch-state-dict" if resolve_backend(hyperparams["backend"]) == "torch" else "skops"
