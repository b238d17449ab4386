"""The papers' numbers (analysis/data/published.csv), normalised so they join our cells.

published.csv has one row per table cell: paper file, table, dataset, sample_size with size_unit
("total" for Abadi, "per-class" for DAGAN), method (DAGAN's columns), ratio, training_data
(real-only | real+fake | fake-only), classifier, alpha, metric (accuracy or accuracy_pct), value.
Normalisation: sizes become totals (per-class x classes), percentages become fractions, and
"real-only" becomes real+fake at R = 0 (Abadi Table 2's real column is Table 4's R = 0 column).

A table never borrows another paper's numbers: a published cell joins ours only when our GAN
architecture is the one that paper used (PAPER_ARCHS; per DAGAN method in METHOD_ARCHS). An R = 0 cell
has no GAN of its own, so the caller passes the architectures of the study's other rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from analysis.columns import NUM_CLASSES

# Paper files (see papers/README.md) -> the short names our table registry uses.
PAPERS = {"004_d287d86f4fcb97b8.txt": "abadi", "003_2167ddcdd7df6ada.txt": "dagan",
          "001_c58afa13755d07a2.txt": "xing", "002_1109a4b9a51adad8.txt": "hooda"}

# The GAN architecture(s) behind each paper's numbers (our GANS registry names).
PAPER_ARCHS = {"abadi": frozenset({"abadi"}), "dagan": frozenset({"dagan", "dcgan"}),
               "xing": frozenset({"dcgan"}), "hooda": frozenset({"hooda"})}
# DAGAN's method columns: its GAN columns each stand for one architecture; C and C_aug use no GAN, so
# any architecture the paper used will do (the study's others rows decide).
METHOD_ARCHS = {("dagan", "DAGAN"): frozenset({"dagan"}), ("dagan", "DAGAN_aug"): frozenset({"dagan"}),
                ("dagan", "Vanilla GAN"): frozenset({"dcgan"}), ("dagan", "Semi GAN"): frozenset()}


@lru_cache(maxsize=1)
def load_published() -> pd.DataFrame:
    with resources.files("analysis.data").joinpath("published.csv").open() as handle:
        raw = pd.read_csv(handle)
    return normalise_published(raw)


def normalise_published(raw: pd.DataFrame) -> pd.DataFrame:
    pub = raw.copy()
    pub["paper"] = pub["paper"].map(lambda p: PAPERS.get(p, p))
    per_class = pub["size_unit"].eq("per-class")
    classes = pub["dataset"].map(NUM_CLASSES).astype(float)
    pub["size"] = np.where(per_class, pub["sample_size"] * classes, pub["sample_size"])
    pub["per_class_size"] = np.where(per_class, pub["sample_size"], pub["sample_size"] / classes)
    pub["value"] = np.where(pub["metric"].eq("accuracy_pct"), pub["value"] / 100.0, pub["value"])
    pub["real"] = pub["training_data"].map({"fake-only": False, "real-only": True, "real+fake": True})
    pub["ratio"] = pub["ratio"].where(~pub["training_data"].eq("real-only"), 0.0)
    for column in ("method", "classifier"):
        pub[column] = pub[column].astype(object).where(pub[column].notna(), None)
    return pub[["paper", "table", "dataset", "size", "per_class_size", "method", "ratio", "real",
                "classifier", "alpha", "value", "note"]]


def arch_matches(paper: str, gan_arch, method: str | None = None) -> bool:
    """Our architecture(s) for a cell include one the paper's number was measured with."""
    archs = {gan_arch} if isinstance(gan_arch, str) else set(gan_arch or ())
    wanted = METHOD_ARCHS.get((paper, method), PAPER_ARCHS.get(paper, frozenset()))
    return bool(archs & wanted)


def paper_value(pub: pd.DataFrame, paper: str, table: str, *, dataset, size, gan_arch: str | Iterable[str] | None,
                ratio=None, real=None, classifier=None, alpha=None, method=None) -> float:
    """The paper's number for one of our cells, or NaN.

    gan_arch: the cell's architecture (for R = 0: the study's architectures); no match, no number.
    A published field that is blank matches anything (the paper did not fix it). alpha is compared
    only when the cell uses a GAN (ratio > 0): R = 0 has no generator, so its alpha is irrelevant.
    """
    if not arch_matches(paper, gan_arch, method):
        return np.nan
    rows = pub[(pub["paper"] == paper) & (pub["table"] == table) & (pub["dataset"] == dataset)]
    rows = rows[np.isclose(rows["size"].astype(float), _as_float(size))]
    if ratio is not None:
        rows = rows[rows["ratio"].isna() | np.isclose(rows["ratio"].astype(float), float(ratio))]
    if real is not None:
        rows = rows[rows["real"].isna() | (rows["real"] == bool(real))]
    if classifier is not None:
        rows = rows[rows["classifier"].isna() | (rows["classifier"] == classifier)]
    if alpha is not None and _as_float(alpha) == _as_float(alpha) and (ratio is None or float(ratio) > 0):
        rows = rows[rows["alpha"].isna() | np.isclose(rows["alpha"].astype(float), float(alpha))]
    if method is not None:
        rows = rows[rows["method"] == method]
    return float(rows["value"].iloc[0]) if len(rows) else np.nan


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan
