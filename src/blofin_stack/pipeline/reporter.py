"""The daily report: seed 001's JSON shape plus every backtest and the ranking, and a Markdown summary.

``ml_changes`` holds the ML cycle's models (name, type, target, feature count, status, skill, OOS
accuracy or MAE beside its baseline, reasons), its ensembles and its drift decisions (``retrained``);
``performance.top_5_models`` the active models; ``performance.ml_filters`` compares each ML-wrapped
strategy with its plain base over the same out-of-sample period (:func:`ml_filter_comparison`). When the
ML cycle did not run in this invocation, its ``status`` says so and the lists come from the newest
recorded ML cycle (or are empty). Parts whose capability is not built yet (the designer) are
present with empty lists and a ``status`` that says so: nothing is invented. ``ai_next_steps`` is written
by plain rules from the numbers (no language model), and says so.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from blofin_stack.backtest.metrics import METRIC_NAMES
from blofin_stack.db.tables import utcnow
from blofin_stack.lifecycle.ranker import REPLACE
from blofin_stack.market.timeframes import timeframe_ms
from blofin_stack.pipeline.strategy_cycle import StrategyCycle
from blofin_stack.serialize import iso, to_json

ML_NOT_RUN = "the ML cycle did not run in this invocation and none was given to the report"
LIVE_NOT_RUN = "forward tests were not compared with their backtests in this invocation (a dry run)"

#: Fields copied into the report's ``backtests`` list (units: ``blofin_stack.backtest.metrics``).
REPORT_METRICS = ("bars", *METRIC_NAMES)


def _backtest_entry(row: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "strategy": row["strategy_name"],
        "inst_id": row["inst_id"],
        "timeframe": row["timeframe"],
        "status": row.get("status", "ok"),
    }
    if entry["status"] == "error":
        entry["error"] = row.get("error")
    else:
        entry["metrics"] = {name: row.get(name) for name in REPORT_METRICS}
    return entry


def _timeframe_summary(cycle: StrategyCycle) -> list[dict[str, Any]]:
    """Median score and total trades per strategy x timeframe."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in cycle.rows:
        if row.get("status") != "error":
            cells[(row["strategy_name"], row["timeframe"])].append(row)
    return [
        {
            "strategy": name,
            "timeframe": tf,
            "median_score": float(np.median([r["score"] for r in rows])),
            "trades": int(sum(r["trades"] for r in rows)),
            "instruments_with_trades": sum(1 for r in rows if r["trades"] > 0),
            "median_total_pnl_pct": float(np.median([r["total_pnl_pct"] for r in rows])),
        }
        for (name, tf), rows in sorted(cells.items(), key=lambda kv: (kv[0][0], timeframe_ms(kv[0][1])))
    ]


def _pooled(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Trades, trade-weighted win rate and medians of total PnL % and Sharpe over several backtests."""
    trades = sum(f["trades"] for f in figures)
    return {
        "trades": trades,
        "win_rate": sum(f["win_rate"] * f["trades"] for f in figures) / trades if trades else None,
        "median_total_pnl_pct": float(np.median([f["total_pnl_pct"] for f in figures])),
        "median_sharpe": float(np.median([f["sharpe"] for f in figures])),
    }


def ml_filter_comparison(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each ML-wrapped strategy beside its plain base, per timeframe, over the instruments of ``rows``.

    Uses the rows' ``ml_comparison`` (:func:`~blofin_stack.pipeline.backtests.ml_comparison`): both run on
    the same bars, measured from the same ``since`` (the first bar its models are out of sample) to the
    window's end, costs included. ``beats_base``: instruments where the wrapped strategy's total PnL % is
    higher. Empty when no wrapped strategy ran in this invocation (rows loaded from the database carry
    no comparison).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("ml_comparison"):
            groups[(row["strategy_name"], row["timeframe"])].append(row["ml_comparison"])
    out = []
    for (name, tf), comparisons in sorted(groups.items()):
        since = min(c["since"] for c in comparisons)
        out.append(
            {
                "strategy": name,
                "base": comparisons[0]["base"],
                "timeframe": tf,
                "since": since,
                "since_iso": iso(since),
                "instruments": len(comparisons),
                "with_ml": _pooled([c["strategy"] for c in comparisons]),
                "plain": _pooled([c["base_figures"] for c in comparisons]),
                "beats_base": sum(
                    c["strategy"]["total_pnl_pct"] > c["base_figures"]["total_pnl_pct"] for c in comparisons
                ),
            }
        )
    return out


def _next_steps(cycle: StrategyCycle) -> str:
    """Rule-based recommendations from the cycle's numbers."""
    steps = []
    ok = [r for r in cycle.rows if r.get("status") != "error"]
    losing = sum(1 for r in ok if r["total_pnl_pct"] < 0)
    if ok:
        steps.append(f"{losing} of {len(ok)} backtests lost money after fees and slippage.")
    candidates = [e.strategy_name for e in cycle.ranking if e.status == REPLACE]
    if candidates:
        steps.append(f"Tune or replace the bottom of the ranking: {', '.join(candidates)}.")
    idle = [e.strategy_name for e in cycle.ranking if e.with_trades < e.backtests / 2]
    if idle:
        steps.append(f"Rarely trading (fewer than half of the backtests have a trade): {', '.join(idle)}.")
    fee_bound = [
        e.strategy_name
        for e in cycle.ranking
        if e.trades and abs(e.avg_pnl_pct) < 2 * cycle.costs.fee_bps / 100 and e.avg_pnl_pct < 0
    ]
    if fee_bound:
        steps.append(
            "Average trade smaller than the round-trip fee; prefer longer timeframes or wider targets for: "
            + ", ".join(fee_bound)
            + "."
        )
    if cycle.errors:
        steps.append(f"{len(cycle.errors)} backtests failed; see the errors in 'backtests'.")
    if cycle.ranking:
        top = cycle.ranking[0]
        steps.append(
            f"Best: {top.strategy_name} (median score {top.score:.1f}; best on "
            f"{top.best['inst_id']} {top.best['timeframe']}). Forward-test it before trusting it."
        )
    steps.append("(Generated by rules from this report's numbers, not by a language model.)")
    return " ".join(steps)


def _ml_section(ml: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(``ml_changes``, ``top_5_models``) from the ML part given to :func:`build_report`."""
    if ml is None:
        ml = {"status": ML_NOT_RUN, "ran_in_this_invocation": False}
    changes = {
        "trained": list(ml.get("trained", [])),
        "ensembles_tested": list(ml.get("ensembles_tested", [])),
        "retrained": list(ml.get("retrained", [])),
        "status": ml["status"],
        "cycle_id": ml.get("cycle_id"),
        "ran_in_this_invocation": bool(ml.get("ran_in_this_invocation")),
    }
    return changes, list(ml.get("top_5_models", []))[:5]


def ml_messages(ml: Mapping[str, Any], seconds: float | None = None) -> list[str]:
    """Console lines of an ML part: its status, one line per model (OOS beside the baseline) and ensemble."""
    lines = [str(ml["status"]) + (f" in {seconds:.1f} s" if seconds is not None else "")]
    for m in ml.get("trained", []):
        reasons = f" ({'; '.join(m['reasons'])})" if m.get("reasons") else ""
        model_id = m.get("model_id") or "not stored"
        lines.append(
            f"  {m['name']} ({model_id}) {m['target']}: {m['metric']} {_fmt(m.get('oos'), 4)} vs "
            f"baseline {_fmt(m.get('baseline'), 4)}, skill {_fmt(m.get('skill'))}, {m['status']}{reasons}"
        )
    for e in ml.get("ensembles_tested", []):
        lines.append(
            f"  ensemble {e['name']} ({e.get('ensemble_id') or 'not stored'}): accuracy {_fmt(e.get('accuracy'), 4)}, "
            f"skill {_fmt(e.get('skill'))}, {e.get('status')}"
        )
    for d in ml.get("retrained", []):
        lines.append(f"  drift {d.get('model') or d.get('model_name')}: {d['decision']}: {d['reason']}")
    return lines


def build_report(
    cycle: StrategyCycle,
    mode: str,
    generated_at: datetime | None = None,
    ml: Mapping[str, Any] | None = None,
    live: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The daily report of ``cycle`` as a JSON-ready dict (``mode`` is the pipeline mode that ran).

    ``ml``: the ML part (:meth:`~blofin_stack.pipeline.ml_cycle.MlCycle.ml_changes` of this run's ML cycle,
    or :func:`~blofin_stack.pipeline.ml_cycle.recorded_ml_changes`); ``None``: the report says that no
    ML cycle was given. ``live``: ``performance.backtest_vs_live``
    (:meth:`~blofin_stack.live.drift.DriftReport.backtest_vs_live`); ``None``: not compared.
    """
    generated_at = generated_at or utcnow()
    ranking = [entry.as_dict() for entry in cycle.ranking]
    ml_changes, top_models = _ml_section(ml)
    return {
        "report_date": f"{generated_at:%Y-%m-%d}",
        "generated_at": f"{generated_at:%Y-%m-%dT%H:%M:%SZ}",
        "cycle": mode,
        "cycle_id": cycle.cycle_id,
        "data_window": {
            "start": cycle.window.start,
            "end": cycle.window.end,
            "start_iso": iso(cycle.window.start),
            "end_iso": iso(cycle.window.end),
            "days": round(cycle.window.days, 3),
            "instruments": cycle.instruments,
            "timeframes": cycle.timeframes,
        },
        "costs": {"fee_bps": cycle.costs.fee_bps, "slippage_bps": cycle.costs.slippage_bps},
        "strategy_changes": {
            "designed": [],
            "tuned": cycle.tuned,
            "archived": _changes(cycle, "archive"),
            "promoted": _changes(cycle, "promote"),
            "demoted": _changes(cycle, "demote"),
            "registered": _changes(cycle, "register"),
            "restored": _changes(cycle, "restore"),
            "not_run": [{"name": name, "reason": why} for name, why in cycle.skipped.items()],
            "replacement_candidates": [
                {"name": e.strategy_name, "rank": e.rank, "score": e.score}
                for e in cycle.ranking
                if e.status == REPLACE
            ],
        },
        "ml_changes": ml_changes,
        "performance": {
            "top_5_strategies": ranking[:5],
            "top_5_models": top_models,
            "backtest_vs_live": dict(live)
            if live is not None
            else {"drift_detected": None, "avg_accuracy": None, "status": LIVE_NOT_RUN, "strategies": []},
            "by_timeframe": _timeframe_summary(cycle),
            "ml_filters": ml_filter_comparison(cycle.rows),
            "trading_models": dict(cycle.trading_models),
        },
        "ai_next_steps": _next_steps(cycle),
        "rankings": ranking,
        "backtests": [_backtest_entry(row) for row in cycle.rows],
        "summary": {
            "backtests": len(cycle.rows),
            "errors": len(cycle.errors),
            "plugin_errors": cycle.plugin_errors,
            "strategies": len(cycle.strategies),
            "seconds": cycle.seconds,
        },
    }


def _changes(cycle: StrategyCycle, action: str) -> list[dict[str, Any]]:
    """The cycle's registry transitions of one kind, as report entries."""
    return [
        {"name": t.strategy_name, "from_tier": t.from_tier, "to_tier": t.to_tier, "actor": t.actor, "reason": t.reason}
        for t in cycle.transitions
        if t.action == action
    ]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_markdown(report: dict[str, Any]) -> str:
    """A human summary of ``report`` (Markdown)."""
    window = report["data_window"]
    lines = [
        f"# Daily report {report['report_date']}",
        "",
        f"Cycle `{report['cycle_id']}` ({report['cycle']}): {report['summary']['backtests']} backtests, "
        f"{len(report['rankings'])} strategies x {len(window['instruments'])} instruments x "
        f"{', '.join(window['timeframes'])}.",
        f"Window {window['start_iso']} .. {window['end_iso']} ({window['days']:g} days); "
        f"costs {report['costs']['fee_bps']:g} bps fee + {report['costs']['slippage_bps']:g} bps slippage per fill.",
        "",
        "## Ranking (median composite score over all backtests)",
        "",
        "| rank | strategy | score | trades | win rate | avg PnL % | median Sharpe | median total PnL % | status |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in report["rankings"]:
        lines.append(
            f"| {e['rank']} | {e['strategy_name']} | {_fmt(e['score'], 1)} | {e['trades']} | "
            f"{_fmt(e['win_rate'] * 100, 1)} % | {_fmt(e['avg_pnl_pct'], 3)} | {_fmt(e['median_sharpe'])} | "
            f"{_fmt(e['median_total_pnl_pct'])} | {e['status']} |"
        )
    lines += [
        "",
        "## By timeframe",
        "",
        "| strategy | timeframe | median score | trades | instruments with trades | median total PnL % |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for cell in report["performance"]["by_timeframe"]:
        lines.append(
            f"| {cell['strategy']} | {cell['timeframe']} | {_fmt(cell['median_score'], 1)} | {cell['trades']} | "
            f"{cell['instruments_with_trades']} | {_fmt(cell['median_total_pnl_pct'])} |"
        )
    changes = report["strategy_changes"]
    moves = [(kind, c) for kind in ("promoted", "demoted", "archived", "restored", "registered") for c in changes[kind]]
    lines += ["", "## Registry changes", ""]
    if moves:
        lines += [f"- {kind} {c['name']} ({c['from_tier']} -> {c['to_tier']}): {c['reason']}" for kind, c in moves]
    else:
        lines.append("- none")
    lines += [f"- not run: {c['name']}: {c['reason']}" for c in changes["not_run"]]
    lines += _ml_markdown(report)
    lines += [
        "",
        "## Next steps",
        "",
        report["ai_next_steps"],
        "",
        "## Forward tests (paper trading) vs backtests",
        "",
        f"- {report['performance']['backtest_vs_live']['status']}",
        *(
            f"- {s['name']}: {s['status']}" + (f"; {s['action']}" if s.get("action") else "")
            for s in report["performance"]["backtest_vs_live"].get("strategies", [])
        ),
        "",
    ]
    return "\n".join(lines)


def _ml_markdown(report: dict[str, Any]) -> list[str]:
    """The report's ML section: status, out-of-sample table beside the baselines, ensembles, drift."""
    ml = report["ml_changes"]
    lines = ["", "## Models (out of sample, walk-forward)", "", ml["status"], ""]
    if ml["trained"]:
        lines += [
            "| model | id | target | features | metric | OOS | baseline | skill | status | reasons |",
            "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- | --- |",
        ]
        for m in ml["trained"]:
            lines.append(
                f"| {m['name']} | {m.get('model_id') or '-'} | {m['target']} | {m['features']} | {m['metric']} | "
                f"{_fmt(m.get('oos'), 4)} | {_fmt(m.get('baseline'), 4)} | {_fmt(m.get('skill'))} | {m['status']} | "
                f"{'; '.join(m.get('reasons') or []) or '-'} |"
            )
        lines += ["", "Skill: improvement over the naive baseline, 0 = baseline, 100 = perfect (accuracy or MAE)."]
    for e in ml["ensembles_tested"]:
        members = ", ".join(e.get("members", []))
        lines.append(f"- ensemble {e['name']} ({members}): skill {_fmt(e.get('skill'))}, {e.get('status')}")
    lines += [
        f"- drift {d.get('model') or d.get('model_name')}: {d['decision']}: {d['reason']}" for d in ml["retrained"]
    ]
    top = report["performance"]["top_5_models"]
    if top:
        names = ", ".join(f"{m['name']} ({m['model_id']})" for m in top)
        lines.append(f"- active models: {names}")
    for name, serving in report["performance"].get("trading_models", {}).items():
        lines.append(f"- in trading, {name}: {serving}")
    filters = report["performance"].get("ml_filters", [])
    if filters:
        lines += [
            "",
            "### ML-wrapped strategies vs their plain versions (same bars, out-of-sample period, costs in)",
            "",
            "| strategy | base | timeframe | since | instruments | trades ML / plain | win rate ML / plain | "
            "median total PnL % ML / plain | median Sharpe ML / plain | beats base |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for f in filters:
            ml, plain = f["with_ml"], f["plain"]
            rate = [_fmt(x * 100 if x is not None else None, 1) for x in (ml["win_rate"], plain["win_rate"])]
            lines.append(
                f"| {f['strategy']} | {f['base']} | {f['timeframe']} | {f['since_iso']} | {f['instruments']} | "
                f"{ml['trades']} / {plain['trades']} | {rate[0]} / {rate[1]} % | "
                f"{_fmt(ml['median_total_pnl_pct'])} / {_fmt(plain['median_total_pnl_pct'])} | "
                f"{_fmt(ml['median_sharpe'])} / {_fmt(plain['median_sharpe'])} | {f['beats_base']}/{f['instruments']} |"
            )
    return lines


def write_report(report: dict[str, Any], reports_dir: Path) -> tuple[Path, Path]:
    """Write ``YYYY-MM-DD.json`` and ``YYYY-MM-DD.md`` into ``reports_dir``; returns both paths."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    json_path = reports_dir / f"{report['report_date']}.json"
    md_path = reports_dir / f"{report['report_date']}.md"
    json_path.write_text(to_json(report))
    md_path.write_text(render_markdown(report))
    return json_path, md_path


def load_report_file(path: Path) -> dict[str, Any]:
    """Read a report JSON file."""
    return dict(json.loads(path.read_text()))
