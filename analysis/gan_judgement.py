"""Is a GAN good enough to judge augmentation by? Weak GANs and collapsed classes, from meta.json.

A verdict that synthetic images "hurt" only means something when the GAN could draw its classes. So
a GAN key is *too weak to judge* when its samples teach a classifier less than half of what the real
images teach it above chance:

    strength = (GAN-train - chance) / (real reference - chance) < WEAK_GAN_FRACTION = 0.5

where GAN-train is the quality classifier trained on the first n synthetic images and the real
reference the same classifier, same budget, trained on the n real images (both tested on the real
test set; trainables/quality.py). At 0.5 the synthetic set carries at most half the class
information of the real one, so adding it cannot be told apart from adding noise with labels; the
issue's grey-noise GANs measure 0.0, the quick preset's 25-epoch GANs 0.2-0.8. A GAN whose GAN-test
accuracy is below twice chance (its samples do not show their class) is too weak as well. Older
meta.json files without the real reference are judged on GAN-test alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.columns import NUM_CLASSES
from analysis.load import GanRecord

WEAK_GAN_FRACTION = 0.5
CHANCE_MARGIN = 2.0   # GAN-test below 2x chance: the samples do not show their class
DIVERSITY_COLLAPSE = 0.5   # per-class sample / real diversity below this: a collapsed class (older metas)


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def num_classes(meta: dict) -> int:
    return int(meta.get("num_classes") or len(meta.get("classes") or []) or NUM_CLASSES.get(str(meta.get("dataset")), 10))


def strength(meta: dict) -> float | None:
    """(GAN-train - chance) / (real reference - chance), or None when meta.json lacks either."""
    chance = 1.0 / num_classes(meta)
    gan_train, reference = _number(meta.get("gan_train_acc")), _number(meta.get("real_reference_acc"))
    if gan_train is None or reference is None or reference <= chance:
        return None
    return (gan_train - chance) / (reference - chance)


def weakness(meta: dict) -> str | None:
    """Why a GAN is too weak to judge augmentation by, or None."""
    if meta.get("status", "ok") != "ok":
        return None      # a failed GAN has no trials to judge; its trials say why
    chance = 1.0 / num_classes(meta)
    value = strength(meta)
    if value is not None and value < WEAK_GAN_FRACTION:
        return (f"GAN-train {meta['gan_train_acc']:.3f} recovers {max(value, 0):.0%} of what the real images teach "
                f"above chance (real reference {meta['real_reference_acc']:.3f}; < {WEAK_GAN_FRACTION:.0%})")
    gan_test = _number(meta.get("gan_test_acc"))
    if gan_test is not None and gan_test < CHANCE_MARGIN * chance:
        return f"GAN-test {gan_test:.3f} is near chance ({chance:.2f}): the samples do not show their class"
    return None


def weak_gans(gans: Iterable[GanRecord]) -> dict[str, str]:
    """GAN key -> why it is too weak to judge, for every such key."""
    return {g.key: reason for g in gans if (reason := weakness(g.meta))}


def collapsed_classes(meta: dict) -> list[str]:
    """The classes a GAN collapsed on: meta.json's list, else from its per-class diversity ratios."""
    if isinstance(meta.get("collapsed_classes"), list):
        return [str(c) for c in meta["collapsed_classes"]]
    ratios = meta.get("sample_diversity_per_class")
    if not isinstance(ratios, list):
        return []
    classes = meta.get("classes") or [str(k) for k in range(len(ratios))]
    return [str(classes[k]) for k, r in enumerate(ratios) if _number(r) is not None and r < DIVERSITY_COLLAPSE]


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
