"""What the paper trader and the drift check share: which strategies forward-test on which instruments, and
the one backtest of a forward period they both run.

**Parity by construction.** An account (strategy, instrument, timeframe) is always computed as *one*
backtest (:func:`~blofin_stack.backtest.engine.run_backtest`, the project's kernel and cost model) over the
window that starts at ``ft_started`` and ends at the last closed bar, with the same warm-up history as
the house backtests (``max_warmup + 1`` bars before the start, loaded by
:func:`~blofin_stack.market.bars.load_bars`). The indicators therefore always start from the same bar:
recursive ones (EMA, RSI, ATR) carry their history exactly, and the trades of a shorter period are the
trades of the longer one up to its end. Only the last trade differs: the kernel closes a position still
open after the last bar at its close (``end_of_data``); the forward test holds it open instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from blofin_stack.backtest.engine import BacktestResult, CostModel, run_backtest
from blofin_stack.backtest.metrics import Metrics, compute_metrics, entry_excursions
from blofin_stack.config import Settings, split_csv
from blofin_stack.db.registry import list_strategies
from blofin_stack.features import FeatureManager, max_warmup
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import bars_per_year
from blofin_stack.ml.deploy import activate_trading_models
from blofin_stack.strategies import Strategy, get_strategy
from blofin_stack.strategies.base import frame_with_features
from blofin_stack.strategies.ml_filter import ml_filtered
from blofin_stack.strategies.plugins import load_plugins, plugin_paths

#: The exit reason of the kernel's close after the last bar: in a forward test, the position is still open.
OPEN_EXIT = "end_of_data"
#: Registry types whose strategies already use the ML models: the ML confirmation does not wrap them again.
ML_TYPES = frozenset({"ml_entry", "ml_exit", "hybrid"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StrategyUnavailableError(RuntimeError):
    """A tier-2 strategy that cannot be forward-tested now (its model is missing, ML confirmation has no model)."""


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds (UTC) of a timezone-aware datetime, exact (no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ts_ms: int) -> datetime:
    """The timezone-aware UTC datetime of epoch ms ``ts_ms``, exact."""
    return _EPOCH + timedelta(milliseconds=int(ts_ms))


def forward_rows(connection: sa.Connection) -> list[dict[str, Any]]:
    """Registry rows of the strategies in forward test: tier 2, not archived, not blocked."""
    return [r for r in list_strategies(connection, tier=2) if not r["archived"] and not r["blocked_reason"]]


def paper_instruments(settings: Settings, store: MarketStore) -> list[str]:
    """``PAPER_INSTRUMENTS`` (comma-separated), or every instrument with stored candles when it is empty."""
    chosen = split_csv(settings.paper_instruments)
    return list(dict.fromkeys(chosen)) if chosen else store.instruments()


def load_strategies(settings: Settings) -> dict[str, str]:
    """Load the plugin and DSL strategies and activate the current trading models (as every process that
    runs strategies does); returns :func:`~blofin_stack.ml.deploy.activate_trading_models`' answer."""
    load_plugins(plugin_paths(settings.plugins_dir, (), settings.strategies_dir))
    return activate_trading_models(settings.ml_models_path)


@cache
def _confirmed(base: type[Strategy]) -> type[Strategy]:
    return ml_filtered(base)


def forward_strategy(name: str, ml_confirm: bool) -> Strategy:
    """The strategy instance the forward test of registry strategy ``name`` runs.

    With ``ml_confirm`` (``PAPER_ML_CONFIRM``) a rule strategy runs as its ML-filtered variant
    (``ml_filtered(cls)``, the same code as the backtests' ``<base>_ml``: entries need the active entry
    classifier, on that variant's timeframe); strategies of :data:`ML_TYPES` run as they are.

    Raises:
        UnknownStrategyError: no implementation of ``name`` is loaded.
        StrategyUnavailableError: it cannot run now (the message says why, e.g. no active model).
    """
    strategy = get_strategy(name)
    if ml_confirm and strategy.strategy_type not in ML_TYPES:
        strategy = _confirmed(type(strategy))()
    reason = strategy.unavailable_reason()
    if reason is not None:
        raise StrategyUnavailableError(reason)
    return strategy


@dataclass
class ForwardRun:
    """One account's backtest over its forward period, with its inputs.

    Attributes:
        bars: the ``timeframe`` bars loaded (warm-up included; house OHLCV layout).
        features: the strategy's feature columns on ``bars``.
        result: the backtest of the window (its last trade may be the kernel's ``end_of_data`` close).
    """

    strategy: Strategy
    params: dict[str, Any]
    bars: pd.DataFrame
    features: pd.DataFrame
    result: BacktestResult

    @cached_property
    def signals(self) -> pd.DataFrame:
        """The strategy's signal frame on every loaded bar (same index as :attr:`bars`)."""
        names = self.strategy.features_for(self.params)
        return self.strategy.signals(frame_with_features(self.bars, self.features[names]), self.params)

    @property
    def closed(self) -> pd.DataFrame:
        """The trades closed by the end of the window (every trade but a position still open)."""
        trades = self.result.trades
        return trades[trades["exit_reason"] != OPEN_EXIT]

    @property
    def open(self) -> pd.Series | None:
        """The position open after the last bar (the kernel's ``end_of_data`` trade), or ``None``."""
        trades = self.result.trades
        still = trades[trades["exit_reason"] == OPEN_EXIT]
        return still.iloc[-1] if len(still) else None


def run_forward(
    manager: FeatureManager,
    strategy: Strategy,
    params: Mapping[str, Any] | None,
    inst_id: str,
    timeframe: str,
    start_ms: int,
    end_ms: int,
    costs: CostModel,
    initial_capital: float,
) -> ForwardRun:
    """Backtest ``strategy`` on the stored ``timeframe`` bars of ``inst_id`` closed in ``[start_ms, end_ms)``
    (the first window bar is the first opening at or after ``start_ms``), warm-up loaded before it.

    Raises:
        UnknownInstrumentError, ParamError, SignalError, FeatureError; ValueError: no bar in the window.
    """
    resolved = strategy.resolve_params(params)
    names = strategy.features_for(resolved)
    bars = load_bars(
        manager.store,
        inst_id,
        timeframe,
        start_ms=start_ms,
        end_ms=end_ms,
        warmup_bars=max_warmup(names, timeframe) + 1,
    )
    features = manager.features_for_bars(bars, names, inst_id=inst_id, timeframe=timeframe)
    result = run_backtest(
        strategy,
        bars,
        inst_id=inst_id,
        timeframe=timeframe,
        params=resolved,
        costs=costs,
        start_ms=start_ms,
        features=features,
        initial_capital=initial_capital,
    )
    return ForwardRun(strategy, resolved, bars, features, result)


def forward_metrics(run: ForwardRun) -> Metrics:
    """:func:`~blofin_stack.backtest.metrics.compute_metrics` of the forward period: trade figures over the
    closed trades only (a position still open is not a trade yet), equity figures (total PnL %, Sharpe,
    Sortino, drawdown) over the equity curve marked to market at every close, the open position included.
    Units as in :mod:`blofin_stack.backtest.metrics`."""
    result, trades = run.result, run.result.trades
    ts = run.bars.index.to_numpy(dtype="int64")
    entry_idx = np.searchsorted(ts, trades["entry_ts"].to_numpy(dtype="int64"))
    first = len(ts) - len(result.equity)
    in_position = np.zeros(len(result.equity), dtype=bool)
    for entry, held in zip(entry_idx - first, trades["hold_bars"].to_numpy(), strict=True):
        in_position[entry : entry + held] = True
    closed = trades["exit_reason"].to_numpy() != OPEN_EXIT
    side = np.where(trades["side"].to_numpy() == "long", 1.0, -1.0)[closed]
    entry_price = trades["entry_price"].to_numpy(dtype="float64")[closed]
    exit_price = trades["exit_price"].to_numpy(dtype="float64")[closed]
    entry_mfe, entry_mae = entry_excursions(
        run.bars["high"].to_numpy(), run.bars["low"].to_numpy(), entry_idx[closed], side, entry_price
    )
    return compute_metrics(
        trades["pnl_pct"].to_numpy(dtype="float64")[closed] / 100.0,
        trades["hold_bars"].to_numpy()[closed],
        result.equity.to_numpy(dtype="float64") / result.initial_capital,
        in_position,
        bars_per_year(result.timeframe),
        (entry_mfe, entry_mae, trades["mfe_pct"].to_numpy(dtype="float64")[closed] / 100.0,
         side * (exit_price / entry_price - 1.0)),
    )  # fmt: skip
