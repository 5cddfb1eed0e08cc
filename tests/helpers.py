"""Small helpers shared by test modules (``tests`` is on the import path: ``from helpers import ...``)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner, Result

from blofin_stack.cli.main import app
from blofin_stack.features import compute_features

_runner = CliRunner()


def last_bars(folder: Path, instruments: Sequence[str], bars: int) -> dict[str, pd.DataFrame]:
    """The last ``bars`` real 1m candles of each instrument from ``folder/INST.csv.gz`` (house OHLCV layout)."""
    return {inst: pd.read_csv(folder / f"{inst}.csv.gz").set_index("ts").iloc[-bars:] for inst in instruments}


def invoke(*args: str) -> Result:
    """Run ``blofin ARGS...`` in-process with a wide terminal (so rich does not wrap what tests read)."""
    return _runner.invoke(app, list(args), env={"COLUMNS": "250"})


def ok_json(*args: str) -> Any:
    """Run a ``--json`` command that must succeed and return its parsed stdout."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def flat(text: str) -> str:
    """``text`` with all runs of white space folded to one space."""
    return " ".join(text.split())


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def toy_entry_model(bars: pd.DataFrame, inputs: list[str]) -> Pipeline:
    """A logistic regression on ``inputs`` (bar features plus ``trade_side``) fitted on ``bars``, labelled
    by hand: a long is "profitable" when the next close is higher, a short when it is lower."""
    x = compute_features(bars, [i for i in inputs if i != "trade_side"]).dropna()
    up = (bars["close"].shift(-1) > bars["close"]).loc[x.index].to_numpy()
    X = np.vstack([np.column_stack([x.to_numpy(), np.full(len(x), side)]) for side in (1.0, -1.0)])
    y = np.concatenate([up, ~up]).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
