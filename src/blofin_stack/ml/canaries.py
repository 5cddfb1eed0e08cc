"""Leakage canaries: run on every training; any that fires marks the model ``suspect``.

* **permutation** (:func:`permutation_lift`, :func:`permutation_verdict`): the same pipeline trained on
  shuffled labels must score at chance out of sample. Chance is the score of the same predictions put in
  a random order over the test rows (mean of 20 re-orderings): that keeps the predictions' class mix or
  distribution, so a shift of the class balance between training and test windows (which lets a
  no-information model beat the training-majority baseline by luck) does not count as skill. The canary
  fires when, averaged over the permuted folds, the lift over chance is beyond ``PERMUTATION_TOLERANCE``
  in either direction (accuracy points; for regressors the fraction of the chance MAE) AND beyond 3
  standard errors of the re-orderings: predictions that know the test rows (or their opposite) without
  having learned the labels point to a leak: test labels reaching training, overlapping samples, a broken
  metric, or a feature so tied to the label that even a random mapping of it predicts (or anti-predicts)
  the test rows.
* **too good** (:func:`too_good`): out-of-sample direction accuracy above a bound (default 0.65) for
  horizons up to 1H is not believable for liquid crypto; such a model is suspect until explained.
* **alignment** (:func:`alignment`): every feature must pass the look-ahead audit, and no feature may
  track the label's defining series (e.g. the forward return) at lag 0 much better than its own value
  ``horizon + 1`` bars earlier. A causal feature's information about the future decays smoothly with
  the lag; a feature that encodes the label is strongly related at lag 0 and unrelated once the
  label windows no longer overlap. Test: Spearman ``|r0| = |corr(f_t, s_t)|`` and
  ``|rL| = |corr(f_{t-L}, s_t)|`` with ``L = horizon + 1``, pooled over instruments; the canary fires
  when ``|r0| >= 0.3`` and ``|r0| - |rL| >= 0.2`` (a legitimate feature's |r0| with a 1-hour forward
  return is below 0.1 on the real data), or when a feature equals the series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from blofin_stack.audit.lookahead import audit_features
from blofin_stack.features import compute_features
from blofin_stack.market.timeframes import HOUR_MS, timeframe_ms
from blofin_stack.ml.base import LabelSpec

#: Alignment canary thresholds (documented in the module docstring and docs/ML.md).
ALIGNMENT_MIN_R0 = 0.3
ALIGNMENT_MIN_GAP = 0.2
#: Permutation canary: lift over chance a model on shuffled labels may show (noise), and the z-score.
PERMUTATION_TOLERANCE = 0.02
PERMUTATION_MIN_Z = 3.0
PERMUTATION_DRAWS = 20


@dataclass(frozen=True)
class CanaryResult:
    """One canary's verdict: ``passed`` False means the model is suspect, for ``detail``."""

    name: str
    passed: bool
    detail: str


def too_good(label: LabelSpec, timeframe: str, oos_accuracy: float | None, bound: float) -> CanaryResult:
    """Direction accuracy above ``bound`` for a direction label whose horizon is at most 1 hour."""
    applies = label.name.startswith("direction") and label.horizon * timeframe_ms(timeframe) <= HOUR_MS
    if not applies or oos_accuracy is None:
        return CanaryResult("too_good", True, "not applicable" if not applies else "no accuracy")
    if oos_accuracy > bound:
        detail = (
            f"out-of-sample direction accuracy {oos_accuracy:.3f} > {bound:g} over {label.horizon} {timeframe} bars: "
            "too good to be true for liquid crypto; look for a feature that encodes the label"
        )
        return CanaryResult("too_good", False, detail)
    return CanaryResult("too_good", True, f"accuracy {oos_accuracy:.3f} <= {bound:g}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 30:
        return 0.0
    ra = pd.Series(a[ok]).rank().to_numpy()
    rb = pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def lag_relations(
    bars_by_inst: Mapping[str, pd.DataFrame], features: Sequence[str], label: LabelSpec
) -> dict[str, tuple[float, float, bool]]:
    """Feature -> (|r0|, |rL|, equal): Spearman relation with the label's defining series at lag 0 and at
    lag ``horizon + 1``, pooled over instruments; ``equal`` when the feature equals the series."""
    lag = label.horizon + 1
    now: dict[str, list[np.ndarray]] = {f: [] for f in features}
    past: dict[str, list[np.ndarray]] = {f: [] for f in features}
    series: list[np.ndarray] = []
    for bars in bars_by_inst.values():
        values = compute_features(bars, features)
        target = label.defining_series(bars).to_numpy(dtype="float64")
        series.append(target)
        for f in features:
            column = values[f].to_numpy()
            now[f].append(column)
            past[f].append(np.concatenate([np.full(lag, np.nan), column[:-lag]]))
    s = np.concatenate(series)
    out = {}
    for f in features:
        a, b = np.concatenate(now[f]), np.concatenate(past[f])
        ok = np.isfinite(a) & np.isfinite(s)
        equal = bool(ok.sum() > 0 and np.allclose(a[ok], s[ok], rtol=1e-9, atol=1e-12))
        out[f] = (abs(_spearman(a, s)), abs(_spearman(b, s)), equal)
    return out


def alignment(
    bars_by_inst: Mapping[str, pd.DataFrame],
    features: Sequence[str],
    label: LabelSpec,
    timeframe: str,
    audit_bars: int = 3000,
) -> CanaryResult:
    """Every feature passes the look-ahead audit (on one instrument's last ``audit_bars`` bars), and none
    relates to the label's defining series at lag 0 far better than at lag ``horizon + 1``."""
    problems = []
    sample = next(iter(bars_by_inst.values())).iloc[-audit_bars:]
    for finding in audit_features(sample, list(features), timeframe=timeframe, n_cuts=20):
        if not finding.ok:
            problems.append(f"feature {finding.name} fails the look-ahead audit: {finding.detail}")
    for name, (r0, r_lag, equal) in lag_relations(bars_by_inst, features, label).items():
        if equal:
            problems.append(f"feature {name} equals the label's defining series")
        elif r0 >= ALIGNMENT_MIN_R0 and r0 - r_lag >= ALIGNMENT_MIN_GAP:
            problems.append(
                f"feature {name} tracks the label's defining series at lag 0 (|r|={r0:.2f}) far better than its own "
                f"value {label.horizon + 1} bars earlier (|r|={r_lag:.2f})"
            )
    if problems:
        return CanaryResult("alignment", False, "; ".join(problems))
    return CanaryResult("alignment", True, f"{len(features)} features audited and aligned")


def permutation_lift(
    task: str, y_true: np.ndarray, y_pred: np.ndarray, rng: np.random.Generator, draws: int = PERMUTATION_DRAWS
) -> tuple[float, float]:
    """How much better ``y_pred`` scores on ``y_true`` than the same predictions in random row order.

    Returns:
        ``(lift, standard error)``: accuracy minus its mean over ``draws`` re-orderings (classification),
        or ``1 - MAE / mean re-ordered MAE`` (regression); the standard error is the re-orderings'
        standard deviation (same units).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)

    def score(pred: np.ndarray) -> float:
        if task == "classification":
            return float(np.mean(pred == y_true))
        return -float(np.mean(np.abs(pred.astype("float64") - y_true.astype("float64"))))

    null = np.array([score(rng.permutation(y_pred)) for _ in range(draws)])
    lift, spread = score(y_pred) - float(null.mean()), float(null.std(ddof=1)) if draws > 1 else 0.0
    if task != "classification":  # relative to the chance MAE
        scale = abs(float(null.mean())) or 1.0
        lift, spread = lift / scale, spread / scale
    return lift, spread


def permutation_verdict(lifts: Sequence[tuple[float, float]], metric: str) -> CanaryResult:
    """Judge the ``(lift, standard error)`` over chance of models trained on shuffled labels, one per fold
    (:func:`permutation_lift`)."""
    if not lifts:
        return CanaryResult("permutation", True, "not run (no folds to permute)")
    mean = float(np.mean([lift for lift, _ in lifts]))
    error = float(np.sqrt(np.mean([se**2 for _, se in lifts])))
    z = mean / error if error > 0 else (np.inf * np.sign(mean) if mean else 0.0)
    measured = f"{metric} lift over chance {mean:+.3f}, z {z:.1f}"
    if abs(mean) > PERMUTATION_TOLERANCE and abs(z) > PERMUTATION_MIN_Z:
        detail = (
            f"trained on shuffled labels its predictions still relate to the test rows ({measured}; beyond "
            f"+/-{PERMUTATION_TOLERANCE} and +/-{PERMUTATION_MIN_Z:g}): something leaks the label"
        )
        return CanaryResult("permutation", False, detail)
    return CanaryResult("permutation", True, f"shuffled labels score at chance ({measured})")
