"""The scheduler of ``blofin serve``: each cycle at its own frequency (seed 000's pipeline schedule).

=================  ===============================  ==============================================
job                when (settings)                  what
=================  ===============================  ==============================================
``strategy``       every ``SCHEDULE_STRATEGY_HOURS``  ``run_pipeline(mode="strategy")``: backtest,
                   (2 h)                             rank, gates
``ml``             every ``SCHEDULE_ML_HOURS`` (4 h)  ``run_pipeline(mode="ml")``: drift checks,
                                                     retraining, the zoo, ensembles
``daily``          ``SCHEDULE_DAILY_AT`` (00:05 UTC)  ``run_pipeline(mode="all")``: ml, strategy and
                                                     the daily report
=================  ===============================  ==============================================

APScheduler 3 (``BackgroundScheduler``, UTC). The jobs share one lock, so two cycles never run at the
same time (a job that finds the lock taken waits for it); a job that is still running when its next
time comes is not started twice (``max_instances=1``), and missed runs are coalesced into one. A failing
job is logged with its traceback and the scheduler goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from blofin_stack.config import Settings

log = logging.getLogger(__name__)

#: One cycle at a time, whichever job starts it.
_CYCLE_LOCK = threading.Lock()


def run_job(settings: Settings, mode: str, runner: Callable[..., object] | None = None) -> bool:
    """Run one pipeline mode under the cycle lock; returns whether it succeeded (errors are logged)."""
    if runner is None:
        from blofin_stack.pipeline.daily import run_pipeline

        runner = run_pipeline
    with _CYCLE_LOCK:
        log.info("scheduled %s cycle: starting", mode)
        try:
            runner(settings, mode)
        except Exception:
            log.exception("scheduled %s cycle failed", mode)
            return False
        log.info("scheduled %s cycle: done", mode)
        return True


def build_scheduler(settings: Settings, runner: Callable[..., object] | None = None) -> BackgroundScheduler:
    """A (not yet started) scheduler with the ``strategy``, ``ml`` and ``daily`` jobs.

    Args:
        runner: ``runner(settings, mode)``; default :func:`~blofin_stack.pipeline.daily.run_pipeline`.
    """
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    hour, minute = (int(part) for part in settings.schedule_daily_at.split(":"))
    jobs = {
        "strategy": IntervalTrigger(hours=settings.schedule_strategy_hours, timezone="UTC"),
        "ml": IntervalTrigger(hours=settings.schedule_ml_hours, timezone="UTC"),
        "daily": CronTrigger(hour=hour, minute=minute, timezone="UTC"),
    }
    modes = {"strategy": "strategy", "ml": "ml", "daily": "all"}
    for name, trigger in jobs.items():
        scheduler.add_job(run_job, trigger, args=(settings, modes[name], runner), id=name, name=name)
    return scheduler
