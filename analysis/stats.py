"""Statistics on plain arrays: t intervals, paired tests, Holm's correction, the bootstrap, verdicts.

No DataFrames here: analysis/cells.py groups trials into cells and calls these. Kept apart so each
rule can be checked against a hand computation (tests/test_analysis_stats.py).
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

VERDICT_HELPS, VERDICT_HURTS = "helps", "hurts"
VERDICT_NONE = "no significant difference"
VERDICT_UNTESTED = "untested (fewer than 2 paired seeds)"
VERDICT_WEAK = "inconclusive: the GAN was too weak"
VERDICT_INCONCLUSIVE = "inconclusive: too few seeds or too wide a CI"
MIN_SEEDS_TO_CONCLUDE = 3       # below this, no difference is "no difference", only "inconclusive"
MAX_CI_HALF_WIDTH = 0.05        # accuracy (5 points): a wider 95% CI cannot rule out a real gain


@dataclass(frozen=True)
class Interval:
    mean: float
    std: float
    n: int
    lo: float
    hi: float


def mean_ci(values, confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided t-distribution CI (std with ddof=1). One value: CI is NaN (no spread known)."""
    x = np.asarray(pd.Series(values, dtype="float64").dropna(), dtype=float)
    n = len(x)
    if n == 0:
        return Interval(np.nan, np.nan, 0, np.nan, np.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, np.nan, 1, np.nan, np.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n))
    return Interval(mean, std, n, mean - half, mean + half)


def paired_p_value(differences) -> float:
    """Two-sided paired t-test p-value (= one-sample t-test of the differences against 0)."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return np.nan
    if np.allclose(d, d[0]):
        # Zero spread: the t statistic is undefined. Identical runs differ by exactly 0 -> no evidence.
        return 1.0 if np.isclose(d[0], 0.0) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(d, 0.0).pvalue)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of one family of p-values (NaN stays NaN and is not counted).

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i + 1); a running maximum
    keeps the adjusted values in the same order as the raw ones, and nothing exceeds 1. It controls the
    family-wise error rate under any dependence, which the ratios of one size have (one R = 0 baseline).
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


def bootstrap_ci(differences, confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """BCa bootstrap CI of the mean of paired differences (scipy.stats.bootstrap), seeded.

    The pairs are already collapsed into differences, so resampling the differences resamples seeds
    with their pairing intact. Identical differences have no spread: the interval is that value.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return np.nan, np.nan
    if np.allclose(d, d[0]):
        return float(d[0]), float(d[0])
    result = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="BCa", rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "**" if p < 0.01 else "*" if p < ALPHA_LEVEL else ""


def verdict(gain: float, p_holm: float, lo: float = np.nan, hi: float = np.nan, n: int | None = None) -> str:
    """Words for a gain, judged on the Holm-adjusted p-value of its family of ratios.

    A significant gain or loss stands on its test. "No significant difference" is only said when the
    data could have shown one: at least MIN_SEEDS_TO_CONCLUDE seeds and a 95% CI no wider than
    +/- MAX_CI_HALF_WIDTH; otherwise the cell is inconclusive (2 seeds with a CI of -43 to +37 points
    rule out nothing)."""
    if p_holm is None or not np.isfinite(p_holm):
        return VERDICT_UNTESTED
    if p_holm < ALPHA_LEVEL and gain > 0:
        return VERDICT_HELPS
    if p_holm < ALPHA_LEVEL and gain < 0:
        return VERDICT_HURTS
    too_few = n is not None and n < MIN_SEEDS_TO_CONCLUDE
    too_wide = bool(np.isfinite(lo) and np.isfinite(hi) and (hi - lo) / 2 > MAX_CI_HALF_WIDTH)
    return VERDICT_INCONCLUSIVE if too_few or too_wide else VERDICT_NONE
