"""``blofin features list|show`` and ``blofin audit lookahead`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blofin_stack.cli.main import app
from blofin_stack.config import Settings
from blofin_stack.features import compute_features
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.market.store import MarketStore

LEAKY_PLUGIN = """
from blofin_stack.features import feature
from blofin_stack.strategies import Strategy, signal_frame


@feature("tomorrow_close", group="custom", description="the next bar's close: a planted leak")
def tomorrow_close(ohlcv):
    return ohlcv["close"].shift(-1)


class Clairvoyant(Strategy):
    name = "clairvoyant"
    description = "buys before rises it can see coming"
    timeframes = ("5m",)
    required_features = ("close",)

    def generate_signals(self, features, params):
        up = features["close"].shift(-1) > features["close"]
        return signal_frame(features.index, entry_long=up, exit_long=~up)
"""


pytestmark = pytest.mark.usefixtures("isolated_plugins")


@pytest.fixture
def stored(settings: Settings, btc_1m: pd.DataFrame) -> pd.DataFrame:
    candles = btc_1m.iloc[-5 * 1440 :]
    MarketStore(settings.market_dir).write_candles("BTC-USDT", candles)
    return candles


def test_features_list(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["features", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    exact = [e for e in listed if "family" not in e]
    assert len(exact) >= 95 and {"rsi_14", "vwap", "adx_14", "cdl_engulfing"} <= {e["name"] for e in exact}
    assert all(e["units"] and e["source"] and e["description"] for e in exact)
    assert "rsi_{n}" in {e["name"] for e in listed if "family" in e}
    groups = [e["group"] for e in exact]
    assert groups == sorted(groups, key=["price", "volume", "momentum", "trend", "volatility", "macd",
                                         "oscillators", "volume_weighted", "regime", "custom"].index)  # fmt: skip
    momentum = json.loads(CliRunner().invoke(app, ["features", "list", "--group", "momentum", "--json"]).stdout)
    assert momentum and {e["group"] for e in momentum} == {"momentum"}
    bad = CliRunner().invoke(app, ["features", "list", "--group", "nope"])
    assert bad.exit_code == 2 and "unknown group 'nope'" in bad.stderr


def test_features_show_gives_metadata_and_real_values(settings: Settings, stored: pd.DataFrame) -> None:
    result = CliRunner().invoke(app, ["features", "show", "rsi_14", "--timeframe", "5m", "--bars", "4", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["units"] == "0-100" and info["warmup_bars"] > 14 and "RSI" in info["source"]
    expected = compute_features(resample_ohlcv(stored, "5m"), ["rsi_14"])["rsi_14"].iloc[-4:]
    assert [v["ts"] for v in info["sample"]["values"]] == list(expected.index)
    assert [v["value"] for v in info["sample"]["values"]] == pytest.approx(list(expected))
    typo = CliRunner().invoke(app, ["features", "show", "rsi14"])
    assert typo.exit_code == 2 and "unknown feature 'rsi14'" in typo.stderr


def test_audit_catches_a_leaky_plugin_and_passes_the_rest(
    settings: Settings, stored: pd.DataFrame, tmp_path: Path
) -> None:
    plugin = tmp_path / "leaky.py"
    plugin.write_text(LEAKY_PLUGIN)
    args = ["audit", "lookahead", "--inst", "BTC-USDT", "-t", "5m", "--bars", "1000", "--json", "--plugin", str(plugin)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["bars"] == 1000 and report["ok"] is False
    failed = {f["name"]: f for f in [*report["features"], *report["strategies"]] if not f["ok"]}
    assert set(failed) == {"tomorrow_close", "clairvoyant"}
    assert failed["tomorrow_close"]["test"] == "truncation" and failed["tomorrow_close"]["first_time"]
    assert "look-ahead: entry_long" in failed["clairvoyant"]["detail"]
    assert len(report["features"]) >= 95 and len(report["strategies"]) >= 8
