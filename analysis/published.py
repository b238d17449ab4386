"""The papers' numbers (analysis/data/published.csv), each paper's protocol, and the one join rule.

published.csv has one row per table cell: paper file, table, dataset, sample_size with size_unit
("total" for Abadi, "per-class" for DAGAN), method (DAGAN's columns), ratio, training_data
(real-only | real+fake | fake-only), classifier, alpha, metric (accuracy or accuracy_pct), value.
Normalisation: sizes become totals (per-class x classes), percentages become fractions, and
"real-only" becomes real+fake at R = 0 (Abadi Table 2's real column is Table 4's R = 0 column).

The join rule (`paper_value`): a published number stands beside one of our cells only when dataset,
size (the true count of real images, after the validation hold-out), R, real vs synthetic-only,
classifier, alpha (R > 0), GAN architecture, per-class vs conditional (R > 0), the classifier's
schedule and the augmentation all agree. A field the paper leaves blank is not checked (DAGAN does
not name its classifier or R), nor is a setting of ours nobody recorded. An R = 0 cell has no GAN:
its GAN settings are not checked, but the study's architectures must include the paper's, so a table
never borrows another paper's numbers. Settings that change the number without changing what is
compared (GAN epochs, the GAN recipe, the classifier's epochs) do not block a join: `differences`
names them for the table's note. Each paper's protocol is encoded once, in PROTOCOLS, from the paper
texts in papers/ (section references in `source`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from trainables.terms.dataset_sizes import num_classes

# Paper files (see papers/README.md) -> the short names our table registry uses.
PAPERS = {"004_d287d86f4fcb97b8.txt": "abadi", "003_2167ddcdd7df6ada.txt": "dagan",
          "001_c58afa13755d07a2.txt": "xing", "002_1109a4b9a51adad8.txt": "hooda"}


@dataclass(frozen=True)
class Protocol:
    """How a paper (or one method column of it) measured its numbers, in our spec's vocabulary.

    None: the paper does not say (never checked, named in the note as not stated)."""
    archs: frozenset                      # our GANS names that are the paper's GAN (empty: none of ours)
    conditioning: str | None              # per-class | conditional
    augment: str = "none"                 # the classifier's augmentation: none | classic
    schedule: str = "epochs"              # every paper trains the classifier a fixed number of epochs
    recipe: str = "paper"                 # none of them used DiffAugment, EMA or spectral norm
    gan_epochs: Mapping[str, int] | None = None          # per dataset
    classifier_epochs: Mapping[str, int] | int | None = None   # per classifier, or one for all
    full_sets: Mapping[str, int] = field(default_factory=dict)  # the paper's own full training set
    uses_gan: bool = True                 # False: a baseline column (DAGAN's C, C_aug)
    source: str = ""


PROTOCOLS: dict[str, Protocol] = {
    # Abadi 3.2 (one DCGAN per class, width alpha), 4 ("GANs are trained only once for 2000 epochs";
    # "the classifier is trained for 15 epochs"; "the maximum observed accuracy over all epochs"),
    # 5 (CIFAR-10: "each GAN is trained for 3000 epochs", on the whole training set).
    "abadi": Protocol(frozenset({"abadi"}), "per-class", gan_epochs={"mnist": 2000, "cifar10": 3000},
                      classifier_epochs=15, full_sets={"mnist": 60000, "cifar10": 50000},
                      source="Abadi 3.2, 4, 5"),
    # Zhang & Wu 2.2, Table 2: one label-conditioned GAN (label concatenated at every generator stage,
    # 2K-way discriminator); 3.1-3.2: C, C_aug, Vanilla GAN ("a GAN trained on each class"), Semi GAN,
    # DAGAN, DAGAN_aug. GAN epochs, classifier, its epochs and R are not stated (OCR'd text).
    "dagan": Protocol(frozenset({"dagan", "dcgan"}), "conditional", source="Zhang & Wu 2.2, 3.1-3.3"),
    # Xing 2.2.2-3: Radford-style DCGAN trained 50 epochs on 50,000 images, 3,200 images per class
    # (hence one GAN per class); LeNet 200 epochs, AlexNet and InceptionNet 100.
    "xing": Protocol(frozenset({"dcgan"}), "per-class", gan_epochs={"cifar10": 50},
                     classifier_epochs={"lenet": 200, "alexnet": 100, "inception": 100},
                     full_sets={"cifar10": 50000}, source="Xing 2.2.2-2.2.3, 3"),
    # Hooda III-IV: an unconditional DCGAN variant, 120 epochs; no classifier numbers.
    "hooda": Protocol(frozenset({"hooda"}), None, gan_epochs={"cifar10": 120}, full_sets={"cifar10": 50000},
                      source="Hooda III-IV"),
}
_NO_PROTOCOL = Protocol(frozenset(), None)
# DAGAN's method columns each stand for one arm: its GAN, conditioning and augmentation.
METHOD_PROTOCOLS: dict[tuple[str, str], Protocol] = {
    ("dagan", "C"): replace(PROTOCOLS["dagan"], uses_gan=False),
    ("dagan", "C_aug"): replace(PROTOCOLS["dagan"], uses_gan=False, augment="classic"),
    ("dagan", "Vanilla GAN"): replace(PROTOCOLS["dagan"], archs=frozenset({"dcgan"}), conditioning="per-class"),
    ("dagan", "Semi GAN"): replace(PROTOCOLS["dagan"], archs=frozenset()),
    ("dagan", "DAGAN"): replace(PROTOCOLS["dagan"], archs=frozenset({"dagan"})),
    ("dagan", "DAGAN_aug"): replace(PROTOCOLS["dagan"], archs=frozenset({"dagan"}), augment="classic"),
}
# The GAN architecture(s) behind each paper's numbers (our GANS registry names).
PAPER_ARCHS = {paper: protocol.archs for paper, protocol in PROTOCOLS.items()}
AUTHORS = {"abadi": "Abadi", "dagan": "Zhang & Wu", "xing": "Xing", "hooda": "Hooda"}


def protocol(paper: str, method: str | None = None) -> Protocol | None:
    return METHOD_PROTOCOLS.get((paper, method)) or PROTOCOLS.get(paper)


@lru_cache(maxsize=1)
def load_published() -> pd.DataFrame:
    with resources.files("analysis.data").joinpath("published.csv").open() as handle:
        raw = pd.read_csv(handle)
    return normalise_published(raw)


def normalise_published(raw: pd.DataFrame) -> pd.DataFrame:
    pub = raw.copy()
    pub["paper"] = pub["paper"].map(lambda p: PAPERS.get(p, p))
    per_class = pub["size_unit"].eq("per-class")
    classes = pub["dataset"].map(lambda d: num_classes(d, default=None)).astype(float)
    pub["size"] = np.where(per_class, pub["sample_size"] * classes, pub["sample_size"])
    pub["per_class_size"] = np.where(per_class, pub["sample_size"], pub["sample_size"] / classes)
    pub["value"] = np.where(pub["metric"].eq("accuracy_pct"), pub["value"] / 100.0, pub["value"])
    pub["real"] = pub["training_data"].map({"fake-only": False, "real-only": True, "real+fake": True})
    pub["ratio"] = pub["ratio"].where(~pub["training_data"].eq("real-only"), 0.0)
    for column in ("method", "classifier"):
        pub[column] = pub[column].astype(object).where(pub[column].notna(), None)
    return pub[["paper", "table", "dataset", "size", "per_class_size", "method", "ratio", "real",
                "classifier", "alpha", "value", "note"]]


def _values(value) -> set:
    """A setting as a set of known values: None / NaN / "" are unknown (the empty set)."""
    if value is None or isinstance(value, str | int | float | bool | np.generic):
        values = [value]
    else:
        values = list(value)
    return {v for v in values if not (v is None or v == "" or (isinstance(v, float) and np.isnan(v)))}


def arch_matches(paper: str, gan_arch, method: str | None = None) -> bool:
    """Our architecture(s) for a cell include one the paper's number was measured with."""
    wanted = protocol(paper, method)
    return bool(_values(gan_arch) & (wanted.archs if wanted else frozenset()))


def _agrees(ours, theirs) -> bool:
    """One setting agrees: the paper does not say, nobody recorded ours, or ours is (one of) theirs."""
    known = _values(ours)
    return theirs is None or not known or theirs in known


def settings_agree(paper: str, method: str | None = None, *, gan_arch=None, conditioning=None, schedule=None,
                   augment=None, uses_gan: bool = True) -> bool:
    """The protocol half of the join rule: architecture, per-class vs conditional, schedule, augmentation.

    uses_gan: the cell has synthetic images (R > 0 or synthetic only). Without them only the study's
    architectures are checked (against every GAN the paper used), not the conditioning."""
    wanted = protocol(paper, method)
    if wanted is None:
        return False
    column = method is not None and (paper, method) in METHOD_PROTOCOLS   # one arm of the paper's table
    if column and wanted.uses_gan != uses_gan:
        return False        # a GAN column never joins a cell without synthetic images, nor C one with
    if not uses_gan:
        if not _values(gan_arch) & PROTOCOLS[paper].archs:
            return False
    elif not arch_matches(paper, gan_arch, method) or not _agrees(conditioning, wanted.conditioning):
        return False
    return _agrees(schedule, wanted.schedule) and _agrees(augment, wanted.augment)


def paper_value(pub: pd.DataFrame, paper: str, table: str, *, dataset, size, gan_arch: str | Iterable[str] | None,
                ratio=None, real=None, classifier=None, alpha=None, method=None, conditioning=None,
                schedule=None, augment=None) -> float:
    """The paper's number for one of our cells, or NaN (the join rule: module docstring).

    gan_arch: the cell's architecture (for R = 0: the study's architectures); size: the true count of
    real images (a "full" subset after the validation hold-out is smaller than the paper's full set,
    so it does not join). A published field that is blank matches anything (the paper did not fix it);
    a setting of ours passed as None is not checked. alpha and conditioning are compared only when
    the cell uses a GAN (R > 0 or synthetic only): R = 0 has no generator.
    """
    if ratio is None and real is not False:     # not given: a method column says whether it has a GAN
        uses_gan = (METHOD_PROTOCOLS.get((paper, method)) or PROTOCOLS.get(paper, _NO_PROTOCOL)).uses_gan
    else:
        uses_gan = real is False or float(ratio) > 0
    if not settings_agree(paper, method, gan_arch=gan_arch, conditioning=conditioning, schedule=schedule,
                          augment=augment, uses_gan=uses_gan):
        return np.nan
    rows = pub[(pub["paper"] == paper) & (pub["table"] == table) & (pub["dataset"] == dataset)]
    rows = rows[np.isclose(rows["size"].astype(float), _as_float(size))]
    if ratio is not None:
        rows = rows[rows["ratio"].isna() | np.isclose(rows["ratio"].astype(float), float(ratio))]
    if real is not None:
        rows = rows[rows["real"].isna() | (rows["real"] == bool(real))]
    if classifier is not None:
        rows = rows[rows["classifier"].isna() | (rows["classifier"] == classifier)]
    if alpha is not None and _as_float(alpha) == _as_float(alpha) and uses_gan:
        rows = rows[rows["alpha"].isna() | np.isclose(rows["alpha"].astype(float), float(alpha))]
    if method is not None:
        rows = rows[rows["method"] == method]
    return float(rows["value"].iloc[0]) if len(rows) else np.nan


def differences(paper: str, method: str | None = None, *, dataset=None, classifier=None, gan_epochs=None,
                recipe=None, classifier_epochs=None, uses_gan: bool = True) -> list[str]:
    """The paper's settings that differ from ours for a joined cell (they do not block the join), each
    as "what: paper X, ours Y"; a setting the paper does not state is named as such."""
    wanted = protocol(paper, method)
    if wanted is None:
        return []
    who, out = AUTHORS.get(paper, paper), []
    theirs_epochs = (wanted.gan_epochs or {}).get(str(dataset)) if wanted.gan_epochs is not None else None
    clf_epochs = wanted.classifier_epochs
    if isinstance(clf_epochs, Mapping):
        clf_epochs = clf_epochs.get(str(classifier))
    checks = [("classifier epochs", clf_epochs, classifier_epochs)]
    if uses_gan:
        checks = [("GAN epochs", theirs_epochs, gan_epochs), ("GAN recipe", wanted.recipe, recipe), *checks]
    for what, theirs, ours in checks:
        known = sorted(_values(ours), key=str)
        if not known:
            continue
        if theirs is None:
            out.append(f"{what}: not stated by {who}, ours {'/'.join(map(_fmt, known))}")
        elif any(_fmt(v) != _fmt(theirs) for v in known):
            out.append(f"{what}: {who} {_fmt(theirs)}, ours {'/'.join(map(_fmt, known))}")
    return out


def full_set_size(paper: str, dataset) -> int | None:
    """The paper's own full training set of a dataset (its "full" rows), if it used one."""
    wanted = PROTOCOLS.get(paper)
    return (wanted.full_sets or {}).get(str(dataset)) if wanted else None


def _fmt(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan
