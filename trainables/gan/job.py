"""A GAN key: everything that changes the trained generator (its key) plus how to run it.

The key holds dataset, validation split size (and, under eval.validation_from = "subset", the source
and fraction: the GAN trains on its subset less the validation part), size, subset seed, arch,
conditioning, alpha, epochs, global batch size, lr, beta1, the training options that differ from the
papers' recipe, the subset's sampling when it is stratified, and GAN_CODE_VERSION; not the pool size (pools grow on demand), not the workers (each takes
batch_size / workers), not where or how often it checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from trainables.files import gan_cache
from trainables.gan import engine as gan_engine
from trainables.terms.choices import GAN_OPTION_NAMES
from trainables.terms.gan_options import GanOptions, resolve_options
from trainables.terms.validation import ValidationRule

GAN_CODE_VERSION = 4  # 2: BatchNorm in the abadi generator; 3: global batch, validation split, pool blocks;
# 4: EMA warm-up
KEY_FIELDS = ("dataset", "validation", "size", "seed", "arch", "conditioning", "alpha", "epochs", "batch_size",
              "lr", "beta1")


@dataclass(frozen=True)
class GanJob:
    """Everything that defines one GAN key, plus how to run it (the fields after pool_per_class)."""

    dataset: str
    data_root: str
    size: int | str
    seed: int
    arch: str
    conditioning: str
    alpha: float
    epochs: int
    batch_size: int
    lr: float
    beta1: float
    pool_per_class: int  # synthetic images per class pool.pt must hold (at least)
    validation: int = 0  # images held out of the training split before the subset is drawn
    # eval.validation_from / validation_fraction (trainables.terms.validation): under "subset" the GAN trains on
    # the n - v training part of its subset only; they enter the key only then (split keys are unchanged)
    validation_from: str = "split"
    validation_fraction: float | None = None
    sampling: str = "balanced"  # how the real subset is drawn (top-level `sampling`); in the key only when stratified
    recipe: str = "paper"  # a named bundle of training options (trainables.terms.gan_options.RECIPES) ...
    loss: str | None = None  # ... and the options set explicitly (None: the recipe's)
    diffaugment: str | None = None
    diffaugment_strength: float | None = None
    ema: float | None = None
    spectral_norm: bool | None = None
    lr_d: float | None = None
    lr_g: float | None = None
    filters: tuple[float, ...] = ()  # confidence thresholds of the filtered pools studies read (mix.filter)
    workers: int = 1
    checkpoint_every: int = 5
    max_failures: int = 1
    grouping: str = "auto"  # per-class path: vmap | loop | auto (trainables.runners.gan_keys.AUTO_GROUPING)
    cpus_per_worker: int = 1  # Ray CPUs and torch threads of each Train worker

    def __post_init__(self) -> None:
        # The study file's schema validated and typed every field once; a job is never re-cast on its
        # way to the worker, so a wrong type here is a programming error, not a user's.
        for name in ("alpha", "lr", "beta1"):
            assert isinstance(getattr(self, name), float), f"GanJob.{name} must be a float, got {getattr(self, name)!r}"
        for name in ("seed", "epochs", "batch_size", "pool_per_class", "workers", "checkpoint_every"):
            assert isinstance(getattr(self, name), int), f"GanJob.{name} must be an int, got {getattr(self, name)!r}"
        assert self.batch_size % self.workers == 0, "gan.batch_size is the global batch, split over the workers"

    def options(self) -> GanOptions:
        """The training options: the recipe's, with the explicitly set ones applied."""
        return resolve_options(self.recipe, {name: getattr(self, name) for name in GAN_OPTION_NAMES})

    def key_fields(self) -> dict:
        """The fields that change the GAN (floats are floats: alpha 1 and 1.0 are one key). Options enter
        as resolved values and only where they differ from the papers' recipe, so a paper-recipe key
        is the same whether the recipe was named or its options were spelled out."""
        values = {name: getattr(self, name) for name in KEY_FIELDS}
        paper = GanOptions()
        options = {f"option_{name}": value for name, value in asdict(self.options()).items()
                   if value != getattr(paper, name)}
        return values | options | self.validation_rule().key_fields() | {"code_version": GAN_CODE_VERSION}

    def validation_rule(self) -> ValidationRule:
        """How this GAN's subset is split into training and validation images (the rule of
        trainables.terms.validation; trainables.data.validation carves by it)."""
        if self.validation_from == "subset":
            return ValidationRule("subset", "auto", float(self.validation_fraction), sampling=self.sampling)
        return ValidationRule("split", int(self.validation), sampling=self.sampling)

    def per_worker_batch(self) -> int:
        """Each of the Train run's workers takes batch_size / workers images a step (the global batch)."""
        return self.batch_size // self.workers

    def model_spec(self, shape: tuple[int, int, int], num_classes: int, grouping: str) -> gan_engine.ModelSpec:
        """What builds this GAN's G and D on images of `shape`; `grouping` is the per-class path the run
        resolved (vmap | loop)."""
        return gan_engine.ModelSpec(self.arch, self.conditioning, self.alpha, tuple(shape), num_classes, grouping,
                                    self.seed, bool(self.options().spectral_norm))

    def key(self) -> str:
        """12 hex digits of sha256 over the sorted JSON of key_fields()."""
        text = json.dumps(self.key_fields(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def check(self) -> None:
        """ValueError naming what the engine cannot train (arch, conditioning, grouping and options
        together), before any Ray work starts; the study file's schema checked each value alone."""
        gan_engine.check_gan_choice(self.arch, self.conditioning, "vmap" if self.grouping == "auto" else self.grouping)
        options = self.options()
        options.check(self.arch)
        if options.spectral_norm and self.grouping == "vmap" and self.conditioning == "per-class":
            raise ValueError("spectral norm on per-class GANs needs the loop grouping (its power iteration "
                             "updates buffers in place, which torch.func.vmap cannot); use grouping = \"loop\"")


@dataclass(frozen=True)
class KeyRun:
    """One GAN key as the Train run's workers get it: the job itself (it travels as itself and gives
    the model spec and the per-worker batch), and what the driver decided for this run."""

    job: GanJob
    grouping: str    # the per-class path resolved for the run's device (vmap | loop)
    gan_dir: str     # <cache_root>/<key>: where the key's checkpoints, pool, grids and meta.json go
    meta: dict       # what the key's meta.json records from the driver

    @classmethod
    def of(cls, job: GanJob, cache_root: str, grouping: str, meta: dict) -> KeyRun:
        return cls(job, grouping, gan_cache.gan_dir(cache_root, job.key()), meta)


def job_from_dict(values: dict) -> GanJob:
    """A GanJob from a plain dict (e.g. meta.json or a Tune config), ignoring unknown keys."""
    names = {f.name for f in fields(GanJob)}
    return GanJob(**{k: v for k, v in values.items() if k in names})
