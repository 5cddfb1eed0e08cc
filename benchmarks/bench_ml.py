"""Wall time of the whole ML cycle on the real data (target: ``pipeline run --mode ml`` under 3 minutes).

Runs the CLI as a user would, in a fresh ``DATA_DIR``, as subprocesses (Python start-up and imports
included): ``blofin data import`` of the 16 files, then ``blofin pipeline run --mode ml`` (every model of
the zoo on 5m bars of the 16 instruments over 30 days, 7-day walk-forward training windows, 3-day tests,
24 h embargo, canaries, ensembles, model store and database; all cores). Then prints the out-of-sample
table from the model store: each model's metric beside its naive baseline, its skill and status.
Run: ``.venv/bin/python benchmarks/bench_ml.py``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import real_data_dir
from blofin_stack.ml.ensembles import list_ensembles
from blofin_stack.ml.store import list_models

BIN = Path(sys.executable).parent / "blofin"
TARGET_S = 180.0


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time of ``blofin ARGS`` and its stderr (where the human output goes)."""
    started = time.perf_counter()
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stderr


def _num(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def oos_table(models_root: Path) -> list[str]:
    """One line per stored model: name, target, metric, OOS, baseline, skill, status (reasons if suspect)."""
    lines = [
        f"{'model':<22} {'target':<26} {'metric':<8} {'OOS':>8} {'baseline':>8} {'skill':>7}  status",
    ]
    for row in list_models(models_root):
        performance = row.get("performance") or {}
        mean = performance.get("mean") or {}
        metric = "mae" if "mae" in (mean.get("oos") or {}) else "accuracy"
        status = row.get("status")
        lines.append(
            f"{row['name']:<22} {row['label']:<26} {metric:<8} {_num((mean.get('oos') or {}).get(metric)):>8} "
            f"{_num((mean.get('baseline') or {}).get(metric)):>8} {_num(performance.get('skill'), 2):>7}  {status}"
        )
    for e in list_ensembles(models_root):
        results = json.loads(Path(e["path"]).with_name(f"{e['ensemble_id']}_results.json").read_text())
        mean = results["summary"]["mean"]
        lines.append(
            f"{'ensemble ' + e['method']:<22} {e['label']:<26} {'accuracy':<8} {_num(mean['oos'].get('accuracy')):>8} "
            f"{_num(mean['baseline'].get('accuracy')):>8} {_num(e.get('skill'), 2):>7}  {e.get('status')}"
        )
    return lines


def main() -> None:
    source = real_data_dir()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        env = {**os.environ, "DATA_DIR": str(data_dir), "COLUMNS": "250"}
        for name in ("DATABASE_URL", "ML_MODELS_PATH"):
            env.pop(name, None)
        import_s, _ = timed(["data", "import", str(source), "--json"], env)
        run_s, err = timed(["pipeline", "run", "--mode", "ml"], env)
        print(f"blofin data import (16 files, process start included): {import_s:.2f} s")
        verdict = "under" if run_s < TARGET_S else "OVER"
        print(
            f"blofin pipeline run --mode ml: {run_s:.1f} s wall ({verdict} the {TARGET_S:.0f} s target), "
            f"{os.cpu_count()} cores, process start included"
        )
        status = next((line for line in err.splitlines() if line.startswith("ML cycle")), "")
        print(" ".join(status.split()))
        print()
        print("\n".join(oos_table(data_dir / "models")))
        print()
        print("Skill: improvement over the naive baseline in % of the way to perfect (accuracy; MAE for regressors).")
        rows = [r for r in list_models(data_dir / "models") if (r.get("label") or "").startswith("direction_")]
        for row in rows:
            mean = (row.get("performance") or {}).get("mean") or {}
            acc, base = (mean.get("oos") or {}).get("accuracy"), (mean.get("baseline") or {}).get("accuracy")
            print(f"direction: {row['name']} OOS accuracy {_num(acc)} vs majority baseline {_num(base)}")


if __name__ == "__main__":
    main()
