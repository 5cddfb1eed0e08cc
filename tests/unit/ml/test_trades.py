"""Trade datasets: one row per signal (entry) or per bar inside a trade (exit), checked by hand on small bars,
then on real backtest trades, and through the model store's load check (trade inputs are not features)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from blofin_stack.backtest.engine import run_backtest
from blofin_stack.features import REGISTRY, max_warmup
from blofin_stack.ml.base import TRADE_INPUTS
from blofin_stack.ml.labels import exit_timing
from blofin_stack.ml.models import get_spec
from blofin_stack.ml.store import ModelStoreError, load_model, save_model
from blofin_stack.ml.trades import entry_dataset, exit_dataset
from blofin_stack.strategies import get_strategy

STEP = 300_000  # 5m
T0 = 1_700_000_000_000 // STEP * STEP
N = 40


def bars(seed: int = 0, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": np.full(n, 10.0),
        },
        index=pd.Index(T0 + STEP * np.arange(n), name="ts", dtype="int64"),
    )


def hand_features(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``pos`` = bar position, ``px`` = close (NaN at bar 7): features whose values show which bar they are."""
    out = pd.DataFrame(index=frame.index)
    out["pos"] = np.arange(len(frame), dtype="float64")
    px = frame["close"].to_numpy().copy()
    px[7] = np.nan
    out["px"] = px
    return out[list(names)]


def trade(b: pd.DataFrame, entry: int, exit_: int, side: str, pnl_pct: float) -> dict[str, object]:
    return {
        "entry_ts": int(b.index[entry]),
        "exit_ts": int(b.index[exit_]),
        "side": side,
        "entry_price": float(b["open"].iloc[entry]),
        "exit_price": float(b["open"].iloc[exit_]),
        "pnl_pct": pnl_pct,
        "hold_bars": exit_ - entry,
        "mae_pct": 0.5,
    }


@pytest.fixture
def setup() -> tuple[dict[str, pd.DataFrame], dict[tuple[str, str], pd.DataFrame]]:
    a, b = bars(0), bars(1)
    trades = {
        ("s1", "AAA"): pd.DataFrame(
            [trade(a, 5, 9, "long", 0.4), trade(a, 12, 12, "short", -0.2), trade(a, 20, 23, "short", -0.1)]
        ),
        ("s2", "AAA"): pd.DataFrame([trade(a, 8, 11, "long", -0.3)]),  # signal bar 7: px is NaN there
        ("s1", "BBB"): pd.DataFrame([trade(b, 5, 7, "long", 1.0)]),
    }
    return {"AAA": a, "BBB": b}, trades


def test_entry_rows_are_signal_bars_with_the_trade_outcome(setup) -> None:  # type: ignore[no-untyped-def]
    bars_by_inst, trades = setup
    data = entry_dataset(bars_by_inst, trades, ["pos", "px"], "5m", compute=hand_features, warmup_bars=0)
    assert data.features == ["pos", "px", "trade_side"] and list(data.X.columns) == data.features
    # one row per trade at the bar before its entry fill, except s2's (NaN feature at its signal bar 7)
    rows = sorted(zip(data.inst.tolist(), data.X["pos"].astype(int).tolist(), strict=True))
    assert rows == [("AAA", 4), ("AAA", 11), ("AAA", 19), ("BBB", 4)]
    assert (np.diff(data.t) >= 0).all()  # sorted by time
    assert data.t.tolist() == [T0 + 4 * STEP, T0 + 4 * STEP, T0 + 11 * STEP, T0 + 19 * STEP]
    by_pos = {(i, int(p)): k for k, (i, p) in enumerate(zip(data.inst, data.X["pos"], strict=True))}
    k = by_pos[("AAA", 4)]
    assert data.y.iloc[k] == 1.0 and data.X["trade_side"].iloc[k] == 1.0
    assert data.t_end[k] == T0 + 9 * STEP + STEP  # close of the exit bar
    assert data.X["px"].iloc[k] == bars_by_inst["AAA"]["close"].iloc[4]
    k = by_pos[("AAA", 11)]
    assert data.y.iloc[k] == 0.0 and data.X["trade_side"].iloc[k] == -1.0
    assert data.label.name == "trade_profitable" and data.label.task == "classification"
    assert data.label.horizon == 5  # the longest span: signal bar 4 to exit bar 9 (known at its close)
    with pytest.raises(ValueError, match="pooled"):
        data.label.func(bars_by_inst["AAA"])

    returns = entry_dataset(bars_by_inst, trades, ["pos"], "5m", "return", compute=hand_features, warmup_bars=0)
    assert returns.label.name == "trade_return" and returns.label.task == "regression"
    assert len(returns) == 5  # px no longer used: s2's trade is kept
    assert sorted(returns.y.tolist()) == sorted([0.4, -0.2, -0.1, -0.3, 1.0])


def test_entry_rows_respect_warmup_and_start(setup) -> None:  # type: ignore[no-untyped-def]
    bars_by_inst, trades = setup
    late = entry_dataset(bars_by_inst, trades, ["pos"], "5m", compute=hand_features, warmup_bars=10)
    assert sorted(late.X["pos"].astype(int).tolist()) == [11, 19]
    start = entry_dataset(
        bars_by_inst, trades, ["pos"], "5m", compute=hand_features, warmup_bars=0, start_ms=T0 + 12 * STEP
    )
    assert start.X["pos"].astype(int).tolist() == [19]


def test_exit_rows_are_every_bar_inside_a_trade(setup) -> None:  # type: ignore[no-untyped-def]
    bars_by_inst, trades = setup
    data = exit_dataset(bars_by_inst, trades, ["pos", "px"], "5m", compute=hand_features, warmup_bars=0)
    assert data.features == ["pos", "px", *TRADE_INPUTS]
    got = sorted(
        (i, int(p), int(h)) for i, p, h in zip(data.inst.tolist(), data.X["pos"], data.X["bars_held"], strict=True)
    )
    # AAA s1: bars 5..8 (exit at 9) but px is NaN at bar 7, none for the trade entered and left in bar 12, bars
    # 20..22; s2: bars 8..10; BBB: bars 5, 6 (bar 7 is the exit bar)
    expected = [("AAA", p, p - 5 + 1) for p in (5, 6, 8)] + [("AAA", p, p - 8 + 1) for p in range(8, 11)]
    expected += [("AAA", p, p - 20 + 1) for p in range(20, 23)] + [("BBB", 5, 1), ("BBB", 6, 2)]
    assert got == sorted(expected)
    a = bars_by_inst["AAA"]
    label = exit_timing(trades[("s1", "AAA")], a).to_numpy()
    for k in np.flatnonzero((data.inst == "AAA") & (data.X["trade_side"].to_numpy() == -1.0)):
        pos = int(data.X["pos"].iloc[k])
        entry_price = a["open"].iloc[20]
        assert data.X["open_return"].iloc[k] == pytest.approx(-(a["close"].iloc[pos] / entry_price - 1))
        assert data.y.iloc[k] == label[pos]
        assert data.t_end[k] == T0 + 24 * STEP  # close of exit bar 23
    assert data.label.name == "exit_timing" and data.label.task == "classification"


def test_trade_inputs_and_label_names_are_refused_as_features(setup) -> None:  # type: ignore[no-untyped-def]
    bars_by_inst, trades = setup
    with pytest.raises(ValueError, match="trade inputs are added"):
        entry_dataset(bars_by_inst, trades, ["pos", "trade_side"], "5m", compute=hand_features, warmup_bars=0)
    with pytest.raises(ValueError, match="label"):
        exit_dataset(bars_by_inst, trades, ["pos", "forward_return_12"], "5m", compute=hand_features, warmup_bars=0)
    with pytest.raises(ValueError, match="no backtest trades"):
        entry_dataset(bars_by_inst, {}, ["pos"], "5m", compute=hand_features, warmup_bars=0)
    with pytest.raises(ValueError, match="target"):
        entry_dataset(bars_by_inst, trades, ["pos"], "5m", "hold", compute=hand_features, warmup_bars=0)  # type: ignore[arg-type]


def test_real_backtest_trades_and_the_store_accepts_trade_inputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frames = {"AAA": bars(3, 3000), "BBB": bars(4, 3000)}
    features = ["returns", "rsi_14", "atr_pct_14"]
    trades = {}
    for inst, frame in frames.items():
        result = run_backtest(get_strategy("sma_cross"), frame, inst_id=inst, timeframe="5m")
        trades[("sma_cross", inst)] = result.trades
    n_trades = sum(len(t) for t in trades.values())
    assert n_trades > 20
    entries = entry_dataset(frames, trades, features, "5m")
    exits = exit_dataset(frames, trades, features, "5m")
    # every trade whose signal bar is past the features' declared warm-up is a sample; every bar inside one too
    warmup = max_warmup(features, "5m")
    assert len(entries) == sum(int((t["entry_ts"] > frames[i].index[warmup]).sum()) for (_, i), t in trades.items())
    entry_pos = {k: frames[k[1]].index.get_indexer(t["entry_ts"]) for k, t in trades.items()}
    exit_pos = {k: frames[k[1]].index.get_indexer(t["exit_ts"]) for k, t in trades.items()}
    inside = sum(int(np.maximum(exit_pos[k] - np.maximum(entry_pos[k], warmup), 0).sum()) for k in trades)
    assert len(exits) == inside
    assert set(np.unique(exits.X["trade_side"])) <= {-1.0, 1.0} and (exits.X["bars_held"] >= 1).all()

    spec = get_spec("ml_exit_timing", features=exits.features)
    estimator = spec.make({**spec.hyperparams, "n_estimators": 5}).fit(exits.X.to_numpy(), exits.y.to_numpy())
    path = save_model(tmp_path, spec, estimator, config={"features": exits.features})
    registered = set(REGISTRY.names())
    with pytest.raises(ModelStoreError, match="bars_held"):
        load_model(path, registered)  # the trade inputs are not features ...
    loaded, config, _ = load_model(path, registered | set(TRADE_INPUTS))  # ... the caller adds them
    assert config["features"][-3:] == list(TRADE_INPUTS)
    np.testing.assert_allclose(loaded.predict_proba(exits.X.to_numpy()), estimator.predict_proba(exits.X.to_numpy()))
