"""Ensembles: member positions follow the kernel's rules, votes and weights open and close exactly when
they should, both ensembles trade on real data without look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blofin_stack.audit.lookahead import audit_strategy
from blofin_stack.backtest.engine import run_backtest
from blofin_stack.backtest.kernel import EXIT_REASONS, simulate
from blofin_stack.features import compute_features
from blofin_stack.market.candles import resample_ohlcv
from blofin_stack.strategies import get_strategy
from blofin_stack.strategies.base import SIGNAL_COLUMNS, ParamError, frame_with_features
from blofin_stack.strategies.ensemble import EnsembleVote, EnsembleWeighted, score_weights, signal_states

MEMBERS = ("ema_crossover", "macd_crossover", "momentum", "breakout")


def frame(n: int, **marks: list[int]) -> pd.DataFrame:
    """A signal frame of ``n`` bars with the given columns True on the listed bars."""
    data = {c: np.zeros(n, dtype=bool) for c in SIGNAL_COLUMNS}
    for column, bars in marks.items():
        data[column][bars] = True
    return pd.DataFrame(data, index=pd.RangeIndex(n) * 60_000)


def kernel_held(signals: pd.DataFrame) -> np.ndarray:
    """The side the backtest kernel holds *during* each bar, from its trades (no stops, no max hold)."""
    n = len(signals)
    price = np.linspace(100.0, 101.0, n)
    result = simulate(price, price, price, price, *(signals[c].to_numpy() for c in SIGNAL_COLUMNS), fee=0.0)
    held = np.zeros(n, dtype=np.int8)
    for entry, exit_, side, reason in zip(
        result.entry_idx, result.exit_idx, result.side, result.exit_reason, strict=True
    ):
        assert EXIT_REASONS[reason] in ("signal", "end_of_data")
        # a signal exit fills at the exit bar's open (not held during it); end of data closes at its close
        end = exit_ + 1 if EXIT_REASONS[reason] == "end_of_data" else exit_
        assert (held[entry:end] == 0).all(), "trades overlap"
        held[entry:end] = side
    return held


def assert_matches_kernel(signals: pd.DataFrame) -> np.ndarray:
    states = signal_states(signals)
    held = kernel_held(signals)
    assert held[0] == 0  # nothing is held before the first signal can act
    np.testing.assert_array_equal(held[1:], states[:-1])
    return states


# ---------------------------------------------------------------------------------------------- signal_states
@pytest.mark.parametrize(
    ("marks", "expected"),
    [
        # long entry at 2, exit at 5: long after bars 2..4
        ({"entry_long": [2], "exit_long": [5]}, [0, 0, 1, 1, 1, 0, 0, 0]),
        # short entry at 1, exit at 3, a second entry at 6 held to the end
        ({"entry_short": [1, 6], "exit_short": [3]}, [0, -1, -1, 0, 0, 0, -1, -1]),
        # reversal: long at 1, an opposite entry at 4 closes and opens short at once
        ({"entry_long": [1], "entry_short": [4]}, [0, 1, 1, 1, -1, -1, -1, -1]),
        # and back: short at 4 reversed to long at 6
        ({"entry_long": [1, 6], "entry_short": [4]}, [0, 1, 1, 1, -1, -1, 1, 1]),
        # repeated entries while long change nothing
        ({"entry_long": [1, 2, 3], "exit_long": [5]}, [0, 1, 1, 1, 1, 0, 0, 0]),
        # conflicting entries while flat are ignored
        ({"entry_long": [2], "entry_short": [2]}, [0] * 8),
        # an entry with its own exit on the same bar is ignored while flat
        ({"entry_long": [2], "exit_long": [2]}, [0] * 8),
        # while long, entry and exit on one bar: the exit closes, the entry does not reopen
        ({"entry_long": [1, 3], "exit_long": [3]}, [0, 1, 1, 0, 0, 0, 0, 0]),
        # while long, short entry and short exit on one bar: closes the long, opens nothing
        ({"entry_long": [1], "entry_short": [3], "exit_short": [3]}, [0, 1, 1, 0, 0, 0, 0, 0]),
        # while long, both entries on one bar: the short entry closes, the conflict opens nothing
        ({"entry_long": [1, 3], "entry_short": [3]}, [0, 1, 1, 0, 0, 0, 0, 0]),
        # exits while flat do nothing
        ({"exit_long": [0, 1], "exit_short": [2]}, [0] * 8),
    ],
)
def test_signal_states_by_hand(marks: dict[str, list[int]], expected: list[int]) -> None:
    signals = frame(8, **marks)
    states = assert_matches_kernel(signals)
    assert states.dtype == np.int8
    assert states.tolist() == expected


def test_signal_states_match_the_kernel_on_random_signals() -> None:
    rng = np.random.default_rng(7)
    for density in (0.02, 0.1, 0.3, 0.6):
        for _ in range(20):
            n = 300
            marks = {c: list(np.flatnonzero(rng.random(n) < density)) for c in SIGNAL_COLUMNS}
            states = assert_matches_kernel(frame(n, **marks))
            assert set(np.unique(states)) <= {-1, 0, 1}


# -------------------------------------------------------------------------------------------------- vote
#: Hand-made member positions (rows: ema_crossover, macd_crossover, momentum, breakout; columns: bars).
STATES = np.array(
    [
        # 0  1  2  3  4   5   6  7  8  9
        [0, 1, 1, 1, 1, -1, -1, 0, 1, 1],
        [0, 0, 1, 1, 1, -1, -1, 0, 1, 0],
        [0, 0, 0, 1, 1, -1, 0, 0, -1, 0],
        [0, 0, 0, 0, 1, 1, -1, 0, -1, 0],
    ],
    dtype=np.int8,
)
N = STATES.shape[1]
# longs per bar: 0 1 2 3 4 1 0 0 2 1; shorts: 0 0 0 0 0 3 3 0 2 0 (bar 8 is a tie)


def features(n: int = N, atr: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame({"atr_pct_14": np.full(n, atr)}, index=pd.RangeIndex(n) * 300_000)


def bars_of(column: pd.Series) -> list[int]:
    return np.flatnonzero(column.to_numpy()).tolist()


@pytest.fixture
def hand_states(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (EnsembleVote, EnsembleWeighted):
        monkeypatch.setattr(cls, "member_states", lambda self, f: STATES[:, : len(f)])


@pytest.mark.parametrize(
    ("k", "long_bars", "short_bars"),
    [
        (1, [1, 2, 3, 4, 9], [5, 6]),
        (2, [2, 3, 4], [5, 6]),
        (3, [3, 4], [5, 6]),
        (4, [4], []),
    ],
)
@pytest.mark.usefixtures("hand_states")
def test_vote_enters_when_k_agree_and_exits_when_the_vote_breaks(
    k: int, long_bars: list[int], short_bars: list[int]
) -> None:
    strategy = EnsembleVote()
    signals = strategy.signals(features(), strategy.resolve_params({"k": k}))
    # entries on the first bar of each run of agreement, exits on every bar without it
    runs = [b for b in long_bars if b - 1 not in long_bars]
    assert bars_of(signals["entry_long"]) == runs
    assert bars_of(signals["exit_long"]) == [b for b in range(N) if b not in long_bars]
    assert bars_of(signals["entry_short"]) == [b for b in short_bars if b - 1 not in short_bars]
    assert bars_of(signals["exit_short"]) == [b for b in range(N) if b not in short_bars]
    # the ensemble holds exactly while the vote holds (bar 5: one long against three shorts -> short)
    expected = np.zeros(N, dtype=np.int8)
    expected[long_bars] = 1
    expected[short_bars] = -1
    np.testing.assert_array_equal(signal_states(signals), expected)
    # the ATR stop rides along on every bar: 2.5 (default stop_atr) x 0.5 %
    np.testing.assert_allclose(signals["stop_loss_pct"], 1.25)
    assert signals["take_profit_pct"].isna().all()  # take_atr 0 = no target


@pytest.mark.usefixtures("hand_states")
def test_vote_k_outside_its_range_is_refused() -> None:
    for k in (0, 5):
        with pytest.raises(ParamError):
            EnsembleVote().resolve_params({"k": k})


# ---------------------------------------------------------------------------------------------- weighted
@pytest.mark.parametrize(
    ("params", "long_bars", "short_bars"),
    [
        # equal weights: mean position per bar 0 .25 .5 .75 1 -.5 -.75 0 0 .25
        ({}, [2, 3, 4], [5, 6]),
        ({"threshold": 0.75}, [3, 4], [6]),
        ({"threshold": 1.0}, [4], []),
        ({"threshold": 0.25}, [1, 2, 3, 4, 9], [5, 6]),
        # ema_crossover dominates: the ensemble follows it (bar 8 included despite the tie of votes)
        ({"w_ema_crossover": 1e6}, [1, 2, 3, 4, 8, 9], [5, 6]),
        # only momentum and breakout count: mean of the two
        ({"w_ema_crossover": 0.0, "w_macd_crossover": 0.0}, [3, 4], [6, 8]),
        # weight 3 on breakout: bar 5 = (-1 -1 -1 + 3) / 6 = 0 -> flat; bar 4 = 1
        ({"w_breakout": 3.0}, [3, 4], [6]),
        # no weight at all: never in the market
        ({f"w_{m}": 0.0 for m in MEMBERS}, [], []),
    ],
)
@pytest.mark.usefixtures("hand_states")
def test_weighted_threshold_and_weights(params: dict[str, float], long_bars: list[int], short_bars: list[int]) -> None:
    strategy = EnsembleWeighted()
    signals = strategy.signals(features(), strategy.resolve_params(params))
    expected = np.zeros(N, dtype=np.int8)
    expected[long_bars] = 1
    expected[short_bars] = -1
    np.testing.assert_array_equal(signal_states(signals), expected)
    assert bars_of(signals["entry_long"]) == [b for b in long_bars if b - 1 not in long_bars]
    assert bars_of(signals["entry_short"]) == [b for b in short_bars if b - 1 not in short_bars]


def test_score_weights_by_hand() -> None:
    scores = {"ema_crossover": 10.0, "macd_crossover": 5.0, "momentum": 0.0, "breakout": 2.5}
    weights = score_weights(scores, MEMBERS)
    # best 1, worst 0.1, linear: 5 -> 0.1 + 0.9 * 0.5, 2.5 -> 0.1 + 0.9 * 0.25
    assert weights == pytest.approx(
        {"w_ema_crossover": 1.0, "w_macd_crossover": 0.55, "w_momentum": 0.1, "w_breakout": 0.325}
    )
    negative = score_weights({"ema_crossover": -4, "macd_crossover": -2, "momentum": 0, "breakout": 4}, MEMBERS)
    assert negative == pytest.approx(
        {"w_ema_crossover": 0.1, "w_macd_crossover": 0.325, "w_momentum": 0.55, "w_breakout": 1.0}
    )
    # a member without a score gets the lowest weight
    missing = score_weights({"ema_crossover": 3.0, "macd_crossover": 1.0}, MEMBERS)
    assert missing == pytest.approx(
        {"w_ema_crossover": 1.0, "w_macd_crossover": 0.1, "w_momentum": 0.1, "w_breakout": 0.1}
    )
    # equal, single or no scores: every member weighs 1
    for flat in ({m: 7.0 for m in MEMBERS}, {"momentum": 2.0}, {}):
        assert score_weights(flat, MEMBERS) == {f"w_{m}": 1.0 for m in MEMBERS}
    # other strategies' scores do not matter
    assert score_weights({**scores, "sma_cross": 1e9, "reversal": -1e9}, MEMBERS) == weights


# ------------------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def btc_5m(btc_1m: pd.DataFrame) -> pd.DataFrame:
    return resample_ohlcv(btc_1m, "5m")


def test_member_states_are_the_members_own_positions(btc_5m: pd.DataFrame) -> None:
    bars = btc_5m.iloc[-1500:]
    ensemble = EnsembleVote()
    feats = frame_with_features(bars, compute_features(bars, ensemble.features_for(ensemble.resolve_params())))
    states = ensemble.member_states(feats)
    assert states.shape == (len(MEMBERS), len(bars))
    for row, name in zip(states, MEMBERS, strict=True):
        member = get_strategy(name)
        signals = member.signals(feats, member.resolve_params())
        np.testing.assert_array_equal(row, signal_states(signals))
        assert (row != 0).any(), f"{name} never holds a position on this slice"


@pytest.mark.parametrize("name", ["ensemble_vote", "ensemble_weighted"])
def test_ensembles_trade_on_real_btc_5m(name: str, btc_5m: pd.DataFrame) -> None:
    strategy = get_strategy(name)
    result = run_backtest(strategy, btc_5m, inst_id="BTC-USDT", timeframe="5m")
    trades = result.metrics["trades"]
    assert trades >= 20, f"{name}: {trades} trades over 30 days of BTC 5m"
    # both directions and exits by the vote itself, not only by stops and holding limits
    assert set(result.trades["side"]) == {"long", "short"}
    assert (result.trades["exit_reason"] == "signal").sum() > 0


@pytest.mark.parametrize("name", ["ensemble_vote", "ensemble_weighted"])
def test_ensembles_pass_the_lookahead_audit(name: str, btc_5m: pd.DataFrame) -> None:
    finding = audit_strategy(btc_5m, get_strategy(name))
    assert finding.ok, finding.detail


def test_ensemble_k_changes_how_often_it_trades(btc_5m: pd.DataFrame) -> None:
    """More required votes, fewer bars in the market (k=1 holds whenever any member does)."""
    bars = btc_5m.iloc[-3000:]
    ensemble = EnsembleVote()
    feats = frame_with_features(bars, compute_features(bars, ensemble.features_for(ensemble.resolve_params())))
    exposure = [
        np.count_nonzero(signal_states(ensemble.signals(feats, ensemble.resolve_params({"k": k}))))
        for k in (1, 2, 3, 4)
    ]
    assert exposure == sorted(exposure, reverse=True) and exposure[0] > exposure[-1], exposure
    members = ensemble.member_states(feats)
    assert exposure[0] <= np.count_nonzero((members != 0).any(axis=0))
