"""Momentum classifier: is momentum accelerating, neutral or decelerating over the next 12 bars?

* **Predicts**: one of three momentum states (``0`` decelerating, ``1`` neutral, ``2`` accelerating) with probabilities.
* **Target**: ``labels.momentum_state(12, 0.004)`` (5m bars: the next hour): the forward 12-bar return minus
  the trailing one, accelerating above +0.4 %, decelerating below -0.4 %, neutral between (on the 16 real
  instruments about a third of the 5m samples are neutral; 0.3 % gives ~25 %, 0.5 % ~40 %).
* **Features**: the dataset's scale-free features (``dataset.SCALE_FREE_FEATURES``), pooled over instruments.
* **Architecture**: ``StandardScaler`` -> support-vector machine with an RBF kernel (``C=1.0``,
  ``gamma="scale"``) with probabilities. scikit-learn 1.9 deprecates ``SVC(probability=True)`` (removed in
  1.11) and names ``CalibratedClassifierCV(SVC(), ensemble=False)`` as its replacement: the same Platt
  (sigmoid) scaling fitted on 5-fold cross-validated decision values, after which ``predict`` is the
  arg-max of the probabilities (``SVC.predict`` could disagree with them). The folds are stratified and not
  shuffled, inside the training window only.
* **Training size**: an RBF SVM costs roughly quadratically in rows to train (and 6 fits for the
  calibration) and linearly in support vectors to predict, so the estimator itself keeps only the most
  recent ``max_train_samples`` (default 2000) training rows
  (:class:`~blofin_stack.ml.models._common.RecentSamplesClassifier`); the spec's ``max_train_samples`` says
  the same to the trainer, which may cut before the scaler too.
* **Stored as** one skops file of the whole pipeline (``skops``).
* **Source**: operator seed 004 (``momentum_classifier.py``: SVM, RBF kernel, probability=True, 3 classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from blofin_stack.ml.base import LabelSpec
from blofin_stack.ml.models._common import RecentSamplesClassifier, merged, scaled

NAME = "momentum_classifier"
MODEL_TYPE = "svm"
TIMEFRAME = "5m"
HORIZON = 12
FILE_FORMAT = "skops"
BASELINE = "majority"
MAX_TRAIN_SAMPLES = 2000
#: Dead band of the momentum label (fraction): about a third of the real 5m samples fall inside it.
THRESHOLD = 0.004
DESCRIPTION = "Momentum state (decelerating / neutral / accelerating) over the next 12 bars, with probabilities"
HYPERPARAMS: dict[str, Any] = {
    "kernel": "rbf",
    "C": 1.0,
    "gamma": "scale",
    "probability": True,
    "calibration_cv": 5,
    "max_train_samples": MAX_TRAIN_SAMPLES,
    "random_state": 0,
}


def make(hyperparams: Mapping[str, Any] | None = None) -> Pipeline:
    """A fresh ``StandardScaler`` + RBF SVM (sigmoid-calibrated probabilities) on the most recent rows."""
    hp = merged(HYPERPARAMS, hyperparams)
    svm = SVC(kernel=hp["kernel"], C=hp["C"], gamma=hp["gamma"], random_state=hp["random_state"])
    model: Any = svm
    if hp["probability"]:
        model = CalibratedClassifierCV(svm, method="sigmoid", cv=hp["calibration_cv"], ensemble=False)
    return scaled(RecentSamplesClassifier(model, max_samples=hp["max_train_samples"]))


def default_label() -> LabelSpec:
    from blofin_stack.ml import labels

    return labels.momentum_state(HORIZON, THRESHOLD)
