"""The look-ahead audit: every feature and every strategy, at many cut points, on real bars.

Two tests, each a property that must hold on any data:

* **Truncation** (features and strategies): compute on the full history, then on the history cut at
  a bar ``c`` (at least ``n_cuts`` cut points spread over the data, plus, for strategies, every bar
  where the strategy signalled). Any value or signal at or before ``c`` that differs between the two
  used data after ``c``: look-ahead. Values must agree within ``TRUNCATION_RTOL`` (relative; NaN equals
  NaN); signals exactly.
* **Warm-up** (features): compute on the full history and on the history started ``k`` bars later,
  for several ``k``. From ``k + warmup_bars`` on the values must agree within ``WARMUP_RTOL`` relative
  to the larger of the two values and the feature's median magnitude (so features that cross zero,
  such as MACD, are judged on their own scale), with no NaN left after the warm-up. A feature whose
  declared warm-up is too short fails (the recursive-indicator problem).

Each finding names the first offending bar (its open time) and the size of the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from blofin_stack.features import REGISTRY, compute_features, max_warmup
from blofin_stack.features.registry import WARMUP_TOLERANCE, FeatureRegistry
from blofin_stack.serialize import iso
from blofin_stack.strategies.base import RISK_COLUMNS, SIGNAL_COLUMNS, Strategy, frame_with_features
from blofin_stack.strategies.plugins import describe_exception

TRUNCATION_RTOL = 1e-9
WARMUP_RTOL = WARMUP_TOLERANCE
#: Bars a warm-up comparison needs after the warm-up, or the feature is reported as not testable here.
MIN_COMPARED_BARS = 200


@dataclass(frozen=True)
class Finding:
    """The audit's verdict on one feature or strategy.

    Attributes:
        test: the failed test (``truncation``, ``warmup``, ``error``) or ``None`` when it passed.
        first_ts: open time (ms) of the first offending bar, when a test failed.
        difference: absolute difference there (``inf`` for NaN against a number, 1 for a flipped signal).
        detail: a sentence for people.
    """

    name: str
    kind: str
    ok: bool
    detail: str
    test: str | None = None
    first_ts: int | None = None
    difference: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "test": self.test,
            "first_ts": self.first_ts,
            "first_time": iso(self.first_ts),
            "difference": self.difference,
        }


@dataclass
class AuditReport:
    """All findings of one audit run; ``skipped``: strategies that cannot run yet, with the reason."""

    features: list[Finding]
    strategies: list[Finding]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in [*self.features, *self.strategies])

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "features": [f.as_dict() for f in self.features],
            "strategies": [f.as_dict() for f in self.strategies],
            "skipped": self.skipped,
        }


def _mismatch(expected: np.ndarray, actual: np.ndarray, rtol: float, scale: float = 0.0) -> np.ndarray:
    """Boolean mask of positions where ``actual`` differs from ``expected`` (NaN equals NaN)."""
    both_nan = np.isnan(expected) & np.isnan(actual)
    with np.errstate(invalid="ignore"):
        tolerance = rtol * np.maximum(np.maximum(np.abs(expected), np.abs(actual)), scale)
        close = np.abs(expected - actual) <= tolerance
    return ~(both_nan | close)


def _size(expected: float, actual: float) -> float:
    return float("inf") if np.isnan(expected) != np.isnan(actual) else abs(expected - actual)


#: Higher-timeframe features the audit checks besides every registered feature (on 1m/5m bars).
HIGHER_TIMEFRAME_SAMPLES = ("1H:close", "1H:ema_21", "4H:rsi_14", "1H:vwap_zscore")


def audited_feature_names(registry: FeatureRegistry = REGISTRY) -> list[str]:
    """Every registered feature, one member of every family (``n = max(min_n, 10)``) and a few
    higher-timeframe features: families and timeframe prefixes are infinite, their code is not."""
    members = [fam.pattern.replace("{n}", str(max(fam.min_n, 10))) for fam in registry.families()]
    return list(dict.fromkeys([*registry.names(), *members, *HIGHER_TIMEFRAME_SAMPLES]))


def cut_points(n_bars: int, n_cuts: int = 50, first: int = 1, extra: Iterable[int] = ()) -> np.ndarray:
    """``n_cuts`` cut positions spread over ``[first, n_bars - 2]`` plus ``extra`` ones, sorted, unique."""
    spread = np.linspace(first, n_bars - 2, n_cuts).astype(int) if n_bars > first + 1 else np.empty(0, int)
    extra_arr = np.fromiter((int(e) for e in extra), dtype=int)
    cuts = np.unique(np.concatenate([spread, extra_arr]))
    return cuts[(cuts >= 0) & (cuts < n_bars - 1)]


def _truncation(
    bars: pd.DataFrame,
    names: Sequence[str],
    registry: FeatureRegistry,
    cuts: np.ndarray,
    full: pd.DataFrame,
) -> dict[str, tuple[int, float, float, float, int]]:
    """Feature -> (first offending position, full value, cut value, |difference|, cut position)."""
    found: dict[str, tuple[int, float, float, float, int]] = {}
    for cut in cuts:
        prefix = compute_features(bars.iloc[: cut + 1], names, registry)
        for name in names:
            expected = full[name].to_numpy()[: cut + 1]
            actual = prefix[name].to_numpy()
            bad = np.flatnonzero(_mismatch(expected, actual, TRUNCATION_RTOL))
            if len(bad) and (name not in found or bad[0] < found[name][0]):
                i = int(bad[0])
                found[name] = (i, float(expected[i]), float(actual[i]), _size(expected[i], actual[i]), int(cut))
    return found


def _warmup(
    bars: pd.DataFrame,
    names: Sequence[str],
    registry: FeatureRegistry,
    timeframe: str | None,
    starts: Sequence[int],
    full: pd.DataFrame,
) -> tuple[dict[str, tuple[int, float, float, float, int]], dict[str, int]]:
    """Feature -> (first offending position, full, later, |difference|, start); and untestable -> bars needed."""
    found: dict[str, tuple[int, float, float, float, int]] = {}
    untestable: dict[str, int] = {}
    for start in starts:
        later = compute_features(bars.iloc[start:], names, registry)
        for name in names:
            warmup = max_warmup([name], timeframe, registry)
            if len(bars) - start - warmup < MIN_COMPARED_BARS:
                untestable[name] = start + warmup + MIN_COMPARED_BARS
                continue
            expected = full[name].to_numpy()[start + warmup :]
            actual = later[name].to_numpy()[warmup:]
            scale = float(np.nanmedian(np.abs(full[name].to_numpy()))) if np.isfinite(expected).any() else 0.0
            leftover_nan = np.isnan(expected) | np.isnan(actual)
            available_from = registry.resolve(name).available_from
            if available_from is not None:  # NaN by design before it
                leftover_nan &= bars.index.to_numpy(dtype="int64")[start + warmup :] >= available_from
            bad = np.flatnonzero(_mismatch(expected, actual, WARMUP_RTOL, scale) | leftover_nan)
            if len(bad) and name not in found:
                i = int(bad[0])
                found[name] = (
                    start + warmup + i,
                    float(expected[i]),
                    float(actual[i]),
                    _size(expected[i], actual[i]),
                    start,
                )
    return found, untestable


def audit_features(
    bars: pd.DataFrame,
    names: Sequence[str],
    *,
    timeframe: str | None = None,
    registry: FeatureRegistry = REGISTRY,
    n_cuts: int = 50,
    warmup_starts: Sequence[int] | None = None,
) -> list[Finding]:
    """Truncation and warm-up tests for every feature in ``names`` on ``bars`` (house OHLCV layout).

    Args:
        bars: the history to audit on (real bars; the longer, the more warm-ups can be checked).
        names: feature names, higher-timeframe ones included (then pass ``timeframe``).
        timeframe: the timeframe of ``bars`` (needed for higher-timeframe features' warm-ups).
        registry: where names resolve.
        n_cuts: truncation cut points spread over the bars.
        warmup_starts: how many bars later the shortened histories start (default: 1, 10 %, 25 %).

    Returns:
        One :class:`Finding` per name, in order.
    """
    ts = bars.index.to_numpy(dtype="int64")
    n = len(bars)
    starts = list(warmup_starts) if warmup_starts is not None else [1, n // 10, n // 4]
    findings = []
    try:
        full = compute_features(bars, names, registry)
        leaks = _truncation(bars, names, registry, cut_points(n, n_cuts), full)
        drift, untestable = _warmup(bars, names, registry, timeframe, starts, full)
    except Exception as exc:  # one bad feature: audit the others one by one to name it
        if len(names) == 1:
            return [Finding(names[0], "feature", False, f"computing it failed: {describe_exception(exc)}", "error")]
        return [
            f
            for name in names
            for f in audit_features(
                bars, [name], timeframe=timeframe, registry=registry, n_cuts=n_cuts, warmup_starts=starts
            )
        ]
    for name in names:
        if np.isnan(full[name].to_numpy()).all():
            detail = "no values on these bars (e.g. no funding rates stored): nothing to audit"
            findings.append(Finding(name, "feature", True, detail))
        elif name in leaks:
            i, full_value, cut_value, size, cut = leaks[name]
            detail = (
                f"look-ahead: the value at {iso(int(ts[i]))} is {full_value:.6g} with the full history but "
                f"{cut_value:.6g} when the data ends at {iso(int(ts[cut]))} (|difference| {size:.3g})"
            )
            findings.append(Finding(name, "feature", False, detail, "truncation", int(ts[i]), size))
        elif name in drift:
            i, full_value, later_value, size, start = drift[name]
            warmup = max_warmup([name], timeframe, registry)
            detail = (
                f"warm-up too short: {warmup} bars declared, yet at {iso(int(ts[i]))} the value is "
                f"{full_value:.6g} on the full history but {later_value:.6g} when history starts {start} bars "
                f"later (|difference| {size:.3g} > {WARMUP_RTOL:g} relative)"
            )
            findings.append(Finding(name, "feature", False, detail, "warmup", int(ts[i]), size))
        else:
            note = f"; warm-up not checked (needs {untestable[name]} bars)" if name in untestable else ""
            detail = f"ok: {len(cut_points(n, n_cuts))} cut points, {len(starts)} history starts{note}"
            findings.append(Finding(name, "feature", True, detail))
    return findings


def signal_bars(signals: pd.DataFrame) -> np.ndarray:
    """Positions where the strategy signalled: an entry, or an exit condition switching on."""
    entries = signals[["entry_long", "entry_short"]].to_numpy().any(axis=1)
    exits = signals[["exit_long", "exit_short"]].to_numpy()
    switched_on = (exits & ~np.vstack([np.zeros((1, 2), bool), exits[:-1]])).any(axis=1)
    return np.flatnonzero(entries | switched_on)


def audit_strategy(
    bars: pd.DataFrame,
    strategy: Strategy,
    params: dict[str, Any] | None = None,
    n_cuts: int = 50,
    features: pd.DataFrame | None = None,
) -> Finding:
    """Truncation test of ``strategy``'s signals (and per-bar stop/target columns) on ``bars``.

    Cut points: ``n_cuts`` spread over the bars plus every bar where the full run signalled. The
    strategy sees the bars and the features cut at each point. Features are computed once on the full
    history (or passed in): that is exact only for causal features, so the features a strategy uses must
    pass :func:`audit_features` too (:func:`run_lookahead_audit` includes them).
    """
    resolved = strategy.resolve_params(params)
    names = strategy.features_for(resolved)
    ts = bars.index.to_numpy(dtype="int64")
    try:
        computed = compute_features(bars, names) if features is None else features[names]
        frame = frame_with_features(bars, computed)
        full = strategy.signals(frame, resolved)
        fired = signal_bars(full)
        cuts = cut_points(len(bars), n_cuts, extra=fired)
        columns = [*SIGNAL_COLUMNS, *(c for c in RISK_COLUMNS if c in full)]
        first: tuple[int, str, int] | None = None
        for cut in cuts:
            prefix = strategy.signals(frame.iloc[: cut + 1], resolved)
            for column in columns:
                expected = full[column].to_numpy()[: cut + 1].astype("float64")
                actual = prefix[column].to_numpy().astype("float64")
                bad = np.flatnonzero(_mismatch(expected, actual, TRUNCATION_RTOL))
                if len(bad) and (first is None or bad[0] < first[0]):
                    first = (int(bad[0]), column, int(cut))
    except Exception as exc:
        return Finding(strategy.name, "strategy", False, f"running it failed: {describe_exception(exc)}", "error")
    if first is None:
        return Finding(strategy.name, "strategy", True, f"ok: {len(cuts)} cut points ({len(fired)} signal bars)")
    i, column, cut = first
    expected_value = full[column].to_numpy()[i]
    detail = (
        f"look-ahead: {column} at {iso(int(ts[i]))} is {expected_value} with the full history but differs when "
        f"the data ends at {iso(int(ts[cut]))}"
    )
    size = 1.0 if column in SIGNAL_COLUMNS else _size(float(expected_value), float("nan"))
    return Finding(strategy.name, "strategy", False, detail, "truncation", int(ts[i]), size)


def run_lookahead_audit(
    bars: pd.DataFrame,
    feature_names: Sequence[str],
    strategies: Sequence[Strategy],
    *,
    timeframe: str | None = None,
    registry: FeatureRegistry = REGISTRY,
    n_cuts: int = 50,
    on_step: Callable[[str], None] | None = None,
) -> AuditReport:
    """Audit ``feature_names``, every feature the ``strategies`` use, and the ``strategies`` (default
    parameters) on ``bars``; strategies that cannot run yet are listed in ``skipped`` with the reason.
    ``on_step(what)`` is called after the features and after each strategy."""
    skipped = {s.name: reason for s in strategies if (reason := s.unavailable_reason())}
    strategies = [s for s in strategies if s.name not in skipped]
    used = [n for s in strategies for n in s.features_for(s.resolve_params())]
    names = list(dict.fromkeys([*feature_names, *used]))
    features = audit_features(bars, names, timeframe=timeframe, registry=registry, n_cuts=n_cuts)
    if on_step:
        on_step(f"{len(names)} features")
    computed = compute_features(bars, list(dict.fromkeys(used)), registry)
    findings = []
    for strategy in strategies:
        findings.append(audit_strategy(bars, strategy, n_cuts=n_cuts, features=computed))
        if on_step:
            on_step(strategy.name)
    return AuditReport(features=features, strategies=findings, skipped=skipped)
