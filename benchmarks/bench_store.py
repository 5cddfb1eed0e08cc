"""Read time of 7 days x 16 instruments of 1m candles from the market store (target: < 0.5 s).

Peer, same process: pandas reading the same 16 source CSV.gz files and slicing the same 7 days.
Run: ``.venv/bin/python benchmarks/bench_store.py``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

from _common import best_of, real_data_dir
from blofin_stack.market.importer import import_paths
from blofin_stack.market.store import MarketStore

DAY_MS = 86_400_000


def main() -> None:
    source = real_data_dir()
    with tempfile.TemporaryDirectory() as tmp:
        store = MarketStore(Path(tmp))
        started = time.perf_counter()
        report = import_paths([source], store)
        print(f"import: {report.totals()['new_bars']:,} bars of {report.files_imported} files in "
              f"{time.perf_counter() - started:.2f} s")  # fmt: skip
        instruments = store.instruments()
        end = max(store.last_ts(i) for i in instruments) + 60_000
        start = end - 7 * DAY_MS

        def ours() -> int:
            return sum(len(store.read_candles(i, start, end)) for i in instruments)

        def peer() -> int:
            total = 0
            for path in sorted(source.glob("*.csv.gz")):
                frame = pd.read_csv(path)
                total += len(frame[(frame["ts"] >= start) & (frame["ts"] < end)])
            return total

        assert ours() == peer(), "both must read the same bars"
        best, median = best_of(ours)
        peer_best, _ = best_of(peer, repeat=3)
        print(f"store read, 7 days x {len(instruments)} instruments ({ours():,} bars): best {best:.3f} s, "
              f"median {median:.3f} s (target < 0.5 s)")  # fmt: skip
        print(f"peer pandas.read_csv of the source files: {peer_best:.3f} s -> store is {peer_best / best:.1f}x faster")


if __name__ == "__main__":
    main()
