"""Statistics on plain arrays: t intervals, paired tests, Holm's correction with intervals that agree
with it, the bootstrap, and the words of a verdict.

No DataFrames here: analysis/cells.py groups trials into cells and independent units and calls these.
Kept apart so each rule can be checked against a hand computation (tests/test_analysis_stats.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
ALPHA_LEVEL = 0.05
BOOTSTRAP_MIN_SEEDS = 5         # below this a bootstrap CI is too coarse to report
BOOTSTRAP_RESAMPLES = 9_999     # scipy's default; odd so percentiles fall on a resample
BOOTSTRAP_SEED = 0              # fixed: a rebuilt report must not move its CIs

# A general claim ("helps", "hurts", "no meaningful difference") needs this many independent units
# (a real subset and the GAN trained on it). With fewer, the t-test over units has 0 or 1 degree of
# freedom and the result says only what happened with the GAN(s) that were trained.
MIN_UNITS_TO_GENERALISE = 3

# The smallest effect of interest, in accuracy (eval.min_effect is in points: 1.0 -> 0.01). One point:
# the papers' claimed gains are 0.2-3 points at 87-95% baselines, and a gain under one point is below
# what one classifier's seed-to-seed spread already moves at the quick study's sizes (0.5-1.5 points).
DEFAULT_MIN_EFFECT = 0.01

VERDICT_HELPS, VERDICT_HURTS = "helps", "hurts"
VERDICT_NONE = "no meaningful difference"
VERDICT_UNTESTED = "untested (no paired units)"
VERDICT_NO_SPREAD = "untested (identical differences in every unit: no spread to test)"
VERDICT_WEAK = "inconclusive: the GAN was too weak"
VERDICT_INCONCLUSIVE = "inconclusive"          # the full words say what cannot be ruled out
VERDICT_LOCAL = "for the GAN(s) trained only"  # fewer than MIN_UNITS_TO_GENERALISE units
LOCAL_HIGHER, LOCAL_LOWER, LOCAL_UNCLEAR = "higher", "lower", "no clear difference"


@dataclass(frozen=True)
class Interval:
    mean: float
    std: float
    n: int
    lo: float
    hi: float


def _finite(values) -> np.ndarray:
    return np.asarray(pd.Series(values, dtype="float64").dropna(), dtype=float)


def mean_ci(values, confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided t-distribution CI (std with ddof=1). One value: CI is NaN (no spread known)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Interval(np.nan, np.nan, 0, np.nan, np.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, np.nan, 1, np.nan, np.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n))
    return Interval(mean, std, n, mean - half, mean + half)


def no_spread(differences) -> bool:
    d = _finite(differences)
    return len(d) >= 2 and bool(np.allclose(d, d[0], rtol=0.0, atol=1e-12))


def paired_p_value(differences) -> float:
    """Two-sided paired t-test p-value (= one-sample t-test of the differences against 0).

    Fewer than 2 differences, or differences without spread, give NaN: the t statistic is undefined, and
    identical differences (the same runs twice) are no evidence of anything, least of all p = 0."""
    d = _finite(differences)
    if len(d) < 2 or no_spread(d):
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(d, 0.0).pvalue)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of one family of p-values (NaN stays NaN and is not counted).

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i + 1); a running maximum
    keeps the adjusted values in the same order as the raw ones, and nothing exceeds 1. It controls the
    family-wise error rate under any dependence, which the candidates of one size have (one R = 0
    baseline). A candidate that was ranked but could not be tested counts by passing p = 1, not NaN.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def holm_levels(p_values, alpha: float = ALPHA_LEVEL) -> np.ndarray:
    """The per-test error level of Holm's step-down for each p-value, so that a two-sided t interval at
    confidence 1 - level excludes 0 exactly when Holm rejects that hypothesis.

    Holm tests the i-th smallest p (1-based) at alpha / (m - i + 1) until the first that fails, at
    position k; every later one is not rejected. A rejected test gets its own step's level; the failed
    one and all after it get alpha / (m - k + 1), the level at which the procedure stopped (their raw
    p is at least p_(k) >= alpha / (m - k + 1), so their intervals contain 0, as their verdicts say).
    NaN p-values get NaN.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    stopped = None
    for i, index in enumerate(order):
        level = alpha / (m - i)
        if stopped is None and p[index] >= level:
            stopped = level
        out[index] = level if stopped is None else stopped
    return out


def bootstrap_ci(differences, confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """BCa bootstrap CI of the mean of paired differences (scipy.stats.bootstrap), seeded.

    The pairs are already collapsed into differences, so resampling the differences resamples units
    with their pairing intact. Identical differences have no spread: the interval is that value.
    """
    d = _finite(differences)
    if len(d) < 2:
        return np.nan, np.nan
    if no_spread(d):
        return float(d[0]), float(d[0])
    result = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="BCa", rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "**" if p < 0.01 else "*" if p < ALPHA_LEVEL else ""


def _pts(x: float) -> str:
    return f"{x * 100:+.1f} pts"


def verdict(gain: float, p_holm: float, lo: float = np.nan, hi: float = np.nan, n: int | None = None,
            min_effect: float = DEFAULT_MIN_EFFECT, local: str | None = None, spread: bool = True) -> str:
    """Words for a gain over R = 0, judged on its Holm-adjusted p-value and the interval printed beside
    it (lo, hi: consistent with Holm, see holm_levels), over `n` independent units.

    - fewer than MIN_UNITS_TO_GENERALISE units: never a general claim. `local` (higher | lower | no clear
      difference, from the classifier repeats inside the unit(s)) says what happened with the GAN(s)
      that were trained;
    - Holm p < ALPHA_LEVEL: "helps" or "hurts";
    - the whole interval inside +/- min_effect: "no meaningful difference";
    - otherwise "inconclusive: cannot rule out ..." naming the bound beyond min_effect.
    """
    if n is not None and n < MIN_UNITS_TO_GENERALISE:
        if n == 0:
            return VERDICT_UNTESTED
        what = local or LOCAL_UNCLEAR
        return f"{what} {VERDICT_LOCAL} ({n} unit{'' if n == 1 else 's'}: not a general claim)"
    if not spread:
        return VERDICT_NO_SPREAD
    if p_holm is None or not np.isfinite(p_holm):
        return VERDICT_UNTESTED
    if p_holm < ALPHA_LEVEL and gain > 0:
        return VERDICT_HELPS
    if p_holm < ALPHA_LEVEL and gain < 0:
        return VERDICT_HURTS
    if np.isfinite(lo) and np.isfinite(hi) and -min_effect <= lo and hi <= min_effect:
        return VERDICT_NONE
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{VERDICT_INCONCLUSIVE}: no interval"
    beyond = [_pts(b) for b in (hi, lo) if abs(b) > min_effect]
    return f"{VERDICT_INCONCLUSIVE}: cannot rule out {' or '.join(beyond)}"


def is_general(words: str) -> bool:
    """Whether a verdict makes a claim about GAN augmentation in general (enough units, tested)."""
    return words in (VERDICT_HELPS, VERDICT_HURTS, VERDICT_NONE) or words.startswith(VERDICT_INCONCLUSIVE)


def is_local(words: str) -> bool:
    return VERDICT_LOCAL in words
