"""The ML cycle: drift checks, datasets, walk-forward training of the zoo, canaries, ensembles, the model store.

:func:`run_ml_cycle` computes (nothing is written); :func:`persist_ml_cycle` stores the outcome (model
folders, ensemble files, ``ml_model_results``, ``ml_retrain_log``, ``ml_ensembles``) and moves statuses.
Steps of :func:`run_ml_cycle`:

1. **Bars**: the closed ``ML_TIMEFRAME`` bars of every stored instrument over the last ``ML_LOOKBACK_DAYS``
   (the window ends at the newest data, aligned to the bar), with warm-up history before it
   (``max_warmup(features) + 100`` bars, more when the strategies backtested for the trade models need it).
   Features are computed once per instrument and shared by every dataset (:class:`MlData`).
2. **Trades** (only when a trade model is trained): a backtest (default parameters, house costs) of each
   runnable rule-based strategy whose ``timeframes`` include the ML timeframe, on every instrument, over
   the same window; the trades feed :func:`~blofin_stack.ml.trades.entry_dataset` and
   :func:`~blofin_stack.ml.trades.exit_dataset`.
3. **Datasets**: one per label (and feature list), shared by the models with that label (the three
   direction models share ``direction_<ML_HORIZON_BARS>``); walk-forward folds
   ``WalkForward(ML_TRAIN_DAYS, ML_TEST_DAYS, ML_EMBARGO_HOURS)`` per dataset.
4. **Alignment canary** once per label, on :data:`CANARY_INSTRUMENTS` instruments' last
   :data:`CANARY_BARS` bars (trade labels: the strategy and instrument with the most trades); timed.
5. **Drift** of every model that was active, BEFORE training: its stored estimator scores the newest test
   window (the last ``ML_TEST_DAYS``, from the end of its own training window on, so none of those labels
   overlaps a label it was trained on); its primary metric (accuracy; MAE for regressors) is compared with
   its validated one. A drop beyond ``ML_DRIFT_DROP_PCT`` % queues a retrain on the latest window with the
   features pruned (those below :data:`PRUNE_FRACTION` of the top importance; trade inputs are kept); the
   new version is kept only if its out-of-sample skill beats the old one's. Every decision is logged.
6. **Training** of every model (and retrain) in parallel (joblib, ``PIPELINE_WORKERS``), each by
   :func:`~blofin_stack.ml.training.train_model`: walk-forward OOS metrics beside the baseline, the
   permutation and too-good canaries, the deployed fit on the most recent window.
7. **Ensembles** over the direction models that are not suspect (:mod:`blofin_stack.ml.ensembles`).

**Which models are active** (:func:`select_active`): among the stored models that are candidates or active
(suspect models never), the top ``ML_KEEP_MODELS`` by skill, at most one per model name (the best version);
the others are archived with the reason, models of earlier cycles included. Ensembles: the top
``ML_KEEP_ENSEMBLES`` by skill are active, the others archived.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from joblib import Parallel, delayed, effective_n_jobs

from blofin_stack.backtest.engine import CostModel, run_backtest
from blofin_stack.config import Settings
from blofin_stack.db.tables import ml_ensembles, ml_model_results, ml_retrain_log, utcnow
from blofin_stack.features import UnknownFeatureError, compute_features, max_warmup
from blofin_stack.market.bars import load_bars
from blofin_stack.market.store import MarketStore
from blofin_stack.market.timeframes import DAY_MS, HOUR_MS
from blofin_stack.ml import labels
from blofin_stack.ml.base import ENTRY_INPUTS, EXIT_INPUTS, TRADE_INPUTS, Dataset, LabelSpec, ModelSpec
from blofin_stack.ml.canaries import CanaryResult, alignment
from blofin_stack.ml.dataset import SCALE_FREE_FEATURES, build_dataset
from blofin_stack.ml.deploy import TRADING_MODELS, load_stored
from blofin_stack.ml.ensembles import (
    EnsembleResult,
    build_ensembles,
    list_ensembles,
    save_ensemble,
    update_ensemble_status,
)
from blofin_stack.ml.models import NAMES, baseline_for, get_spec
from blofin_stack.ml.parallel import train_safely
from blofin_stack.ml.splits import Fold, WalkForward
from blofin_stack.ml.store import ModelStoreError, list_models, save_model, update_status
from blofin_stack.ml.trades import entry_dataset, exit_dataset
from blofin_stack.ml.training import TrainingResult, skill_of
from blofin_stack.ml.validation import evaluate
from blofin_stack.pipeline.backtests import Window, cycle_window, data_end
from blofin_stack.pipeline.strategy_cycle import NoMarketDataError
from blofin_stack.serialize import iso, to_json
from blofin_stack.strategies import Strategy, all_strategies
from blofin_stack.strategies.plugins import load_plugins, plugin_paths

#: Test hook: the models a cycle trains when ``models`` is not given (``None`` = the whole zoo).
DEFAULT_MODELS: tuple[str, ...] | None = None
#: Alignment canary: instruments and trailing bars it looks at per label (kept small: it runs every cycle).
CANARY_INSTRUMENTS = 3
CANARY_BARS = 4000
#: Look-ahead audit inside the alignment canary: bars and cut points.
CANARY_AUDIT_BARS = 1500
#: Folds the permutation canary retrains on shuffled labels.
PERMUTATION_FOLDS = 2
#: Extra warm-up bars loaded beyond the features' declared warm-up.
EXTRA_WARMUP_BARS = 100
#: Drift: fewest fresh samples to judge a model on.
MIN_FRESH_SAMPLES = 50
#: Feature pruning on retrain: features whose importance is below this fraction of the top one are dropped.
PRUNE_FRACTION = 0.01
#: Labels whose models are combined into ensembles (prefix of the label name).
ENSEMBLE_LABEL_PREFIX = "direction_"
TRADE_LABELS = {"trade_profitable": "profitable", "trade_return": "return", "exit_timing": "exit"}
#: Training cost rank (heavier first, for load balance over the workers).
_COST = {
    "momentum_classifier": 0,
    "ml_exit_timing": 1,
    "risk_scorer": 2,
    "price_predictor": 3,
    "ml_regime_detector": 4,
    "direction_forest": 5,
    "direction_predictor": 6,
}


# --------------------------------------------------------------------------------------------------
# records


@dataclass
class ModelRun:
    """One model trained in the cycle (``kind="cycle"``) or retrained after drift (``kind="retrain"``).

    ``status`` is ``candidate``/``suspect`` after training, ``failed`` when training raised, and after
    :func:`persist_ml_cycle` the stored status (``active``, ``archived``, ``suspect``) or ``discarded``
    (a retrain that did not beat the model it was to replace).
    """

    name: str
    spec: ModelSpec = field(repr=False)
    label: str
    features: list[str]
    kind: str = "cycle"
    result: TrainingResult | None = field(default=None, repr=False)
    error: str | None = None
    retrain_of: str | None = None
    pruned: list[str] = field(default_factory=list)
    status: str = "pending"
    status_reason: str = ""
    model_id: str | None = None
    path: str | None = None

    def summary(self) -> dict[str, Any]:
        """``{name, model_type, target, features, n_features, oos, baseline, lift, skill, status, reasons, ...}``."""
        result = self.result
        mean = (result.summary.get("mean", {}) if result else {}) or {}
        return {
            "name": self.name,
            "model_type": self.spec.model_type,
            "target": self.label,
            "task": self.spec.task,
            "kind": self.kind,
            "features": self.features,
            "n_features": len(self.features),
            "oos": mean.get("oos", {}),
            "baseline": mean.get("baseline", {}),
            "lift": mean.get("lift", {}),
            "baseline_kind": result.folds[0].get("baseline_kind") if result and result.folds else None,
            "folds": result.summary.get("folds") if result else 0,
            "samples": result.samples if result else 0,
            "skill": result.skill if result else None,
            "status": self.status,
            "status_reason": self.status_reason,
            "reasons": list(result.reasons) if result else ([self.error] if self.error else []),
            "error": self.error,
            "retrain_of": self.retrain_of,
            "pruned_features": self.pruned,
            "model_id": self.model_id,
            "path": self.path,
            "seconds": result.seconds if result else None,
        }


@dataclass
class DriftCheck:
    """One active model scored on fresh data, and what was decided.

    ``decision``: ``ok`` (within the allowed drop), ``retrain`` (queued), then ``replaced`` (the retrained
    version is better and replaces it) or ``kept`` (it is not); ``skipped`` when it could not be judged.
    Drops are in percent of the validated metric (for MAE an increase of the error counts as a drop).
    """

    model_id: str
    model_name: str
    model_path: str
    metric: str
    validated: float | None
    fresh: float | None
    drop_pct: float | None
    decision: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = field(default=None, repr=False)
    retrain: ModelRun | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model": self.model_name,
            "metric": self.metric,
            "validated": self.validated,
            "fresh": self.fresh,
            "drop_pct": self.drop_pct,
            "decision": self.decision,
            "reason": self.reason,
            "new_model_id": self.retrain.model_id if self.retrain else None,
            "pruned_features": self.retrain.pruned if self.retrain else [],
        }


@dataclass
class MlCycle:
    """The outcome of one ML cycle (before and after :func:`persist_ml_cycle`)."""

    cycle_id: str
    started_at: datetime
    window: Window
    timeframe: str
    instruments: list[str]
    features: list[str]
    walk_forward: dict[str, Any]
    models: list[ModelRun]
    drift: list[DriftCheck]
    ensembles: list[EnsembleResult] = field(repr=False)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    canaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    trade_strategies: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    plugin_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    persisted: bool = False
    ensemble_status: dict[str, tuple[str, str]] = field(default_factory=dict)
    ensemble_ids: dict[str, str] = field(default_factory=dict)
    top_models: list[dict[str, Any]] = field(default_factory=list)
    #: The deployed fits use samples whose labels are known by this time (ms); predictions count as out of
    #: sample from ``available_from`` = ``deploy_end`` + the embargo (see :func:`deploy_end_for`).
    deploy_end: int = 0
    available_from: int = 0

    @property
    def trained(self) -> list[ModelRun]:
        """The cycle's own models (not the drift retrains)."""
        return [m for m in self.models if m.kind == "cycle"]

    def ml_changes(self) -> dict[str, Any]:
        """The report's ``ml_changes`` and ``top_5_models`` for this cycle."""
        failed = sum(1 for m in self.trained if m.status == "failed")
        suspect = sum(1 for m in self.trained if m.status == "suspect")
        state = "recorded" if self.persisted else "dry run: nothing stored, statuses not applied"
        return {
            "status": (
                f"ML cycle {self.cycle_id} ran in this invocation ({state}): {len(self.trained) - failed} models "
                f"trained on {len(self.instruments)} instruments ({self.timeframe}, {self.window.days:g} days), "
                f"{suspect} suspect, {failed} failed; {len(self.ensembles)} ensembles; {len(self.drift)} drift checks"
            ),
            "cycle_id": self.cycle_id,
            "ran_in_this_invocation": True,
            "trained": [_report_entry(m.summary()) for m in self.trained],
            "ensembles_tested": [self.ensemble_summary(e) for e in self.ensembles],
            "retrained": [d.summary() for d in self.drift],
            "top_5_models": self.top_models[:5],
            "messages": self.messages,
        }

    def ensemble_summary(self, result: EnsembleResult) -> dict[str, Any]:
        mean = result.summary.get("mean", {})
        status, reason = self.ensemble_status.get(result.name, ("not stored", "dry run"))
        return {
            "ensemble_id": self.ensemble_ids.get(result.name),
            "name": result.name,
            "method": result.method,
            "members": result.members,
            "weights": result.weights,
            "accuracy": mean.get("oos", {}).get("accuracy"),
            "baseline_accuracy": mean.get("baseline", {}).get("accuracy"),
            "f1": mean.get("oos", {}).get("f1"),
            "folds": result.summary.get("folds"),
            "skill": result.skill,
            "status": status,
            "status_reason": reason,
        }


def _report_entry(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Per model for the report: name, type, target, feature count, status, skill, OOS accuracy or MAE, baseline."""
    metric = "accuracy" if summary["task"] == "classification" else "mae"
    return {
        "name": summary["name"],
        "model_id": summary.get("model_id"),
        "type": summary["model_type"],
        "target": summary["target"],
        "features": summary["n_features"],
        "status": summary["status"],
        "skill": summary["skill"],
        "metric": metric,
        "oos": (summary.get("oos") or {}).get(metric),
        "baseline": (summary.get("baseline") or {}).get(metric),
        "baseline_kind": summary.get("baseline_kind"),
        "folds": summary.get("folds"),
        "reasons": summary.get("reasons") or [],
    }


# --------------------------------------------------------------------------------------------------
# data of one cycle


def trade_strategies(timeframe: str) -> list[Strategy]:
    """Runnable rule-based (``pattern``) strategies whose ``timeframes`` include ``timeframe``."""
    return [
        s
        for s in all_strategies()
        if s.strategy_type == "pattern" and timeframe in s.timeframes and s.unavailable_reason() is None
    ]


def trade_inputs_of(label_name: str) -> tuple[str, ...]:
    """The trade inputs a label's models take (none for bar labels)."""
    kind = TRADE_LABELS.get(label_name)
    if kind is None:
        return ()
    return EXIT_INPUTS if kind == "exit" else ENTRY_INPUTS


class MlData:
    """The bars of one cycle, their features (computed once per instrument, extended on demand), the
    backtest trades and the datasets built from them (one per label and feature list)."""

    def __init__(
        self,
        settings: Settings,
        bars_by_inst: Mapping[str, pd.DataFrame],
        window: Window,
        timeframe: str,
    ) -> None:
        self.settings = settings
        self.bars = dict(bars_by_inst)
        self.window = window
        self.timeframe = timeframe
        self.costs = CostModel(settings.backtest_fee_bps, settings.backtest_slippage_bps)
        self._columns: dict[str, pd.DataFrame] = {}
        self._by_id = {id(bars): inst for inst, bars in self.bars.items()}
        self._trades: dict[tuple[str, str], pd.DataFrame] | None = None
        self._datasets: dict[tuple[str, tuple[str, ...]], Dataset] = {}
        self._folds: dict[tuple[str, tuple[str, ...]], list[Fold]] = {}
        self.messages: list[str] = []
        self.strategies: list[str] = []

    def compute(self, bars: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
        """Features of ``bars``: from the per-instrument cache when ``bars`` is one of the cycle's frames."""
        inst = self._by_id.get(id(bars))
        if inst is None:
            return compute_features(bars, list(names))
        cached = self._columns.get(inst)
        missing = [n for n in dict.fromkeys(names) if cached is None or n not in cached.columns]
        if missing:
            fresh = compute_features(bars, missing)[missing]
            cached = fresh if cached is None else pd.concat([cached, fresh], axis=1)
            self._columns[inst] = cached
        assert cached is not None
        return cached[list(names)]

    def trades(self) -> dict[tuple[str, str], pd.DataFrame]:
        """``(strategy, instrument) -> trades`` of the eligible strategies' backtests over the window
        (computed on first use; a failing backtest is reported in ``messages`` and left out)."""
        if self._trades is not None:
            return self._trades
        strategies = trade_strategies(self.timeframe)
        self.strategies = [s.name for s in strategies]
        out: dict[tuple[str, str], pd.DataFrame] = {}
        for inst, bars in self.bars.items():
            params = {s.name: s.resolve_params() for s in strategies}
            names = list(dict.fromkeys(f for s in strategies for f in s.features_for(params[s.name])))
            features = self.compute(bars, names)
            for strategy in strategies:
                try:
                    result = run_backtest(
                        strategy,
                        bars,
                        inst_id=inst,
                        timeframe=self.timeframe,
                        params=params[strategy.name],
                        costs=self.costs,
                        start_ms=self.window.start,
                        features=features,
                    )
                except Exception as exc:  # one strategy's failure must not stop the cycle
                    self.messages.append(f"backtest of {strategy.name} on {inst} failed: {exc}")
                    continue
                if len(result.trades):
                    out[(strategy.name, inst)] = result.trades
        self._trades = out
        return out

    def dataset(self, label: LabelSpec, features: Sequence[str]) -> Dataset:
        """The dataset of ``label`` on the registered ``features`` (trade labels add their trade inputs).

        Raises:
            ValueError: as the dataset builders (no samples, a feature that is not scale-free, ...).
        """
        key = (label.name, tuple(features))
        if key not in self._datasets:
            kind = TRADE_LABELS.get(label.name)
            common: dict[str, Any] = {"start_ms": self.window.start, "compute": self.compute}
            if kind is None:
                data = build_dataset(self.bars, features, label, self.timeframe, **common)
            elif kind == "exit":
                data = exit_dataset(
                    self.bars,
                    self.trades(),
                    features,
                    self.timeframe,
                    fee_bps=self.costs.fee_bps,
                    slippage_bps=self.costs.slippage_bps,
                    **common,
                )
            else:
                data = entry_dataset(self.bars, self.trades(), features, self.timeframe, kind, **common)  # type: ignore[arg-type]
            self._datasets[key] = data
        return self._datasets[key]

    def folds(self, label: LabelSpec, features: Sequence[str], splitter: WalkForward) -> list[Fold]:
        """Walk-forward folds of :meth:`dataset` (cached)."""
        key = (label.name, tuple(features))
        if key not in self._folds:
            self._folds[key] = splitter.split(self.dataset(label, features))
        return self._folds[key]

    def canary(self, label: LabelSpec, features: Sequence[str]) -> CanaryResult:
        """The alignment canary of ``label`` (see the module docstring for what it looks at)."""
        kind = TRADE_LABELS.get(label.name)
        if kind is None:
            chosen = sorted(self.bars, key=lambda i: -len(self.bars[i]))[:CANARY_INSTRUMENTS]
            sample = {inst: self.bars[inst].iloc[-CANARY_BARS:] for inst in chosen}
            return alignment(sample, features, label, self.timeframe, audit_bars=CANARY_AUDIT_BARS)
        trades = self.trades()
        if not trades:
            return CanaryResult("alignment", True, "no trades to check")
        totals: dict[str, int] = {}
        for (strategy, _), frame in trades.items():
            totals[strategy] = totals.get(strategy, 0) + len(frame)
        strategy = max(totals, key=lambda name: totals[name])
        per_inst = {}
        for (name, inst), frame in trades.items():
            if name != strategy:
                continue
            bars = self.bars[inst]
            if kind == "exit":
                per_inst[inst] = labels.exit_timing_label(
                    frame, bars, fee_bps=self.costs.fee_bps, slippage_bps=self.costs.slippage_bps
                )
            else:
                per_inst[inst] = labels.trade_label(frame, bars, kind)
        sample = {inst: self.bars[inst] for inst in per_inst}
        result = alignment(sample, features, _by_instrument(per_inst, sample), self.timeframe, CANARY_AUDIT_BARS)
        return replace(
            result, detail=f"{result.detail} (trades of {strategy}, {totals[strategy]} on {len(sample)} instruments)"
        )


def _by_instrument(labels_by_inst: Mapping[str, LabelSpec], bars_by_inst: Mapping[str, pd.DataFrame]) -> LabelSpec:
    """One label over several instruments' bars: each call is answered by the label built on those bars
    (trade labels are built per instrument and refuse other bars). Horizon: the longest."""
    by_id = {id(bars_by_inst[inst]): label for inst, label in labels_by_inst.items()}

    def pick(ohlcv: pd.DataFrame) -> LabelSpec:
        if id(ohlcv) not in by_id:
            raise ValueError("this trade label answers only for the bars it was built on")
        return by_id[id(ohlcv)]

    first = next(iter(labels_by_inst.values()))
    return LabelSpec(
        first.name,
        first.task,
        max(label.horizon for label in labels_by_inst.values()),
        lambda ohlcv: pick(ohlcv).func(ohlcv),
        lambda ohlcv: pick(ohlcv).defining_series(ohlcv),
        first.description,
    )


def load_cycle_bars(
    settings: Settings, timeframe: str, features: Sequence[str], with_trades: bool
) -> tuple[dict[str, pd.DataFrame], Window]:
    """Bars of every stored instrument over the last ``ML_LOOKBACK_DAYS`` with warm-up, and the window.

    Raises:
        NoMarketDataError: the store is empty.
    """
    store = MarketStore(settings.market_dir)
    instruments = store.instruments()
    if not instruments:
        raise NoMarketDataError(f"no candles in {settings.market_dir}; import some first: blofin data import PATH")
    window = cycle_window(data_end(store, instruments), settings.ml_lookback_days, [timeframe])
    warmup = max_warmup(features, timeframe)
    if with_trades:
        names = {f for s in trade_strategies(timeframe) for f in s.features_for(s.resolve_params())}
        warmup = max(warmup, max_warmup(sorted(names), timeframe))
    bars = {}
    for inst in instruments:
        frame = load_bars(
            store,
            inst,
            timeframe,
            start_ms=window.start,
            end_ms=window.end,
            warmup_bars=warmup + EXTRA_WARMUP_BARS,
        )
        if len(frame) and int(frame.index[-1]) >= window.start:
            bars[inst] = frame
    if not bars:
        raise NoMarketDataError(f"no {timeframe} bars in the ML window {iso(window.start)} .. {iso(window.end)}")
    return bars, window


# --------------------------------------------------------------------------------------------------
# specs and labels


def _default_label(name: str, settings: Settings) -> LabelSpec:
    """The model's default label; a plain direction label (no dead zone) takes ``ML_HORIZON_BARS``."""
    label = get_spec(name).label
    if label.name == f"direction_{label.horizon}":
        return labels.direction(settings.ml_horizon_bars)
    return label


def model_spec(name: str, features: Sequence[str], settings: Settings) -> ModelSpec:
    """Model ``name`` of the zoo on the registered ``features`` (plus its trade inputs); direction labels
    take ``ML_HORIZON_BARS``.

    Raises:
        UnknownModelError: not in the zoo.
    """
    label = _default_label(name, settings)
    return get_spec(name, features=[*features, *trade_inputs_of(label.name)], label=label)


_DIRECTION = re.compile(r"^direction_(\d+)$")


def label_of_stored(config: Mapping[str, Any]) -> LabelSpec | None:
    """The label of a stored model (from its ``config.json``), or ``None`` when the cycle cannot build it."""
    name = str(config.get("label_name") or "")
    if name in TRADE_LABELS:
        horizon = int(config.get("horizon") or 1)
        if name == "trade_return":
            return LabelSpec(name, "regression", horizon, _no_func, _no_func)
        return LabelSpec(name, "classification", horizon, _no_func, _no_func)
    match = _DIRECTION.match(name)
    if match:
        return labels.direction(int(match.group(1)))
    model = str(config.get("name") or "")
    if model in NAMES:
        default = get_spec(model).label
        if default.name == name:
            return default
    return None


def _no_func(ohlcv: pd.DataFrame) -> pd.Series:
    raise ValueError("a trade label is built by the trade datasets")


# --------------------------------------------------------------------------------------------------
# drift


def primary_metric(task: str) -> str:
    """``accuracy`` for classifiers, ``mae`` for regressors."""
    return "accuracy" if task == "classification" else "mae"


def drop_pct(metric: str, validated: float, fresh: float) -> float:
    """How much worse ``fresh`` is than ``validated``, in percent of ``validated`` (accuracy: a fall; MAE:
    a rise); negative when fresh is better."""
    if validated == 0:
        return 0.0
    change = (validated - fresh) if metric == "accuracy" else (fresh - validated)
    return 100.0 * change / abs(validated)


def score_fresh(
    estimator: Any, config: Mapping[str, Any], metadata: Mapping[str, Any], data: Dataset, fresh_start: int
) -> dict[str, Any]:
    """Score a stored model on the samples of ``data`` from ``fresh_start`` and after the end of its own
    training window (so none of their labels overlaps one it learnt from).

    Returns:
        ``{"n", "start", "end", "evaluation"}`` (``evaluation``: :func:`evaluate` output against the
        baseline fitted on the labels of its training window; ``None`` with fewer than
        :data:`MIN_FRESH_SAMPLES` samples).
    """
    window = (metadata.get("training") or {}).get("train_window") or {}
    train_start = int(window.get("start", 0) or 0)
    train_end = int(window.get("end", 0) or 0)
    start = max(int(fresh_start), train_end)
    rows = np.flatnonzero(data.t >= start)
    out: dict[str, Any] = {"n": len(rows), "start": start, "end": int(data.t_end[rows].max()) if len(rows) else None}
    if len(rows) < MIN_FRESH_SAMPLES:
        out["evaluation"] = None
        return out
    features = list(config["features"])
    X = data.X.iloc[rows][features].to_numpy()
    y = data.y.to_numpy()
    train_rows = np.flatnonzero((data.t >= train_start) & (data.t_end <= train_end))
    y_train = y[train_rows] if len(train_rows) else y[rows]
    task = str(config.get("task", "classification"))
    classes = getattr(estimator, "classes_", None)
    out["evaluation"] = evaluate(
        task,  # type: ignore[arg-type]
        y_train,
        y[rows],
        np.asarray(estimator.predict(X)),
        np.asarray(estimator.predict_proba(X)) if task == "classification" else None,
        classes=None if classes is None else list(classes),
        baseline=baseline_for(str(config["name"])) if config.get("name") in NAMES else None,
        horizon=int(config.get("horizon") or 1),
        groups_train=data.inst[train_rows] if len(train_rows) else data.inst[rows],
        groups_test=data.inst[rows],
    )
    return out


def prune_features(features: Sequence[str], importances: Mapping[str, float] | None) -> tuple[list[str], list[str]]:
    """(kept, dropped): features whose importance is below :data:`PRUNE_FRACTION` of the top importance
    are dropped (trade inputs always stay); without importances nothing is dropped."""
    if not importances:
        return list(features), []
    top = max(importances.values(), default=0.0)
    if top <= 0:
        return list(features), []
    dropped = [f for f in features if f not in TRADE_INPUTS and importances.get(f, 0.0) < PRUNE_FRACTION * top]
    return [f for f in features if f not in dropped], dropped


def check_drift(row: Mapping[str, Any], data: MlData, settings: Settings, splitter: WalkForward) -> DriftCheck:
    """Judge one stored active model (a :func:`list_models` row) on the cycle's newest test window; when it
    drifted, the returned check carries the retrain to run (``check.retrain``)."""
    check = DriftCheck(
        model_id=str(row["id"]),
        model_name=str(row.get("name")),
        model_path=str(row["path"]),
        metric="-",
        validated=None,
        fresh=None,
        drop_pct=None,
        decision="skipped",
        reason="",
    )
    try:
        estimator, config, metadata = load_stored(row["path"])
    except ModelStoreError as exc:
        check.reason = f"cannot load: {exc}"
        return check
    check.metric = primary_metric(str(config.get("task")))
    check.validated = (((metadata.get("performance") or {}).get("mean") or {}).get("oos") or {}).get(check.metric)
    label = label_of_stored(config)
    if label is None:
        check.reason = f"label {config.get('label_name')!r} is not built by the ML cycle"
        return check
    registered = [f for f in config["features"] if f not in TRADE_INPUTS]
    try:
        dataset = data.dataset(label, registered)
    except (ValueError, UnknownFeatureError) as exc:
        check.reason = f"no dataset: {exc}"
        return check
    scored = score_fresh(estimator, config, metadata, dataset, data.window.end - int(settings.ml_test_days * DAY_MS))
    check.details = {
        "fresh_window": {k: scored[k] for k in ("n", "start", "end")},
        "label": label.name,
        "model_type": metadata.get("type"),
        "old_skill": (metadata.get("performance") or {}).get("skill"),
    }
    check.evaluation = scored["evaluation"]
    if check.evaluation is None:
        check.reason = (
            f"{scored['n']} samples after its training window in the newest {settings.ml_test_days:g} days "
            f"(fewer than {MIN_FRESH_SAMPLES})"
        )
        return check
    check.fresh = check.evaluation["oos"].get(check.metric)
    if check.validated is None or check.fresh is None:
        check.reason = f"no validated or fresh {check.metric}"
        return check
    check.drop_pct = drop_pct(check.metric, float(check.validated), float(check.fresh))
    limit = settings.ml_drift_drop_pct
    compared = f"{check.metric} {check.fresh:.4g} vs validated {check.validated:.4g}: drop {check.drop_pct:+.1f} %"
    if check.drop_pct <= limit:
        check.decision, check.reason = "ok", f"{compared} within {limit:g} %"
        return check
    name = str(config["name"])
    if name not in NAMES:
        check.reason = f"{compared} beyond {limit:g} %, but {name!r} is not in the zoo: not retrained"
        return check
    kept, dropped = prune_features(registered, metadata.get("importances"))
    check.details["pruned"] = dropped
    check.decision, check.reason = "retrain", f"{compared} beyond {limit:g} %; retraining"
    spec = get_spec(name, features=[*kept, *trade_inputs_of(label.name)], label=_training_label(name, label))
    check.retrain = ModelRun(
        name=name,
        spec=spec,
        label=label.name,
        features=list(spec.features),
        kind="retrain",
        retrain_of=check.model_id,
        pruned=dropped,
    )
    return check


def _training_label(name: str, label: LabelSpec) -> LabelSpec:
    return get_spec(name).label if label.name in TRADE_LABELS else label


# --------------------------------------------------------------------------------------------------
# training


def _cost(run: ModelRun) -> tuple[int, str]:
    return (_COST.get(run.name, 10), run.name)


Prepared = tuple[ModelRun, Dataset, list[Fold], CanaryResult]


def _prepare(
    queue: Sequence[ModelRun],
    data: MlData,
    splitter: WalkForward,
    features: Sequence[str],
    cycle: MlCycle,
    on_progress: Callable[[int], None] | None,
) -> list[Prepared]:
    """Each run's dataset, folds and alignment canary (computed once per label and feature list, timed,
    recorded on ``cycle``); a run whose dataset cannot be built is marked failed."""
    canaries: dict[tuple[str, tuple[str, ...]], CanaryResult] = {}
    prepared: list[Prepared] = []
    for run in queue:
        registered = [f for f in run.features if f not in TRADE_INPUTS]
        try:
            dataset = data.dataset(run.spec.label, registered)
            folds = data.folds(run.spec.label, registered, splitter)
        except (ValueError, UnknownFeatureError) as exc:
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            run.status_reason = run.error
            if on_progress and run.kind == "cycle":
                on_progress(1)
            continue
        if run.label in TRADE_LABELS:
            run.spec = replace(run.spec, label=dataset.label)
        cycle.datasets.setdefault(
            f"{dataset.label.name} ({len(registered)} features)",
            {
                "label": dataset.label.name,
                "samples": len(dataset),
                "instruments": sorted(set(dataset.inst.tolist())),
                "folds": [f.describe() for f in folds],
            },
        )
        key = (run.label, tuple(registered))
        if key not in canaries:
            tick = time.perf_counter()
            canaries[key] = data.canary(dataset.label if run.label in TRADE_LABELS else run.spec.label, registered)
            shown = run.label if registered == list(features) else f"{run.label} ({len(registered)} features)"
            result = canaries[key]
            cycle.canaries[shown] = {
                "name": result.name,
                "passed": result.passed,
                "detail": result.detail,
                "seconds": time.perf_counter() - tick,
            }
        prepared.append((run, dataset, folds, canaries[key]))
    return prepared


def deploy_end_for(settings: Settings, window: Window) -> int:
    """Where the deployed fits end (ms): ``ML_EMBARGO_HOURS`` before the strategy cycle's backtest window
    (the last ``BACKTEST_LOOKBACK_DAYS``, its end aligned down to a day, so it is never later than the
    strategy cycle's own start), so that the strategies using the models are backtested out of sample;
    but never earlier than one ``ML_TRAIN_DAYS`` training window after the ML window's start (with less
    history the strategies' first backtest days are then not covered: the model features are NaN there)."""
    embargo = round(settings.ml_embargo_hours * HOUR_MS)
    strategy_start = cycle_window(window.end, settings.backtest_lookback_days, ["1D"]).start
    return max(strategy_start - embargo, window.start + round(settings.ml_train_days * DAY_MS))


def _train_all(
    prepared: Sequence[Prepared], settings: Settings, deploy_end: int, on_progress: Callable[[int], None] | None
) -> None:
    """Train every prepared run in ``PIPELINE_WORKERS`` processes (heaviest first); results land on the runs."""
    order = sorted(range(len(prepared)), key=lambda i: _cost(prepared[i][0]))
    tasks = (
        delayed(train_safely)(
            i,
            prepared[i][0].spec,
            prepared[i][1],
            prepared[i][2],
            {
                "train_days": settings.ml_train_days,
                "baseline": baseline_for(prepared[i][0].name),
                "max_direction_accuracy": settings.ml_max_direction_accuracy,
                "permutation_folds": PERMUTATION_FOLDS,
                "extra_canaries": [prepared[i][3]],
                "deploy_end": deploy_end,
            },
        )
        for i in order
    )
    jobs = max(1, min(len(prepared), effective_n_jobs(settings.pipeline_workers)))
    for i, result, error in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
        run = prepared[i][0]
        run.result, run.error = result, error
        if result is not None:
            run.status, run.status_reason = result.status, "; ".join(result.reasons) or "trained"
        else:
            run.status, run.status_reason = "failed", error or "failed"
        if on_progress and run.kind == "cycle":
            on_progress(1)


def run_ml_cycle(
    settings: Settings,
    *,
    models: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    plugins: Sequence[Path] = (),
    on_progress: Callable[[int], None] | None = None,
) -> MlCycle:
    """Run the ML cycle (module docstring); nothing is written (see :func:`persist_ml_cycle`).

    Args:
        settings: ``ML_*`` settings, ``PIPELINE_WORKERS``, paths.
        models: zoo names to train (default :data:`DEFAULT_MODELS`, else the whole zoo).
        features: registered feature names every model uses (default ``SCALE_FREE_FEATURES``); the trade
            models add their trade inputs.
        plugins: plugin files (features and strategies) besides ``PLUGINS_DIR``.
        on_progress: called with 1 as each model finishes training.

    Raises:
        NoMarketDataError: no candles. UnknownModelError: a name not in the zoo.
    """
    started = time.perf_counter()
    stamp = utcnow()
    timings: dict[str, float] = {}
    loaded = load_plugins(plugin_paths(settings.plugins_dir, plugins, settings.strategies_dir))
    names = list(dict.fromkeys(models or DEFAULT_MODELS or NAMES))
    features = list(dict.fromkeys(features or SCALE_FREE_FEATURES))
    timeframe = settings.ml_timeframe
    runs = []
    for name in names:
        spec = model_spec(name, features, settings)
        runs.append(ModelRun(name=name, spec=spec, label=spec.label.name, features=list(spec.features)))
    with_trades = any(r.label in TRADE_LABELS for r in runs)

    tick = time.perf_counter()
    bars, window = load_cycle_bars(settings, timeframe, features, with_trades)
    data = MlData(settings, bars, window, timeframe)
    timings["load_bars"] = time.perf_counter() - tick
    splitter = WalkForward(settings.ml_train_days, settings.ml_test_days, settings.ml_embargo_hours)
    cycle = MlCycle(
        cycle_id=f"ml-{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        started_at=stamp,
        window=window,
        timeframe=timeframe,
        instruments=list(bars),
        features=features,
        walk_forward=splitter.describe(),
        models=runs,
        drift=[],
        ensembles=[],
        plugin_errors=[str(e) for e in loaded.errors],
    )
    if with_trades:
        tick = time.perf_counter()
        data.trades()
        timings["backtests"] = time.perf_counter() - tick
        cycle.trade_strategies = data.strategies

    # drift of the models that were active, before anything is trained
    tick = time.perf_counter()
    active = [r for r in list_models(settings.ml_models_path) if r.get("status") == "active" and r.get("name") in names]
    cycle.drift = [check_drift(row, data, settings, splitter) for row in active]
    timings["drift"] = time.perf_counter() - tick
    queue = runs + [d.retrain for d in cycle.drift if d.retrain is not None]

    tick = time.perf_counter()
    prepared = _prepare(queue, data, splitter, features, cycle, on_progress)
    timings["datasets_and_canaries"] = time.perf_counter() - tick
    tick = time.perf_counter()
    cycle.deploy_end = deploy_end_for(settings, window)
    cycle.available_from = cycle.deploy_end + round(settings.ml_embargo_hours * HOUR_MS)
    _train_all(prepared, settings, cycle.deploy_end, on_progress)
    timings["training"] = time.perf_counter() - tick
    for check in cycle.drift:
        _decide_retrain(check)

    tick = time.perf_counter()
    cycle.ensembles = _ensembles(prepared)
    timings["ensembles"] = time.perf_counter() - tick
    cycle.messages = data.messages + [f"{r.name}: {r.error}" for r in queue if r.status == "failed"]
    cycle.timings = timings
    cycle.top_models = _planned_top(cycle, settings.ml_keep_models)
    cycle.seconds = time.perf_counter() - started
    return cycle


def _decide_retrain(check: DriftCheck) -> None:
    if check.retrain is None:
        return
    run = check.retrain
    old = check.details.get("old_skill")
    new = run.result.skill if run.result else None
    if run.result is None:
        check.decision, check.reason = "kept", f"{check.reason}; the retrain failed ({run.error}); keeping it"
    elif run.result.status == "suspect":
        check.decision, check.reason = "kept", f"{check.reason}; the retrained version is suspect; keeping it"
    elif new is not None and (old is None or new > old):
        check.decision = "replaced"
        check.reason = f"{check.reason}; retrained skill {new:.2f} > {_fmt(old)}: replaced"
    else:
        check.decision = "kept"
        check.reason = f"{check.reason}; retrained skill {_fmt(new)} is not better than {_fmt(old)}: kept"
    if check.decision == "kept":
        run.status, run.status_reason = "discarded", "a drift retrain that did not beat the model it was to replace"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ensembles(prepared: Sequence[Prepared]) -> list[EnsembleResult]:
    """Ensembles over the non-suspect direction models of the cycle (same dataset, same folds)."""
    groups: dict[int, list[tuple[ModelRun, Dataset, list[Fold]]]] = {}
    for run, dataset, folds, _ in prepared:
        ok = run.kind == "cycle" and run.result is not None and run.result.status != "suspect"
        if ok and run.label.startswith(ENSEMBLE_LABEL_PREFIX):
            groups.setdefault(id(dataset), []).append((run, dataset, folds))
    out: list[EnsembleResult] = []
    for members in groups.values():
        if len(members) >= 2:
            _, dataset, folds = members[0]
            out += build_ensembles([m[0].result for m in members if m[0].result], dataset, folds)
    return out


# --------------------------------------------------------------------------------------------------
# which models are active


@dataclass(frozen=True)
class Entry:
    """A stored (or about to be stored) model competing for a place among the active ones."""

    key: str
    name: str
    skill: float | None
    status: str
    order: int = 0


def select_active(
    entries: Sequence[Entry], keep: int, in_use: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """Key -> (status, reason) for every candidate or active entry: the top ``keep`` by skill (newer first
    on ties), at most one per name, become ``active``; the rest ``archived``. Suspect and archived entries
    are not touched; an entry without a skill is archived. ``in_use``: name -> what uses it (the trading
    models and their strategies): the best version of such a name stays active even below the top
    ``keep``, so the strategies built on it keep running and are judged by their own backtests."""
    in_use = {name: users for name, (_, users) in TRADING_MODELS.items()} if in_use is None else in_use
    pool = [e for e in entries if e.status in ("candidate", "active")]
    ranked = sorted(pool, key=lambda e: (e.skill is None, -(e.skill or 0.0), -e.order))
    out: dict[str, tuple[str, str]] = {}
    best_of: dict[str, Entry] = {}
    chosen = 0
    for e in ranked:
        if e.skill is None:
            out[e.key] = ("archived", "no out-of-sample skill")
        elif e.name in best_of:
            out[e.key] = (
                "archived",
                f"superseded by {best_of[e.name].key} (same name, skill {best_of[e.name].skill:.2f} >= {e.skill:.2f})",
            )
        elif chosen < keep:
            best_of[e.name] = e
            chosen += 1
            out[e.key] = ("active", f"top {keep} by out-of-sample skill (rank {chosen}, skill {e.skill:.2f})")
        elif e.name in in_use:
            best_of[e.name] = e
            out[e.key] = ("active", f"in use by {in_use[e.name]} (skill {e.skill:.2f}, below the top {keep})")
        else:
            best_of[e.name] = e
            out[e.key] = ("archived", f"below the top {keep} by out-of-sample skill (skill {e.skill:.2f})")
    return out


def _stored_entries(root: Path) -> list[Entry]:
    entries = []
    for row in list_models(root):
        number = int(str(row["id"]).rpartition("_")[2]) if str(row["id"]).startswith("model_") else 0
        skill = (row.get("performance") or {}).get("skill")
        entries.append(Entry(str(row["id"]), str(row.get("name")), skill, str(row.get("status")), number))
    return entries


def _planned_top(cycle: MlCycle, keep: int) -> list[dict[str, Any]]:
    """Before persisting: the cycle's own models that would be active (statuses not applied yet)."""
    runs = {f"new:{i}": m for i, m in enumerate(cycle.trained)}
    entries = [
        Entry(
            key, m.name, m.result.skill if m.result else None, "candidate" if m.status == "candidate" else m.status, i
        )
        for i, (key, m) in enumerate(runs.items())
    ]
    plan = select_active(entries, keep)
    top = [runs[k] for k, (status, _) in plan.items() if status == "active"]
    top.sort(key=lambda m: -(m.result.skill if m.result and m.result.skill is not None else -1e9))
    return [_report_entry(m.summary()) for m in top]


# --------------------------------------------------------------------------------------------------
# persisting


def _window_dict(start: int, end: int) -> dict[str, Any]:
    return {"start": start, "end": end, "start_iso": iso(start), "end_iso": iso(end)}


#: Per-fold keys of :func:`evaluate` (kept under ``performance.per_fold``; ``training.folds`` has the boundaries).
_FOLD_SCORES = ("oos", "baseline", "lift", "baseline_kind")


def _metadata(run: ModelRun, cycle: MlCycle) -> tuple[dict[str, Any], dict[str, Any]]:
    result = run.result
    assert result is not None
    folds = result.folds
    training = {
        "instruments": cycle.instruments,
        "data_points": result.samples,
        "folds": [{k: v for k, v in f.items() if k not in _FOLD_SCORES} for f in folds],
        "train_window": _window_dict(*result.train_window),
        "test_window": _window_dict(folds[0]["test_start"], folds[-1]["test_end"]) if folds else None,
        "walk_forward": cycle.walk_forward,
        "timeframe": cycle.timeframe,
        "data_window": _window_dict(cycle.window.start, cycle.window.end),
        "labels_known_by": cycle.deploy_end,
        "available_from": cycle.available_from,
        "available_from_iso": iso(cycle.available_from),
    }
    if run.label in TRADE_LABELS:
        training["strategies"] = cycle.trade_strategies
    metadata = {
        "status": "suspect" if result.status == "suspect" else "candidate",
        "status_reason": "; ".join(result.reasons) or f"trained in ML cycle {cycle.cycle_id}",
        "training": training,
        "performance": {
            **result.summary,
            "skill": result.skill,
            "baseline_kind": folds[0].get("baseline_kind"),
            "per_fold": [{k: f.get(k) for k in ("index", *_FOLD_SCORES, "n_train", "n_test")} for f in folds],
        },
        "canaries": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in result.canaries],
        "importances": result.importances,
        "cycle_id": cycle.cycle_id,
        "kind": run.kind,
        "retrain_of": run.retrain_of,
        "pruned_features": run.pruned,
        "training_seconds": result.seconds,
    }
    config = {
        "features": result.features,
        "hyperparams": dict(run.spec.hyperparams),
        "timeframe": cycle.timeframe,
        "label_detail": {"name": run.spec.label.name, "horizon": run.spec.label.horizon},
    }
    return metadata, config


_METRIC_COLUMNS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse", "r2", "mape")


def _result_row(
    *,
    name: str,
    model_type: str,
    timestamp: datetime,
    cycle_id: str,
    path: str | None,
    target: str,
    timeframe: str,
    features: list[str],
    hyperparams: Mapping[str, Any],
    status: str,
    oos: Mapping[str, Any],
    baseline: Mapping[str, Any],
    lift: Mapping[str, Any],
    folds: Any,
    reasons: list[str],
) -> dict[str, Any]:
    """One ``ml_model_results`` row (the seed's columns and the out-of-sample picture)."""
    return {
        "model_name": name,
        "model_type": model_type,
        "timestamp": timestamp,
        **{column: oos.get(column) for column in _METRIC_COLUMNS},
        "features_used": features,
        "hyperparams": json.loads(json.dumps(dict(hyperparams), default=str)),
        "status": status,
        "train_loss": None,
        "cycle_id": cycle_id,
        "model_path": path,
        "target": target,
        "timeframe": timeframe,
        "oos": dict(oos),
        "baseline": dict(baseline),
        "lift": dict(lift),
        "folds": folds,
        "reasons": reasons,
    }


def _clean(value: Any) -> Any:
    """JSON-ready (numpy scalars to numbers, NaN to None) for the JSON columns."""
    return json.loads(to_json(value, indent=None))


def persist_ml_cycle(engine: sa.Engine, settings: Settings, cycle: MlCycle) -> None:
    """Store the cycle: model folders (``save_model``), ensemble files, one ``ml_model_results`` row per
    model and per drift evaluation, ``ml_retrain_log`` rows, ``ml_ensembles`` rows, and the statuses
    (top ``ML_KEEP_MODELS`` active, suspect never, the rest archived; ensembles likewise) in the store and
    the database. The DB rows go in one transaction; if it fails, the model folders and ensemble files
    this call created are removed again and no status has changed."""
    root = Path(settings.ml_models_path)
    now_ms = int(cycle.started_at.timestamp() * 1000)
    created: list[Path] = []
    try:
        for run in cycle.models:
            if run.result is None or run.status == "discarded":
                continue
            metadata, config = _metadata(run, cycle)
            path = save_model(root, run.spec, run.result.estimator, metadata, config, now_ms=now_ms)
            created.append(path)
            run.model_id, run.path = path.name, str(path)
            run.status = metadata["status"]
        ids = {m.name: m.model_id for m in cycle.trained if m.model_id}
        ensemble_paths = []
        for result in cycle.ensembles:
            path = save_ensemble(root, result, ids, cycle_id=cycle.cycle_id, now_ms=now_ms)
            created.append(path)
            created.append(path.with_name(path.stem + "_results.json"))
            ensemble_paths.append(path)
            cycle.ensemble_ids[result.name] = path.stem

        # statuses: replaced models first, then the top-k selection over the whole store
        changes: dict[str, tuple[str, str]] = {}
        for check in cycle.drift:
            if check.decision == "replaced" and check.retrain and check.retrain.model_id:
                changes[check.model_id] = ("archived", f"replaced by {check.retrain.model_id} after drift")
        entries = [replace(e, status=changes[e.key][0]) if e.key in changes else e for e in _stored_entries(root)]
        changes.update(select_active(entries, settings.ml_keep_models))
        ensemble_plan = _ensemble_plan(root, settings.ml_keep_ensembles)

        rows = _db_rows(cycle, changes)
        with engine.begin() as connection:
            if rows["results"]:
                connection.execute(sa.insert(ml_model_results), rows["results"])
            if rows["retrain"]:
                connection.execute(sa.insert(ml_retrain_log), rows["retrain"])
            if rows["ensembles"]:
                connection.execute(sa.insert(ml_ensembles), rows["ensembles"])
            for model_id, (status, _) in changes.items():
                connection.execute(
                    sa.update(ml_model_results)
                    .where(ml_model_results.c.model_path == str(root / model_id))
                    .values(status=status)
                )
            for ensemble_id, (status, _) in ensemble_plan.items():
                connection.execute(
                    sa.update(ml_ensembles).where(ml_ensembles.c.ensemble_name == ensemble_id).values(status=status)
                )
    except BaseException:
        for path in created:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise

    stored = {row["id"]: row for row in list_models(root)}
    for model_id, (status, reason) in changes.items():
        if stored.get(model_id, {}).get("status") != status:
            update_status(root / model_id, status, reason, now_ms=now_ms)
    for run in cycle.models:
        if run.model_id and run.model_id in changes:
            run.status, run.status_reason = changes[run.model_id]
    for ensemble in list_ensembles(root):
        plan = ensemble_plan.get(ensemble["ensemble_id"])
        if plan and plan[0] != ensemble.get("status"):
            update_ensemble_status(ensemble["path"], plan[0], plan[1], now_ms=now_ms)
    for name, ensemble_id in cycle.ensemble_ids.items():
        cycle.ensemble_status[name] = ensemble_plan.get(ensemble_id, ("active", "saved"))
    cycle.top_models = active_models(root)
    cycle.persisted = True


def _ensemble_plan(root: Path, keep: int) -> dict[str, tuple[str, str]]:
    """Ensemble id -> (status, reason): :func:`select_active` over the stored ensembles (one per name)."""
    entries = [
        Entry(e["ensemble_id"], str(e.get("name")), e.get("skill"), str(e.get("status")), i)
        for i, e in enumerate(list_ensembles(root))
    ]
    return select_active(entries, keep)


def _db_rows(cycle: MlCycle, changes: Mapping[str, tuple[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The rows of one cycle; timestamps are spread by a microsecond each so that (model, timestamp) stays unique."""
    clock = iter(cycle.started_at + timedelta(microseconds=i) for i in range(1_000_000))
    results: list[dict[str, Any]] = []
    for check in cycle.drift:
        if check.evaluation is None:
            continue
        results.append(
            _result_row(
                name=check.model_name,
                model_type=str(check.details.get("model_type") or ""),
                timestamp=next(clock),
                cycle_id=cycle.cycle_id,
                path=check.model_path,
                target=str(check.details.get("label")),
                timeframe=cycle.timeframe,
                features=[],
                hyperparams={},
                status="active",
                oos=check.evaluation["oos"],
                baseline=check.evaluation["baseline"],
                lift=check.evaluation["lift"],
                folds={"drift_check": check.details},
                reasons=[f"drift check: {check.decision}: {check.reason}"],
            )
        )
    for run in cycle.models:
        if run.result is None or run.model_id is None:
            continue
        mean = run.result.summary.get("mean", {})
        results.append(
            _result_row(
                name=run.name,
                model_type=run.spec.model_type,
                timestamp=next(clock),
                cycle_id=cycle.cycle_id,
                path=run.path,
                target=run.label,
                timeframe=cycle.timeframe,
                features=run.result.features,
                hyperparams=run.spec.hyperparams,
                status=changes.get(run.model_id, (run.status, ""))[0],
                oos=mean.get("oos", {}),
                baseline=mean.get("baseline", {}),
                lift=mean.get("lift", {}),
                folds=run.result.folds,
                reasons=run.result.reasons,
            )
        )
    retrain = [
        {
            "timestamp": next(clock),
            "model_name": d.model_name,
            "model_path": d.model_path,
            "metric": d.metric,
            "validated": d.validated,
            "fresh": d.fresh,
            "drop_pct": d.drop_pct,
            "decision": d.decision,
            "reason": d.reason,
            "details": {
                **d.details,
                "cycle_id": cycle.cycle_id,
                "new_model_id": d.retrain.model_id if d.retrain else None,
            },
        }
        for d in cycle.drift
    ]
    ensembles = []
    for result in cycle.ensembles:
        mean = result.summary.get("mean", {}).get("oos", {})
        ensemble_id = cycle.ensemble_ids[result.name]
        ensembles.append(
            {
                "ensemble_name": ensemble_id,
                "timestamp": next(clock),
                "model_list": [
                    {"name": m, "model_id": next((r.model_id for r in cycle.trained if r.name == m), None)}
                    for m in result.members
                ],
                "weights": result.weights,
                "combination_method": result.method,
                "accuracy": mean.get("accuracy"),
                "f1": mean.get("f1"),
                "backtest_sharpe": None,
                "status": "active",
            }
        )
    for row in results:
        for key in ("oos", "baseline", "lift", "folds", "reasons", "features_used"):
            row[key] = _clean(row[key])
        for key in _METRIC_COLUMNS:
            row[key] = _clean(row[key])
    for row in retrain:
        row["details"] = _clean(row["details"])
    return {"results": results, "retrain": retrain, "ensembles": ensembles}


# --------------------------------------------------------------------------------------------------
# reading back


def active_models(root: Path | str) -> list[dict[str, Any]]:
    """The active models of the store, best skill first, as report entries."""
    out = []
    for row in list_models(root):
        if row.get("status") != "active":
            continue
        performance = row.get("performance") or {}
        mean = performance.get("mean") or {}
        task = "regression" if "mae" in (mean.get("oos") or {}) else "classification"
        metric = primary_metric(task)
        out.append(
            {
                "name": row.get("name"),
                "model_id": row["id"],
                "type": row.get("type"),
                "target": row.get("label"),
                "features": row.get("feature_count"),
                "status": "active",
                "skill": performance.get("skill"),
                "metric": metric,
                "oos": (mean.get("oos") or {}).get(metric),
                "baseline": (mean.get("baseline") or {}).get(metric),
                "baseline_kind": performance.get("baseline_kind"),
                "folds": performance.get("folds"),
                "reasons": [],
            }
        )
    out.sort(key=lambda e: -(e["skill"] if e["skill"] is not None else -1e9))
    return out


def recorded_ml_changes(engine: sa.Engine, settings: Settings, mode: str) -> dict[str, Any]:
    """The report's ML part when the ML cycle did not run in this invocation: the newest recorded ML cycle
    (``ml_model_results``, ``ml_retrain_log``, ensemble files) and the store's active models, saying so."""
    with engine.connect() as connection:
        latest = connection.execute(
            sa.select(ml_model_results.c.cycle_id, ml_model_results.c.timestamp)
            .where(ml_model_results.c.cycle_id.is_not(None))
            .order_by(ml_model_results.c.timestamp.desc())
            .limit(1)
        ).first()
        if latest is None:
            return not_run_ml_changes(mode, "no ML cycle has been recorded yet; run --mode ml")
        cycle_id = latest.cycle_id
        rows = [
            dict(r._mapping)
            for r in connection.execute(
                sa.select(ml_model_results)
                .where(ml_model_results.c.cycle_id == cycle_id)
                .order_by(ml_model_results.c.id)
            )
        ]
        logs = [dict(r._mapping) for r in connection.execute(sa.select(ml_retrain_log).order_by(ml_retrain_log.c.id))]
    trained = []
    for row in rows:
        if isinstance(row["folds"], dict):  # a drift evaluation, not a training
            continue
        metric = "accuracy" if row.get("accuracy") is not None else "mae"
        trained.append(
            {
                "name": row["model_name"],
                "model_id": Path(row["model_path"]).name if row["model_path"] else None,
                "type": row["model_type"],
                "target": row["target"],
                "features": len(row["features_used"] or []),
                "status": row["status"],
                "skill": skill_of(
                    "classification" if metric == "accuracy" else "regression",
                    {"mean": {"oos": row["oos"] or {}, "baseline": row["baseline"] or {}}},
                ),
                "metric": metric,
                "oos": (row["oos"] or {}).get(metric),
                "baseline": (row["baseline"] or {}).get(metric),
                "folds": len(row["folds"] or []),
                "reasons": row["reasons"] or [],
            }
        )
    retrained = [
        {k: log[k] for k in ("model_name", "metric", "validated", "fresh", "drop_pct", "decision", "reason")}
        for log in logs
        if (log.get("details") or {}).get("cycle_id") == cycle_id
    ]
    ensembles = [
        {k: e.get(k) for k in ("ensemble_id", "name", "method", "skill", "status", "weights")}
        | {"members": [m["name"] for m in e.get("members", [])]}
        for e in list_ensembles(settings.ml_models_path)
        if e.get("cycle_id") == cycle_id
    ]
    return {
        "status": f"the ML cycle did not run in this invocation (--mode {mode}); newest recorded ML cycle: "
        f"{cycle_id} ({latest.timestamp:%Y-%m-%d %H:%M} UTC); active models from the model store",
        "cycle_id": cycle_id,
        "ran_in_this_invocation": False,
        "trained": trained,
        "ensembles_tested": ensembles,
        "retrained": retrained,
        "top_5_models": active_models(settings.ml_models_path)[:5],
        "messages": [],
    }


def not_run_ml_changes(mode: str, why: str) -> dict[str, Any]:
    """The report's ML part when nothing can be said about models: empty lists and why."""
    return {
        "status": f"the ML cycle did not run in this invocation (--mode {mode}): {why}",
        "cycle_id": None,
        "ran_in_this_invocation": False,
        "trained": [],
        "ensembles_tested": [],
        "retrained": [],
        "top_5_models": [],
        "messages": [],
    }
