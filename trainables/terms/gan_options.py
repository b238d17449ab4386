"""How a GAN trains beyond its architecture: the options, their named recipes and the checks of both,
without torch. The study file's check (study.spec) runs these before anything is imported that a
refusal does not need; the GAN engine (trainables.gan.engine) trains with the same GanOptions, and its
losses and DiffAugment transforms are keyed by the names here.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainables.terms.choices import CONDITIONAL_ONLY_ARCHS, GAN_OPTION_NAMES

# What gan.loss may name; "2k-class" follows from DAGAN's discriminator, it is not chosen
# (trainables.gan.losses.LOSSES holds all three).
CHOSEN_LOSSES = ("bce", "hinge")
# DiffAugment's transforms (trainables.gan.augment.POLICIES implements each); color needs RGB.
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")
RGB_ONLY_POLICIES = frozenset({"color"})


def check_loss(chosen: str, two_k_class: bool) -> None:
    if chosen not in CHOSEN_LOSSES:
        raise ValueError(f"unknown GAN loss {chosen!r}; choose one of {', '.join(CHOSEN_LOSSES)}")
    if two_k_class and chosen != "bce":
        raise ValueError(f"GAN loss {chosen!r} needs one real/fake logit, but DAGAN's discriminator "
                         "outputs 2K class logits and trains with its own 2K-class loss; use loss = \"bce\"")


def parse_policy(policy: str) -> tuple[str, ...]:
    """"translation,cutout" -> ("translation", "cutout"); "" -> () (no augmentation)."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; choose from {', '.join(DIFFAUGMENT_POLICIES)}")
    return names


def check_policy(policy: str, channels: int) -> None:
    for name in parse_policy(policy):
        if name in RGB_ONLY_POLICIES and channels != 3:
            raise ValueError(f"DiffAugment policy {name!r} needs RGB images; these have {channels} channel(s)")


@dataclass(frozen=True)
class GanOptions:
    """How a GAN trains beyond its architecture. The defaults are the papers' recipe."""

    loss: str = "bce"                   # bce | hinge (DAGAN's 2K-way D always uses its 2K-class loss)
    diffaugment: str = ""               # "", or a comma list of translation, cutout, color
    diffaugment_strength: float = 1.0   # scales every DiffAugment magnitude
    ema: float = 0.0                    # decay of G's moving average; 0: off
    spectral_norm: bool = False         # on D's conv and linear layers
    lr_d: float | None = None           # None: the GAN's lr
    lr_g: float | None = None

    def check(self, arch: str, channels: int | None = None) -> None:
        """ValueError naming the option, before any training starts."""
        check_loss(self.loss, arch in CONDITIONAL_ONLY_ARCHS)
        parse_policy(self.diffaugment)
        if channels is not None:
            check_policy(self.diffaugment, channels)
        if not self.diffaugment_strength >= 0:
            raise ValueError(f"DiffAugment strength must be >= 0, got {self.diffaugment_strength}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"EMA decay must be in [0, 1), got {self.ema}")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"GAN {name} must be > 0, got {value}")


# Named bundles of options (`gan.recipe`); a key the user sets overrides its recipe's value.
# "paper": exactly as the papers trained (GanOptions' defaults).
# "modern": the best bundle bench/gan_quality.py measured on 500 mnist-5k images (BENCHMARKS.md,
# gan_quality): spectral norm on D (Miyato et al. 2018) steadies D, and an EMA of G (decay 0.99 with
# warm-up; Yazici et al. 2019) smooths the oscillation spectral norm alone leaves. Tried and left
# out, each worse than this at equal CPU time: DiffAugment (translation, cutout), EMA 0.999, hinge
# loss, TTUR (lr_d 4e-4, lr_g 1e-4), a larger learning rate (5e-4).
RECIPES: dict[str, dict] = {
    "paper": {},
    "modern": {"spectral_norm": True, "ema": 0.99},
}


def resolve_options(recipe: str, overrides: dict) -> GanOptions:
    """The options of `recipe` with every override that is not None applied."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown GAN recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    chosen = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(chosen) - set(GAN_OPTION_NAMES)
    if unknown:
        raise ValueError(f"unknown GAN option {sorted(unknown)[0]!r}; choose from {', '.join(GAN_OPTION_NAMES)}")
    return GanOptions(**{**RECIPES[recipe], **chosen})
