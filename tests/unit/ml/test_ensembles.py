"""Ensembles on hand-built folds and member predictions: weighted average and vote by hand, and a stacking
meta-learner that only ever learns from earlier folds' out-of-sample rows (purged), never from the fold it
predicts."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from blofin_stack.ml import ensembles
from blofin_stack.ml.base import Dataset
from blofin_stack.ml.ensembles import (
    SKILL_EPSILON,
    build_ensembles,
    fold_skill,
    list_ensembles,
    majority_vote,
    meta_training_rows,
    save_ensemble,
    skill_weights,
    update_ensemble_status,
)
from blofin_stack.ml.labels import direction
from blofin_stack.ml.models import get_spec
from blofin_stack.ml.splits import Fold
from blofin_stack.ml.training import TrainingResult, skill_of
from blofin_stack.ml.validation import aggregate, evaluate

STEP = 300_000
T0 = 1_700_000_000_000 // STEP * STEP
N_FOLDS, TEST, HORIZON = 4, 50, 2
N = 2 * TEST + N_FOLDS * TEST


def dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    t = T0 + STEP * np.arange(N)
    return Dataset(
        X=pd.DataFrame({"f": np.zeros(N)}),
        y=pd.Series(rng.integers(0, 2, N).astype("float64")),
        t=t,
        t_end=t + (HORIZON + 1) * STEP,
        inst=np.array(["AAA"] * N, dtype=object),
        label=direction(HORIZON),
        timeframe="5m",
        features=["f"],
    )


def folds(data: Dataset) -> list[Fold]:
    """Fold k trains on rows [k*TEST, k*TEST + 2*TEST) and tests on the next TEST rows (embargo: one bar)."""
    out = []
    for k in range(N_FOLDS):
        train = np.arange(k * TEST, k * TEST + 2 * TEST)
        test = np.arange(2 * TEST + k * TEST, 3 * TEST + k * TEST)
        out.append(
            Fold(
                k,
                train,
                test,
                int(data.t[train[0]]),
                int(data.t[test[0]]) - STEP,
                int(data.t[test[0]]),
                int(data.t[test[-1]]) + STEP,
                STEP,
                0,
            )
        )
    return out


#: Member names: any three direction models of the zoo (only their names matter here).
SPECS = {"a": "direction_logistic", "b": "direction_predictor", "c": "direction_forest"}


def member(name: str, data: Dataset, fs: Sequence[Fold], p_up: np.ndarray) -> TrainingResult:
    """A training result of zoo model ``SPECS[name]`` whose out-of-sample probability of class 1 at row i
    is ``p_up[i]``."""
    y = data.y.to_numpy()
    oos, results = [], []
    for fold in fs:
        proba = np.column_stack([1 - p_up[fold.test], p_up[fold.test]])
        oos.append((fold.test, proba))
        pred = (p_up[fold.test] > 0.5).astype("float64")
        results.append(
            {
                **fold.describe(),
                **evaluate("classification", y[fold.train], y[fold.test], pred, proba, classes=[0.0, 1.0]),
            }
        )
    summary = aggregate(results)
    return TrainingResult(
        spec=get_spec(SPECS[name]),
        features=["f"],
        folds=results,
        summary=summary,
        skill=skill_of("classification", summary),
        status="candidate",
        reasons=[],
        canaries=[],
        estimator=None,
        oos=oos,
        importances=None,
        train_window=(0, 0),
        samples=N,
        seconds=0.0,
    )


@pytest.fixture
def case() -> tuple[Dataset, list[Fold], list[TrainingResult]]:
    data = dataset()
    fs = folds(data)
    y = data.y.to_numpy()
    rng = np.random.default_rng(1)
    good = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, N), 0.01, 0.99)  # informative
    noise = rng.uniform(0.05, 0.95, N)
    worse = np.clip(0.5 + 0.1 * (2 * y - 1) + rng.normal(0, 0.3, N), 0.01, 0.99)
    members = [member("a", data, fs, good), member("b", data, fs, noise), member("c", data, fs, worse)]
    return data, fs, members


def test_weighted_average_uses_skills_of_earlier_folds_only(case) -> None:  # type: ignore[no-untyped-def]
    data, fs, members = case
    (weighted,) = build_ensembles(members, data, fs, ["weighted"])
    y = data.y.to_numpy()
    for k, fold in enumerate(fs):
        earlier = [[fold_skill(m.folds[j]) for j in range(k)] for m in members]
        expected = np.full(3, 1 / 3) if k == 0 else skill_weights([float(np.mean(e)) for e in earlier])
        assert list(weighted.folds[k]["weights"].values()) == pytest.approx(expected.tolist())
        assert weighted.folds[k]["weights_from_folds"] == list(range(k))
        proba = sum(w * m.oos[k][1] for w, m in zip(expected, members, strict=True))
        accuracy = float(np.mean((proba[:, 1] > proba[:, 0]).astype(float) == y[fold.test]))
        assert weighted.folds[k]["oos"]["accuracy"] == pytest.approx(accuracy)
    # the weights kept for later use come from every fold: max(skill, 0) + epsilon, normalised
    raw = np.array([max(m.skill, 0) for m in members]) + SKILL_EPSILON
    assert list(weighted.weights.values()) == pytest.approx((raw / raw.sum()).tolist())
    assert weighted.skill == pytest.approx(skill_of("classification", weighted.summary))


def test_skill_weights_by_hand() -> None:
    total = 10 + 3 * SKILL_EPSILON
    expected = [(10 + SKILL_EPSILON) / total, SKILL_EPSILON / total, SKILL_EPSILON / total]
    assert skill_weights([10.0, -5.0, None]).tolist() == pytest.approx(expected)
    assert skill_weights([-1.0, -2.0]).tolist() == [0.5, 0.5]  # nobody beats the baseline: equal weights


def test_majority_vote_by_hand_with_ties_to_the_higher_mean_probability() -> None:
    a = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])
    b = np.array([[0.8, 0.2], [0.3, 0.7], [0.51, 0.49], [0.6, 0.4]])
    c = np.array([[0.1, 0.9], [0.6, 0.4], [0.7, 0.3], [0.45, 0.55]])
    winner, shares = majority_vote([a, b, c])
    assert winner.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(shares[:, 1], [1 / 3, 2 / 3, 1 / 3, 2 / 3])
    # two members disagree: the class with the higher mean probability wins
    winner, shares = majority_vote([a[[2, 3]], b[[2, 3]]])
    assert winner.tolist() == [1, 1] and shares.tolist() == [[0.5, 0.5], [0.5, 0.5]]  # means 0.52, 0.6


def test_vote_ensemble_scores_the_vote(case) -> None:  # type: ignore[no-untyped-def]
    data, fs, members = case
    (vote,) = build_ensembles(members, data, fs, ["vote"])
    y = data.y.to_numpy()
    for k, fold in enumerate(fs):
        votes = np.stack([m.oos[k][1][:, 1] > 0.5 for m in members]).sum(axis=0)
        assert vote.folds[k]["oos"]["accuracy"] == pytest.approx(float(np.mean((votes >= 2) == y[fold.test])))
    assert vote.weights == {m.spec.name: pytest.approx(1 / 3) for m in members}


def test_stacking_learns_only_from_earlier_folds_purged(case, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    data, fs, members = case
    # member a's probability encodes the row: the meta-learner's inputs reveal which rows it saw
    code = (np.arange(N) + 0.5) / (N + 1)
    members[0] = member("a", data, fs, code)
    seen: list[np.ndarray] = []
    real = ensembles.fit_meta

    def recording(X: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
        seen.append(np.rint(X[:, 0] * (N + 1) - 0.5).astype(int))
        return real(X, y)

    monkeypatch.setattr(ensembles, "fit_meta", recording)
    (stack,) = build_ensembles(members, data, fs, ["stacking"])
    assert [f["index"] for f in stack.folds] == [1, 2, 3]  # fold 0 has nothing earlier to learn from
    for call, k in zip(seen[:3], (1, 2, 3), strict=True):
        fold = fs[k]
        earlier = np.concatenate([fs[j].test for j in range(k)])
        limit = fold.test_start - fold.embargo_ms
        expected = earlier[data.t_end[earlier] <= limit]
        assert sorted(call.tolist()) == expected.tolist()
        assert not set(call.tolist()) & set(fold.test.tolist())  # never the fold it predicts
        assert set(call.tolist()) <= set(earlier.tolist())
        purged = sorted(set(earlier.tolist()) - set(call.tolist()))
        # a label is known at t + (HORIZON + 1) bars, the embargo is one bar: the last HORIZON + 1 rows go
        assert purged == list(range(fold.test[0] - HORIZON - 1, fold.test[0]))
        assert stack.folds[k - 1]["meta_trained_on_folds"] == list(range(k))
        assert stack.folds[k - 1]["meta_rows"] == len(expected) and stack.folds[k - 1]["meta_purged"] == len(purged)
    # the stored meta-learner is fitted on every fold's rows
    assert sorted(seen[3].tolist()) == np.concatenate([f.test for f in fs]).tolist()
    assert len(stack.meta["coef"][0]) == 3
    _, rows, purged = meta_training_rows(data, fs, 2)
    assert len(rows) == 2 * TEST - (HORIZON + 1) and purged == HORIZON + 1
    with pytest.raises(ValueError, match="min_history"):
        build_ensembles(members, data, fs, ["stacking"], min_history=0)
    (later,) = build_ensembles(members, data, fs, ["stacking"], min_history=2)
    assert [f["index"] for f in later.folds] == [2, 3]


def test_a_real_stack_learns_to_invert_a_contrarian_member(case) -> None:  # type: ignore[no-untyped-def]
    data, fs, _ = case
    y = data.y.to_numpy()
    rng = np.random.default_rng(5)
    contrarian = np.clip(0.5 - 0.35 * (2 * y - 1) + rng.normal(0, 0.1, N), 0.01, 0.99)  # right, but backwards
    noise = rng.uniform(0.05, 0.95, N)
    members = [member("a", data, fs, contrarian), member("b", data, fs, noise)]
    weighted, vote, stack = build_ensembles(members, data, fs)
    assert stack.summary["mean"]["oos"]["accuracy"] > 0.9  # the meta-learner flips member a
    assert weighted.summary["mean"]["oos"]["accuracy"] < 0.65 and vote.summary["mean"]["oos"]["accuracy"] < 0.65
    assert stack.meta["coef"][0][0] < 0


def test_members_must_share_the_folds(case) -> None:  # type: ignore[no-untyped-def]
    data, fs, members = case
    with pytest.raises(ValueError, match="at least two members"):
        build_ensembles(members[:1], data, fs)
    shifted = [
        Fold(f.index, f.train, f.test + 1, f.train_start, f.train_end, f.test_start, f.test_end, STEP, 0)
        for f in fs[:3]
    ] + [fs[3]]
    with pytest.raises(ValueError, match="not for the fold's test rows"):
        build_ensembles(members, data, shifted)
    with pytest.raises(ValueError, match="4 folds of predictions, the ensemble 3"):
        build_ensembles(members, data, fs[:3])
    with pytest.raises(ValueError, match="unknown ensemble method"):
        build_ensembles(members, data, fs, ["median"])


def test_files_numbering_and_status(case, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data, fs, members = case
    results = build_ensembles(members, data, fs)
    ids = {m.spec.name: f"model_00{i + 1}" for i, m in enumerate(members)}
    paths = [save_ensemble(tmp_path, r, ids, cycle_id="c1", now_ms=T0) for r in results]
    assert [p.name for p in paths] == ["ensemble_001.json", "ensemble_002.json", "ensemble_003.json"]
    spec = json.loads(paths[2].read_text())
    assert spec["method"] == "stacking" and spec["members"][0] == {
        "name": members[0].spec.name,
        "model_id": "model_001",
    }
    assert spec["meta_learner"]["coef"] and spec["status"] == "active" and spec["cycle_id"] == "c1"
    detail = json.loads((tmp_path / "ensembles" / "ensemble_003_results.json").read_text())
    assert [f["index"] for f in detail["folds"]] == [1, 2, 3] and detail["skill"] == pytest.approx(results[2].skill)
    assert [e["ensemble_id"] for e in list_ensembles(tmp_path)] == ["ensemble_001", "ensemble_002", "ensemble_003"]
    update_ensemble_status(paths[0], "archived", "below the top 2")
    stored = list_ensembles(tmp_path)[0]
    assert stored["status"] == "archived" and stored["status_history"][-1]["reason"] == "below the top 2"
    with pytest.raises(ValueError, match="members without a stored model"):
        save_ensemble(tmp_path, results[0], {})
    with pytest.raises(ValueError, match="unknown ensemble status"):
        update_ensemble_status(paths[0], "suspect", "x")
