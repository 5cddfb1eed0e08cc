"""The paper trader on real data (3 days of 1m candles, 2 instruments, 4 built-in strategies at tier 2): its
trades equal one backtest of the same period (``backtest_from_store``, the house backtest) whatever the
stepping, across restarts; signals, accounts and the registry's forward metrics follow from them."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from websockets.sync.server import ServerConnection, serve

from blofin_stack.backtest.engine import CostModel
from blofin_stack.config import Settings, get_settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import list_accounts, list_paper_trades, list_signals
from blofin_stack.db.registry import get_strategy_row
from blofin_stack.db.tables import paper_accounts
from blofin_stack.features import FeatureManager, compute_features, max_warmup
from blofin_stack.lifecycle.gates import gates_from_settings
from blofin_stack.lifecycle.registry import promote
from blofin_stack.live.forward import forward_metrics, from_ms, run_forward, to_ms
from blofin_stack.live.paper import LEFT_TIER, PaperTrader
from blofin_stack.live.paper_status import paper_status
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import DAY_MS, HOUR_MS, MINUTE_MS, timeframe_ms
from blofin_stack.pipeline.backtests import Window, backtest_from_store
from blofin_stack.strategies import Strategy, get_strategy, register_strategy
from blofin_stack.strategies.base import SIGNAL_COLUMNS, frame_with_features, signal_frame
from paper_world import INSTRUMENTS, STRATEGIES, fill_store, recent_candles, to_tier2

COMPARED = ["entry_ts", "exit_ts", "side", "entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees", "exit_reason"]


@pytest.fixture
def world(settings: Settings, real_data_dir: Path) -> tuple[int, int, int]:
    """3 days stored; the strategies enter tier 2 two days in, 7 minutes into an hour (inside a bar of every
    timeframe, so the first bar of each is the next one). Returns (first bar, ft_started, data end) in ms."""
    first, end = fill_store(settings, recent_candles(real_data_dir))
    start = (first + 2 * DAY_MS) // HOUR_MS * HOUR_MS + 7 * MINUTE_MS
    to_tier2(settings, STRATEGIES, start)
    return first, start, end


def keys() -> Iterator[tuple[str, str, str]]:
    for name in STRATEGIES:
        for inst in INSTRUMENTS:
            for tf in get_strategy(name).timeframes:
                yield name, inst, tf


def stored_trades(settings: Settings) -> list[dict[str, Any]]:
    with get_engine(settings.database_url).connect() as connection:
        return list_paper_trades(connection)


def content(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows]


def assert_parity(settings: Settings, start: int, end: int) -> None:
    """Closed paper trades equal the backtest's closed trades; open ones its end-of-data trade's entry."""
    manager = FeatureManager(MarketStore(settings.market_dir))
    costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
    rows = pd.DataFrame(stored_trades(settings))
    for name, inst, tf in keys():
        result = backtest_from_store(
            manager,
            get_strategy(name),
            inst,
            tf,
            Window(start, end),
            costs=costs,
            initial_capital=settings.backtest_initial_capital,
        )
        expected = result.trades
        mine = rows[(rows["strategy_name"] == name) & (rows["inst_id"] == inst) & (rows["timeframe"] == tf)]
        closed = mine[mine["status"] == "closed"][COMPARED].reset_index(drop=True)
        want = expected[expected["exit_reason"] != "end_of_data"][COMPARED].reset_index(drop=True)
        pd.testing.assert_frame_equal(closed, want, check_exact=True, check_dtype=False, obj=f"{name} {inst} {tf}")
        still = expected[expected["exit_reason"] == "end_of_data"]
        opened = mine[mine["status"] == "open"]
        assert list(opened["entry_ts"]) == list(still["entry_ts"])
        assert list(opened["side"]) == list(still["side"])
        assert list(opened["entry_price"]) == list(still["entry_price"])
        assert list(opened["size"]) == list(still["size"])


def test_paper_trades_equal_one_backtest_in_big_steps_bar_by_bar_and_across_restarts(
    settings: Settings, world: tuple[int, int, int]
) -> None:
    _, start, end = world
    bar_by_bar = end - 90 * MINUTE_MS
    times = [*range(start + 4 * HOUR_MS, bar_by_bar, 4 * HOUR_MS), *range(bar_by_bar, end + 1, MINUTE_MS)]
    restart_at = times[-45]
    trader = PaperTrader(settings)
    reports = []
    for now in times:
        reports.append(trader.step(now))
        if now != restart_at:
            continue
        before = stored_trades(settings)
        assert any(r["status"] == "open" for r in before)  # a position is open across the restart
        trader = PaperTrader(settings)  # a new process
        assert trader.step(now).accounts == []  # the same step again: nothing new
        with get_engine(settings.database_url).begin() as connection:  # even with the accounts lost, the
            connection.execute(sa.delete(paper_accounts))  # bars give the same trades again
        again = trader.step(now)
        assert len(again.accounts) == len(list(keys()))
        assert [a.opened for a in again.accounts] == [[] for _ in again.accounts]
        assert [a.closed for a in again.accounts] == [[] for _ in again.accounts]
        assert content(stored_trades(settings)) == content(before)
    assert_parity(settings, start, end)
    rows = stored_trades(settings)
    assert not [r for r in rows if r["status"] == "cancelled"]
    assert len({(r["strategy_name"], r["inst_id"], r["timeframe"], r["entry_ts"]) for r in rows}) == len(rows)
    closed = Counter(r["strategy_name"] for r in rows if r["status"] == "closed")
    assert set(closed) == set(STRATEGIES) and sum(closed.values()) >= 30
    # each trade was reported opened once and closed once over all the steps
    assert sum(len(a.opened) for r in reports for a in r.accounts) == len(rows)
    assert sum(len(a.closed) for r in reports for a in r.accounts) == sum(closed.values())
    assert all(r.errors == [] and r.skipped == {} for r in reports)


def test_signals_are_recorded_at_their_bar_with_its_close(settings: Settings, world: tuple[int, int, int]) -> None:
    _, start, end = world
    mid = (end - 6 * HOUR_MS) // HOUR_MS * HOUR_MS  # on the hour: the last step closes five 1m bars, one 5m bar
    trader = PaperTrader(settings)
    trader.step(mid)
    last = trader.step(mid + 5 * MINUTE_MS)
    store = MarketStore(settings.market_dir)
    with get_engine(settings.database_url).connect() as connection:
        stored = list_signals(connection)
    expected_total = 0
    for name, inst, tf in keys():
        strategy = get_strategy(name)
        params = strategy.resolve_params()
        names = strategy.features_for(params)
        warmup = max_warmup(names, tf) + 1
        bars = load_bars(store, inst, tf, start_ms=start, end_ms=mid + 5 * MINUTE_MS, warmup_bars=warmup)
        frame = strategy.signals(frame_with_features(bars, compute_features(bars, names)), params)
        window = frame[frame.index >= start]
        expected = {
            (int(ts), column): float(bars.loc[ts, "close"])
            for column in SIGNAL_COLUMNS
            for ts in window.index[window[column].to_numpy()]
        }
        actual = {
            (s["ts"], s["signal_type"]): s["price"]
            for s in stored
            if (s["strategy_name"], s["inst_id"], s["timeframe"]) == (name, inst, tf)
        }
        assert actual == expected, (name, inst, tf)
        expected_total += len(expected)
    assert expected_total > 50
    assert all(to_ms(s["timestamp"]) >= s["ts"] + timeframe_ms(s["timeframe"]) for s in stored)
    reported = {
        (a.strategy, a.inst_id, a.timeframe, s["ts"], s["signal_type"]) for a in last.accounts for s in a.signals
    }
    closed_last = {
        (s["strategy_name"], s["inst_id"], s["timeframe"], s["ts"], s["signal_type"])
        for s in stored
        if s["ts"] + timeframe_ms(s["timeframe"]) > mid
    }
    assert reported == closed_last
    assert {(a.timeframe, a.bars) for a in last.accounts} == {("1m", 5), ("5m", 1)}
    assert all(0 <= a.latency_ms < 10_000 for a in last.accounts)  # the step's own processing time


def test_forward_metrics_pool_the_paper_trades(settings: Settings, world: tuple[int, int, int]) -> None:
    _, start, end = world
    PaperTrader(settings).step(end)
    trades = stored_trades(settings)
    with get_engine(settings.database_url).connect() as connection:
        for name in STRATEGIES:
            row = get_strategy_row(connection, name)
            assert row is not None
            closed = [t for t in trades if t["strategy_name"] == name and t["status"] == "closed"]
            assert row["ft_trades"] == len(closed) > 0
            assert row["ft_win_rate"] == pytest.approx(sum(t["pnl_pct"] > 0 for t in closed) / len(closed))
            assert row["ft_started"] == from_ms(start)
            assert to_ms(row["ft_last_update"]) >= end
            accounts = list_accounts(connection, name)
            assert len(accounts) == len(INSTRUMENTS) * len(get_strategy(name).timeframes)
            growth = [(a["equity"] / a["initial_capital"] - 1) * 100 for a in accounts]
            assert row["ft_pnl_pct"] == pytest.approx(float(np.median(growth)))
            for a in accounts:  # a flat account's equity is its closed trades compounded
                if a["position"] is None:
                    own = [
                        t["pnl_pct"] for t in closed if (t["inst_id"], t["timeframe"]) == (a["inst_id"], a["timeframe"])
                    ]
                    assert a["equity"] == pytest.approx(a["initial_capital"] * np.prod(1 + np.array(own) / 100))


def test_forward_metrics_are_the_backtest_metrics_but_for_the_open_position(
    settings: Settings, world: tuple[int, int, int]
) -> None:
    _, start, end = world
    manager = FeatureManager(MarketStore(settings.market_dir))
    seen: Counter[str] = Counter()
    for name, inst, tf in keys():
        run = run_forward(manager, get_strategy(name), None, inst, tf, start, end, CostModel(), 10_000.0)
        mine, theirs = forward_metrics(run), run.result.metrics
        if run.open is None:
            assert mine == pytest.approx(theirs, rel=1e-12)
            seen["flat"] += 1
        else:
            assert mine["trades"] == theirs["trades"] - 1
            for equity_figure in ("total_pnl_pct", "sharpe", "max_drawdown_pct", "exposure_pct"):
                assert mine[equity_figure] == pytest.approx(theirs[equity_figure], rel=1e-12)
            seen["open"] += 1
    assert seen["flat"] and seen["open"]


def test_leaving_tier_2_cancels_positions_and_a_new_promotion_restarts_the_forward_test(
    settings: Settings, world: tuple[int, int, int]
) -> None:
    _, _, end = world
    trader = PaperTrader(settings)
    trader.step(end - 2 * HOUR_MS)
    open_rows = [r for r in stored_trades(settings) if r["status"] == "open"]
    name = open_rows[0]["strategy_name"]
    engine = get_engine(settings.database_url)
    with engine.begin() as connection:
        promote(connection, name, gates_from_settings(settings), loads=True, to=1)
    trader.step(end - 2 * HOUR_MS + MINUTE_MS)
    after = {r["id"]: r for r in stored_trades(settings)}
    for trade in open_rows:
        assert after[trade["id"]]["status"] == ("cancelled" if trade["strategy_name"] == name else "open")
        assert after[trade["id"]]["exit_reason"] == (LEFT_TIER if trade["strategy_name"] == name else None)
    restart = end - HOUR_MS
    with engine.begin() as connection:
        promote(connection, name, gates_from_settings(settings), loads=True, to=2, force=True, now=from_ms(restart))
    trader.step(end)
    with engine.connect() as connection:
        row = get_strategy_row(connection, name)
        accounts = list_accounts(connection, name)
        newer = list_paper_trades(connection, name, since_ts=restart)
    assert row is not None and row["ft_started"] == from_ms(restart)
    for a in accounts:  # an account with a closed bar in the new forward test starts there
        step = timeframe_ms(a["timeframe"])
        assert a["started"] == restart or -(-restart // step) * step + step > end
    assert any(a["started"] == restart for a in accounts)
    assert row["ft_trades"] == sum(t["status"] == "closed" for t in newer)


class Fragile(Strategy):
    """Fails on bars priced above 10,000 USDT (BTC), trades the others on candle colour."""

    name = "fragile_paper"
    description = "test strategy"
    timeframes = ("5m",)

    def generate_signals(self, features: pd.DataFrame, params: Any) -> pd.DataFrame:
        if features["close"].iloc[-1] > 10_000:
            raise RuntimeError("cannot trade this price")
        up = (features["close"] > features["open"]).to_numpy()
        return signal_frame(features.index, entry_long=up, exit_long=~up)


@pytest.mark.usefixtures("isolated_plugins")
def test_a_failing_strategy_is_counted_and_the_rest_go_on(settings: Settings, world: tuple[int, int, int]) -> None:
    _, start, end = world
    register_strategy(Fragile)
    to_tier2(settings, [Fragile.name], start)
    trader = PaperTrader(settings)
    report = trader.step(end - HOUR_MS)
    assert [(e["strategy"], e["inst_id"], e["timeframe"]) for e in report.errors] == [(Fragile.name, "BTC-USDT", "5m")]
    assert "RuntimeError: cannot trade this price" in report.errors[0]["error"]
    done = {(a.strategy, a.inst_id) for a in report.accounts}
    assert (Fragile.name, "ETH-USDT") in done and {(n, i) for n in STRATEGIES for i in INSTRUMENTS} <= done
    assert trader.step(end - HOUR_MS).errors == []  # a failed bar is not retried on every poll
    assert len(trader.step(end - HOUR_MS + 5 * MINUTE_MS).errors) == 1  # but with the next bar
    status = {s["name"]: s for s in paper_status(settings)["strategies"]}
    assert list(status[Fragile.name]["errors"]) == ["BTC-USDT 5m"]
    assert status["sma_cross"]["errors"] == {}


def test_ml_confirmation_without_a_model_skips_and_says_so(
    settings: Settings, world: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, end = world
    monkeypatch.setenv("PAPER_ML_CONFIRM", "true")
    get_settings.cache_clear()
    confirming = get_settings()
    report = PaperTrader(confirming).step(end)
    assert set(report.skipped) == set(STRATEGIES)
    assert all("entry classifier" in why for why in report.skipped.values())
    assert report.accounts == [] and stored_trades(confirming) == []
    status = paper_status(confirming)
    assert status["ml_confirm"]["enabled"] is True
    assert status["ml_confirm"]["entry_classifier"].startswith("no active version")
    assert all(s["state"].startswith("not running: ") for s in status["strategies"])


def test_run_polls_the_store_until_its_duration(
    settings: Settings, world: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPER_POLL_SECONDS", "0.05")
    get_settings.cache_clear()
    summary = PaperTrader(get_settings()).run(duration_s=1.5)
    assert summary.steps >= 2
    assert summary.opened == len(stored_trades(settings)) > 0
    assert summary.last_step is not None and summary.last_step.accounts == []  # later polls: no new bar
    assert summary.as_dict()["latency_ms"]["count"] == len(list(keys()))


def _candle(ts: int, close: float, confirm: str) -> str:
    row = [str(ts), str(close), str(close + 5), str(close - 5), str(close + 1), "100", "0.1", "9500", confirm]
    return json.dumps({"arg": {"channel": "candle1m", "instId": "BTC-USDT"}, "data": [row]})


def test_run_with_a_websocket_stores_confirmed_candles_and_steps(
    settings: Settings, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, end = fill_store(settings, {"BTC-USDT": recent_candles(real_data_dir)["BTC-USDT"].iloc[-60:]})
    monkeypatch.setenv("PAPER_INSTRUMENTS", "BTC-USDT")
    get_settings.cache_clear()
    received: list[str] = []

    def handler(connection: ServerConnection) -> None:
        received.append(str(connection.recv()))
        connection.send(_candle(end, 95_000.0, "0"))  # still forming: never stored
        connection.send(_candle(end, 95_010.0, "1"))
        connection.send("{not json")
        connection.recv()  # hold the connection until the client closes it

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        summary = PaperTrader(get_settings()).run(duration_s=1.5, ws_url=url)
        server.shutdown()
    assert json.loads(received[0]) == {"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}
    stored = MarketStore(settings.market_dir).read_candles("BTC-USDT", end)
    assert list(stored.index) == [end] and stored.iloc[0]["close"] == 95_011.0
    assert summary.candles_written == 1 and summary.malformed == 1 and summary.steps >= 2
