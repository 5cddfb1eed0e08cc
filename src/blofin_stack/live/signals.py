"""SIGTERM and SIGINT as a clean stop for the live services (ingestor, paper trader, ``blofin serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None], enabled: bool = True) -> Iterator[None]:
    """Call ``stop`` on SIGTERM or SIGINT while the block runs, then restore the default handling.

    Does nothing when ``enabled`` is false (a caller that handles the signals itself, such as
    ``blofin serve`` running several services in one loop: a loop keeps one handler per signal) or
    when ``loop`` cannot take signal handlers (not the main thread, or not POSIX).
    """
    installed = []
    for sig in STOP_SIGNALS if enabled else ():
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
