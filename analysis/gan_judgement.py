"""Is a GAN good enough to judge augmentation by? A graded gate (weak / fair / good), weak GANs and
collapsed classes, from meta.json.

A verdict that synthetic images "hurt" (or "helped") says something about GAN augmentation only when
the GAN could draw its classes. The gate measures how much of what the real images teach a classifier
the GAN's images teach it, above chance:

    strength = (GAN-train - chance) / (real reference - chance)

GAN-train is a fixed small classifier (trainables/quality/scores.py) trained on the GAN's first images, the
real reference the same classifier trained on the same number of real images of the GAN's subset
(same seed, epochs, batch, lr: equal budgets), both tested on the study's VALIDATION split, never on
the test set (meta.json `gate_split`, `gate_images`). `grade(meta)` turns it into a label:

    weak   strength < FAIR_STRENGTH, or GAN-test below twice chance (the samples do not show their class)
    fair   FAIR_STRENGTH <= strength < GOOD_STRENGTH: recognisable but rough samples
    good   strength >= GOOD_STRENGTH

The cuts were set by measurement (bench/gan_gate.py, BENCHMARKS.md "Grading the GAN gate"): the quick
preset's GAN on mnist-5k at n = 500 checkpointed at several epochs, each sample grid looked at and
each strength measured with this gate. A weak GAN annotates the verdicts of its cells (the analysis:
analysis/selection.py); it never hides a significant result.

A meta.json without the gate's numbers (a study without a validation split writes them null) is
judged on GAN-test alone (weak, or "ungraded").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analysis.inputs import GanRecord
from trainables.terms.dataset_sizes import num_classes as dataset_classes

# Set by measurement (bench/gan_gate.py; BENCHMARKS.md "Grading the GAN gate"): the quick preset's GAN
# on mnist-5k, n = 500, seeds 0-2, 34 checkpoints from 1 to 200 epochs, 26 sample grids looked at.
# Noise, blobs and blotches (the seed-1 GAN at 25 epochs that the old gate passed among them) measured up to 0.68; digits
# readable in most rows but rough or speckled 0.70-0.89; mostly clean digits 0.88-0.92. Two blotchy
# grids with 4-5 readable rows measured 0.77 and 0.79 (fair), and two clean ones 0.88 and 0.896 (fair):
# the gate's own noise is about +/-0.03 (binomial, 400 validation images), so a grade near a cut can
# go either way; the report prints the strength beside the label.
FAIR_STRENGTH = 0.70
GOOD_STRENGTH = 0.90
CHANCE_MARGIN = 2.0   # GAN-test below 2x chance: the samples do not show their class

LABELS = ("weak", "fair", "good")
UNGRADED = "ungraded"   # no gate numbers (no validation split, a failed GAN) and GAN-test passes


@dataclass(frozen=True)
class Grade:
    """A GAN's quality grade: `label` in LABELS (or UNGRADED), the strength it rests on (None when not
    measured), why, and where the gate was measured (`split`: "validation (500 images each, tested on 400)",
    or "not measured")."""

    label: str
    strength: float | None
    reason: str
    split: str = "not measured"

    @property
    def weak(self) -> bool:
        return self.label == "weak"


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def num_classes(meta: dict) -> int:
    return int(meta.get("num_classes") or len(meta.get("classes") or []) or dataset_classes(meta.get("dataset")))


def gate_split(meta: dict) -> str:
    """Where meta.json's GAN-train and real reference were measured, in words."""
    if "gate_split" not in meta:
        return "not measured"   # a GAN that diverged or failed: no pool, so no scores
    split = meta["gate_split"]
    if not split:
        return "not measured (no validation split)"
    images, held = meta.get("gate_images"), meta.get("gate_held_out_images")
    if not isinstance(images, int):
        return str(split)
    return f"{split} ({images} images each" + (f", tested on {held}" if isinstance(held, int) and held else "") + ")"


def strength(meta: dict) -> float | None:
    """(GAN-train - chance) / (real reference - chance), or None when meta.json lacks either."""
    chance = 1.0 / num_classes(meta)
    gan_train, reference = _number(meta.get("gan_train_acc")), _number(meta.get("real_reference_acc"))
    if gan_train is None or reference is None or reference <= chance:
        return None
    return (gan_train - chance) / (reference - chance)


def grade(meta: dict) -> Grade:
    """The GAN's grade from its meta.json (see the module's docstring for the rule)."""
    split = gate_split(meta)
    if meta.get("status", "ok") != "ok":
        return Grade(UNGRADED, None, f"status {meta.get('status')}: no pool to grade", split)
    chance = 1.0 / num_classes(meta)
    value = strength(meta)
    gan_test = _number(meta.get("gan_test_acc"))
    if gan_test is not None and gan_test < CHANCE_MARGIN * chance:
        return Grade("weak", value, f"GAN-test {gan_test:.3f} is near chance ({chance:.2f}): the samples do not "
                     "show their class", split)
    if value is None:
        return Grade(UNGRADED, None, "no GAN-train and real reference to grade by" +
                     (f" (GAN-test {gan_test:.3f})" if gan_test is not None else ""), split)
    where = f"on {split}"
    recovers = (f"GAN-train {meta['gan_train_acc']:.3f} recovers {max(value, 0):.0%} of what the real images teach "
                f"above chance (real reference {meta['real_reference_acc']:.3f}, {where})")
    if value < FAIR_STRENGTH:
        return Grade("weak", value, f"{recovers}; < {FAIR_STRENGTH:.0%}", split)
    if value < GOOD_STRENGTH:
        return Grade("fair", value, f"{recovers}; {FAIR_STRENGTH:.0%}-{GOOD_STRENGTH:.0%}", split)
    return Grade("good", value, f"{recovers}; >= {GOOD_STRENGTH:.0%}", split)


def weakness(meta: dict) -> str | None:
    """Why a GAN is too weak to judge augmentation by (its grade is "weak"), or None."""
    judged = grade(meta)
    return judged.reason if judged.weak else None


def weak_gans(gans: Iterable[GanRecord]) -> dict[str, str]:
    """GAN key -> why it is too weak to judge (grade "weak"), for every such key. A weak GAN annotates
    the verdicts of its cells; it never hides a significant one."""
    return {g.key: reason for g in gans if (reason := weakness(g.meta))}


def collapsed_classes(meta: dict) -> list[str]:
    """The classes a GAN collapsed on, as meta.json lists them (none for a GAN without scores)."""
    collapsed = meta.get("collapsed_classes")
    return [str(c) for c in collapsed] if isinstance(collapsed, list) else []


MAX_NAMED_CLASSES = 4  # beyond this a collapse line gives ranges instead of one entry per class


# What a collapse line shows per class: (label, meta.json field).
PER_CLASS_FIGURES = (("diversity", "sample_diversity_per_class"), ("coverage", "coverage_per_class"))


def _per_class(meta: dict, field: str, k: int) -> float | None:
    values = meta.get(field)
    return _number(values[k]) if isinstance(values, list) and k < len(values) else None


def _class_details(meta: dict, classes: list[str]) -> str:
    """`3 (grid row 4: diversity 0.02, coverage 0.00), ...`, or ranges when many classes collapsed."""
    names = [str(c) for c in meta.get("classes") or []]
    rows = [names.index(c) for c in classes if c in names]
    figures = {label: [v for k in rows if (v := _per_class(meta, field, k)) is not None]
               for label, field in PER_CLASS_FIGURES}
    if len(classes) > MAX_NAMED_CLASSES or len(rows) < len(classes):
        ranges = [f"{label} {min(v):.2f}-{max(v):.2f}" for label, v in figures.items() if v]
        every = len(classes) == len(names)
        where = "all grid rows" if every else (f"grid rows {', '.join(str(k + 1) for k in rows)}" if rows else "")
        details = "; ".join(part for part in (where, ", ".join(ranges)) if part)
        return f"{'every class' if every else 'classes ' + ', '.join(classes)}" + (f" ({details})" if details else "")
    parts = []
    for cls, k in zip(classes, rows, strict=True):
        shown = [f"{label} {v:.2f}" for label, field in PER_CLASS_FIGURES if (v := _per_class(meta, field, k)) is not None]
        parts.append(f"{cls} (grid row {k + 1}" + (": " + ", ".join(shown) if shown else "") + ")")
    return "class(es) " + ", ".join(parts)


def collapse_lines(gans: Iterable[GanRecord]) -> list[str]:
    """The report's top warnings: one line per GAN key that collapsed on some classes, naming the
    classes, their rows in the key's sample grid and their diversity and coverage."""
    lines = []
    for gan in gans:
        classes = collapsed_classes(gan.meta)
        if classes:
            lines.append(f"**Mode collapse**: GAN `{gan.key}` ({gan.meta.get('arch', '?')}, n = "
                         f"{gan.meta.get('size', '?')}, seed {gan.meta.get('seed', '?')}) draws nearly the same "
                         f"image for {_class_details(gan.meta, classes)}: samples less than half as diverse as the "
                         f"real ones; see those rows of plots/samples_{gan.key}.png.")
    return lines
