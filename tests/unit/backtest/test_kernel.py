"""The simulation kernel on hand-built bars, and against a plain-Python reference on random input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blofin_stack.backtest.kernel import EXIT_REASONS, simulate


def bars(opens: list[float], spread: float = 1.0) -> dict[str, np.ndarray]:
    """Bars whose high/low are open +/- spread and whose close is the next open."""
    o = np.array(opens, dtype=float)
    c = np.append(o[1:], o[-1])
    return {"open_": o, "high": np.maximum(o, c) + spread, "low": np.minimum(o, c) - spread, "close": c}


def flags(n: int, *at: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(at)] = True
    return out


def run(b: dict[str, np.ndarray], el=(), xl=(), es=(), xs=(), **kw):  # type: ignore[no-untyped-def]
    n = len(b["open_"])
    kw.setdefault("fee", 0.0)
    return simulate(
        b["open_"], b["high"], b["low"], b["close"],
        flags(n, *el), flags(n, *xl), flags(n, *es), flags(n, *xs), **kw,
    )  # fmt: skip


def reasons(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [EXIT_REASONS[r] for r in result.exit_reason]


def test_signal_fills_at_next_bar_open() -> None:
    b = bars([100, 101, 102, 103, 104, 105, 106])
    r = run(b, el=[2], xl=[4])
    assert list(r.entry_idx) == [3] and list(r.exit_idx) == [5]
    assert r.entry_price[0] == 103 and r.exit_price[0] == 105
    assert reasons(r) == ["signal"] and r.hold_bars[0] == 2


def test_signal_on_last_bar_is_not_filled() -> None:
    r = run(bars([100, 101, 102]), el=[2])
    assert len(r.entry_idx) == 0


def test_warmup_signals_are_ignored() -> None:
    b = bars([100, 101, 102, 103, 104, 105])
    assert len(run(b, el=[1], start=3).entry_idx) == 0
    r = run(b, el=[3], start=3)
    assert list(r.entry_idx) == [4]
    assert len(r.equity) == 3  # bars 3, 4, 5


def test_stop_loss_and_take_profit_prices() -> None:
    b = bars([100, 100, 100, 100, 100], spread=0.5)
    b["low"][2] = 97.0  # stop at 98 touched within bar 2
    r = run(b, el=[0], stop_loss_pct=2.0)
    assert reasons(r) == ["stop_loss"] and r.exit_price[0] == pytest.approx(98.0)
    assert r.exit_idx[0] == 2 and r.hold_bars[0] == 2

    b = bars([100, 100, 100, 100, 100], spread=0.5)
    b["high"][3] = 104.0  # target at 103 touched within bar 3
    r = run(b, el=[0], take_profit_pct=3.0)
    assert reasons(r) == ["take_profit"] and r.exit_price[0] == pytest.approx(103.0)


def test_stop_first_when_both_are_touched_in_one_bar() -> None:
    b = bars([100, 100, 100, 100], spread=0.5)
    b["low"][2], b["high"][2] = 95.0, 105.0
    r = run(b, el=[0], stop_loss_pct=2.0, take_profit_pct=2.0)
    assert reasons(r) == ["stop_loss"] and r.exit_price[0] == pytest.approx(98.0)


def test_gap_through_stop_fills_at_open() -> None:
    b = bars([100, 100, 100, 90, 90], spread=0.5)  # bar 3 opens at 90, below the 98 stop
    b["low"][2], b["close"][2] = 99.0, 100.0  # bar 2 stays above the stop
    r = run(b, el=[0], stop_loss_pct=2.0)
    assert r.exit_idx[0] == 3 and r.exit_price[0] == 90.0  # gap: filled at bar 3's open, not at 98


def test_stop_can_hit_on_the_entry_bar() -> None:
    b = bars([100, 100, 100, 100], spread=0.5)
    b["low"][1] = 96.0
    r = run(b, el=[0], stop_loss_pct=3.0)
    assert r.entry_idx[0] == 1 and r.exit_idx[0] == 1 and r.hold_bars[0] == 1


def test_short_stop_and_target_mirror() -> None:
    b = bars([100, 100, 100, 100, 100], spread=0.5)
    b["high"][2] = 103.0
    r = run(b, es=[0], stop_loss_pct=2.0)
    assert r.side[0] == -1 and reasons(r) == ["stop_loss"] and r.exit_price[0] == pytest.approx(102.0)
    b = bars([100, 100, 100, 100, 100], spread=0.5)
    b["low"][3] = 95.0
    r = run(b, es=[0], take_profit_pct=4.0)
    assert reasons(r) == ["take_profit"] and r.exit_price[0] == pytest.approx(96.0)


def test_reversal_closes_and_opens_at_the_same_open() -> None:
    b = bars([100, 101, 102, 103, 104, 105])
    r = run(b, el=[0], es=[2], xl=[2])
    assert list(r.side) == [1, -1]
    assert r.exit_idx[0] == 3 and r.entry_idx[1] == 3
    assert r.exit_price[0] == r.entry_price[1] == 103
    assert reasons(r) == ["signal", "end_of_data"]


def test_conflicting_signals_do_not_enter() -> None:
    b = bars([100, 101, 102, 103])
    assert len(run(b, el=[0], es=[0]).entry_idx) == 0
    assert len(run(b, el=[0], xl=[0]).entry_idx) == 0
    assert len(run(b, es=[0], xs=[0]).entry_idx) == 0


def test_entry_while_in_position_is_ignored() -> None:
    b = bars([100, 101, 102, 103, 104, 105])
    r = run(b, el=[0, 1, 2], xl=[3])
    assert list(r.entry_idx) == [1] and list(r.exit_idx) == [4]


def test_max_hold_exits_at_the_open_after_n_bars() -> None:
    r = run(bars([100] * 8), el=[0], max_hold_bars=3)
    assert list(r.entry_idx) == [1] and list(r.exit_idx) == [4]
    assert reasons(r) == ["max_hold"] and r.hold_bars[0] == 3


def test_open_position_closed_at_last_close() -> None:
    b = bars([100, 101, 102, 103])
    b["close"][3] = 110.0
    r = run(b, el=[0])
    assert reasons(r) == ["end_of_data"] and r.exit_idx[0] == 3 and r.exit_price[0] == 110.0


def test_fees_slippage_and_equity_by_hand() -> None:
    b = bars([100, 100, 110, 120, 120])
    r = run(b, el=[0], xl=[2], fee=0.001, slippage=0.01)
    entry, exit_ = 100 * 1.01, 120 * 0.99  # adverse slippage on both fills
    assert r.entry_price[0] == pytest.approx(entry) and r.exit_price[0] == pytest.approx(exit_)
    net = exit_ / entry - 1 - 0.001 * (1 + exit_ / entry)
    assert r.equity[-1] == pytest.approx(1 + net)
    # bar 1 (entry bar) marked at its close 110 with the entry fee paid
    assert r.equity[1] == pytest.approx(1 + (110 / entry - 1) - 0.001)
    assert r.equity[0] == 1.0
    assert list(r.in_position) == [False, True, True, False, False]


def test_equity_compounds_over_trades() -> None:
    b = bars([100, 100, 110, 110, 121, 121])
    r = run(b, el=[0, 2], xl=[1, 3])
    # two trades of +10 % each with zero costs
    assert len(r.entry_idx) == 2
    assert r.equity[-1] == pytest.approx(1.21)


def test_mfe_mae_by_hand() -> None:
    o = np.array([100.0, 100, 100, 100, 100])
    h = np.array([101.0, 104, 103, 101, 101])
    low = np.array([99.0, 97, 98, 99, 99])
    c = o.copy()
    n = 5
    r = simulate(o, h, low, c, flags(n, 0), flags(n, 2), flags(n), flags(n), fee=0.0)
    # long from bar 1's open (100) to bar 3's open (100): highs 104, 103 / lows 97, 98 while open
    assert r.mfe[0] == pytest.approx(0.04) and r.mae[0] == pytest.approx(0.03)


def test_input_errors() -> None:
    b = bars([100, 101, 102])
    with pytest.raises(ValueError, match="same length"):
        simulate(b["open_"], b["high"][:2], b["low"], b["close"], *(flags(3),) * 4)
    with pytest.raises(ValueError, match="start"):
        simulate(b["open_"], b["high"], b["low"], b["close"], *(flags(3),) * 4, start=3)


# --------------------------------------------------------------------------------- reference
def reference(o, h, low, c, el, xl, es, xs, stop_pct, take_pct, max_hold, fee, slip, start):  # type: ignore[no-untyped-def]
    """The kernel's rules written plainly, bar by bar, from the module docstring."""
    trades = []
    equity = []
    cash = 1.0  # equity while flat
    pos = None  # dict(side, entry_i, price, equity_at_entry, stop, take)
    for i in range(start, len(o)):
        s = i - 1
        if s >= start:
            if pos is not None:
                side = pos["side"]
                by_signal = (xl[s] or es[s]) if side == 1 else (xs[s] or el[s])
                by_hold = max_hold > 0 and i - pos["entry_i"] >= max_hold
                if by_signal or by_hold:
                    fill = o[i] * (1 - side * slip)
                    ratio = fill / pos["price"]
                    cash = pos["eq"] * (1 + side * (ratio - 1) - fee * (1 + ratio))
                    trades.append((pos["entry_i"], i, side, pos["price"], fill, "signal" if by_signal else "max_hold"))
                    pos = None
            if pos is None:
                side = 0
                if el[s] and not es[s] and not xl[s]:
                    side = 1
                elif es[s] and not el[s] and not xs[s]:
                    side = -1
                if side:
                    price = o[i] * (1 + side * slip)
                    stop = price * (1 - side * stop_pct / 100) if stop_pct > 0 else None
                    take = price * (1 + side * take_pct / 100) if take_pct > 0 else None
                    pos = {"side": side, "entry_i": i, "price": price, "eq": cash, "stop": stop, "take": take}
        if pos is not None:
            side, stop, take = pos["side"], pos["stop"], pos["take"]
            hit = None
            if side == 1:
                if stop is not None and low[i] <= stop:
                    hit = ("stop_loss", min(o[i], stop))
                elif take is not None and h[i] >= take:
                    hit = ("take_profit", max(o[i], take))
            else:
                if stop is not None and h[i] >= stop:
                    hit = ("stop_loss", max(o[i], stop))
                elif take is not None and low[i] <= take:
                    hit = ("take_profit", min(o[i], take))
            if hit:
                fill = hit[1] * (1 - side * slip)
                ratio = fill / pos["price"]
                cash = pos["eq"] * (1 + side * (ratio - 1) - fee * (1 + ratio))
                trades.append((pos["entry_i"], i, side, pos["price"], fill, hit[0]))
                pos = None
        if pos is None:
            equity.append(cash)
        else:
            equity.append(pos["eq"] * (1 + pos["side"] * (c[i] / pos["price"] - 1) - fee))
    if pos is not None:
        side = pos["side"]
        fill = c[-1] * (1 - side * slip)
        ratio = fill / pos["price"]
        cash = pos["eq"] * (1 + side * (ratio - 1) - fee * (1 + ratio))
        trades.append((pos["entry_i"], len(o) - 1, side, pos["price"], fill, "end_of_data"))
        equity[-1] = cash
    return trades, equity


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(5, 60),
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.02, 0.5),
    stop=st.sampled_from([0.0, 0.5, 2.0]),
    take=st.sampled_from([0.0, 0.7, 3.0]),
    max_hold=st.sampled_from([0, 1, 3]),
    fee=st.sampled_from([0.0, 0.0006]),
    slip=st.sampled_from([0.0, 0.0002]),
    start_frac=st.floats(0, 0.5),
)
def test_kernel_matches_reference(n, seed, density, stop, take, max_hold, fee, slip, start_frac) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    o = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    c = o * np.exp(rng.normal(0, 0.01, n))
    h = np.maximum(o, c) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(o, c) * (1 - rng.uniform(0, 0.01, n))
    sig = [rng.random(n) < density for _ in range(4)]
    start = int(start_frac * (n - 1))
    r = simulate(o, h, low, c, *sig, stop_loss_pct=stop, take_profit_pct=take, max_hold_bars=max_hold,
                 fee=fee, slippage=slip, start=start)  # fmt: skip
    trades, equity = reference(o, h, low, c, *sig, stop, take, max_hold, fee, slip, start)
    got = list(zip(r.entry_idx, r.exit_idx, r.side, r.entry_price, r.exit_price, reasons(r), strict=True))
    assert len(got) == len(trades)
    for mine, ref in zip(got, trades, strict=True):
        assert mine[:3] == ref[:3] and mine[5] == ref[5]
        assert math.isclose(mine[3], ref[3], rel_tol=1e-12) and math.isclose(mine[4], ref[4], rel_tol=1e-12)
    np.testing.assert_allclose(r.equity, equity, rtol=1e-12)
