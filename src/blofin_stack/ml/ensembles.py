"""Ensembles of classifiers trained on the same dataset and walk-forward folds, judged out of sample.

Members are :class:`~blofin_stack.ml.training.TrainingResult` s of one label (the ML cycle uses the direction
models: ``direction_predictor``, ``direction_logistic``, ``direction_forest``) whose per-fold out-of-sample
probabilities (``result.oos``) cover the same test rows. Three combinations, each scored on every fold it
can be scored on with :func:`~blofin_stack.ml.validation.evaluate` against the same majority baseline as the
members (the majority class of the fold's training labels):

* **weighted** average of the members' probabilities, weights proportional to ``max(skill, 0) +``
  :data:`SKILL_EPSILON` (skill: :func:`~blofin_stack.ml.training.skill_of`, 0 = baseline, 100 = perfect;
  the epsilon gives equal weights when no member beats the baseline and keeps every weight positive).
  On fold ``k`` the weights come from the members' skill on the folds BEFORE ``k`` only (equal weights on
  the first fold): weighing fold ``k`` by a skill measured on fold ``k`` would let the test labels choose
  the weights. The stored weights (for use after the cycle) come from all folds.
* **vote**: each member votes for its most probable class, the most votes win; a tie goes to the class
  with the higher mean probability. Its probabilities (for ROC-AUC and log loss) are the vote shares.
* **stacking**: a logistic-regression meta-learner (``C=1``) on the members' out-of-sample probabilities
  (for two classes each member's probability of the larger class, otherwise all its columns). Fold ``k``
  is predicted by a meta-learner fitted only on the members' predictions for the test rows of EARLIER
  folds (``0 .. k-1``, at least ``min_history`` of them), purged like a training window: rows whose label
  is known only after ``test_start(k) - embargo`` are left out. The first ``min_history`` folds are not
  scored (there is nothing to learn from yet). The stored meta-learner is fitted on every fold's rows.

**Score** (for keeping the best ensembles): the same skill as a model's, from the mean accuracy over the
scored folds against the mean baseline accuracy.

**Files** (:func:`save_ensemble`): ``<models root>/ensembles/ensemble_NNN.json`` (members with their model
ids, method, weights or meta-learner coefficients, classes, label, status) and
``ensemble_NNN_results.json`` (per-fold results, aggregate, skill). No pickles: everything is JSON.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from blofin_stack.ml.base import Dataset
from blofin_stack.ml.splits import Fold
from blofin_stack.ml.training import TrainingResult, skill_of
from blofin_stack.ml.validation import aggregate, evaluate
from blofin_stack.serialize import iso, to_json

METHODS = ("weighted", "vote", "stacking")
#: Added to ``max(skill, 0)`` (skill points, 0..100) before normalising the weights.
SKILL_EPSILON = 0.01
#: Statuses of a stored ensemble.
ENSEMBLE_STATUSES = ("active", "archived")
ENSEMBLE_FILE = re.compile(r"^ensemble_(\d{3,})\.json$")


@dataclass(frozen=True)
class Member:
    """One member: its name, skill over all folds and per fold, and per-fold ``(test rows, probabilities)``."""

    name: str
    skill: float | None
    fold_skills: tuple[float | None, ...]
    oos: tuple[tuple[np.ndarray, np.ndarray], ...] = field(repr=False)

    @classmethod
    def from_training(cls, result: TrainingResult) -> Member:
        """The member view of a classifier's training result.

        Raises:
            ValueError: a regressor (only classifiers are combined).
        """
        if result.spec.task != "classification":
            raise ValueError(f"{result.spec.name} is a regressor: ensembles combine classifiers' probabilities")
        return cls(
            name=result.spec.name,
            skill=result.skill,
            fold_skills=tuple(fold_skill(f) for f in result.folds),
            oos=tuple((np.asarray(rows), np.asarray(proba, dtype="float64")) for rows, proba in result.oos),
        )


@dataclass
class EnsembleResult:
    """One combination's out-of-sample record.

    Attributes:
        method: ``weighted``, ``vote`` or ``stacking``.
        members: member names (the column order of ``weights`` and the meta-learner's inputs).
        weights: member -> weight to use after the cycle (all folds); ``None`` for stacking.
        meta: stacking only: ``{"coef", "intercept", "classes", "inputs"}`` of the meta-learner fitted on
            every fold's out-of-sample rows.
        classes: class labels, the column order of the probabilities.
        folds: per scored fold: boundaries, :func:`evaluate` output and what the combination used.
        summary: :func:`aggregate` over the scored folds; ``skill``: see the module docstring.
        label, timeframe: the members' target and bars.
    """

    method: str
    members: list[str]
    weights: dict[str, float] | None
    meta: dict[str, Any] | None
    classes: list[float]
    folds: list[dict[str, Any]]
    summary: dict[str, Any]
    skill: float | None
    label: str
    timeframe: str

    @property
    def name(self) -> str:
        """``<label>_<method>``, e.g. ``direction_12_stacking``."""
        return f"{self.label}_{self.method}"


def fold_skill(fold_result: Mapping[str, Any]) -> float | None:
    """Skill of one fold's :func:`evaluate` output (accuracy against the baseline's, 0 = baseline, 100 = perfect)."""
    model = (fold_result.get("oos") or {}).get("accuracy")
    reference = (fold_result.get("baseline") or {}).get("accuracy")
    if model is None or reference is None or reference >= 1:
        return None
    return 100.0 * (model - reference) / (1.0 - reference)


def skill_weights(skills: Sequence[float | None]) -> np.ndarray:
    """Weights proportional to ``max(skill, 0) + SKILL_EPSILON`` (an unknown skill counts as 0), summing to 1."""
    raw = np.array([max(s, 0.0) if s is not None else 0.0 for s in skills], dtype="float64") + SKILL_EPSILON
    return raw / raw.sum()


def weighted_average(probas: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``sum_i weights[i] * probas[i]``: each proba ``(rows, classes)``, ``weights`` summing to 1."""
    return np.tensordot(np.asarray(weights, dtype="float64"), np.stack(probas), axes=1)


def majority_vote(probas: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Column index of the winning class per row, and the vote shares ``(rows, classes)``.

    Each member votes for its most probable column; ties between columns go to the higher mean probability.
    """
    stacked = np.stack(probas)  # (members, rows, classes)
    votes = np.argmax(stacked, axis=2)
    n_classes = stacked.shape[2]
    shares = (votes[..., None] == np.arange(n_classes)).mean(axis=0)
    best = shares == shares.max(axis=1, keepdims=True)
    mean = stacked.mean(axis=0)
    winner = np.argmax(np.where(best, mean, -np.inf), axis=1)
    return winner, shares


def stack_inputs(probas: Sequence[np.ndarray]) -> np.ndarray:
    """The meta-learner's inputs: with two classes each member's probability of the second (larger)
    class, ``(rows, members)``; otherwise every member's columns side by side."""
    if probas[0].shape[1] == 2:
        return np.column_stack([p[:, 1] for p in probas])
    return np.hstack(probas)


def fit_meta(X: np.ndarray, y: np.ndarray) -> LogisticRegression | None:
    """The stacking meta-learner (logistic regression, ``C=1``) on ``X``; ``None`` with a single class in ``y``."""
    if len(np.unique(y)) < 2:
        return None
    return LogisticRegression(C=1.0, max_iter=1000).fit(X, y)


def _meta_proba(meta: LogisticRegression, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The meta-learner's probabilities in ``classes`` order (classes it never saw get 0)."""
    out = np.zeros((len(X), len(classes)))
    out[:, np.searchsorted(classes, meta.classes_)] = meta.predict_proba(X)
    return out


def _check_members(members: Sequence[Member], data: Dataset, folds: Sequence[Fold]) -> list[np.ndarray]:
    """Per fold, the classes (sorted training labels); raises when members do not share the folds."""
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
    y = data.y.to_numpy()
    out = []
    for k, fold in enumerate(folds):
        classes = np.unique(y[fold.train])
        for m in members:
            if len(m.oos) != len(folds):
                raise ValueError(f"{m.name} has {len(m.oos)} folds of predictions, the ensemble {len(folds)}")
            rows, proba = m.oos[k]
            if not np.array_equal(rows, fold.test):
                raise ValueError(f"{m.name}'s fold {k} predictions are not for the fold's test rows")
            if proba.ndim != 2 or proba.shape != (len(fold.test), len(classes)):
                raise ValueError(
                    f"{m.name}'s fold {k} probabilities have shape {proba.shape}, expected "
                    f"({len(fold.test)}, {len(classes)}) (test rows, training classes)"
                )
        out.append(classes)
    return out


def _score(data: Dataset, fold: Fold, classes: np.ndarray, proba: np.ndarray, pred_col: np.ndarray) -> dict[str, Any]:
    y = data.y.to_numpy()
    return {
        **fold.describe(),
        **evaluate("classification", y[fold.train], y[fold.test], classes[pred_col], proba, classes=list(classes)),
    }


def meta_training_rows(data: Dataset, folds: Sequence[Fold], k: int) -> tuple[list[int], np.ndarray, int]:
    """The rows the stacking meta-learner of fold ``k`` learns from: the test rows of folds ``< k`` whose
    label is known by ``test_start(k) - embargo``. Returns (earlier fold indices, row positions into each
    earlier fold's test rows concatenated, purged count)."""
    fold = folds[k]
    limit = fold.test_start - fold.embargo_ms
    earlier = list(range(k))
    rows = np.concatenate([folds[j].test for j in earlier]) if earlier else np.array([], dtype=np.int64)
    known = data.t_end[rows] <= limit
    return earlier, np.flatnonzero(known), int((~known).sum())


def _combine(
    method: str,
    members: Sequence[Member],
    data: Dataset,
    folds: Sequence[Fold],
    classes_by_fold: Sequence[np.ndarray],
    min_history: int,
) -> EnsembleResult:
    y = data.y.to_numpy()
    results: list[dict[str, Any]] = []
    for k, fold in enumerate(folds):
        classes = classes_by_fold[k]
        probas = [m.oos[k][1] for m in members]
        if method == "weighted":
            history = [[s for s in m.fold_skills[:k] if s is not None] for m in members]
            weights = skill_weights([float(np.mean(h)) if h else None for h in history])
            proba = weighted_average(probas, weights)
            results.append(
                {
                    **_score(data, fold, classes, proba, np.argmax(proba, axis=1)),
                    "weights": {m.name: float(w) for m, w in zip(members, weights, strict=True)},
                    "weights_from_folds": list(range(k)),
                }
            )
        elif method == "vote":
            winner, shares = majority_vote(probas)
            results.append(_score(data, fold, classes, shares, winner))
        else:
            if k < min_history:
                continue
            earlier, keep, purged = meta_training_rows(data, folds, k)
            X_meta = np.vstack([stack_inputs([m.oos[j][1] for m in members]) for j in earlier])[keep]
            rows = np.concatenate([folds[j].test for j in earlier])[keep]
            meta = fit_meta(X_meta, y[rows])
            if meta is None:
                continue
            proba = _meta_proba(meta, stack_inputs(probas), classes)
            results.append(
                {
                    **_score(data, fold, classes, proba, np.argmax(proba, axis=1)),
                    "meta_trained_on_folds": earlier,
                    "meta_rows": len(rows),
                    "meta_purged": purged,
                }
            )
    summary = aggregate(results)
    deploy_weights: dict[str, float] | None = None
    meta_out: dict[str, Any] | None = None
    if method == "weighted":
        deploy_weights = {
            m.name: float(w) for m, w in zip(members, skill_weights([m.skill for m in members]), strict=True)
        }
    elif method == "vote":
        deploy_weights = {m.name: 1.0 / len(members) for m in members}
    else:
        X_all = np.vstack([stack_inputs([m.oos[j][1] for m in members]) for j in range(len(folds))])
        y_all = y[np.concatenate([f.test for f in folds])]
        meta = fit_meta(X_all, y_all)
        if meta is not None:
            meta_out = {
                "coef": meta.coef_.tolist(),
                "intercept": meta.intercept_.tolist(),
                "classes": meta.classes_.tolist(),
                "inputs": "probability of the larger class per member" if probas[0].shape[1] == 2 else "all columns",
            }
    return EnsembleResult(
        method=method,
        members=[m.name for m in members],
        weights=deploy_weights,
        meta=meta_out,
        classes=[float(c) for c in np.unique(y)],
        folds=results,
        summary=summary,
        skill=skill_of("classification", summary) if results else None,
        label=data.label.name,
        timeframe=data.timeframe,
    )


def build_ensembles(
    results: Sequence[TrainingResult],
    data: Dataset,
    folds: Sequence[Fold],
    methods: Sequence[str] = METHODS,
    *,
    min_history: int = 1,
) -> list[EnsembleResult]:
    """Every combination of ``methods`` over the members ``results``, evaluated out of sample per fold.

    Args:
        results: classifiers trained by :func:`~blofin_stack.ml.training.train_model` on ``data`` and ``folds``.
        data: the members' dataset (labels, ``t_end`` for the stacking purge).
        folds: the members' folds, in order.
        methods: a subset of :data:`METHODS`.
        min_history: stacking scores fold ``k`` only when ``k >= min_history`` earlier folds exist (>= 1).

    Raises:
        ValueError: fewer than two members, a regressor, unknown method, members on other folds.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown ensemble method(s) {unknown}; known: {', '.join(METHODS)}")
    if min_history < 1:
        raise ValueError(f"min_history must be >= 1 (stacking learns from earlier folds), got {min_history}")
    members = [Member.from_training(r) for r in results]
    classes_by_fold = _check_members(members, data, folds)
    return [_combine(m, members, data, folds, classes_by_fold, min_history) for m in methods]


# --------------------------------------------------------------------------------------------------
# files


def ensembles_dir(models_root: Path | str) -> Path:
    """``<models root>/ensembles``."""
    return Path(models_root) / "ensembles"


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_json(payload) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _numbers(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := ENSEMBLE_FILE.match(p.name)))


def save_ensemble(
    models_root: Path | str,
    result: EnsembleResult,
    member_ids: Mapping[str, str],
    *,
    status: str = "active",
    cycle_id: str | None = None,
    now_ms: int | None = None,
) -> Path:
    """Write ``ensemble_NNN.json`` and ``ensemble_NNN_results.json`` (next free number); returns the first.

    Args:
        models_root: the model store (``ML_MODELS_PATH``).
        result: the ensemble.
        member_ids: member name -> stored model id (``model_012``).
        status: ``active`` or ``archived``.
        cycle_id: the ML cycle that built it.
        now_ms: creation time (ms); default the wall clock.

    Raises:
        ValueError: unknown status or a member without a stored model id.
    """
    if status not in ENSEMBLE_STATUSES:
        raise ValueError(f"unknown ensemble status {status!r}; known: {', '.join(ENSEMBLE_STATUSES)}")
    missing = [m for m in result.members if m not in member_ids]
    if missing:
        raise ValueError(f"members without a stored model: {', '.join(missing)}")
    folder = ensembles_dir(models_root)
    folder.mkdir(parents=True, exist_ok=True)
    created = iso(int(time.time() * 1000) if now_ms is None else int(now_ms))
    for _ in range(1000):
        number = (_numbers(folder) or [0])[-1] + 1
        ensemble_id = f"ensemble_{number:03d}"
        path = folder / f"{ensemble_id}.json"
        try:
            with path.open("x", encoding="utf-8"):
                pass  # claims the number
        except FileExistsError:
            continue
        spec = {
            "ensemble_id": ensemble_id,
            "name": result.name,
            "method": result.method,
            "label": result.label,
            "timeframe": result.timeframe,
            "members": [{"name": m, "model_id": member_ids[m]} for m in result.members],
            "weights": result.weights,
            "meta_learner": result.meta,
            "classes": result.classes,
            "skill": result.skill,
            "score": "skill: OOS accuracy over the majority baseline, 0 = baseline, 100 = perfect",
            "cycle_id": cycle_id,
            "created_ts": created,
            "status": status,
            "status_reason": "saved",
            "status_history": [{"ts": created, "status": status, "reason": "saved"}],
        }
        _write_json(folder / f"{ensemble_id}_results.json", _results_payload(ensemble_id, result))
        _write_json(path, spec)
        return path
    raise RuntimeError(f"could not claim an ensemble number in {folder}")


def _results_payload(ensemble_id: str, result: EnsembleResult) -> dict[str, Any]:
    return {
        "ensemble_id": ensemble_id,
        "method": result.method,
        "members": result.members,
        "folds": result.folds,
        "summary": result.summary,
        "skill": result.skill,
    }


def list_ensembles(models_root: Path | str) -> list[dict[str, Any]]:
    """Every stored ensemble's JSON (plus ``path``), in number order; unreadable files are skipped."""
    folder = ensembles_dir(models_root)
    out = []
    for number in _numbers(folder):
        path = folder / f"ensemble_{number:03d}.json"
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        out.append({**payload, "path": str(path)})
    return out


def update_ensemble_status(path: Path | str, status: str, reason: str, *, now_ms: int | None = None) -> dict[str, Any]:
    """Set a stored ensemble's status with a reason (appended to ``status_history``).

    Raises:
        ValueError: unknown status.
    """
    if status not in ENSEMBLE_STATUSES:
        raise ValueError(f"unknown ensemble status {status!r}; known: {', '.join(ENSEMBLE_STATUSES)}")
    path = Path(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    ts = iso(int(time.time() * 1000) if now_ms is None else int(now_ms))
    payload["status"] = status
    payload["status_reason"] = reason
    payload.setdefault("status_history", []).append({"ts": ts, "status": status, "reason": reason})
    _write_json(path, payload)
    return dict(payload)
