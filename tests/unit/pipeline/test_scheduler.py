"""The scheduler of ``blofin serve``: jobs, frequencies, one cycle at a time, failures logged."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from blofin_stack.config import Settings
from blofin_stack.pipeline.scheduler import build_scheduler, run_job


def test_jobs_run_at_their_frequencies(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "schedule_daily_at", "03:30")
    scheduler = build_scheduler(settings, runner=lambda s, mode: None)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"strategy", "ml", "daily"}
    assert [jobs[k].args[1] for k in ("strategy", "ml", "daily")] == ["strategy", "ml", "all"]
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert jobs["strategy"].trigger.interval == timedelta(hours=2)
    assert jobs["ml"].trigger.interval == timedelta(hours=4)
    assert jobs["daily"].trigger.get_next_fire_time(None, now) == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)


def test_one_cycle_at_a_time_and_a_failure_does_not_stop_the_next(settings: Settings) -> None:
    running, overlaps, done = [0], [], []

    def runner(_settings: Settings, mode: str) -> None:
        running[0] += 1
        overlaps.append(running[0])
        time.sleep(0.05)
        running[0] -= 1
        done.append(mode)
        if mode == "ml":
            raise RuntimeError("planted failure")

    results: dict[str, bool] = {}
    threads = [
        threading.Thread(target=lambda m=m: results.__setitem__(m, run_job(settings, m, runner)))
        for m in ("strategy", "ml", "all")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(overlaps) == 1 and sorted(done) == ["all", "ml", "strategy"]
    assert results == {"strategy": True, "ml": False, "all": True}
