"""Distances between a real and a synthetic image set in a network's feature space.

- Frechet distance (Heusel et al. 2017, the formula behind FID) between Gaussians fitted to the
  two feature sets. Biased upwards for small sets: compare values at equal sample counts only.
- KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of the squared MMD
  with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Unbiased
  at any sample count, which is why it suits the few hundred images per GAN a small-n study scores.
- Coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics"): the fraction of real
  images that have a synthetic image inside their k-nearest-neighbour ball among the reals. A GAN
  that misses part of a class (partial mode collapse) leaves those reals uncovered.
- Recall (Kynkaanniemi et al. 2019): the fraction of real images inside the synthetic manifold (the
  union of each synthetic image's k-NN ball among the synthetic ones).

Features come from penultimate_features: the input of a classifier's last linear layer.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainables.classifier import fit

NEIGHBOURS = 5  # k of coverage and recall: Naeem et al. recommend k = 5
KID_SUBSETS = 50
KID_SUBSET_SIZE = 1000


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _check_pair(a, b, minimum: int, what: str) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] < minimum or b.shape[0] < minimum:
        raise ValueError(f"{what} needs at least {minimum} feature vectors per set")


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The trace of the cross term is
    computed as Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), a symmetric PSD matrix, so an eigendecomposition
    in float64 gives it without the complex round-off scipy.linalg.sqrtm can return for the
    non-symmetric product S_a S_b (the numerical guard FID implementations add by hand).
    """
    a = features_a.detach().double().cpu().numpy()
    b = features_b.detach().double().cpu().numpy()
    _check_pair(a, b, 2, "a Frechet distance")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def kernel_inception_distance(features_a: torch.Tensor, features_b: torch.Tensor, seed: int = 0,
                              subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel, the mean over `subsets` random subsets of
    min(subset_size, N, M) vectors from each set (KID as its authors compute it). About 0 for two
    samples of one distribution; it can come out slightly negative, as an unbiased estimate may."""
    a, b = features_a.detach().double().cpu(), features_b.detach().double().cpu()
    _check_pair(a, b, 2, "KID")
    m = min(subset_size, a.shape[0], b.shape[0])
    d = a.shape[1]
    gen = torch.Generator().manual_seed(seed)
    estimates = []
    for _ in range(subsets):
        x = a[torch.randperm(a.shape[0], generator=gen)[:m]]
        y = b[torch.randperm(b.shape[0], generator=gen)[:m]]
        k_xx, k_yy, k_xy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
        estimates.append(float(within - 2 * k_xy.mean()))
    return float(np.mean(estimates))


def _kth_neighbour_radius(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point of the same set."""
    distances = torch.cdist(points, points)
    return distances.kthvalue(k + 1, dim=1).values  # +1: the point itself sits at distance 0


def coverage(real: torch.Tensor, fake: torch.Tensor, k: int = NEIGHBOURS) -> float:
    """Fraction of real vectors with at least one fake vector inside their k-NN ball among the reals."""
    real, fake = real.detach().double().cpu(), fake.detach().double().cpu()
    _check_pair(real, fake, k + 1, "coverage")
    radius = _kth_neighbour_radius(real, k)
    nearest_fake = torch.cdist(real, fake).min(dim=1).values
    return float((nearest_fake < radius).double().mean())


def recall(real: torch.Tensor, fake: torch.Tensor, k: int = NEIGHBOURS) -> float:
    """Fraction of real vectors inside the union of the fakes' k-NN balls (the fake manifold)."""
    real, fake = real.detach().double().cpu(), fake.detach().double().cpu()
    _check_pair(real, fake, k + 1, "recall")
    radius = _kth_neighbour_radius(fake, k)
    inside = torch.cdist(real, fake) <= radius.unsqueeze(0)
    return float(inside.any(dim=1).double().mean())


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
