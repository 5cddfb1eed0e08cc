"""Training in worker processes: one model per task, its failure reported instead of raised.

This module imports only the ML layer, so a worker process that runs :func:`train_safely` does not import
the strategies or the pipeline (worker processes import the task's module first, then its arguments').
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from blofin_stack.ml.base import Dataset, ModelSpec
from blofin_stack.ml.splits import Fold
from blofin_stack.ml.training import TrainingResult, train_model


def train_safely(
    index: int, spec: ModelSpec, data: Dataset, folds: list[Fold], kwargs: dict[str, Any]
) -> tuple[int, TrainingResult | None, str | None]:
    """``(index, train_model(spec, data, folds, **kwargs), None)``, or ``(index, None, error)`` when training
    raised; the error names the exception, its message and the file and line it came from."""
    try:
        return index, train_model(spec, data, folds, **kwargs), None
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return index, None, f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
