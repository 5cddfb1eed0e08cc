"""The ML cycle end to end on a small real-data store (issue 5, "Done when"), and a planted leak.

Four instruments, their last 5 days of real 1m candles (5m bars for the models), 1.5-day training
windows, half-day test windows, a 2-hour embargo, two workers (the parallel path). The first cycle runs on
all but the last day through the daily runner (strategy, ml, report); the second, after the last day has
arrived, checks the drift of the models the first made active. Then a plugin feature that is the label's
own future return is planted: the model that uses it must come out ``suspect`` with the reason and never
be active. Expected values come from the issue, the settings and what the tests write, not from a run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from blofin_stack.config import Settings, get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.tables import ml_ensembles, ml_model_results, ml_retrain_log
from blofin_stack.market.store import MarketStore
from blofin_stack.ml.base import TRADE_INPUTS
from blofin_stack.ml.dataset import SCALE_FREE_FEATURES
from blofin_stack.ml.ensembles import list_ensembles
from blofin_stack.ml.store import list_models
from blofin_stack.pipeline.daily import run_pipeline
from blofin_stack.pipeline.ml_cycle import persist_ml_cycle, run_ml_cycle
from blofin_stack.pipeline.reporter import ml_messages
from helpers import last_bars, write

INSTRUMENTS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT")
SLICE_BARS = 5 * 1440
LAST_DAY = 1440
MODELS = ("direction_logistic", "direction_predictor", "ml_entry_classifier", "ml_exit_timing", "volatility_regressor")
ENV = {
    "PIPELINE_WORKERS": "2",
    "BACKTEST_LOOKBACK_DAYS": "2",
    "ML_LOOKBACK_DAYS": "3.5",
    "ML_TRAIN_DAYS": "1.5",
    "ML_TEST_DAYS": "0.5",
    "ML_EMBARGO_HOURS": "2",
    "ML_KEEP_MODELS": "2",
    "ML_KEEP_ENSEMBLES": "2",
}
HOUR_MS = 3_600_000

#: The leak: the label's own defining series (the 12-bar forward return) as a plugin feature.
LEAK = "peek_return_12"
LEAK_PLUGIN = f"""
from blofin_stack.features import feature


@feature("{LEAK}", group="custom", description="LEAK on purpose: close 12 bars ahead / close - 1")
def peek(ohlcv):
    close = ohlcv["close"]
    return close.shift(-12) / close - 1
"""

pytestmark = pytest.mark.usefixtures("isolated_plugins")


@pytest.fixture(scope="module")
def candles(real_data_dir: Path) -> dict[str, pd.DataFrame]:
    return last_bars(real_data_dir, INSTRUMENTS, SLICE_BARS)


@pytest.fixture
def ml_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    from blofin_stack.pipeline import ml_cycle

    monkeypatch.setattr(ml_cycle, "DEFAULT_MODELS", MODELS)
    get_settings.cache_clear()
    return get_settings()


def rows_of(settings: Settings, table: sa.Table) -> list[dict[str, object]]:
    with get_engine(settings.database_url).connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(table).order_by(table.c.id))]


def test_cycle_stores_models_statuses_ensembles_report_and_then_checks_drift(
    ml_settings: Settings, candles: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MarketStore(ml_settings.market_dir)
    for inst, frame in candles.items():
        store.write_candles(inst, frame.iloc[:-LAST_DAY])
    run = run_pipeline(ml_settings, "all")
    cycle = run.ml
    assert cycle is not None and cycle.persisted and run.report is not None
    assert cycle.instruments == list(INSTRUMENTS)
    assert [m.name for m in cycle.trained] == list(MODELS)
    assert all(m.result is not None for m in cycle.trained), [m.error for m in cycle.trained]
    # the alignment canary ran once per label, timed
    assert set(cycle.canaries) == {"direction_12", "trade_profitable", "exit_timing", "forward_volatility_12"}
    assert all(c["seconds"] < 30 for c in cycle.canaries.values())

    # model store: one folder per model, config and metadata of the issue
    root = ml_settings.ml_models_path
    stored = {row["id"]: row for row in list_models(root)}
    assert sorted(row["name"] for row in stored.values()) == sorted(MODELS)
    for run_ in cycle.trained:
        config = json.loads((root / run_.model_id / "config.json").read_text())
        metadata = json.loads((root / run_.model_id / "metadata.json").read_text())
        inputs = {"ml_entry_classifier": ("trade_side",), "ml_exit_timing": TRADE_INPUTS}.get(run_.name, ())
        assert config["features"] == [*SCALE_FREE_FEATURES, *inputs]
        assert config["timeframe"] == "5m" and config["label_name"] == run_.label
        training = metadata["training"]
        assert training["instruments"] == list(INSTRUMENTS) and training["data_points"] == run_.result.samples
        for fold in training["folds"]:
            assert fold["embargo_hours"] == 2.0
            assert fold["test_start"] - fold["train_end"] == 2 * HOUR_MS
        assert training["train_window"]["end"] <= cycle.window.end
        assert metadata["cycle_id"] == cycle.cycle_id
        assert {c["name"] for c in metadata["canaries"]} == {"permutation", "too_good", "alignment"}
        assert metadata["performance"]["skill"] == pytest.approx(run_.result.skill)
        assert metadata["status"] == run_.status == stored[run_.model_id]["status"]

    # statuses: the top ML_KEEP_MODELS by skill among the non-suspect models are active, and the models the
    # strategies trade on (entry classifier, exit model) stay active below the top; the rest archived
    statuses = {row["id"]: row["status"] for row in stored.values()}
    ranked = sorted((m for m in cycle.trained if m.status != "suspect"), key=lambda m: -(m.result.skill or -1e9))
    trading = {m.model_id for m in ranked if m.name in ("ml_entry_classifier", "ml_exit_timing")}
    assert {m.model_id for m in ranked[:2]} | trading == {k for k, s in statuses.items() if s == "active"}
    assert all(statuses[m.model_id] == "archived" for m in ranked[2:] if m.model_id not in trading)
    assert all(statuses[m.model_id] == "suspect" for m in cycle.trained if m.result.status == "suspect")

    # into trading: the ML cycle ran first; the strategy cycle then traded on the active entry and exit models,
    # whose predictions start after their training (plus the embargo), inside the strategy window
    by_name = {m.name: m for m in cycle.trained}
    served = run.cycle.trading_models
    for model, strategies in (
        ("ml_entry_classifier", ["ml_gbt_5m", "ema_crossover_ml"]),
        ("ml_exit_timing", ["macd_crossover_mlexit"]),
    ):
        assert served[model] == by_name[model].model_id and by_name[model].status == "active"
        assert all(s in run.cycle.strategies for s in strategies)
        metadata = json.loads((root / by_name[model].model_id / "metadata.json").read_text())
        available_from = metadata["training"]["available_from"]
        assert metadata["training"]["train_window"]["end"] + 2 * HOUR_MS <= available_from
        assert run.cycle.window.start <= available_from < run.cycle.window.end
        rows = [r for r in run.cycle.rows if r["strategy_name"] in strategies]
        assert rows and all(r.get("status", "ok") == "ok" for r in rows)
        # each wrapped strategy beside its base from the model's first out-of-sample bar: the entry filter
        # opens nothing before it; the exit wrapper's trades entered before it are the base's
        for row in rows:
            if row["strategy_name"] == "ml_gbt_5m":
                continue
            comparison = row["ml_comparison"]
            assert comparison["since"] == available_from and comparison["base"] == row["strategy_name"].split("_ml")[0]
            base = next(
                r
                for r in run.cycle.rows
                if (r["strategy_name"], r["inst_id"], r["timeframe"])
                == (comparison["base"], row["inst_id"], row["timeframe"])
            )
            before = row["trades"] - comparison["strategy"]["trades"]
            assert before == (
                0 if row["strategy_name"].endswith("_ml") else base["trades"] - comparison["base_figures"]["trades"]
            )
        compared = [f for f in run.report["performance"]["ml_filters"] if f["strategy"] in strategies]
        assert compared and all(f["instruments"] == len(INSTRUMENTS) and f["since"] == available_from for f in compared)

    # database: one row per model with the out-of-sample picture, statuses as in the store
    results = rows_of(ml_settings, ml_model_results)
    assert len(results) == len(MODELS)
    for row in results:
        model_id = Path(str(row["model_path"])).name
        assert row["status"] == statuses[model_id] and row["cycle_id"] == cycle.cycle_id
        metric = "accuracy" if row["target"] != "forward_volatility_12" else "mae"
        assert row[metric] == pytest.approx(row["oos"][metric]) and row["baseline"][metric] is not None
        assert len(row["folds"]) == stored[model_id]["performance"]["folds"]

    # ensembles over the two direction models: files, rows, the top ML_KEEP_ENSEMBLES active
    ensembles = list_ensembles(root)
    assert sorted(e["method"] for e in ensembles) == ["stacking", "vote", "weighted"]
    assert all(
        sorted(m["name"] for m in e["members"]) == ["direction_logistic", "direction_predictor"] for e in ensembles
    )
    assert all((root / "ensembles" / f"{e['ensemble_id']}_results.json").is_file() for e in ensembles)
    assert sum(e["status"] == "active" for e in ensembles) == 2
    db_ensembles = {r["ensemble_name"]: r["status"] for r in rows_of(ml_settings, ml_ensembles)}
    assert db_ensembles == {e["ensemble_id"]: e["status"] for e in ensembles}

    # the report: every model beside its baseline, the ensembles, the active models
    report = run.report
    ml = report["ml_changes"]
    assert ml["ran_in_this_invocation"] and [m["name"] for m in ml["trained"]] == list(MODELS)
    assert all(m["oos"] is not None and m["baseline"] is not None for m in ml["trained"])
    assert len(ml["ensembles_tested"]) == 3 and ml["retrained"] == []
    assert {m["model_id"] for m in report["performance"]["top_5_models"]} == {
        k for k, s in statuses.items() if s == "active"
    }
    markdown = run.report_paths[1].read_text()
    assert "## Models (out of sample, walk-forward)" in markdown and "| ema_crossover_ml | ema_crossover |" in markdown

    # --- a day later: the active models are checked for drift before anything is trained
    for inst, frame in candles.items():
        store.write_candles(inst, frame.iloc[-LAST_DAY:])
    active = {k for k, s in statuses.items() if s == "active"}
    for model_id in active:  # pretend they validated far better than anything can do on fresh data
        path = root / model_id / "metadata.json"
        metadata = json.loads(path.read_text())
        oos = metadata["performance"]["mean"]["oos"]
        if "accuracy" in oos:
            oos["accuracy"] = 0.99
        else:
            oos["mae"] = 1e-12
        path.write_text(json.dumps(metadata))
    second = run_pipeline(ml_settings, "ml").ml
    assert second is not None
    assert {d.model_id for d in second.drift} == active
    for check in second.drift:
        assert check.fresh is not None and check.drop_pct > ml_settings.ml_drift_drop_pct
        window = check.details["fresh_window"]
        trained_until = json.loads((root / check.model_id / "metadata.json").read_text())["training"]["train_window"]
        assert window["n"] >= 50 and window["start"] >= trained_until["end"]  # nothing it learnt from
        assert check.decision in ("replaced", "kept") and check.retrain is not None
        assert check.retrain.retrain_of == check.model_id
    logs = rows_of(ml_settings, ml_retrain_log)
    assert {(Path(str(r["model_path"])).name, r["decision"]) for r in logs} == {
        (d.model_id, d.decision) for d in second.drift
    }
    assert all(r["validated"] in (0.99, 1e-12) and r["drop_pct"] > 10 for r in logs)
    # performance history: the drift evaluations are rows too
    history = [r for r in rows_of(ml_settings, ml_model_results) if isinstance(r["folds"], dict)]
    assert {Path(str(r["model_path"])).name for r in history} == active
    after = {row["id"]: row for row in list_models(root)}
    for check in second.drift:
        if check.decision == "replaced":
            assert after[check.model_id]["status"] == "archived"
            assert after[check.retrain.model_id]["name"] == check.model_name
        else:
            assert check.retrain.model_id is None  # a retrain that is not better is not kept
    pinned = {"ml_entry_classifier", "ml_exit_timing"}  # at most one active version per name
    assert sum(row["status"] == "active" for row in after.values() if row["name"] not in pinned) <= 2
    assert all(sum(r["status"] == "active" for r in after.values() if r["name"] == n) <= 1 for n in pinned)


def test_a_planted_leak_is_suspect_with_the_reason_and_never_active(
    ml_settings: Settings, candles: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    store = MarketStore(ml_settings.market_dir)
    for inst, frame in candles.items():
        store.write_candles(inst, frame)
    plugin = write(tmp_path / "leak.py", LEAK_PLUGIN)
    cycle = run_ml_cycle(
        ml_settings,
        models=["direction_logistic"],
        features=[*SCALE_FREE_FEATURES[:6], LEAK],
        plugins=[plugin],
    )
    (leaky,) = cycle.trained
    result = leaky.result
    assert result is not None and LEAK in result.features
    assert result.summary["mean"]["oos"]["accuracy"] > 0.9  # the leak works ...
    assert result.status == "suspect"  # ... and is caught
    verdicts = {c.name: c for c in result.canaries}
    assert set(verdicts) == {"permutation", "too_good", "alignment"}
    assert not verdicts["too_good"].passed and "too good to be true" in verdicts["too_good"].detail
    assert not verdicts["alignment"].passed and f"feature {LEAK}" in verdicts["alignment"].detail
    # the label permutation ran (whether a random mapping of the leak happens to predict the test rows is luck)
    assert "lift over chance" in verdicts["permutation"].detail

    persist_ml_cycle(get_engine(ml_settings.database_url), ml_settings, cycle)
    (row,) = list_models(ml_settings.ml_models_path)
    assert row["status"] == "suspect" and leaky.status == "suspect"
    metadata = json.loads((Path(row["path"]) / "metadata.json").read_text())
    assert "too good to be true" in metadata["status_reason"] and LEAK in metadata["status_reason"]
    (db_row,) = rows_of(ml_settings, ml_model_results)
    assert db_row["status"] == "suspect" and any("too good" in r for r in db_row["reasons"])
    assert cycle.top_models == []  # never active, even as the only model

    # a later cycle does not activate it either, and the report names the reason
    again = run_ml_cycle(ml_settings, models=["direction_logistic"], features=list(SCALE_FREE_FEATURES[:6]))
    persist_ml_cycle(get_engine(ml_settings.database_url), ml_settings, again)
    statuses = {r["id"]: r["status"] for r in list_models(ml_settings.ml_models_path)}
    assert statuses[row["id"]] == "suspect"
    changes = cycle.ml_changes()
    assert changes["trained"][0]["status"] == "suspect" and changes["top_5_models"] == []
    line = next(m for m in ml_messages(changes) if "direction_logistic" in m)
    assert "suspect" in line and "too good to be true" in line
