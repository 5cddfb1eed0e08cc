"""Funding rates: import with validation, storage, and the causal as-of join onto bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.audit.lookahead import audit_features
from blofin_stack.features import compute_features
from blofin_stack.features.cache import bars_fingerprint
from blofin_stack.market.bars import load_bars
from blofin_stack.market.candles import attach_funding
from blofin_stack.market.importer import import_paths
from blofin_stack.market.store import MarketStore

H8 = 8 * 3_600_000
T0 = 1_748_736_000_000  # 2025-06-01 00:00 UTC


def write_csv(path: Path, rows: list[tuple[object, object, object]]) -> Path:
    pd.DataFrame(rows, columns=["ts", "inst_id", "funding_rate"]).to_csv(path, index=False)
    return path


@pytest.fixture
def store(tmp_path: Path) -> MarketStore:
    return MarketStore(tmp_path / "market")


def test_import_splits_by_instrument_and_is_idempotent(tmp_path: Path, store: MarketStore) -> None:
    path = write_csv(
        tmp_path / "funding.csv",
        [(T0, "BTC-USDT", 0.0001), (T0, "ETH-USDT", -0.0002), (T0 + H8 + 1, "BTC-USDT", 0.00005)],
    )
    first = import_paths([path], store).files[0]
    assert (first.status, first.kind, first.instruments, first.new) == (
        "imported",
        "funding",
        ["BTC-USDT", "ETH-USDT"],
        3,
    )
    assert store.funding_instruments() == ["BTC-USDT", "ETH-USDT"]
    btc = store.read_funding("BTC-USDT")
    assert btc is not None and list(btc.index) == [T0, T0 + H8 + 1]  # settlement times kept as stamped
    assert list(btc["funding_rate"]) == [0.0001, 0.00005]
    again = import_paths([path], store).files[0]
    assert (again.new, again.unchanged) == (0, 3)


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ((T0, "BTC-USDT", None), "nan"),
        ((T0, "BTC-USDT", "abc"), "non_numeric"),
        ((T0, "btc/usdt", 0.0001), "bad_inst_id"),
        ((T0, "BTC-USDT", 0.5), "rate_out_of_range"),
        ((T0 // 1000, "BTC-USDT", 0.0001), "ts_out_of_range"),
        ((T0 + H8, "BTC-USDT", 0.0001), "duplicate_ts"),
    ],
)
def test_bad_rows_reject_the_file(tmp_path: Path, store: MarketStore, row: tuple[object, ...], rule: str) -> None:
    path = write_csv(tmp_path / "funding.csv", [(T0 + H8, "BTC-USDT", 0.0001), row])
    result = import_paths([path], store).files[0]
    assert result.status == "rejected"
    assert result.error and result.error.startswith("funding.csv: rejected") and "row 2 " in result.error
    assert rule in result.error
    assert store.funding_instruments() == []


def test_as_of_join_counts_only_settlements_before_the_close() -> None:
    step = 3_600_000
    bars = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
        index=pd.Index(T0 + step * np.arange(10), name="ts"),
    )
    funding = pd.DataFrame({"funding_rate": [0.1, 0.2]}, index=pd.Index([T0 + 2 * step, T0 + 5 * step + 1], name="ts"))
    got = attach_funding(bars, funding, step)["funding_rate"].to_numpy()
    # bar k closes at T0 + (k+1) step; the 02:00 settlement is not known at the close of the 01:00 bar
    # (it settles at that very instant) but is at the 02:00 bar's close
    np.testing.assert_array_equal(got[:2], [np.nan, np.nan])
    assert list(got[2:5]) == [0.1] * 3  # the 05:00:00.001 settlement comes after the 04:00 bar's close (05:00)
    assert list(got[5:]) == [0.2] * 5


def test_bars_features_and_audit_on_real_data(tmp_path: Path, real_data_dir: Path) -> None:
    store = MarketStore(tmp_path / "market")
    import_paths([real_data_dir / "BTC-USDT.csv.gz", real_data_dir.parent / "binance-usdm-funding-8h.csv.gz"], store)
    bars = load_bars(store, "BTC-USDT", "5m")
    rates = compute_features(bars, ["funding_rate", "1H:funding_rate"])
    assert rates["funding_rate"].notna().all()  # funding history starts months before the candles
    settled = store.read_funding("BTC-USDT")
    assert settled is not None
    assert set(rates["funding_rate"].unique()) <= set(settled["funding_rate"])
    # the hourly feature lags the 5m one by at most the hour being built
    assert rates["1H:funding_rate"].iloc[-1] in set(settled["funding_rate"])
    findings = audit_features(bars.iloc[-3000:], ["funding_rate", "1H:funding_rate"], timeframe="5m")
    assert all(f.ok for f in findings), [f.detail for f in findings]
    assert "nothing to audit" not in findings[0].detail
    # other funding data, same candles: the cache must see a different input
    changed = bars.assign(funding_rate=bars["funding_rate"] * 2)
    assert bars_fingerprint(changed) != bars_fingerprint(bars)


def test_without_funding_the_feature_is_nan_and_not_audited(btc_1m: pd.DataFrame) -> None:
    bars = btc_1m.iloc[-600:]
    assert compute_features(bars, ["funding_rate"])["funding_rate"].isna().all()
    [finding] = audit_features(bars, ["funding_rate"])
    assert finding.ok and "nothing to audit" in finding.detail
