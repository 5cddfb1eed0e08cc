"""Walk-forward splits with purging and an embargo: every evaluation is out of sample, in time order.

Fold ``k`` (rolling; ``step`` = ``step_days``, by default ``test_days``)::

    train_start = origin + k * step              (origin = the first sample's time; fixed when expanding)
    train_end   = origin + train_days + k * step
    test_start  = train_end + embargo            (embargo = 24 h by default)
    test_end    = test_start + test_days

    |<------------- train ------------->|<-- embargo -->|<------ test ------>|
    train_start                   train_end        test_start           test_end
              [t ........ t_end]   ok: label known by train_end
                             [t ........ t_end]   purged: label reaches into the embargo

* training samples: ``train_start <= t < train_end``, minus the **purged** ones whose label is not
  known by ``train_end`` (``t_end > test_start - embargo``): their label interval ``[t, t_end]`` would
  reach into the embargo or the test window;
* test samples: ``test_start <= t < test_end``;
* the **embargo** leaves a gap of ``embargo_hours`` between the last training label and the first test
  sample, so slowly decaying dependence (volatility clusters, overlapping features) cannot carry
  training information into the test;
* nothing is shuffled: ``train`` and ``test`` are ascending sample positions, every training sample
  precedes every test sample.

The last fold may have a partial test window (at least ``min_test_fraction`` of ``test_days`` covered
by data); folds with fewer than ``min_train`` training samples (after purging) or no test sample are
skipped. Data too short for a single fold raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from blofin_stack.market.timeframes import DAY_MS, HOUR_MS
from blofin_stack.ml.base import Dataset
from blofin_stack.serialize import iso


@dataclass(frozen=True, eq=False)
class Fold:
    """One walk-forward fold.

    Attributes:
        index: fold number (0, 1, ...) in time order.
        train, test: int64 sample positions (ascending) of the training and test samples.
        train_start, train_end: training window ``[train_start, train_end)`` of sample times (ms UTC).
        test_start, test_end: test window ``[test_start, test_end)`` (ms UTC); ``test_start = train_end + embargo``.
        embargo_ms: gap between ``train_end`` and ``test_start`` (ms).
        purged: training-window samples removed because their label is known only after ``train_end``.
        partial: the test window runs past the end of the data (the close of its last bar).
    """

    index: int
    train: np.ndarray
    test: np.ndarray
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    embargo_ms: int
    purged: int
    partial: bool = False

    def describe(self) -> dict[str, Any]:
        """Boundaries (ms and ISO-8601 UTC), sample counts and the purge, JSON-friendly, for reports."""
        return {
            "index": self.index,
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
            "train_period": f"{iso(self.train_start)} .. {iso(self.train_end)}",
            "test_period": f"{iso(self.test_start)} .. {iso(self.test_end)}",
            "embargo_hours": self.embargo_ms / HOUR_MS,
            "n_train": len(self.train),
            "n_test": len(self.test),
            "purged": int(self.purged),
            "partial": self.partial,
        }


@dataclass(frozen=True)
class WalkForward:
    """Rolling (or expanding) walk-forward splitter with purging and an embargo (see the module docstring).

    Attributes:
        train_days: length of each training window (days).
        test_days: length of each test window (days).
        embargo_hours: gap between the end of training and the start of the test (hours).
        step_days: how far each fold moves (days); ``None`` = ``test_days`` (test windows tile the data).
        min_train: folds with fewer training samples (after purging) are skipped.
        min_test_fraction: the last test window counts when data cover at least this fraction of it.
        expanding: keep ``train_start`` at the origin (anchored windows) instead of rolling it.
    """

    train_days: float = 7.0
    test_days: float = 3.0
    embargo_hours: float = 24.0
    step_days: float | None = None
    min_train: int = 100
    min_test_fraction: float = 0.5
    expanding: bool = False

    def __post_init__(self) -> None:
        if not self.train_days > 0 or not self.test_days > 0:
            raise ValueError(f"train_days and test_days must be > 0, got {self.train_days}, {self.test_days}")
        if not self.embargo_hours >= 0:
            raise ValueError(f"embargo_hours must be >= 0, got {self.embargo_hours}")
        if self.step_days is not None and not self.step_days > 0:
            raise ValueError(f"step_days must be > 0, got {self.step_days}")
        if not 0 < self.min_test_fraction <= 1:
            raise ValueError(f"min_test_fraction must be in (0, 1], got {self.min_test_fraction}")

    @property
    def train_ms(self) -> int:
        return round(self.train_days * DAY_MS)

    @property
    def test_ms(self) -> int:
        return round(self.test_days * DAY_MS)

    @property
    def embargo_ms(self) -> int:
        return round(self.embargo_hours * HOUR_MS)

    @property
    def step_ms(self) -> int:
        return round((self.step_days if self.step_days is not None else self.test_days) * DAY_MS)

    def describe(self) -> dict[str, Any]:
        """The splitter's parameters, for reports and model metadata."""
        return {
            "scheme": "expanding walk-forward" if self.expanding else "rolling walk-forward",
            "train_days": self.train_days,
            "test_days": self.test_days,
            "embargo_hours": self.embargo_hours,
            "step_days": self.step_ms / DAY_MS,
            "min_train": self.min_train,
            "purge": "training samples with t_end > test_start - embargo",
        }

    def split(self, data: Dataset | np.ndarray, t_end: np.ndarray | None = None) -> list[Fold]:
        """The folds over the samples of ``data`` (a :class:`Dataset`, or sample times ``t`` with ``t_end``).

        Args:
            data: a dataset (its ``t`` and ``t_end``) or an int64 array of sample times (ms).
            t_end: when ``data`` is an array: the time (ms) each sample's label is known.

        Raises:
            ValueError: ``t_end`` missing or misaligned, ``t_end < t``, or data too short for one fold.
        """
        if isinstance(data, Dataset):
            t, ends = np.asarray(data.t, dtype="int64"), np.asarray(data.t_end, dtype="int64")
        else:
            if t_end is None:
                raise ValueError("pass t_end (when each label is known) with the sample times: purging needs it")
            t, ends = np.asarray(data, dtype="int64"), np.asarray(t_end, dtype="int64")
        if t.shape != ends.shape or t.ndim != 1:
            raise ValueError(f"t and t_end must be 1-d arrays of one length, got {t.shape} and {ends.shape}")
        if (ends < t).any():
            raise ValueError(f"{int((ends < t).sum())} samples have t_end < t: a label is known after its bar")
        need = (self.train_ms + self.embargo_ms + self.test_ms * self.min_test_fraction) / DAY_MS
        if len(t) == 0:
            raise ValueError(f"no samples to split; one fold needs {need:g} days of data")
        origin, last = int(t.min()), int(t.max())
        times = np.unique(t)
        # the data end: the close of the last bar (bar length = the smallest gap between sample times)
        data_end = last + (int(np.diff(times).min()) if len(times) > 1 else 1)
        folds: list[Fold] = []
        k = 0
        while True:
            train_end = origin + self.train_ms + k * self.step_ms
            train_start = origin if self.expanding else train_end - self.train_ms
            test_start = train_end + self.embargo_ms
            test_end = test_start + self.test_ms
            covered = (data_end - test_start) / self.test_ms
            if covered < self.min_test_fraction:
                break
            k += 1
            window = (t >= train_start) & (t < train_end)
            late = window & (ends > test_start - self.embargo_ms)
            train = np.flatnonzero(window & ~late)
            test = np.flatnonzero((t >= test_start) & (t < test_end))
            if len(train) < self.min_train or len(test) == 0:
                continue
            folds.append(
                Fold(
                    index=len(folds),
                    train=train,
                    test=test,
                    train_start=train_start,
                    train_end=train_end,
                    test_start=test_start,
                    test_end=test_end,
                    embargo_ms=self.embargo_ms,
                    purged=int(late.sum()),
                    partial=covered < 1.0,
                )
            )
        if not folds:
            span = (last - origin) / DAY_MS
            raise ValueError(
                f"data too short for one walk-forward fold: {len(t)} samples span {span:.2f} days, one fold needs "
                f"{self.train_days:g} training days + {self.embargo_hours:g} h embargo + "
                f"{self.test_days * self.min_test_fraction:g} test days (= {need:g} days) with at least "
                f"{self.min_train} training samples after purging"
            )
        return folds
