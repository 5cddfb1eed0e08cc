"""Small helpers shared by test modules (``tests`` is on the import path: ``from helpers import ...``)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from blofin_stack.cli.main import app

_runner = CliRunner()


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
