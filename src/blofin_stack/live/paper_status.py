"""``blofin paper status``: the forward test of every tier-2 strategy at a glance, read from the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from blofin_stack.config import Settings
from blofin_stack.db.engine import get_engine
from blofin_stack.db.paper import list_accounts, list_paper_trades, list_signals
from blofin_stack.live.forward import (
    StrategyUnavailableError,
    forward_rows,
    forward_strategy,
    load_strategies,
    paper_instruments,
    to_ms,
)
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.strategies import UnknownStrategyError


def latency_figures(latencies_ms: Sequence[float]) -> dict[str, float | int | None]:
    """``{count, p50, p95, max}`` of latencies in ms (``None`` without any)."""
    if not len(latencies_ms):
        return {"count": 0, "p50": None, "p95": None, "max": None}
    values = np.asarray(latencies_ms, dtype="float64")
    return {
        "count": len(values),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }


def paper_status(settings: Settings) -> dict[str, Any]:
    """The forward test at a glance, for ``blofin paper status`` and the API.

    Returns:
        ``{"instruments", "ml_confirm": {enabled, entry_classifier}, "strategies": [...], "latency_ms"}``;
        per tier-2 strategy: ``name, state`` (``running <strategy run>`` or ``not running: <why>``),
        ``ft_started, ft_last_update, accounts, open_positions`` (``inst_id timeframe side entry_ts
        entry_price size``), ``closed_trades, win_rate`` (0..1), ``pnl_pct`` (``ft_pnl_pct``: median total
        PnL % over its accounts), ``equity`` and ``initial_capital`` (USDT, summed over its accounts),
        ``last_bar_ts, last_signal`` (``ts signal_type inst_id timeframe price timestamp``), ``errors``
        (account -> message) and ``latency_ms`` (figures over its accounts' last steps);
        ``latency_ms`` overall: ``{count, p50, p95, max}`` of recorded minus bar close time over the last
        1,000 signals.
    """
    store = MarketStore(settings.market_dir)
    engine = get_engine(settings.database_url)
    models = load_strategies(settings)
    out: list[dict[str, Any]] = []
    with engine.connect() as connection:
        for row in forward_rows(connection):
            name = row["strategy_name"]
            try:
                state = f"running {forward_strategy(name, settings.paper_ml_confirm).name}"
            except (UnknownStrategyError, StrategyUnavailableError) as exc:
                state = f"not running: {exc}"
            started = None if row["ft_started"] is None else to_ms(row["ft_started"])
            accounts = [a for a in list_accounts(connection, name) if a["started"] == started]
            trades = list_paper_trades(connection, name, since_ts=started) if started is not None else []
            last = list_signals(connection, name, since_ts=started, limit=1) if started is not None else []
            processed = [a for a in accounts if a["last_bar_ts"] is not None]
            out.append(
                {
                    "name": name,
                    "state": state,
                    "ft_started": row["ft_started"],
                    "ft_last_update": row["ft_last_update"],
                    "accounts": len(accounts),
                    "open_positions": [
                        {k: t[k] for k in ("inst_id", "timeframe", "side", "entry_ts", "entry_price", "size")}
                        for t in trades
                        if t["status"] == "open"
                    ],
                    "closed_trades": sum(t["status"] == "closed" for t in trades),
                    "win_rate": row["ft_win_rate"],
                    "pnl_pct": row["ft_pnl_pct"],
                    "sharpe": row["ft_sharpe"],
                    "equity": sum(a["equity"] for a in processed) if processed else None,
                    "initial_capital": sum(a["initial_capital"] for a in processed) if processed else None,
                    "last_bar_ts": max((a["last_bar_ts"] for a in processed), default=None),
                    "last_signal": (
                        {k: last[0][k] for k in ("ts", "signal_type", "inst_id", "timeframe", "price", "timestamp")}
                        if last
                        else None
                    ),
                    "errors": {f"{a['inst_id']} {a['timeframe']}": a["error"] for a in accounts if a["error"]},
                    "latency_ms": latency_figures([a["latency_ms"] for a in processed if a["latency_ms"] is not None]),
                }
            )
        recent = list_signals(connection, limit=1000)
    latencies = [to_ms(s["timestamp"]) - s["ts"] - timeframe_ms(s["timeframe"]) for s in recent]
    return {
        "instruments": paper_instruments(settings, store),
        "ml_confirm": {"enabled": settings.paper_ml_confirm, "entry_classifier": models["ml_entry_classifier"]},
        "strategies": out,
        "latency_ms": latency_figures(latencies),
    }
