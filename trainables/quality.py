"""GAN quality scores that need no download: GAN-train, GAN-test, a Frechet distance, diversity.

FID and the Inception Score need Inception-v3 weights from a model hub; this product runs offline,
so it measures the same things with a small classifier it trains itself on the real data:

- GAN-train accuracy (Shmelkov, Schmid & Alahari, "How good is my GAN?", ECCV 2018, section 3.1):
  a fixed small classifier trained on synthetic images only, tested on the real test set. High when
  the synthetic images cover each class's variety and carry the right labels (the question our study
  asks of the pool, Abadi's "fake" columns).
- GAN-test accuracy (same paper): the classifier trained on the real subset, tested on synthetic
  images. High when the samples look like their class (precision); it stays high under mode
  collapse, which is why GAN-train and the diversity ratio sit beside it.
- Frechet distance (Heusel et al. 2017, the formula behind FID) between Gaussians fitted to the
  penultimate-layer features of that real-trained classifier, real test images vs synthetic ones.
  Comparable between GANs of one dataset and classifier, not with published FID values.
- Sample diversity: per class, the mean pairwise L2 distance between synthetic images divided by the
  same for real images of the class; about 1 for a healthy GAN, near 0 under mode collapse.

All of it takes seconds on a CPU (an MLP, a few epochs, a few thousand images at most).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from trainables import data, fit
from trainables.classifiers import CLASSIFIERS

QUALITY_NOTE = (
    "GAN-train/GAN-test accuracies and a Frechet distance in the feature space of a small classifier "
    "trained on the real subset replace FID/IS, which need Inception weights from a model hub; "
    "values compare GANs of one study, not published FID numbers"
)
QUALITY_CLASSIFIER = "mlp"
QUALITY_EPOCHS = 5
QUALITY_BATCH_SIZE = 64
QUALITY_LR = 1e-3
MAX_SCORED_IMAGES = 2000  # cap per set: keeps scoring to seconds whatever the pool size
DIVERSITY_PER_CLASS = 100
# A class whose samples are less than half as diverse as its real images (mean pairwise distance)
# has collapsed: a generator that ignores its noise draws one image per class (ratio 0); the quick
# preset's healthy 25-epoch GANs measure 0.7-1.0.
COLLAPSE_RATIO = 0.5


# ---------------------------------------------------------------------------------------------
# Frechet distance


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The trace of the cross term is
    computed as Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), a symmetric PSD matrix, so an eigendecomposition
    in float64 gives it without the complex round-off scipy.linalg.sqrtm can return for the
    non-symmetric product S_a S_b (the numerical guard FID implementations add by hand).
    """
    a = features_a.detach().double().cpu().numpy()
    b = features_b.detach().double().cpu().numpy()
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("a Frechet distance needs at least 2 feature vectors per set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def _last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to take features from")
    return linears[-1]


def penultimate_features(model: nn.Module, images_uint8: torch.Tensor, device: str | torch.device = "cpu",
                         batch_size: int = fit.EVAL_BATCH_SIZE) -> torch.Tensor:
    """The input of the model's last nn.Linear for each image, (N, D) float32 on the CPU.

    A forward hook captures it during fit.predict (eval mode, no gradients), so any classifier in
    the registry works without knowing its layer names.
    """
    captured: list[torch.Tensor] = []
    hook = _last_linear(model).register_forward_hook(
        lambda _module, inputs, _output: captured.append(inputs[0].detach().float().cpu())
    )
    try:
        fit.predict(model, images_uint8, batch_size=batch_size, device=device)
    finally:
        hook.remove()
    return torch.cat(captured) if captured else torch.empty(0, 0)


# ---------------------------------------------------------------------------------------------
# classifier-based scores


def _capped(images: data.ImageSet, seed: int) -> data.ImageSet:
    return data.take_balanced(images, MAX_SCORED_IMAGES, seed) if len(images) > MAX_SCORED_IMAGES else images


def _train(train: data.ImageSet, test: data.ImageSet, seed: int, device) -> tuple[nn.Module, fit.FitResult]:
    c, h, w = train.shape
    with fit.seeded(seed):
        model = CLASSIFIERS[QUALITY_CLASSIFIER](c, h, w, train.num_classes)
    result = fit.train_classifier(model, train, test, epochs=QUALITY_EPOCHS, batch_size=QUALITY_BATCH_SIZE,
                                  lr=QUALITY_LR, seed=seed, device=device)
    return model, result


def real_classifier(real_train: data.ImageSet, seed: int, device: str | torch.device = "cpu") -> nn.Module:
    """The quality classifier trained on the real subset (its own images stand in as the test set:
    fit needs one, and nothing is selected on it)."""
    model, _ = _train(real_train, real_train, seed, device)
    return model


def gan_train_accuracy(synthetic: data.ImageSet, real_test: data.ImageSet, seed: int,
                       device: str | torch.device = "cpu") -> float:
    """Accuracy on the real test set of the quality classifier trained on synthetic images only."""
    _model, result = _train(_capped(synthetic, seed), real_test, seed, device)
    return result.test_acc


def gan_test_accuracy(real_train: data.ImageSet, synthetic: data.ImageSet, seed: int,
                      device: str | torch.device = "cpu") -> tuple[float, nn.Module]:
    """Accuracy on synthetic images of the quality classifier trained on the real subset, and that model."""
    model, result = _train(real_train, _capped(synthetic, seed), seed, device)
    return result.test_acc, model


# ---------------------------------------------------------------------------------------------
# diversity


def mean_pairwise_distance(images_uint8: torch.Tensor) -> float:
    """Mean L2 distance between distinct pairs of images, in model units ([-1, 1] pixels)."""
    n = images_uint8.shape[0]
    if n < 2:
        return math.nan
    flat = data.to_model_input(images_uint8).reshape(n, -1).double()
    distances = torch.cdist(flat, flat)
    return float(distances.sum() / (n * (n - 1)))  # the diagonal is zero


def sample_diversity(synthetic: data.ImageSet, real: data.ImageSet,
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


def quality_scores(real_train: data.ImageSet, real_test: data.ImageSet, synthetic: data.ImageSet,
                   seed: int, device: str | torch.device = "cpu") -> dict:
    """Every score above for one synthetic pool, as a flat JSON-ready dict for meta.json."""
    gan_test, real_model = gan_test_accuracy(real_train, synthetic, seed, device)
    reference = _capped(real_test, seed)
    # The same classifier on the real subset, tested on real images: what GAN-train is measured against.
    real_reference = float((fit.predict(real_model, real_test.images, device=device).argmax(1)
                            == real_test.labels.cpu()).double().mean())
    frechet = frechet_distance(penultimate_features(real_model, reference.images, device),
                               penultimate_features(real_model, _capped(synthetic, seed).images, device))
    diversity, per_class = sample_diversity(synthetic, real_train)
    collapsed = [real_train.classes[k] for k, ratio in enumerate(per_class)
                 if math.isfinite(ratio) and ratio < COLLAPSE_RATIO]
    return {
        "gan_train_acc": gan_train_accuracy(synthetic, real_test, seed, device),
        "gan_test_acc": gan_test,
        "frechet_distance": frechet,
        "sample_diversity": diversity,
        "sample_diversity_per_class": per_class,
        "collapsed_classes": collapsed,
        "collapse_ratio": COLLAPSE_RATIO,
        "real_reference_acc": real_reference,
        "num_classes": real_train.num_classes,
        "quality_classifier": QUALITY_CLASSIFIER,
        "quality_epochs": QUALITY_EPOCHS,
        "quality_note": QUALITY_NOTE,
    }
