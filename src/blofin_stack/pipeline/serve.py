"""``blofin serve``: the ingestor, the paper trader and the scheduler in one process, or any of them alone.

=============  ===========================================================  ===============================
service        what                                                         stops
=============  ===========================================================  ===============================
``ingest``     :class:`~blofin_stack.live.ingestor.Ingestor`: trades and    flushes, catches up with REST
               confirmed 1m candles into the store, gaps filled from REST
``paper``      :class:`~blofin_stack.live.paper.PaperTrader`, polling the   after its current step
               store every ``PAPER_POLL_SECONDS`` for bars the ingestor
               (here or in another process) stored
``scheduler``  :func:`~blofin_stack.pipeline.scheduler.build_scheduler`:    after a running cycle finishes
               strategy, ML and daily cycles in a background thread
=============  ===========================================================  ===============================

The ingestor and the paper trader run as tasks of one asyncio loop (their blocking work goes to worker
threads), the scheduler in its own thread. SIGTERM or SIGINT, the end of ``duration_s``, or a service
that fails stops all of them in that order. Logs go to the console and to
``DATA_DIR/logs/serve-<services>.log`` (e.g. ``serve-ingest-paper-scheduler.log``: one file per process, as
rotation is not safe across processes; rotated at 10 MB, 5 files kept; one line per record with time, level,
logger and message).
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from blofin_stack.config import Settings
from blofin_stack.live.ingestor import Ingestor, select_instruments
from blofin_stack.live.paper import PaperTrader
from blofin_stack.live.signals import stop_on_signals
from blofin_stack.pipeline.scheduler import build_scheduler

log = logging.getLogger(__name__)

SERVICES = ("ingest", "paper", "scheduler")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5


def log_path(settings: Settings, services: Sequence[str]) -> Path:
    """``DATA_DIR/logs/serve-<services in SERVICES order, joined by ->.log``."""
    return settings.log_dir / f"serve-{'-'.join(s for s in SERVICES if s in services)}.log"


@contextmanager
def service_logging(path: Path) -> Iterator[None]:
    """Send INFO and above of every logger to ``path`` (rotating) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


async def serve(
    settings: Settings,
    services: Sequence[str] = SERVICES,
    *,
    instruments: Sequence[str] = (),
    top: int | None = None,
    ws_url: str | None = None,
    rest_url: str | None = None,
    duration_s: float | None = None,
    runner: Callable[..., object] | None = None,
) -> dict[str, Any]:
    """Run ``services`` (a subset of :data:`SERVICES`) until ``duration_s`` elapsed (``None``: until
    SIGTERM or SIGINT) or one of them fails; then stop them all (see the module docstring).

    Args:
        instruments, top: what the ingestor records (:func:`~blofin_stack.live.ingestor.select_instruments`).
        ws_url, rest_url: the ingestor's Blofin endpoints (default ``BLOFIN_WS_URL`` / ``BLOFIN_REST_URL``).
        runner: the scheduler's ``runner(settings, mode)`` (default the pipeline).

    Returns:
        ``{"services", "stopped_by" ("duration" | "signal" | "failure"), "failures": {service: error},
        "ingest": health dict | None, "paper": run summary dict | None, "scheduler": {job: next run (ISO,
        UTC)} | None, "log": the log file}``.

    Raises:
        ValueError: no service, or an unknown one.
        ContractValueError, BlofinApiError: the ingestor cannot choose its instruments or contract values
            (before anything starts).
    """
    unknown = sorted(set(services) - set(SERVICES))
    if unknown or not services:
        raise ValueError(f"services must be some of {', '.join(SERVICES)}; got {', '.join(services) or 'none'}")
    log_file = log_path(settings, services)
    with service_logging(log_file):
        result = await _serve(settings, services, instruments, top, ws_url, rest_url, duration_s, runner)
    return {**result, "log": str(log_file)}


async def _serve(
    settings: Settings,
    services: Sequence[str],
    instruments: Sequence[str],
    top: int | None,
    ws_url: str | None,
    rest_url: str | None,
    duration_s: float | None,
    runner: Callable[..., object] | None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    result: dict[str, Any] = {"services": [s for s in SERVICES if s in services], "failures": {}}
    result.update(ingest=None, paper=None, scheduler=None)
    tasks: dict[str, asyncio.Task[Any]] = {}
    ingestor = trader = None
    if "ingest" in services:
        chosen = await select_instruments(settings, rest_url, list(instruments), top)
        ingestor = Ingestor(settings, chosen, ws_url=ws_url, rest_url=rest_url)
        log.info("serve: ingesting %d instruments from %s: %s", len(chosen), ingestor.ws_url, ", ".join(chosen))
        tasks["ingest"] = asyncio.create_task(ingestor.run(handle_signals=False), name="ingest")
    if "paper" in services:
        trader = PaperTrader(settings)
        log.info("serve: paper trading tier-2 strategies, polling every %g s", settings.paper_poll_seconds)
        tasks["paper"] = asyncio.create_task(trader.run_async(handle_signals=False), name="paper")
    scheduler = None
    if "scheduler" in services:
        scheduler = build_scheduler(settings, runner)
        scheduler.start()
        result["scheduler"] = {job.id: job.next_run_time.isoformat() for job in scheduler.get_jobs()}
        log.info("serve: scheduler started, next runs %s", result["scheduler"])

    with stop_on_signals(loop, stop.set):
        waiters = [asyncio.ensure_future(stop.wait()), *tasks.values()]
        done, _ = await asyncio.wait(waiters, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
        waiters[0].cancel()
        ended = [name for name, task in tasks.items() if task in done]
        result["stopped_by"] = "failure" if ended else "signal" if stop.is_set() else "duration"
        log.info("serve: stopping (%s%s)", result["stopped_by"], f": {', '.join(ended)} ended" if ended else "")
        for service in (ingestor, trader):
            if service is not None:
                service.stop()
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
        if scheduler is not None:
            await asyncio.to_thread(scheduler.shutdown, True)
    for name, outcome in zip(tasks, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("serve: %s failed", name, exc_info=outcome)
            result["failures"][name] = f"{type(outcome).__name__}: {outcome}"
        else:
            result[name] = outcome.as_dict()
            if name in ended:
                result["failures"][name] = "ended on its own"
    log.info("serve: stopped")
    return result
