"""Strict JSON and time formatting shared by the reporter, the API and the CLI."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np


def _default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _finite(float(value))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(payload: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``payload``: NaN and infinities become ``null``; numpy scalars become numbers."""
    return json.dumps(_clean(payload), default=_default, indent=indent, allow_nan=False)


def iso(ts_ms: int | None) -> str | None:
    """ISO-8601 UTC text (``2025-06-03T15:30:00Z``) of an epoch-ms time; ``None`` stays ``None``."""
    if ts_ms is None:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
