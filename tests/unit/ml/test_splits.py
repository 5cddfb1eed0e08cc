"""Walk-forward splits on hand-built timestamps: purging, the 24 h embargo, rolling folds, never shuffled."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from blofin_stack.market.timeframes import DAY_MS, HOUR_MS
from blofin_stack.ml.base import Dataset
from blofin_stack.ml.labels import forward_return
from blofin_stack.ml.splits import Fold, WalkForward


def hourly(days: int, horizon_hours: int = 3, start: int = 1_700_006_400_000) -> tuple[np.ndarray, np.ndarray]:
    """One sample per 1H bar over ``days``; a label over ``horizon_hours`` bars is known at the close of
    the last one: ``t_end = t + (h + 1) hours``."""
    t = start + HOUR_MS * np.arange(days * 24, dtype="int64")
    return t, t + (horizon_hours + 1) * HOUR_MS


def check_fold(fold: Fold, t: np.ndarray, t_end: np.ndarray, embargo_ms: int) -> None:
    """The invariants every fold must satisfy."""
    train, test = fold.train, fold.test
    assert len(train) and len(test)
    # never shuffled: ascending positions
    assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()
    # windows as reported
    assert (t[train] >= fold.train_start).all() and (t[train] < fold.train_end).all()
    assert (t[test] >= fold.test_start).all() and (t[test] < fold.test_end).all()
    # the embargo is exactly the configured gap
    assert fold.test_start - fold.train_end == embargo_ms == fold.embargo_ms
    # train strictly before test, and no training label interval [t, t_end] reaches into the embargo
    # or touches any test sample
    assert t[train].max() < t[test].min()
    assert t_end[train].max() <= fold.train_end
    assert t_end[train].max() + embargo_ms <= t[test].min()
    # every training-window sample is either trained on or purged
    window = np.flatnonzero((t >= fold.train_start) & (t < fold.train_end))
    assert len(window) == len(train) + fold.purged
    purged = np.setdiff1d(window, train)
    assert (t_end[purged] > fold.test_start - embargo_ms).all()


def test_default_folds_on_hand_built_hours() -> None:
    t, t_end = hourly(20)
    folds = WalkForward(train_days=5, test_days=2, min_train=1).split(t, t_end)
    # train_end = 5 + 2k days, test [6 + 2k, 8 + 2k): the 20 days hold 7 folds
    assert len(folds) == 7
    for k, fold in enumerate(folds):
        check_fold(fold, t, t_end, 24 * HOUR_MS)
        assert fold.index == k
        assert fold.train_start == t[0] + k * 2 * DAY_MS
        assert fold.train_end - fold.train_start == 5 * DAY_MS
        assert fold.test_end - fold.test_start == 2 * DAY_MS
        # labels over 3 bars known 4 h after t: the last 3 hourly samples of the window are purged
        assert fold.purged == 3
        assert len(fold.train) == 5 * 24 - 3
        assert len(fold.test) == 2 * 24
    assert not any(f.partial for f in folds)
    # folds roll: test windows tile the data, training windows move by the step
    for a, b in itertools.pairwise(folds):
        assert b.test_start == a.test_end
        assert b.train_start - a.train_start == 2 * DAY_MS


def test_a_last_test_window_half_covered_counts_as_partial() -> None:
    t, t_end = hourly(19)
    folds = WalkForward(train_days=5, test_days=2, min_train=1).split(t, t_end)
    assert len(folds) == 7 and folds[-1].partial and not folds[-2].partial
    assert len(folds[-1].test) == 24 and folds[-1].describe()["partial"] is True
    shorter = WalkForward(train_days=5, test_days=2, min_train=1, min_test_fraction=0.6).split(t, t_end)
    assert len(shorter) == 6


def test_purged_counts_with_variable_label_horizons() -> None:
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 15 * DAY_MS, 3000)).astype("int64") + 1_700_000_000_000
    t_end = t + rng.integers(0, 36 * HOUR_MS, len(t))
    splitter = WalkForward(train_days=4, test_days=2, embargo_hours=24, min_train=1)
    folds = splitter.split(t, t_end)
    assert len(folds) >= 3
    for fold in folds:
        check_fold(fold, t, t_end, splitter.embargo_ms)
        window = (t >= fold.train_start) & (t < fold.train_end)
        assert fold.purged == int((window & (t_end > fold.train_end)).sum()) > 0


def test_no_embargo_still_purges_label_overlap_with_the_test() -> None:
    t, t_end = hourly(12, horizon_hours=5)
    folds = WalkForward(train_days=3, test_days=1, embargo_hours=0, min_train=1).split(t, t_end)
    for fold in folds:
        check_fold(fold, t, t_end, 0)
        assert fold.test_start == fold.train_end
        assert fold.purged == 5  # labels of the last 5 hours end after train_end


def test_pooled_samples_share_times_and_stay_in_order() -> None:
    t1, e1 = hourly(12)
    t = np.repeat(t1, 3)  # three instruments at every bar, as a pooled dataset holds them
    t_end = np.repeat(e1, 3)
    folds = WalkForward(train_days=4, test_days=2, min_train=1).split(t, t_end)
    for fold in folds:
        check_fold_train = fold.train
        assert len(check_fold_train) % 3 == 0 and fold.purged == 9
        assert (np.diff(fold.train) == 1).all() and (np.diff(fold.test) == 1).all()


def test_step_and_expanding_windows() -> None:
    t, t_end = hourly(15)
    stepped = WalkForward(train_days=5, test_days=3, step_days=1, min_train=1).split(t, t_end)
    assert [f.train_start - t[0] for f in stepped[:3]] == [0, DAY_MS, 2 * DAY_MS]
    assert stepped[1].test_start - stepped[0].test_start == DAY_MS  # overlapping test windows
    expanding = WalkForward(train_days=5, test_days=2, expanding=True, min_train=1).split(t, t_end)
    assert all(f.train_start == t[0] for f in expanding)
    assert [f.train_end - f.train_start for f in expanding[:2]] == [5 * DAY_MS, 7 * DAY_MS]
    for fold in [*stepped, *expanding]:
        check_fold(fold, t, t_end, 24 * HOUR_MS)


def test_too_short_data_raises_a_clear_error() -> None:
    t, t_end = hourly(9)  # 7 train + 1 embargo + 1.5 test days are needed
    with pytest.raises(ValueError, match=r"too short for one walk-forward fold: 216 samples span 8\.96 days"):
        WalkForward().split(t, t_end)
    with pytest.raises(ValueError, match="no samples"):
        WalkForward().split(np.array([], dtype="int64"), np.array([], dtype="int64"))
    # enough days but too few training samples
    with pytest.raises(ValueError, match="at least 100000 training samples"):
        WalkForward(min_train=100_000).split(*hourly(20))


def test_bad_inputs_raise() -> None:
    t, t_end = hourly(20)
    with pytest.raises(ValueError, match="pass t_end"):
        WalkForward().split(t)
    with pytest.raises(ValueError, match="t_end < t"):
        WalkForward().split(t, t - 1)
    with pytest.raises(ValueError, match="one length"):
        WalkForward().split(t, t_end[:-1])
    for bad in ({"train_days": 0}, {"test_days": -1}, {"embargo_hours": -1}, {"step_days": 0}):
        with pytest.raises(ValueError):
            WalkForward(**bad)


def test_split_of_a_dataset_and_describe() -> None:
    t, t_end = hourly(20)
    n = len(t)
    data = Dataset(
        X=pd.DataFrame({"f": np.arange(n, dtype="float64")}),
        y=pd.Series(np.zeros(n)),
        t=t,
        t_end=t_end,
        inst=np.array(["BTC-USDT"] * n, dtype=object),
        label=forward_return(3),
        timeframe="1H",
        features=["f"],
    )
    folds = WalkForward(min_train=1).split(data)
    assert len(folds) == 4  # 7 + 1 + 3 = 11 days, then every 3 days while half a test window remains
    info = folds[0].describe()
    assert info["embargo_hours"] == 24.0 and info["purged"] == 3
    assert info["n_train"] == 7 * 24 - 3 and info["n_test"] == 3 * 24
    assert info["train_end"] + 24 * HOUR_MS == info["test_start"]
    assert info["train_period"].endswith("Z") and " .. " in info["test_period"]
    assert WalkForward().describe()["step_days"] == 3.0
    assert data.subset(folds[0].test).t[0] == folds[0].test_start
