"""Feature-space distances on data with known answers: Frechet distance, KID, coverage, recall."""

import math

import pytest
import torch
from torch import nn

from trainables.data import sampling
from trainables.quality.features import (
    coverage,
    frechet_distance,
    kernel_inception_distance,
    penultimate_features,
    recall,
)


def _features(n=400, d=5, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_frechet_identical_sets_is_zero():
    feats = _features()
    assert frechet_distance(feats, feats.clone()) == pytest.approx(0.0, abs=1e-8)


def test_frechet_shift_gives_squared_norm_of_the_shift():
    feats = _features()
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    # Same covariance, means differ by `shift`: d^2 = |shift|^2 exactly.
    assert frechet_distance(feats, feats + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_scale_gives_analytic_trace_term():
    feats = _features()
    centred = feats - feats.mean(0)
    a = 3.0
    # Covariances S and a^2 S with equal means: d^2 = (1 - a)^2 Tr(S).
    expected = (1 - a) ** 2 * float(torch.trace(torch.cov(centred.T)))
    assert frechet_distance(centred, a * centred) == pytest.approx(expected, rel=1e-8)


def test_frechet_is_symmetric_and_tolerates_rank_deficient_covariance():
    few = _features(n=4, d=20)  # 4 samples in 20 dims: singular covariances
    other = _features(n=6, d=20, seed=1)
    forward, backward = frechet_distance(few, other), frechet_distance(other, few)
    assert math.isfinite(forward) and forward > 0
    assert forward == pytest.approx(backward, rel=1e-6)


def test_frechet_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(_features(d=3), _features(d=4))


def test_kid_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
    same = [kernel_inception_distance(_features(200, seed=s), _features(200, seed=100 + s), seed=s) for s in range(5)]
    # Unbiased: small draws of one distribution scatter around 0 (some below it), no positive floor.
    assert abs(sum(same) / len(same)) < 0.02 and min(same) < 0.01
    shifted = kernel_inception_distance(_features(200), _features(200, seed=1) + 1.0)
    assert shifted > 10 * max(abs(v) for v in same)


def test_kid_matches_the_closed_form_on_one_subset():
    a, b = _features(30, d=3), _features(30, d=3, seed=1) * 2
    k = lambda x, y: (x @ y.T / 3 + 1) ** 3  # noqa: E731
    m = 30
    expected = ((k(a, a).sum() - k(a, a).trace()) / (m * (m - 1)) + (k(b, b).sum() - k(b, b).trace()) / (m * (m - 1))
                - 2 * k(a, b).mean())
    # One subset of all 30 vectors is the full sets in a permuted order: the statistic is order-free.
    assert kernel_inception_distance(a, b, subsets=1, subset_size=30) == pytest.approx(float(expected), rel=1e-9)


def test_coverage_and_recall_are_one_for_the_same_cloud_and_low_for_a_collapsed_one():
    real, fake = _features(300), _features(300, seed=1)
    assert coverage(real, fake) > 0.9 and recall(real, fake) > 0.9
    one_point = real[:1].repeat(300, 1) + 1e-3 * _features(300, seed=2)  # every fake is (nearly) one image
    assert coverage(real, one_point) < 0.1 and recall(real, one_point) < 0.1


def test_coverage_and_recall_see_a_missing_mode():
    # Real: two well-separated modes; the generator draws only the first (partial mode collapse).
    real = torch.cat([_features(200), _features(200, seed=1) + 10.0])
    one_mode = _features(400, seed=3)
    assert 0.4 < coverage(real, one_mode) <= 0.5 and 0.4 < recall(real, one_mode) <= 0.5


def test_coverage_needs_more_vectors_than_neighbours():
    with pytest.raises(ValueError, match="at least 6"):
        coverage(_features(5), _features(50))


def test_penultimate_features_are_the_last_linear_input():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 7), nn.ReLU(), nn.Linear(7, 2))
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    feats = penultimate_features(model, images)
    with torch.no_grad():
        expected = model[:3](sampling.to_model_input(images))
    assert feats.shape == (5, 7)
    torch.testing.assert_close(feats, expected)
