"""Importer: every format into the store, rejections that store nothing, idempotency, gaps, names."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blofin_stack.market.importer import ImportReport, import_paths, parse_file_name
from blofin_stack.market.store import MarketStore

MIN = 60_000
T0 = 1_746_373_740_000  # 2025-05-04T15:49:00Z
HOUSE_HEADER = "ts,open,high,low,close,volume"
BINANCE_TAIL = "0,1.0,3,0.5,0.5,0"  # close_time etc. (the importer ignores them)


def house_rows(n: int = 4, start: int = T0) -> list[str]:
    """CSV data lines: open 100+i, high 101+i, low 99+i, close 100.5+i, volume 2+i."""
    return [f"{start + i * MIN},{100 + i},{101 + i},{99 + i},{100.5 + i},{2 + i}" for i in range(n)]


def expected_frame(n: int = 4, start: int = T0) -> pd.DataFrame:
    """What :func:`house_rows` must become in the store."""
    i = np.arange(n, dtype="float64")
    return pd.DataFrame(
        {"open": 100 + i, "high": 101 + i, "low": 99 + i, "close": 100.5 + i, "volume": 2 + i},
        index=pd.Index(start + np.arange(n, dtype="int64") * MIN, name="ts"),
    )


def write_house_csv(path: Path, lines: list[str]) -> Path:
    text = "\n".join([HOUSE_HEADER, *lines]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def binance_text(n: int = 4, unit: int = 1, header: bool = False) -> str:
    """Binance kline CSV text with open times multiplied by ``unit`` (1 = ms, 1000 = µs)."""
    lines = []
    for i in range(n):
        open_time = (T0 + i * MIN) * unit
        lines.append(f"{open_time},{100 + i},{101 + i},{99 + i},{100.5 + i},{2 + i},{BINANCE_TAIL}")
    if header:
        lines.insert(
            0,
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore",
        )
    return "\n".join(lines) + "\n"


def freqtrade_frame(n: int = 4) -> pd.DataFrame:
    frame = expected_frame(n).reset_index()
    frame.insert(0, "date", pd.to_datetime(frame.pop("ts"), unit="ms", utc=True))
    return frame


@pytest.fixture
def store(tmp_path: Path) -> MarketStore:
    return MarketStore(tmp_path / "market")


def only(report: ImportReport) -> dict[str, object]:
    assert len(report.files) == 1
    return report.files[0].to_dict()


def assert_imported(report: ImportReport, store: MarketStore, inst_id: str, n: int = 4) -> None:
    result = only(report)
    assert result["status"] == "imported", result["error"]
    assert (result["inst_id"], result["rows"], result["new"]) == (inst_id, n, n)
    pd.testing.assert_frame_equal(store.read_candles(inst_id), expected_frame(n))


# ----------------------------------------------------------------------------------------- formats
def test_house_csv(tmp_path: Path, store: MarketStore) -> None:
    path = write_house_csv(tmp_path / "BTC-USDT.csv", house_rows())
    assert_imported(import_paths([path], store), store, "BTC-USDT")


def test_house_csv_gz(tmp_path: Path, store: MarketStore) -> None:
    path = write_house_csv(tmp_path / "ETH-USDT.csv.gz", house_rows())
    assert_imported(import_paths([path], store), store, "ETH-USDT")


def test_inst_option_names_the_instrument(tmp_path: Path, store: MarketStore) -> None:
    path = write_house_csv(tmp_path / "candles.csv", house_rows())
    assert_imported(import_paths([path], store, inst_id="XRP-USDT"), store, "XRP-USDT")


@pytest.mark.parametrize("header", [False, True])
def test_binance_kline_csv(tmp_path: Path, store: MarketStore, header: bool) -> None:
    path = tmp_path / "SOLUSDT-1m-2025-05-04.csv"
    path.write_text(binance_text(header=header))
    assert_imported(import_paths([path], store), store, "SOL-USDT")


def test_binance_zip(tmp_path: Path, store: MarketStore) -> None:
    path = tmp_path / "LINKUSDC-1m-2025-05.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("LINKUSDC-1m-2025-05.csv", binance_text())
    assert_imported(import_paths([path], store), store, "LINK-USDC")


def test_binance_microsecond_open_times_become_ms(tmp_path: Path, store: MarketStore) -> None:
    path = tmp_path / "ADAUSDT-1m-2025-05-04.csv"
    path.write_text(binance_text(unit=1000))
    assert_imported(import_paths([path], store), store, "ADA-USDT")


@pytest.mark.parametrize("name", ["BNB_USDT_USDT-1m-futures.feather", "BNB_USDT-1m.feather"])
def test_freqtrade_feather(tmp_path: Path, store: MarketStore, name: str) -> None:
    freqtrade_frame().to_feather(tmp_path / name)
    assert_imported(import_paths([tmp_path / name], store), store, "BNB-USDT")


def test_freqtrade_feather_in_another_timezone(tmp_path: Path, store: MarketStore) -> None:
    frame = freqtrade_frame()
    frame["date"] = frame["date"].dt.tz_convert("Asia/Tokyo")  # same instants, +09:00 wall clock
    frame.to_feather(tmp_path / "BNB_USDT-1m.feather")
    assert_imported(import_paths([tmp_path / "BNB_USDT-1m.feather"], store), store, "BNB-USDT")


def test_parquet_freqtrade_columns(tmp_path: Path, store: MarketStore) -> None:
    freqtrade_frame().to_parquet(tmp_path / "LTC_USDT_USDT-1m-futures.parquet")
    assert_imported(import_paths([tmp_path / "LTC_USDT_USDT-1m-futures.parquet"], store), store, "LTC-USDT")


@pytest.mark.parametrize("ts_as_index", [False, True])
def test_parquet_house_columns(tmp_path: Path, store: MarketStore, ts_as_index: bool) -> None:
    frame = expected_frame() if ts_as_index else expected_frame().reset_index()
    frame.to_parquet(tmp_path / "XLM-USDT.parquet")
    assert_imported(import_paths([tmp_path / "XLM-USDT.parquet"], store), store, "XLM-USDT")


def test_naive_dates_are_rejected(tmp_path: Path, store: MarketStore) -> None:
    frame = freqtrade_frame()
    frame["date"] = frame["date"].dt.tz_localize(None)
    frame.to_feather(tmp_path / "BNB_USDT-1m.feather")
    result = only(import_paths([tmp_path / "BNB_USDT-1m.feather"], store))
    assert result["status"] == "rejected"
    assert "BNB_USDT-1m.feather" in str(result["error"]) and "timezone-aware" in str(result["error"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTC-USDT.csv.gz", ("BTC-USDT", None)),
        ("BTCUSDT-1m-2025-05-01.csv", ("BTC-USDT", "1m")),
        ("1000PEPEUSDT-1m-2025-05.zip", ("1000PEPE-USDT", "1m")),
        ("ETHBUSD-1m-2025-05-01.csv", ("ETH-BUSD", "1m")),
        ("BTCUSD-1m-2025-05-01.csv", ("BTC-USD", "1m")),
        ("BTC_USDT_USDT-1m-futures.feather", ("BTC-USDT", "1m")),
        ("BTC_USDT-5m.feather", ("BTC-USDT", "5m")),
        ("BTCUSDT-1h-2025-05-01.csv", ("BTC-USDT", "1h")),
        ("candles.csv", (None, None)),
    ],
)
def test_parse_file_name(name: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_file_name(Path(name)) == expected


# -------------------------------------------------------------------------------------- rejections
def test_bad_rows_reject_the_file_and_store_nothing(tmp_path: Path, store: MarketStore) -> None:
    good = write_house_csv(tmp_path / "BTC-USDT.csv", house_rows())
    import_paths([good], store)
    lines = house_rows(6, start=T0 + 10 * MIN)
    lines[2] = f"{T0 + 12 * MIN},102,101.5,99,102,3"  # high 101.5 < max(open 102, close 102)
    bad = write_house_csv(tmp_path / "BTC-USDT-bad.csv", lines)
    report = import_paths([bad], store, inst_id="BTC-USDT")
    result = only(report)
    assert result["status"] == "rejected"
    assert (result["rows"], result["new"]) == (6, 0)
    error = str(result["error"])
    assert error.startswith("BTC-USDT-bad.csv: rejected, 1 violation (high_below_body: 1)")
    assert f"row 3 (ts={T0 + 12 * MIN}): high_below_body: high=101.5 < max(open=102.0, close=102.0)" in error
    pd.testing.assert_frame_equal(store.read_candles("BTC-USDT"), expected_frame())


def test_rejected_file_does_not_stop_the_next(tmp_path: Path, store: MarketStore) -> None:
    lines = house_rows()
    lines[1] = f"{T0 + MIN},101,102,100,abc,3"
    write_house_csv(tmp_path / "AVAX-USDT.csv", lines)
    write_house_csv(tmp_path / "BCH-USDT.csv", house_rows())
    report = import_paths([tmp_path], store)
    assert [(f.inst_id, f.status) for f in report.files] == [
        ("AVAX-USDT", "rejected"),
        ("BCH-USDT", "imported"),
    ]
    assert "AVAX-USDT.csv: rejected" in str(report.files[0].error)
    assert "row 2 " in str(report.files[0].error) and "non_numeric" in str(report.files[0].error)
    assert store.instruments() == ["BCH-USDT"]
    assert (report.files_imported, report.files_rejected, report.rows, report.new_bars) == (1, 1, 8, 4)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("BTC-USDT.csv.gz", b"this is not gzip", "BadGzipFile"),
        ("BTC-USDT.zip", b"this is not a zip", "cannot read the file"),
        ("BTC-USDT.feather", b"not arrow", "cannot read the file"),
        ("BTC-USDT.parquet", b"not parquet", "cannot read the file"),
        ("BTC-USDT.csv", b"", "cannot read the file"),
        ("BTC-USDT.csv", b"a,b,c\n1,2,3\n", "unknown CSV layout"),
        ("BTC-USDT.csv", b"ts,open,high,low,close\n1,2,3,4,5\n", "lacks column(s) volume"),
        ("BTC-USDT.csv", (HOUSE_HEADER + "\n").encode(), "holds no candles"),
        ("BTC-USDT.json", b"{}", "unsupported file type"),
        (
            "candles.csv",
            (HOUSE_HEADER + "\n" + "\n".join(house_rows())).encode(),
            "cannot tell the instrument",
        ),
    ],
)
def test_unreadable_files_are_rejected_with_their_name(
    tmp_path: Path, store: MarketStore, name: str, content: bytes, says: str
) -> None:
    (tmp_path / name).write_bytes(content)
    result = only(import_paths([tmp_path / name], store))
    assert result["status"] == "rejected"
    assert str(result["error"]).startswith(f"{name}: rejected")
    assert says in str(result["error"])
    assert store.instruments() == []


@pytest.mark.parametrize("name", ["BTC_USDT-5m.feather", "BTCUSDT-1h-2025-05-01.csv", "BTC-USDT-4H.csv"])
def test_wrong_timeframe_in_the_name_is_rejected(tmp_path: Path, store: MarketStore, name: str) -> None:
    write_house_csv(tmp_path / name, house_rows())
    result = only(import_paths([tmp_path / name], store, inst_id="BTC-USDT"))
    assert result["status"] == "rejected"
    assert "only 1m candles can be imported" in str(result["error"])
    assert name in str(result["error"])
    assert store.instruments() == []


def test_five_minute_data_in_a_neutral_name_is_rejected(tmp_path: Path, store: MarketStore) -> None:
    lines = [f"{T0 + i * 5 * MIN},100,101,99,100.5,2" for i in range(4)]
    path = write_house_csv(tmp_path / "BTC-USDT.csv", lines)
    result = only(import_paths([path], store))
    assert result["status"] == "rejected" and "not 1m candles" in str(result["error"])


def test_inst_for_files_of_different_instruments_is_an_error(tmp_path: Path, store: MarketStore) -> None:
    write_house_csv(tmp_path / "BTC-USDT.csv", house_rows())
    write_house_csv(tmp_path / "ETH-USDT.csv", house_rows())
    with pytest.raises(ValueError, match="different instruments"):
        import_paths([tmp_path], store, inst_id="SOL-USDT")
    assert store.instruments() == []


def test_inst_for_several_files_of_one_instrument_is_fine(tmp_path: Path, store: MarketStore) -> None:
    (tmp_path / "BTCUSDT-1m-2025-05-04.csv").write_text(binance_text(2))
    write_house_csv(tmp_path / "BTC-USDT.csv", house_rows(4))
    report = import_paths([tmp_path], store, inst_id="BTC-USDT")
    assert [f.status for f in report.files] == ["imported", "imported"]
    assert [(f.new, f.unchanged) for f in report.files] == [(4, 0), (0, 2)]  # BTC-USDT.csv sorts first


def test_invalid_inst_option_is_an_error(tmp_path: Path, store: MarketStore) -> None:
    path = write_house_csv(tmp_path / "BTC-USDT.csv", house_rows())
    with pytest.raises(ValueError, match="invalid instrument name"):
        import_paths([path], store, inst_id="btc/usdt")


# ----------------------------------------------------------------------------- idempotency and gaps
def test_reimport_is_idempotent(tmp_path: Path, store: MarketStore) -> None:
    path = write_house_csv(tmp_path / "BTC-USDT.csv.gz", house_rows(6))
    first = only(import_paths([path], store))
    stored = store.read_candles("BTC-USDT")
    second = only(import_paths([path], store))
    assert (first["new"], first["unchanged"]) == (6, 0)
    assert (second["status"], second["new"], second["updated"], second["unchanged"]) == ("imported", 0, 0, 6)
    pd.testing.assert_frame_equal(store.read_candles("BTC-USDT"), stored)


def test_gaps_in_a_file_are_reported(tmp_path: Path, store: MarketStore) -> None:
    minutes = [0, 1, 2, 6, 7, 9]  # 3, 4, 5 missing; 8 missing
    lines = [f"{T0 + m * MIN},100,101,99,100.5,2" for m in minutes]
    result = only(import_paths([write_house_csv(tmp_path / "ETC-USDT.csv", lines)], store))
    assert result["status"] == "imported"
    assert result["gaps"] == [
        {"after_ts": T0 + 2 * MIN, "before_ts": T0 + 6 * MIN, "missing_bars": 3},
        {"after_ts": T0 + 7 * MIN, "before_ts": T0 + 9 * MIN, "missing_bars": 1},
    ]


def test_folder_expansion_skips_other_files_and_calls_on_file(tmp_path: Path, store: MarketStore) -> None:
    write_house_csv(tmp_path / "SUI-USDT.csv", house_rows())
    write_house_csv(tmp_path / "ENA-USDT.csv.gz", house_rows())
    (tmp_path / "notes.txt").write_text("not candles")
    seen: list[str] = []
    report = import_paths([tmp_path], store, on_file=lambda r: seen.append(r.path.name))
    assert seen == ["ENA-USDT.csv.gz", "SUI-USDT.csv"]
    assert report.totals() == {
        "files": 2,
        "files_imported": 2,
        "files_rejected": 0,
        "rows": 8,
        "new_bars": 8,
        "updated_bars": 0,
        "unchanged_bars": 0,
    }


def test_real_file_imports_whole(real_data_dir: Path, store: MarketStore, btc_1m: pd.DataFrame) -> None:
    result = only(import_paths([real_data_dir / "BTC-USDT.csv.gz"], store))
    assert result["status"] == "imported", result["error"]
    assert (result["rows"], result["new"], result["gaps"]) == (len(btc_1m), len(btc_1m), [])
    pd.testing.assert_frame_equal(store.read_candles("BTC-USDT"), btc_1m.astype("float64"))
