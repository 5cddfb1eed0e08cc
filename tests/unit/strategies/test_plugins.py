"""Plugins: user features and strategies load like built-ins; a broken plugin names file and line and stops nothing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blofin_stack.cli.main import app
from blofin_stack.config import Settings
from blofin_stack.features import REGISTRY, UnknownFeatureError, compute_features
from blofin_stack.market.store import MarketStore
from blofin_stack.pipeline.daily import run_pipeline
from blofin_stack.strategies import get_strategy, strategy_classes
from blofin_stack.strategies.plugins import load_plugins

GOOD = """
from blofin_stack.features import feature
from blofin_stack.strategies import Param, Strategy, crossed_above, crossed_below, signal_frame


@feature("close_vs_high_20", group="custom", warmup_bars=19, description="close / 20-bar high")
def close_vs_high_20(ohlcv):
    return ohlcv["close"] / ohlcv["high"].rolling(20).max()


class NearHigh(Strategy):
    name = "near_high"
    description = "long when the close comes within 0.1 % of the 20-bar high"
    timeframes = ("5m",)
    params = {"level": Param(0.999, 0.9, 1.0)}
    required_features = ("close_vs_high_20",)

    def generate_signals(self, features, params):
        ratio = features["close_vs_high_20"]
        return signal_frame(
            features.index,
            entry_long=crossed_above(ratio, params["level"]),
            exit_long=crossed_below(ratio, params["level"] - 0.002),
        )
"""


pytestmark = pytest.mark.usefixtures("isolated_plugins")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_good_plugin_registers_feature_and_strategy(tmp_path: Path, btc_1m: pd.DataFrame) -> None:
    path = write(tmp_path / "good.py", GOOD)
    report = load_plugins([path])
    assert report.errors == [] and report.loaded == [path.resolve()]
    assert report.features[str(path.resolve())] == ["close_vs_high_20"]
    assert report.strategies[str(path.resolve())] == ["near_high"]
    bars = btc_1m.iloc[-500:]
    values = compute_features(bars, ["close_vs_high_20"])["close_vs_high_20"]
    expected = bars["close"] / bars["high"].rolling(20).max()
    pd.testing.assert_series_equal(values, expected, check_names=False)
    assert get_strategy("near_high").name == "near_high"


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("x = 1\ndef broken(:\n    pass\n", 2, "SyntaxError"),
        ("import math\n\nvalue = math.sqrt(-1)\n", 3, "ValueError: math domain error"),
        (
            "from blofin_stack.features import feature\n\n@feature('rsi_14', group='custom')\ndef f(ohlcv):\n"
            "    return ohlcv['close']\n",
            3,
            "feature 'rsi_14' is already registered",
        ),
        (
            "from blofin_stack.strategies import Strategy, signal_frame\n\nclass Clash(Strategy):\n"
            "    name = 'sma_cross'\n    description = 'x'\n    timeframes = ('5m',)\n"
            "    def generate_signals(self, features, params):\n        return signal_frame(features.index)\n",
            0,
            "'sma_cross' is a built-in",
        ),
    ],
)
def test_broken_plugin_names_file_and_line(tmp_path: Path, body: str, line: int, text: str) -> None:
    path = write(tmp_path / "broken.py", body)
    report = load_plugins([path])
    assert report.loaded == []
    [error] = report.errors
    assert error.path == path.resolve() and error.line == line and text in error.message
    assert str(error).startswith(f"plugin {path.resolve()}:{line}: ")


def test_failed_plugin_is_rolled_back_and_others_still_load(tmp_path: Path) -> None:
    half = write(
        tmp_path / "half.py",
        """
        from blofin_stack.features import feature

        @feature("half_registered", group="custom")
        def half(ohlcv):
            return ohlcv["close"]

        raise RuntimeError("boom")
        """,
    )
    good = write(tmp_path / "good.py", GOOD)
    report = load_plugins([half, good])
    assert [e.line for e in report.errors] == [7]  # the `raise` line
    assert report.loaded == [good.resolve()]
    with pytest.raises(UnknownFeatureError):
        REGISTRY.resolve("half_registered")
    assert "near_high" in strategy_classes()


def test_reloading_is_a_no_op_and_an_edit_reloads(tmp_path: Path) -> None:
    path = write(tmp_path / "good.py", GOOD)
    assert load_plugins([path]).errors == []
    assert load_plugins([path]).errors == []  # same file again: no "already registered"
    write(path, GOOD.replace("close_vs_high_20", "close_vs_high_x").replace("near_high", "near_high_x"))
    assert load_plugins([path]).errors == []
    assert "near_high_x" in strategy_classes() and "near_high" not in strategy_classes()
    with pytest.raises(UnknownFeatureError):
        REGISTRY.resolve("close_vs_high_20")


def test_missing_plugin_file_is_an_error(tmp_path: Path) -> None:
    [error] = load_plugins([tmp_path / "nope.py"]).errors
    assert "no such plugin file" in error.message


def _small_store(settings: Settings, real_data_dir: Path) -> None:
    store = MarketStore(settings.market_dir)
    for inst in ("BTC-USDT", "ETH-USDT"):
        candles = pd.read_csv(real_data_dir / f"{inst}.csv.gz").set_index("ts")
        store.write_candles(inst, candles.iloc[-4 * 1440 :])


def test_pipeline_runs_plugin_strategies_in_worker_processes(
    settings: Settings, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(settings, "pipeline_workers", 2)
    monkeypatch.setattr(settings, "backtest_lookback_days", 2)
    _small_store(settings, real_data_dir)
    settings.plugins_dir.mkdir(parents=True)
    write(settings.plugins_dir / "good.py", GOOD)
    broken = write(tmp_path / "broken.py", "raise ImportError('missing dependency')\n")
    run = run_pipeline(settings, "strategy", dry_run=True, plugins=[broken])
    assert run.cycle is not None
    mine = [r for r in run.cycle.rows if r["strategy_name"] == "near_high"]
    assert len(mine) == 2 * 3 and all(r["status"] == "ok" for r in mine)
    assert sum(r["trades"] for r in mine) > 0
    assert any(f"{broken.resolve()}:1:" in m for m in run.messages)


def test_cli_backtest_with_plugin(settings: Settings, real_data_dir: Path, tmp_path: Path) -> None:
    _small_store(settings, real_data_dir)
    good = write(tmp_path / "good.py", GOOD)
    broken = write(tmp_path / "broken.py", "1 / 0\n")
    args = ["backtest", "near_high", "--inst", "BTC-USDT", "--days", "2", "--json"]
    result = CliRunner().invoke(app, [*args, "--plugin", str(good), "--plugin", str(broken)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["strategy"] == "near_high"
    assert f"{broken.resolve()}:1: ZeroDivisionError" in result.stderr
