"""Fault injection for the replay server: what to break (:class:`FaultPlan`) and the deterministic decisions
of when and how (:class:`FaultInjector`).

Faults and where they act:

* ``disconnect``: a WebSocket connection is closed (code 1011) after it was sent ``disconnect_every`` frames,
  and every connection is closed when a bar of ``disconnect_at_bars`` starts;
* ``silence``: at the start of a given bar the server sends nothing on any WebSocket and answers no text
  ``ping`` for the given seconds (REST keeps answering); the replay clock pauses meanwhile;
* ``duplicate``: a push is sent twice in a row, the same text;
* ``out_of_order``: a push is held back and sent after the next push of that connection (adjacent swap);
* ``malformed``: an extra, invalid frame is sent just before a real push (nothing real is lost): invalid JSON,
  wrong type, NaN price, missing field or unknown channel, in that rotation;
* ``rest_429``: every ``rest_429_every``-th REST request is answered with HTTP 429.

Duplicates, out-of-order pushes and malformed frames are drawn per push and connection with probability
``*_rate`` until ``*`` (a count) have been injected; the draws come from one ``random.Random(seed)``, so a run
with one client at speed 0 is reproducible frame for frame.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Fault kinds as counted in ``ReplayServer.stats.faults``.
FAULT_KINDS = ("disconnect", "silence", "duplicate", "out_of_order", "malformed", "rest_429")
#: Kinds of malformed frame, injected in this rotation.
MALFORMED_KINDS = ("invalid_json", "wrong_type", "nan_price", "missing_field", "unknown_channel")
#: WebSocket close code of an injected disconnect ("internal error").
DISCONNECT_CLOSE_CODE = 1011


@dataclass(frozen=True)
class FaultPlan:
    """Faults to inject; the default injects none.

    Attributes:
        disconnect_every: close each WebSocket connection once it was sent this many frames (0: never).
        disconnect_at_bars: close every connection when the replayed bar with this index starts (0 = the
            first bar pushed).
        silences: ``(bar index, seconds)`` pairs: from the start of that bar, send nothing on any WebSocket
            and answer no ``ping`` for that long (e.g. 35 s, past Blofin's 30 s idle limit).
        duplicates, duplicate_rate: how many pushes to send twice, and the chance per push while some remain.
        out_of_order, out_of_order_rate: how many pushes to swap with the next one, and the chance per push.
        malformed, malformed_rate: how many invalid frames to insert, and the chance per push.
        rest_429_every: answer every k-th REST request with HTTP 429 (0: never).
    """

    disconnect_every: int = 0
    disconnect_at_bars: tuple[int, ...] = ()
    silences: tuple[tuple[int, float], ...] = ()
    duplicates: int = 0
    duplicate_rate: float = 0.05
    out_of_order: int = 0
    out_of_order_rate: float = 0.05
    malformed: int = 0
    malformed_rate: float = 0.05
    rest_429_every: int = 0

    def __post_init__(self) -> None:
        counts = {
            "disconnect_every": self.disconnect_every,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "malformed": self.malformed,
            "rest_429_every": self.rest_429_every,
        }
        for name, value in counts.items():
            if value < 0:
                raise ValueError(f"FaultPlan.{name} must be >= 0, got {value}")
        for name in ("duplicate_rate", "out_of_order_rate", "malformed_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"FaultPlan.{name} must be within [0, 1], got {rate}")
        if any(bar < 0 for bar in self.disconnect_at_bars) or any(bar < 0 for bar, _ in self.silences):
            raise ValueError("FaultPlan bar indexes must be >= 0")
        if any(seconds <= 0 for _, seconds in self.silences):
            raise ValueError("FaultPlan silences must last > 0 seconds")

    def silence_seconds(self) -> dict[int, float]:
        """Bar index -> seconds of silence starting there (several silences at one bar add up)."""
        seconds: dict[int, float] = {}
        for bar, length in self.silences:
            seconds[bar] = seconds.get(bar, 0.0) + length
        return seconds


def parse_silence(text: str) -> tuple[int, float]:
    """``"BAR:SECONDS"`` (e.g. ``"120:35"``) as ``(bar index, seconds)``; raises ValueError naming the text."""
    bar, sep, seconds = text.partition(":")
    try:
        if not sep:
            raise ValueError
        pair = (int(bar), float(seconds))
    except ValueError:
        raise ValueError(f"silence {text!r}: expected BAR:SECONDS, e.g. 120:35") from None
    if pair[0] < 0 or pair[1] <= 0:
        raise ValueError(f"silence {text!r}: the bar index must be >= 0 and the seconds > 0")
    return pair


def malformed_frame(text: str, kind: str) -> str:
    """An invalid variant of the push ``text`` (a ``trades`` or ``candle<bar>`` JSON message).

    Kinds (:data:`MALFORMED_KINDS`): ``invalid_json`` (the first half of the text), ``wrong_type`` (``data``
    holds its first element instead of an array of them), ``nan_price`` (the first price is ``"NaN"``),
    ``missing_field`` (the first trade lacks ``price``; a candle array has 5 of its 9 fields),
    ``unknown_channel`` (channel ``candle0s``).

    Raises:
        ValueError: unknown ``kind``.
    """
    if kind == "invalid_json":
        return text[: len(text) // 2]
    message: dict[str, Any] = json.loads(text)
    data = message["data"]
    first = data[0]
    is_candle = isinstance(first, list)
    if kind == "wrong_type":
        message["data"] = first
    elif kind == "nan_price":
        if is_candle:
            first[1] = "NaN"
        else:
            first["price"] = "NaN"
    elif kind == "missing_field":
        if is_candle:
            data[0] = first[:5]
        else:
            del first["price"]
    elif kind == "unknown_channel":
        message["arg"]["channel"] = "candle0s"
    else:
        raise ValueError(f"unknown malformed frame kind {kind!r}; use one of {', '.join(MALFORMED_KINDS)}")
    return json.dumps(message, separators=(",", ":"))


@dataclass
class Held:
    """Frames one connection holds back for an out-of-order delivery (sent after its next push)."""

    frames: list[str] = field(default_factory=list)


class FaultInjector:
    """Decides, deterministically from ``seed``, which faults hit each push, and counts every injected fault.

    Attributes:
        plan: the :class:`FaultPlan`.
        counts: injected faults by kind (:data:`FAULT_KINDS`).
        malformed_kinds: injected malformed frames by kind (:data:`MALFORMED_KINDS`).
    """

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self.counts: Counter[str] = Counter(dict.fromkeys(FAULT_KINDS, 0))
        self.malformed_kinds: Counter[str] = Counter(dict.fromkeys(MALFORMED_KINDS, 0))
        self._rng = random.Random(seed)
        self._silences = plan.silence_seconds()
        self._disconnect_bars = frozenset(plan.disconnect_at_bars)

    def _draw(self, kind: str, budget: int, rate: float) -> bool:
        if self.counts[kind] >= budget or self._rng.random() >= rate:
            return False
        self.counts[kind] += 1
        return True

    def push_frames(self, text: str, held: Held) -> list[str]:
        """The frames to send to one connection for the push ``text``, in order (possibly none, when the push
        is held back to be sent after the connection's next push)."""
        plan = self.plan
        frames = [text]
        if plan.malformed and self._draw("malformed", plan.malformed, plan.malformed_rate):
            kind = MALFORMED_KINDS[(self.counts["malformed"] - 1) % len(MALFORMED_KINDS)]
            self.malformed_kinds[kind] += 1
            frames.insert(0, malformed_frame(text, kind))
        if plan.duplicates and self._draw("duplicate", plan.duplicates, plan.duplicate_rate):
            frames.append(text)
        if held.frames:
            frames.extend(held.frames)
            held.frames = []
        elif plan.out_of_order and self._draw("out_of_order", plan.out_of_order, plan.out_of_order_rate):
            held.frames = frames
            return []
        return frames

    def silence_at(self, bar: int) -> float:
        """Seconds of silence starting with replayed bar ``bar`` (0.0: none)."""
        return self._silences.get(bar, 0.0)

    def disconnect_at(self, bar: int) -> bool:
        """Whether every connection is closed when replayed bar ``bar`` starts."""
        return bar in self._disconnect_bars

    def disconnect_after(self, frames_sent: int) -> bool:
        """Whether a connection that has been sent ``frames_sent`` frames is closed now."""
        return 0 < self.plan.disconnect_every <= frames_sent

    def rest_429(self, request_number: int) -> bool:
        """Whether REST request number ``request_number`` (1, 2, ...) is answered with HTTP 429."""
        every = self.plan.rest_429_every
        return every > 0 and request_number % every == 0
