"""GAN quality scores that need no download: GAN-train, GAN-test, FD, KID, coverage, recall, diversity.

FID and the Inception Score need Inception-v3 weights from a model hub; this product runs offline,
so it measures the same things with small classifiers it trains itself on the real data:

- GAN-train accuracy (Shmelkov, Schmid & Alahari, "How good is my GAN?", ECCV 2018, section 3.1):
  a fixed small classifier (an MLP, QUALITY_EPOCHS epochs) trained on the GAN's synthetic images
  only, tested on real images it never saw. High when the synthetic images cover each class's variety
  and carry the right labels (the question our study asks of the pool, Abadi's "fake" columns). Its
  reference (`real_reference_acc`) is the same classifier trained on the GAN's real subset. These two
  are the quality *gate* (analysis/gan_judgement.py grades a GAN by their ratio above chance), so they
  are measured as a reviewer would accept a comparison (`gate_scores`):
    * on the study's VALIDATION images (held out of the training split before any subset is drawn,
      or under eval.validation_from = "subset" carved out of the GAN's subset: never seen by the GAN
      nor by either classifier), never on the test set, which a study reports
      and must not choose on; a study without a validation split gets no gate numbers (null), not
      test-set ones;
    * with EQUAL budgets: both classifiers train on the same number of images, min(n, pool,
      MAX_SCORED_IMAGES) (the first images of the pool, a class-balanced slice of the real subset),
      with the same seed, epochs, batch size and learning rate, so the same number of updates (capping
      the synthetic side at 2,000 images and not the real one biased the ratio against every GAN at
      n > 2,000).
  meta.json records `gate_split`, `gate_images`, `gate_held_out_images`, `gate_epochs`, `gate_steps`.
- In the feature space of the dataset's scoring network (trainables.quality.scoring: one CNN per dataset,
  trained once on the whole training split, so these compare across n, seeds and recipes):
  GAN-test accuracy (the network's accuracy on the synthetic images: precision of the labels), the
  Frechet distance and KID against the real test set, and coverage and recall
  (trainables.quality.features), overall and per class.
- Sample diversity: per class, the mean pairwise L2 distance between synthetic images divided by the
  same for real images of the class; about 1 for a healthy GAN, near 0 under mode collapse.

All of it takes seconds on a CPU (an MLP, a few epochs, a few thousand images at most).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainables.classifier import fit
from trainables.classifier.models import CLASSIFIERS
from trainables.data import sampling
from trainables.data.errors import DataError
from trainables.data.images import ImageSet
from trainables.quality.features import (
    NEIGHBOURS,
    coverage,
    frechet_distance,
    kernel_inception_distance,
    penultimate_features,
    recall,
)
from trainables.quality.scoring import ScoringNet

QUALITY_NOTE = (
    "GAN-train accuracy, and GAN-test, Frechet distance, KID, coverage and recall in the feature space "
    "of one CNN per dataset (trained once on its training split), replace FID/IS, which need Inception "
    "weights from a model hub; values compare GANs of one dataset, not published FID numbers"
)
QUALITY_CLASSIFIER = "mlp"
QUALITY_EPOCHS = 5
QUALITY_BATCH_SIZE = 64
QUALITY_LR = 1e-3
MAX_SCORED_IMAGES = 2000  # cap per set: keeps scoring to seconds whatever the pool size
GATE_SPLIT = "validation"   # where GAN-train and the real reference are measured (meta.json gate_split)
DIVERSITY_PER_CLASS = 100
# A class whose samples are less than half as diverse as its real images (mean pairwise distance)
# has collapsed: a generator that ignores its noise draws one image per class (ratio 0); the quick
# preset's healthy 25-epoch GANs measure 0.7-1.0.
COLLAPSE_RATIO = 0.5


# ---------------------------------------------------------------------------------------------
# classifier-based scores


def _capped(images: ImageSet) -> ImageSet:
    """At most MAX_SCORED_IMAGES: the first of each class (a pool's first images, a subset's seeded order)."""
    return sampling.take_balanced(images, MAX_SCORED_IMAGES) if len(images) > MAX_SCORED_IMAGES else images


def _first(images: ImageSet, count: int, seed: int) -> ImageSet:
    """`count` images of `images`: all of them when it has no more, else a class-balanced slice (the
    first of each class: a pool's first images, a subset's seeded order), or, for a set too
    unbalanced for that (a stratified subset), a seeded random slice."""
    if len(images) <= count:
        return images
    try:
        return sampling.take_balanced(images, count)
    except DataError:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
        return images.select(torch.sort(order).values)


def gate_budget(real_images: int, synthetic_images: int) -> int:
    """Images each gate classifier trains on: the same for the real and the synthetic side."""
    return min(real_images, synthetic_images, MAX_SCORED_IMAGES)


def _train(train: ImageSet, test: ImageSet, seed: int, device) -> tuple[nn.Module, fit.FitResult]:
    c, h, w = train.shape
    with fit.seeded(seed):
        model = CLASSIFIERS[QUALITY_CLASSIFIER](c, h, w, train.num_classes)
    result = fit.train_classifier(model, train, test, epochs=QUALITY_EPOCHS, batch_size=QUALITY_BATCH_SIZE,
                                  lr=QUALITY_LR, seed=seed, device=device)
    return model, result


def real_classifier(real_train: ImageSet, seed: int, device: str | torch.device = "cpu") -> nn.Module:
    """The quality classifier trained on the real subset (its own images stand in as the test set:
    fit needs one, and nothing is selected on it)."""
    model, _ = _train(real_train, real_train, seed, device)
    return model


def gan_train_accuracy(synthetic: ImageSet, real_held_out: ImageSet, seed: int,
                       device: str | torch.device = "cpu") -> float:
    """Accuracy on real held-out images of the quality classifier trained on (at most
    MAX_SCORED_IMAGES of) the synthetic images only (the last epoch's: nothing is chosen on them)."""
    _model, result = _train(_capped(synthetic), real_held_out, seed, device)
    return result.test_acc


def gate_scores(real_train: ImageSet, synthetic: ImageSet, held_out: ImageSet | None, seed: int,
                device: str | torch.device = "cpu", split: str = GATE_SPLIT) -> dict:
    """The gate's numbers: GAN-train and the real reference, each the quality classifier trained on
    gate_budget(...) images (synthetic: the pool's first ones; real: a class-balanced slice of the
    subset), same seed, epochs, batch and lr, both evaluated on `held_out` (the study's validation
    images; `split` names them in meta.json). Without held-out images both are None and `gate_split` is
    None: the gate is not measured rather than measured on test."""
    budget = gate_budget(len(real_train), len(synthetic))
    fields = {"gate_split": split, "gate_images": budget, "gate_held_out_images": 0 if held_out is None else len(held_out),
              "gate_classifier": QUALITY_CLASSIFIER, "gate_epochs": QUALITY_EPOCHS, "gate_batch_size": QUALITY_BATCH_SIZE,
              "gate_lr": QUALITY_LR}
    if held_out is None or len(held_out) == 0 or budget == 0:
        return fields | {"gate_split": None, "gate_images": 0, "gate_steps": 0,
                         "gan_train_acc": None, "real_reference_acc": None}
    _m, fake_fit = _train(_first(synthetic, budget, seed), held_out, seed, device)
    _m, real_fit = _train(_first(real_train, budget, seed), held_out, seed, device)
    assert fake_fit.train_steps == real_fit.train_steps, "equal budgets: the two gate fits take the same updates"
    return fields | {"gate_steps": int(real_fit.train_steps), "gan_train_acc": float(fake_fit.test_acc),
                     "real_reference_acc": float(real_fit.test_acc)}


def gan_test_accuracy(scorer: nn.Module, synthetic: ImageSet, device: str | torch.device = "cpu") -> float:
    """Accuracy of the scoring network on the synthetic images (their labels as the truth)."""
    predicted = fit.predict(scorer, synthetic.images, device=device).argmax(1)
    return float((predicted == synthetic.labels.cpu()).double().mean())


# ---------------------------------------------------------------------------------------------
# diversity


def mean_pairwise_distance(images_uint8: torch.Tensor) -> float:
    """Mean L2 distance between distinct pairs of images, in model units ([-1, 1] pixels)."""
    n = images_uint8.shape[0]
    if n < 2:
        return math.nan
    flat = sampling.to_model_input(images_uint8).reshape(n, -1).double()
    distances = torch.cdist(flat, flat)
    return float(distances.sum() / (n * (n - 1)))  # the diagonal is zero


def sample_diversity(synthetic: ImageSet, real: ImageSet,
                     per_class: int = DIVERSITY_PER_CLASS) -> tuple[float, list[float]]:
    """(mean over classes, per-class list) of synthetic / real mean pairwise distance within a class.

    Each class uses at most `per_class` images of each set (the first ones: the pool and the subset
    are already in random order). A class with fewer than 2 images on either side gives NaN and is
    left out of the mean.
    """
    ratios = []
    for k in range(real.num_classes):
        fake_d = mean_pairwise_distance(synthetic.images[synthetic.labels == k][:per_class])
        real_d = mean_pairwise_distance(real.images[real.labels == k][:per_class])
        ratios.append(fake_d / real_d if real_d > 0 else math.nan)
    finite = [r for r in ratios if math.isfinite(r)]
    return (sum(finite) / len(finite) if finite else math.nan), ratios


# ---------------------------------------------------------------------------------------------
# all scores for one GAN


def per_class_coverage(real_features: torch.Tensor, real_labels: torch.Tensor, fake_features: torch.Tensor,
                       fake_labels: torch.Tensor, num_classes: int) -> list[float]:
    """Coverage within each class, at equal counts (the smaller of the two); NaN where a class has
    too few images on either side for the k-NN balls."""
    values = []
    for k in range(num_classes):
        real_k, fake_k = real_features[real_labels == k], fake_features[fake_labels == k]
        m = min(len(real_k), len(fake_k))
        values.append(coverage(real_k[:m], fake_k[:m]) if m > NEIGHBOURS else math.nan)
    return values


def collapsed_classes(classes, diversity_per_class: list[float]) -> list[str]:
    """Classes whose synthetic images are less than COLLAPSE_RATIO as diverse as their real ones."""
    return [classes[k] for k, ratio in enumerate(diversity_per_class) if math.isfinite(ratio) and ratio < COLLAPSE_RATIO]


def quality_scores(real_train: ImageSet, real_test: ImageSet, synthetic: ImageSet,
                   scoring: ScoringNet, seed: int, device: str | torch.device = "cpu",
                   validation: ImageSet | None = None) -> dict:
    """Every score above for one synthetic pool, as a flat JSON-ready dict for meta.json.

    `real_train` is the GAN's real subset, `synthetic` its pool at (up to) the same size, `scoring`
    the dataset's network (trainables.quality.scoring), `validation` the study's validation split: the gate
    (GAN-train, real reference) is measured on it alone (gate_scores); the test set serves only the
    descriptive distances (Frechet, KID, coverage, recall)."""
    scored, reference = _capped(synthetic), _capped(real_test)
    fake_features = penultimate_features(scoring.model, scored.images, device)
    real_features = penultimate_features(scoring.model, reference.images, device)
    # One scale for both sets, from the real test images (fixed per dataset): real features get unit
    # mean square per dimension, so FD and KID do not depend on the network's activation scale and
    # KID's kernel (x.y / d + 1)^3 sees inner products of order 1, as it does on Inception features.
    scale = real_features.pow(2).mean().sqrt().clamp(min=1e-12)
    real_features, fake_features = real_features / scale, fake_features / scale
    # Coverage and recall at equal counts: both depend on the ratio of the two set sizes.
    m = min(len(scored), len(reference))
    diversity, diversity_per_class = sample_diversity(synthetic, real_train)
    return {
        **gate_scores(real_train, synthetic, validation, seed, device),
        "gan_test_acc": gan_test_accuracy(scoring.model, scored, device),
        "frechet_distance": frechet_distance(real_features, fake_features),
        "kid": kernel_inception_distance(real_features, fake_features, seed=seed),
        "coverage": coverage(real_features[:m], fake_features[:m]),
        "recall": recall(real_features[:m], fake_features[:m]),
        "coverage_per_class": per_class_coverage(real_features, reference.labels, fake_features, scored.labels,
                                                 real_train.num_classes),
        "sample_diversity": diversity,
        "sample_diversity_per_class": diversity_per_class,
        "collapsed_classes": collapsed_classes(real_train.classes, diversity_per_class),
        "collapse_ratio": COLLAPSE_RATIO,
        "num_classes": real_train.num_classes,
        "quality_classifier": QUALITY_CLASSIFIER,
        "quality_epochs": QUALITY_EPOCHS,
        **scoring.describe(),
        "quality_note": QUALITY_NOTE,
    }
