"""``blofin data import`` and ``blofin data list`` through the typer app, on a temporary DATA_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blofin_stack.cli.main import app as cli
from blofin_stack.config import Settings

MIN = 60_000
T0 = 1_746_373_740_000  # 2025-05-04T15:49:00Z
HEADER = "ts,open,high,low,close,volume"

runner = CliRunner()


def write_csv(path: Path, minutes: list[int], high: float = 101.0) -> Path:
    lines = [f"{T0 + m * MIN},100,{high},99,100.5,2" for m in minutes]
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    write_csv(folder / "BTC-USDT.csv", [0, 1, 2, 5])  # minutes 3 and 4 missing
    write_csv(folder / "ETH-USDT.csv", [0, 1, 2])
    return folder


def test_import_json_report_has_files_and_totals(settings: Settings, folder: Path) -> None:
    result = runner.invoke(cli, ["data", "import", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["totals"] == {
        "files": 2,
        "files_imported": 2,
        "files_rejected": 0,
        "rows": 7,
        "new_bars": 7,
        "updated_bars": 0,
        "unchanged_bars": 0,
    }
    btc = next(f for f in report["files"] if f["inst_id"] == "BTC-USDT")
    assert btc["status"] == "imported"
    assert btc["gaps"] == [{"after_ts": T0 + 2 * MIN, "before_ts": T0 + 5 * MIN, "missing_bars": 2}]
    assert (settings.market_dir / "candles_1m" / "BTC-USDT" / "manifest.json").is_file()


def test_import_prints_a_table_without_json(settings: Settings, folder: Path) -> None:
    result = runner.invoke(cli, ["data", "import", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # human output goes to stderr
    text = " ".join(result.stderr.split())
    assert "BTC-USDT" in text and "ETH-USDT" in text
    assert "2 imported, 0 rejected; 7 rows read, 7 new bars" in text


def test_list_json_fields(settings: Settings, folder: Path) -> None:
    assert runner.invoke(cli, ["data", "import", str(folder), "--json"]).exit_code == 0
    result = runner.invoke(cli, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert [row["inst_id"] for row in listing] == ["BTC-USDT", "ETH-USDT"]
    assert listing[0] == {
        "inst_id": "BTC-USDT",
        "first_ts": T0,
        "first": "2025-05-04T15:49:00Z",
        "last_ts": T0 + 5 * MIN,
        "last": "2025-05-04T15:54:00Z",
        "bars": 4,
        "gaps": 1,
        "missing_bars": 2,
        "funding_settlements": 0,
    }
    assert (listing[1]["bars"], listing[1]["gaps"], listing[1]["missing_bars"]) == (3, 0, 0)


def test_list_of_an_empty_store(settings: Settings) -> None:
    result = runner.invoke(cli, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "holds no candles" in " ".join(runner.invoke(cli, ["data", "list"]).stderr.split())


def test_bad_file_exits_1_and_the_good_one_is_still_imported(settings: Settings, folder: Path) -> None:
    write_csv(folder / "SOL-USDT.csv", [0, 1], high=99.5)  # high below open 100 and close 100.5
    result = runner.invoke(cli, ["data", "import", str(folder), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["totals"]["files_imported"] == 2 and report["totals"]["files_rejected"] == 1
    sol = next(f for f in report["files"] if f["inst_id"] == "SOL-USDT")
    assert sol["status"] == "rejected"
    assert sol["error"].startswith("SOL-USDT.csv: rejected, 2 violations (high_below_body: 2); row 1 ")

    listing = json.loads(runner.invoke(cli, ["data", "list", "--json"]).stdout)
    assert [row["inst_id"] for row in listing] == ["BTC-USDT", "ETH-USDT"]


def test_rejection_is_shown_in_the_human_output(settings: Settings, folder: Path) -> None:
    write_csv(folder / "SOL-USDT.csv", [0, 1], high=99.5)
    result = runner.invoke(cli, ["data", "import", str(folder / "SOL-USDT.csv")])
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())
    assert "SOL-USDT.csv: rejected" in text and "high_below_body" in text


def test_inst_for_different_instruments_is_a_usage_error(settings: Settings, folder: Path) -> None:
    result = runner.invoke(cli, ["data", "import", str(folder), "--inst", "SOL-USDT"])
    assert result.exit_code == 2
    assert "different instruments" in " ".join(result.stderr.split())


def test_folder_without_candle_files_fails(settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["data", "import", str(empty)])
    assert result.exit_code == 1
    assert "no supported candle files" in " ".join(result.stderr.split())
