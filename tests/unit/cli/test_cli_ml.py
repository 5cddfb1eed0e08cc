"""``blofin ml train|list|show|validate|predict`` through the typer app on a small real-data store.

Two instruments, their last 4 days of real 1m candles; 1.5-day training windows, half-day tests, a 2-hour
embargo, one worker; small models so each command runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from blofin_stack.config import Settings, get_settings
from blofin_stack.market.store import MarketStore
from blofin_stack.ml.base import TRADE_INPUTS
from blofin_stack.pipeline import ml_cycle
from helpers import flat, invoke, last_bars, ok_json, write

INSTRUMENTS = ("BTC-USDT", "ETH-USDT")
SLICE_BARS = 4 * 1440
ENV = {
    "PIPELINE_WORKERS": "1",
    "ML_LOOKBACK_DAYS": "3.5",
    "ML_TRAIN_DAYS": "1.5",
    "ML_TEST_DAYS": "0.5",
    "ML_EMBARGO_HOURS": "2",
}
TRAIN_KEYS = {"name", "model_type", "target", "features", "oos", "baseline", "status", "reasons"}
FEATURES = "rsi_14,returns_5,atr_pct_14,volume_ratio"

pytestmark = pytest.mark.usefixtures("isolated_plugins")


@pytest.fixture(scope="module")
def candles(real_data_dir: Path) -> dict[str, pd.DataFrame]:
    return last_bars(real_data_dir, INSTRUMENTS, SLICE_BARS)


@pytest.fixture
def ml_store(settings: Settings, candles: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(ml_cycle, "DEFAULT_MODELS", ("direction_logistic",))
    get_settings.cache_clear()
    fresh = get_settings()
    store = MarketStore(fresh.market_dir)
    for inst, frame in candles.items():
        store.write_candles(inst, frame)
    return fresh


def test_train_json_per_model_then_list_show_validate_predict(ml_store: Settings) -> None:
    trained = ok_json("ml", "train", "--model", "direction_logistic", "--features", FEATURES, "--json")
    (model,) = trained["models"]
    assert set(model) >= TRAIN_KEYS
    assert model["name"] == "direction_logistic" and model["model_type"] == "logistic_regression"
    assert model["target"] == "direction_12" and model["features"] == FEATURES.split(",")
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"} <= set(model["oos"])
    assert 0.0 <= model["baseline"]["accuracy"] <= 1.0 and model["model_id"] == "model_001"
    assert model["status"] in ("active", "suspect") and (model["status"] == "suspect") == bool(model["reasons"])
    assert trained["stored"] is True and trained["ensembles"] == [] and trained["retrained"] == []

    listed = ok_json("ml", "list", "--json")
    assert [(r["id"], r["name"], r["status"]) for r in listed] == [("model_001", "direction_logistic", model["status"])]
    assert listed[0]["oos"] == pytest.approx(model["oos"]["accuracy"]) and listed[0]["metric"] == "accuracy"

    by_name = ok_json("ml", "show", "direction_logistic", "--json")
    by_id = ok_json("ml", "show", "model_001", "--json")
    assert by_name == by_id and by_name["config"]["features"] == FEATURES.split(",")
    assert by_name["metadata"]["status"] == model["status"]
    human = invoke("ml", "show", "direction_logistic")
    assert human.exit_code == 0 and "model_001: direction_logistic" in flat(human.stderr)

    # re-scored on the newest test window: the deployed fit ended before the strategies' backtest window
    # (here one training window into the data), so the newest days are fresh to it
    check = ok_json("ml", "validate", "direction_logistic", "--json")
    assert check["model_id"] == "model_001" and check["metric"] == "accuracy"
    assert check["validated"] == pytest.approx(model["oos"]["accuracy"])
    trained_until = by_id["metadata"]["training"]["train_window"]["end"]
    assert check["fresh_window"]["start"] >= trained_until and check["fresh_window"]["n"] >= 50
    assert check["decision"] in ("ok", "retrain") and check["fresh"] is not None

    predicted = ok_json("ml", "predict", "direction_logistic", "--inst", "BTC-USDT", "--json")
    assert predicted["model_id"] == "model_001" and predicted["inst_id"] == "BTC-USDT"
    newest = int(MarketStore(ml_store.market_dir).last_ts("BTC-USDT"))
    assert predicted["bar_ts"] + 300_000 <= newest + 60_000  # the last CLOSED 5m bar
    (p,) = predicted["predictions"]
    assert p["prediction"] in (0.0, 1.0) and sum(p["probabilities"].values()) == pytest.approx(1.0)


def test_a_second_run_checks_drift_of_the_active_model(ml_store: Settings) -> None:
    first = ok_json("ml", "train", "--features", FEATURES, "--json")  # DEFAULT_MODELS: direction_logistic
    second = ok_json("ml", "train", "--features", FEATURES, "--json")
    if first["models"][0]["status"] == "active":
        (check,) = second["retrained"]
        assert check["model_id"] == "model_001" and check["decision"] in ("ok", "replaced", "kept")
    statuses = {r["id"]: r["status"] for r in ok_json("ml", "list", "--json")}
    assert list(statuses) == ["model_001", "model_002"]
    assert list(statuses.values()).count("active") <= 1  # one active version per model


def test_entry_models_predict_per_side_and_the_exit_model_needs_a_position(ml_store: Settings) -> None:
    trained = ok_json(
        "ml", "train", "--model", "ml_entry_classifier", "--model", "ml_exit_timing", "--features", FEATURES, "--json"
    )
    assert [m["name"] for m in trained["models"]] == ["ml_entry_classifier", "ml_exit_timing"]
    entry, exit_ = trained["models"]
    assert entry["features"] == [*FEATURES.split(","), "trade_side"]
    assert exit_["features"] == [*FEATURES.split(","), *TRADE_INPUTS]
    assert set(trained["canaries"]) == {"trade_profitable", "exit_timing"}
    predicted = ok_json("ml", "predict", "model_001", "--inst", "ETH-USDT", "--json")
    assert [p["side"] for p in predicted["predictions"]] == ["long", "short"]
    refused = invoke("ml", "predict", "model_002", "--inst", "ETH-USDT")
    assert refused.exit_code == 1 and "needs an open position" in flat(refused.stderr)


def test_timeframe_and_plugin_features(ml_store: Settings, tmp_path: Path) -> None:
    from blofin_stack.features import REGISTRY

    before = REGISTRY.snapshot()
    plugin = write(
        tmp_path / "feat.py",
        """
        from blofin_stack.features import feature

        @feature("range_to_close", group="custom", description="(high - low) / close")
        def range_to_close(ohlcv):
            return (ohlcv["high"] - ohlcv["low"]) / ohlcv["close"]
        """,
    )
    trained = ok_json(
        "ml", "train", "--model", "direction_logistic", "--features", "returns_5,range_to_close",
        "--timeframe", "15m", "--plugin", str(plugin), "--json",
    )  # fmt: skip
    (model,) = trained["models"]
    assert model["features"] == ["returns_5", "range_to_close"], model
    assert model["status"] != "failed", model
    shown = ok_json("ml", "show", "direction_logistic", "--json")
    assert shown["config"]["timeframe"] == "15m"
    # without the plugin the model's feature is unknown: loading refuses it by name; with it, it predicts
    REGISTRY.restore(before)
    refused = invoke("ml", "predict", "direction_logistic", "--inst", "BTC-USDT")
    assert refused.exit_code == 1 and "range_to_close" in flat(refused.stderr)
    again = write(tmp_path / "again" / "feat.py", plugin.read_text())  # a file not loaded before in this process
    predicted = ok_json("ml", "predict", "direction_logistic", "--inst", "BTC-USDT", "--plugin", str(again), "--json")
    assert predicted["timeframe"] == "15m" and predicted["bar_ts"] % 900_000 == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["ml", "train", "--model", "lstm"], "lstm"),
        (["ml", "train", "--features", "rsi_14,no_such_feature"], "no_such_feature"),
        (["ml", "train", "--features", "rsi_14,forward_return_12"], "forward_return_12"),
        (["ml", "train", "--timeframe", "7m"], "7m"),
        (["ml", "show", "nothing_here"], "nothing_here"),
        (["ml", "predict", "nothing_here", "--inst", "BTC-USDT"], "nothing_here"),
    ],
)
def test_bad_input_exits_2_naming_it(ml_store: Settings, args: list[str], named: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert named in flat(result.stderr)


def test_train_dry_run_stores_nothing(ml_store: Settings) -> None:
    result = invoke("ml", "train", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was stored" in flat(result.stderr)
    assert "direction_logistic" in result.stderr
    assert not ml_store.ml_models_path.exists()
    assert json.loads(invoke("ml", "list", "--json").stdout) == []
