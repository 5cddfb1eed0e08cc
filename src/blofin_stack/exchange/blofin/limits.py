"""Pacing shared by the Blofin clients: exponential back-off with full jitter and a sliding-window rate limiter."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` (>= 1) consecutive failures: uniform in [0, min(cap, base x 2^(failures
    - 1))] ("full jitter", so that many clients do not retry in step)."""
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(failures - 1, 60)))


class SlidingWindowLimiter:
    """At most ``max_calls`` :meth:`acquire` returns in any ``window_s`` seconds (asyncio-safe; waiters go in
    order). Keeps the times of the last ``max_calls`` calls in a deque; ``clock`` is monotonic seconds."""

    def __init__(self, max_calls: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_calls < 1 or window_s <= 0:
            raise ValueError(f"need max_calls >= 1 and window_s > 0, got {max_calls} and {window_s}")
        self.max_calls = max_calls
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a call is allowed, then count it."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._times and now - self._times[0] >= self.window_s:
                    self._times.popleft()
                if len(self._times) < self.max_calls:
                    self._times.append(now)
                    return
                await asyncio.sleep(self._times[0] + self.window_s - now)
