"""``blofin backtest``, ``blofin pipeline run`` and ``blofin report show`` through the typer app.

The store holds the last 6 days of real BTC-USDT and ETH-USDT 1m candles (data end 2025-06-03 15:31 UTC).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from blofin_stack.config import Settings, get_settings
from blofin_stack.market.store import MarketStore
from helpers import flat, invoke, last_bars

INSTRUMENTS = ("BTC-USDT", "ETH-USDT")
SLICE_BARS = 6 * 1440
DAY_MS = 86_400_000
FIVE_MIN_MS = 300_000
RESULT_KEYS = {"strategy", "inst_id", "timeframe", "start", "end", "params", "metrics", "trades"}
DOCUMENTED_EXTRA_KEYS = {"fee_bps", "slippage_bps", "bars"}
TRADE_KEYS = {"entry_ts", "exit_ts", "side", "entry_price", "exit_price", "pnl_pct", "fees", "exit_reason"}


@pytest.fixture(scope="module")
def candles(real_data_dir: Path) -> dict[str, pd.DataFrame]:
    return last_bars(real_data_dir, INSTRUMENTS, SLICE_BARS)


@pytest.fixture
def store_settings(settings: Settings, candles: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PIPELINE_WORKERS", "1")
    monkeypatch.setenv("BACKTEST_LOOKBACK_DAYS", "2")
    get_settings.cache_clear()
    fresh = get_settings()
    store = MarketStore(fresh.market_dir)
    for inst, frame in candles.items():
        store.write_candles(inst, frame)
    return fresh


def backtest_json(*args: str) -> dict[str, Any]:
    result = invoke("backtest", *args, "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


# --------------------------------------------------------------------------------------- backtest
def test_backtest_json_shape_and_window(store_settings: Settings, candles: dict[str, pd.DataFrame]) -> None:
    out = backtest_json("sma_cross", "--inst", "BTC-USDT", "--timeframe", "5m", "--days", "2")
    assert set(out) >= RESULT_KEYS
    assert set(out) - RESULT_KEYS <= DOCUMENTED_EXTRA_KEYS
    assert (out["strategy"], out["inst_id"], out["timeframe"]) == ("sma_cross", "BTC-USDT", "5m")
    assert out["params"] == {"fast": 10, "slow": 30}  # the documented defaults
    data_end = int(candles["BTC-USDT"].index.max()) + 60_000
    # the last 5m bar must be closed by the end of the data: no partial bar
    assert out["end"] == data_end // FIVE_MIN_MS * FIVE_MIN_MS
    assert data_end - 2 * DAY_MS <= out["start"] < data_end - 2 * DAY_MS + FIVE_MIN_MS
    assert out["start"] % FIVE_MIN_MS == 0
    assert out["metrics"]["trades"] == len(out["trades"]) > 0
    for trade in out["trades"]:
        assert set(trade) >= TRADE_KEYS
        assert trade["side"] in ("long", "short")
        assert trade["entry_ts"] > out["start"]  # a signal fills at the next bar's open at the earliest
        assert trade["exit_ts"] >= trade["entry_ts"]
        assert trade["exit_ts"] < out["end"]
        assert trade["fees"] > 0  # the default costs apply
    # always in the market: each reversal closes and opens at the same open, sides alternate
    trades = out["trades"]
    for before, after in pairwise(trades):
        assert after["entry_ts"] == before["exit_ts"]
        assert after["side"] != before["side"]


def test_backtest_param_overrides_change_the_run(store_settings: Settings) -> None:
    default = backtest_json("sma_cross", "--inst", "BTC-USDT", "--timeframe", "5m", "--days", "2")
    tuned = backtest_json(
        "sma_cross", "--inst", "BTC-USDT", "--timeframe", "5m", "--days", "2", "--param", "fast=5", "--param", "slow=20"
    )
    assert tuned["params"] == {"fast": 5, "slow": 20}
    assert tuned["trades"] != default["trades"]
    # faster averages cross more often
    assert tuned["metrics"]["trades"] > default["metrics"]["trades"]


def test_backtest_without_costs_gives_gross_returns_at_bar_opens(
    store_settings: Settings, candles: dict[str, pd.DataFrame]
) -> None:
    out = backtest_json(
        "sma_cross",
        "--inst",
        "BTC-USDT",
        "--timeframe",
        "5m",
        "--days",
        "2",
        "--fee-bps",
        "0",
        "--slippage-bps",
        "0",
    )
    assert (out["fee_bps"], out["slippage_bps"]) == (0.0, 0.0)
    opens = candles["BTC-USDT"]["open"]  # a 5m bar opens at the open of its first 1m bar
    assert out["trades"]
    for trade in out["trades"]:
        side = 1.0 if trade["side"] == "long" else -1.0
        gross = side * (trade["exit_price"] / trade["entry_price"] - 1.0) * 100.0
        assert trade["pnl_pct"] == pytest.approx(gross, rel=1e-9, abs=1e-12)
        assert trade["fees"] == 0.0
        assert trade["entry_price"] == opens.loc[trade["entry_ts"]]
        if trade["exit_reason"] == "signal":
            assert trade["exit_price"] == opens.loc[trade["exit_ts"]]
    # with the default costs, every trade's net result is below its gross result
    net = backtest_json("sma_cross", "--inst", "BTC-USDT", "--timeframe", "5m", "--days", "2")
    assert [(t["entry_ts"], t["side"]) for t in net["trades"]] == [(t["entry_ts"], t["side"]) for t in out["trades"]]
    for gross_trade, net_trade in zip(out["trades"], net["trades"], strict=True):
        assert net_trade["pnl_pct"] < gross_trade["pnl_pct"]
        if net_trade["side"] == "long":
            assert net_trade["entry_price"] > gross_trade["entry_price"]  # slippage is adverse
        else:
            assert net_trade["entry_price"] < gross_trade["entry_price"]


def test_backtest_start_end_window(store_settings: Settings) -> None:
    out = backtest_json(
        "sma_cross", "--inst", "BTC-USDT", "--timeframe", "5m", "--start", "2025-05-30", "--end", "2025-06-01"
    )
    assert out["start"] == ms("2025-05-30")
    assert out["end"] == ms("2025-06-01")
    assert out["bars"] == 2 * DAY_MS // FIVE_MIN_MS
    for trade in out["trades"]:
        assert ms("2025-05-30") < trade["entry_ts"] <= trade["exit_ts"] < ms("2025-06-01")


def test_backtest_prints_a_table_without_json(store_settings: Settings) -> None:
    result = invoke("backtest", "sma_cross", "--inst", "ETH-USDT", "--timeframe", "1H", "--days", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "sma_cross" in result.stderr and "ETH-USDT" in result.stderr and "win_rate" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["no_such_strategy", "--inst", "BTC-USDT"], "no_such_strategy"),
        (["sma_cross", "--inst", "DOGE-USDT"], "DOGE-USDT"),
        (["sma_cross", "--inst", "BTC-USDT", "--param", "fast=abc"], "abc"),
        (["sma_cross", "--inst", "BTC-USDT", "--param", "fast=1"], "fast"),
        (["sma_cross", "--inst", "BTC-USDT", "--param", "nosuch=3"], "nosuch"),
        (["sma_cross", "--inst", "BTC-USDT", "--param", "fast"], "fast"),
        (["sma_cross", "--inst", "BTC-USDT", "--timeframe", "7m"], "7m"),
        (["sma_cross", "--inst", "BTC-USDT", "--start", "yesterday"], "yesterday"),
        (["sma_cross", "--inst", "BTC-USDT", "--start", "2025-06-01", "--end", "2025-05-30"], "--start"),
        (["sma_cross", "--inst", "BTC-USDT", "--days", "2", "--start", "2025-05-30"], "--days"),
    ],
)
def test_backtest_bad_input_exits_2_naming_it(store_settings: Settings, args: list[str], named: str) -> None:
    result = invoke("backtest", *args, "--json")
    assert result.exit_code == 2, result.output
    assert named in flat(result.stderr)
    assert result.stdout == ""


# --------------------------------------------------------------------------------------- pipeline, report
def test_pipeline_run_then_report_show(store_settings: Settings, cycle_size: Callable[[Settings, int], int]) -> None:
    result = invoke("pipeline", "run", "--mode", "all", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    report_path = Path(summary["report_path"])
    assert report_path.is_file()
    assert report_path.parent.resolve() == store_settings.reports_dir.resolve()
    assert Path(summary["markdown_path"]).is_file()
    top = summary["top_5_strategies"]
    assert len(top) == 5
    assert [e["rank"] for e in top] == [1, 2, 3, 4, 5]
    assert summary["cycle"]["backtests"] == cycle_size(store_settings, len(INSTRUMENTS))
    assert summary["dry_run"] is False
    file_report = json.loads(report_path.read_text())

    shown = invoke("report", "show", "--json")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report == file_report  # the database copy equals the file
    assert report["performance"]["top_5_strategies"] == top

    by_date = invoke("report", "show", "--date", report["report_date"], "--json")
    assert by_date.exit_code == 0 and json.loads(by_date.stdout) == report

    human = invoke("report", "show")
    assert human.exit_code == 0, human.output
    assert f"Daily report {report['report_date']}" in human.stderr


def test_pipeline_dry_run_json_includes_the_report_and_writes_nothing(
    store_settings: Settings, cycle_size: Callable[[Settings, int], int]
) -> None:
    result = invoke("pipeline", "run", "--mode", "all", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True and summary["report_path"] is None
    assert len(summary["report"]["backtests"]) == cycle_size(store_settings, len(INSTRUMENTS))
    assert not store_settings.reports_dir.exists()
    assert not (store_settings.data_dir / "blofin.db").exists()


def test_report_show_of_a_missing_date_exits_1(store_settings: Settings) -> None:
    result = invoke("report", "show", "--date", "1999-01-01")
    assert result.exit_code == 1
    assert "1999-01-01" in flat(result.stderr)
    none_yet = invoke("report", "show", "--json")
    assert none_yet.exit_code == 1 and none_yet.stdout == ""
    assert "no report" in flat(none_yet.stderr)


def test_pipeline_ml_mode_trains_and_records_models(store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from blofin_stack.ml.store import list_models
    from blofin_stack.pipeline import ml_cycle

    monkeypatch.setattr(ml_cycle, "DEFAULT_MODELS", ("direction_logistic",))
    for name, value in {
        "ML_LOOKBACK_DAYS": "4",
        "ML_TRAIN_DAYS": "2",
        "ML_TEST_DAYS": "1",
        "ML_EMBARGO_HOURS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    result = invoke("pipeline", "run", "--mode", "ml", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (
        summary["messages"][0].startswith("ML cycle ml-")
        and "1 models trained on 2 instruments" in summary["messages"][0]
    )
    assert any(
        m.strip().startswith("direction_logistic (model_001) direction_12: accuracy") for m in summary["messages"]
    )
    assert summary["report_path"] is None and "cycle" not in summary  # ml mode writes no daily report
    assert not store_settings.reports_dir.exists()
    assert [row["name"] for row in list_models(get_settings().ml_models_path)] == ["direction_logistic"]


def test_pipeline_bogus_mode_exits_2(store_settings: Settings) -> None:
    result = invoke("pipeline", "run", "--mode", "bogus")
    assert result.exit_code == 2
    assert "bogus" in flat(result.stderr)


def test_pipeline_on_an_empty_store_exits_1_with_a_hint(settings: Settings) -> None:
    result = invoke("pipeline", "run", "--mode", "strategy", "--json")
    assert result.exit_code == 1
    assert "blofin data import" in flat(result.stderr)
