"""Where a study's validation images come from: one rule, one home, no torch (trainables.data.validation
carves the images by it).

`eval.validation_from` chooses the source; every module that needs the validation images (the driver,
`study plan`, the GAN stage and its quality gate, the synthetic-sample filter, the classifier trial)
asks `ValidationRule` here, and gets the images from trainables.data.validation.real_sets.

  "split"  (default; every result as before): eval.validation images ("auto": AUTO_FRACTION of the
           training split, at most CAP; a count; 0: none) are held out of the training split once,
           class-balanced with a fixed seed (trainables.data.sampling.split_validation), before any real subset is
           drawn. Every trial and GAN of the study validates on that one set, whatever its n.
  "subset": nothing is held out of the training split. Each real subset of n images (the user's
           labelled budget) is split class-balanced and seeded into n - v images that train (the
           classifier's real images, the GAN's, the filter's) and v that validate (early stopping,
           the epoch reported, the best R, the GAN quality gate): v is, per class,
           round(validation_fraction x that class's images in the subset). A practitioner with n labels
           has no other set. The synthetic count R x n uses the n - v images the classifier trains on.

DEFAULT_FRACTION was chosen by bench/validation_fraction.py (BENCHMARKS.md, "Validation carved out
of each subset").
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

SOURCES = ("split", "subset")
AUTO_FRACTION = 0.1          # eval.validation = "auto": this share of the training split ...
CAP = 5000                   # ... at most this many images
DEFAULT_FRACTION = 0.3       # eval.validation_fraction: measured, see the module docstring
MAX_FRACTION = 0.5           # more would train on fewer images than it validates on


def per_class(count: int, fraction: float) -> int:
    """Validation images carved out of one class's `count` images of a subset: round half up."""
    return int(math.floor(count * fraction + 0.5))


def smallest_fraction(count: int) -> float:
    """The smallest fraction that gives one validation image out of `count` images of a class."""
    return 0.5 / count


@dataclass(frozen=True)
class ValidationRule:
    """The study's validation rule: eval.validation_from, eval.validation, eval.validation_fraction."""

    source: str = "split"
    count: int | str = "auto"             # eval.validation: used under "split" only
    fraction: float = DEFAULT_FRACTION    # eval.validation_fraction: used under "subset" only
    # The study's top-level `sampling`: how the real subset itself is drawn, balanced or
    # stratified (trainables.data.sampling.subset); carried here because every reader of a subset asks this rule.
    sampling: str = "balanced"

    @classmethod
    def of(cls, eval_spec: Any) -> ValidationRule:
        """The rule of a spec's [eval] section (study.schema.EvalSpec) or of a plain dict of it."""
        get = eval_spec.get if isinstance(eval_spec, dict) else lambda k, d=None: getattr(eval_spec, k, d)
        return cls(str(get("validation_from", "split") or "split"), get("validation", "auto"),
                   float(get("validation_fraction", DEFAULT_FRACTION) or DEFAULT_FRACTION))

    @property
    def per_subset(self) -> bool:
        return self.source == "subset"

    def held_out(self, train_size: int) -> int:
        """Images held out of the training split before any subset: "auto" is AUTO_FRACTION of it, at
        most CAP; none under "subset"."""
        if self.per_subset:
            return 0
        if self.count == "auto":
            return min(CAP, int(train_size * AUTO_FRACTION))
        return int(self.count)

    def carved(self, class_counts) -> int:
        """Validation images carved out of a subset with these per-class counts (0 under "split")."""
        if not self.per_subset:
            return 0
        return sum(per_class(int(c), self.fraction) for c in class_counts)

    def key_fields(self) -> dict:
        """What a GAN key adds for this rule: nothing under "split" (the held-out count is already in
        the key, so every cache of a "split" study stays valid), the source and fraction under "subset"
        (the GAN trains on n - v images of the subset, not on all n)."""
        drawn = {} if self.sampling == "balanced" else {"sampling": self.sampling}   # balanced keys unchanged
        if not self.per_subset:
            return drawn
        return {"validation_from": self.source, "validation_fraction": float(self.fraction)} | drawn

    def describe(self) -> str:
        if self.per_subset:
            return f"{self.fraction:.0%} of each real subset, class-balanced (validation_from = \"subset\")"
        return "none" if self.count == 0 else (
            f"{self.count} images held out of the training split before any subset" if self.count != "auto"
            else f"{AUTO_FRACTION:.0%} of the training split (at most {CAP:,}) held out before any subset")


def carve_seed(subset_seed: int) -> int:
    """The seed of a subset's validation draw: fixed by the subset's seed, independent of the stream
    that drew the subset."""
    return int(hashlib.sha256(f"validation-of-subset:{int(subset_seed)}".encode()).hexdigest()[:8], 16)
