"""MarketStore: round trip, range reads, merge counts, month partitions, crash safety, names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.market.store import MarketStore, UnknownInstrumentError, check_inst_id

MIN = 60_000
MAY_31_2358 = 1_748_735_880_000  # 2025-05-31T23:58:00Z


def bars(start: int, n: int, price: float = 100.0) -> pd.DataFrame:
    """``n`` 1m bars from ``start`` (ms): open = price + i, high +1, low -1, close +0.5, volume i + 1."""
    step = np.arange(n, dtype="float64")
    return pd.DataFrame(
        {
            "open": price + step,
            "high": price + step + 1,
            "low": price + step - 1,
            "close": price + step + 0.5,
            "volume": step + 1,
        },
        index=pd.Index(start + np.arange(n, dtype="int64") * MIN, name="ts"),
    )


@pytest.fixture
def store(tmp_path: Path) -> MarketStore:
    return MarketStore(tmp_path / "market")


def folder_files(store: MarketStore, inst_id: str) -> set[str]:
    return {p.name for p in (store.root / "candles_1m" / inst_id).iterdir()}


def test_round_trip_keeps_values_and_layout(store: MarketStore) -> None:
    data = bars(MAY_31_2358 - 100 * MIN, 50)
    summary = store.write_candles("BTC-USDT", data)
    assert (summary.new, summary.updated, summary.unchanged) == (50, 0, 0)
    back = store.read_candles("BTC-USDT")
    pd.testing.assert_frame_equal(back, data)
    assert back.index.dtype == np.int64
    assert store.instruments() == ["BTC-USDT"]


def test_range_filter_is_start_inclusive_end_exclusive(store: MarketStore) -> None:
    start = MAY_31_2358 - 10 * MIN
    store.write_candles("BTC-USDT", bars(start, 10))
    window = store.read_candles("BTC-USDT", start=start + 2 * MIN, end=start + 5 * MIN)
    assert window.index.tolist() == [start + 2 * MIN, start + 3 * MIN, start + 4 * MIN]
    assert store.read_candles("BTC-USDT", start=start + 8 * MIN).index.tolist() == [
        start + 8 * MIN,
        start + 9 * MIN,
    ]
    assert store.read_candles("BTC-USDT", end=start + MIN).index.tolist() == [start]
    assert store.read_candles("BTC-USDT", start=start + 20 * MIN).empty


def test_merge_counts_new_updated_unchanged(store: MarketStore) -> None:
    start = MAY_31_2358 - 10 * MIN
    store.write_candles("ETH-USDT", bars(start, 5))
    incoming = bars(start + 3 * MIN, 4)  # minutes 3..6: 3 and 4 overlap, 5 and 6 are new
    incoming.loc[start + 3 * MIN] = bars(start, 5).loc[start + 3 * MIN]  # same values -> unchanged
    incoming.loc[start + 4 * MIN, "close"] = 555.0  # other values -> updated
    summary = store.write_candles("ETH-USDT", incoming)
    assert (summary.new, summary.updated, summary.unchanged) == (2, 1, 1)
    stored = store.read_candles("ETH-USDT")
    assert stored.index.tolist() == [start + i * MIN for i in range(7)]
    assert stored.loc[start + 4 * MIN, "close"] == 555.0
    again = store.write_candles("ETH-USDT", incoming)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 4)


def test_month_partitions_across_a_month_boundary(store: MarketStore) -> None:
    data = bars(MAY_31_2358, 4)  # 23:58, 23:59 on May 31; 00:00, 00:01 on June 1
    store.write_candles("SOL-USDT", data)
    manifest = json.loads((store.root / "candles_1m" / "SOL-USDT" / "manifest.json").read_text())
    parts = manifest["partitions"]
    assert sorted(parts) == ["2025-05", "2025-06"]
    assert (parts["2025-05"]["rows"], parts["2025-06"]["rows"]) == (2, 2)
    assert parts["2025-06"]["first_ts"] == 1_748_736_000_000  # 2025-06-01T00:00:00Z
    pd.testing.assert_frame_equal(store.read_candles("SOL-USDT"), data)
    june = store.read_candles("SOL-USDT", start=1_748_736_000_000)
    assert june.index.tolist() == [1_748_736_000_000, 1_748_736_060_000]


def test_summary_counts_bars_and_gaps(store: MarketStore) -> None:
    start = MAY_31_2358 - 20 * MIN
    store.write_candles("BTC-USDT", pd.concat([bars(start, 3), bars(start + 6 * MIN, 2)]))
    summary = store.summary("BTC-USDT")
    assert (summary.first_ts, summary.last_ts, summary.bars) == (start, start + 7 * MIN, 5)
    assert [(g.after_ts, g.before_ts, g.missing_bars) for g in summary.gaps] == [(start + 2 * MIN, start + 6 * MIN, 3)]


def test_crash_before_commit_keeps_old_data_and_next_write_sweeps(
    store: MarketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = MAY_31_2358 - 10 * MIN
    old = bars(start, 5)
    store.write_candles("BTC-USDT", old)
    before = folder_files(store, "BTC-USDT")

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash during commit")

    monkeypatch.setattr(os, "replace", crash)
    changed = bars(start, 8, price=200.0)
    with pytest.raises(OSError, match="simulated crash"):
        store.write_candles("BTC-USDT", changed)
    monkeypatch.undo()

    pd.testing.assert_frame_equal(store.read_candles("BTC-USDT"), old)
    leftovers = folder_files(store, "BTC-USDT") - before
    assert any(name.endswith(".parquet") for name in leftovers)
    assert any(name.endswith(".tmp") for name in leftovers)

    store.write_candles("BTC-USDT", changed)
    pd.testing.assert_frame_equal(store.read_candles("BTC-USDT"), changed)
    manifest = json.loads((store.root / "candles_1m" / "BTC-USDT" / "manifest.json").read_text())
    live = {part["file"] for part in manifest["partitions"].values()}
    assert folder_files(store, "BTC-USDT") == live | {"manifest.json", ".candles.lock"}


def test_unknown_instrument_error_names_it_and_the_stored_ones(store: MarketStore) -> None:
    store.write_candles("BTC-USDT", bars(MAY_31_2358 - 5 * MIN, 2))
    with pytest.raises(UnknownInstrumentError) as info:
        store.read_candles("DOGE-USDT")
    assert str(info.value) == "no candles stored for 'DOGE-USDT' (stored: BTC-USDT)"
    with pytest.raises(UnknownInstrumentError, match="DOGE-USDT"):
        store.summary("DOGE-USDT")


def test_empty_store_lists_nothing_and_says_none_stored(store: MarketStore) -> None:
    assert store.instruments() == []
    with pytest.raises(UnknownInstrumentError, match=r"\(stored: none\)"):
        store.read_candles("BTC-USDT")


@pytest.mark.parametrize("name", ["btc-usdt", "BTCUSDT", "BTC_USDT", "../BTC-USDT", "BTC-", ""])
def test_invalid_instrument_names_are_rejected(store: MarketStore, name: str) -> None:
    with pytest.raises(ValueError, match="invalid instrument name"):
        check_inst_id(name)
    with pytest.raises(ValueError, match="invalid instrument name"):
        store.write_candles(name, bars(MAY_31_2358, 1))
    assert not (store.root / "candles_1m").exists() or not any((store.root / "candles_1m").iterdir())


def test_unsorted_candles_are_refused(store: MarketStore) -> None:
    data = bars(MAY_31_2358 - 5 * MIN, 3).iloc[::-1]
    with pytest.raises(ValueError, match="sorted, unique"):
        store.write_candles("BTC-USDT", data)


def test_a_reader_whose_partition_a_writer_replaced_reads_the_new_manifest(
    store: MarketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race CI hit: a reader takes the manifest, a writer commits and unlinks the old partition, and
    the reader opens the file its stale manifest names. It must re-read the manifest, not fail."""
    start = MAY_31_2358 - 10 * MIN
    store.write_candles("BTC-USDT", bars(start, 5))
    stale = store._manifest("BTC-USDT")
    newer = bars(start, 8, price=300.0)
    store.write_candles("BTC-USDT", newer)
    assert not (store.root / "candles_1m" / "BTC-USDT" / str(stale["2025-05"]["file"])).exists()

    real = MarketStore._manifest
    calls: list[str] = []

    def first_call_stale(self: MarketStore, inst_id: str) -> dict[str, dict[str, int | str]]:
        calls.append(inst_id)
        return stale if len(calls) == 1 else real(self, inst_id)

    monkeypatch.setattr(MarketStore, "_manifest", first_call_stale)
    pd.testing.assert_frame_equal(store.read_candles("BTC-USDT"), newer)
    assert len(calls) == 2


def test_a_reader_gives_up_when_partitions_keep_vanishing(store: MarketStore, monkeypatch: pytest.MonkeyPatch) -> None:
    start = MAY_31_2358 - 10 * MIN
    store.write_candles("BTC-USDT", bars(start, 5))
    stale = store._manifest("BTC-USDT")
    store.write_candles("BTC-USDT", bars(start, 5, price=1.0))
    monkeypatch.setattr(MarketStore, "_manifest", lambda self, inst_id: stale)
    with pytest.raises(FileNotFoundError):
        store.read_candles("BTC-USDT")
