"""Quality scores on small synthetic data with known answers."""

import math

import pytest
import torch
from torch import nn

from trainables import data, quality


def _features(n=400, d=5, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_frechet_identical_sets_is_zero():
    feats = _features()
    assert quality.frechet_distance(feats, feats.clone()) == pytest.approx(0.0, abs=1e-8)


def test_frechet_shift_gives_squared_norm_of_the_shift():
    feats = _features()
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    # Same covariance, means differ by `shift`: d^2 = |shift|^2 exactly.
    assert quality.frechet_distance(feats, feats + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_scale_gives_analytic_trace_term():
    feats = _features()
    centred = feats - feats.mean(0)
    a = 3.0
    # Covariances S and a^2 S with equal means: d^2 = (1 - a)^2 Tr(S).
    expected = (1 - a) ** 2 * float(torch.trace(torch.cov(centred.T)))
    assert quality.frechet_distance(centred, a * centred) == pytest.approx(expected, rel=1e-8)


def test_frechet_is_symmetric_and_tolerates_rank_deficient_covariance():
    few = _features(n=4, d=20)  # 4 samples in 20 dims: singular covariances
    other = _features(n=6, d=20, seed=1)
    forward, backward = quality.frechet_distance(few, other), quality.frechet_distance(other, few)
    assert math.isfinite(forward) and forward > 0
    assert forward == pytest.approx(backward, rel=1e-6)


def test_frechet_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same D"):
        quality.frechet_distance(_features(d=3), _features(d=4))


def test_penultimate_features_are_the_last_linear_input():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 7), nn.ReLU(), nn.Linear(7, 2))
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    feats = quality.penultimate_features(model, images)
    with torch.no_grad():
        expected = model[:3](data.to_model_input(images))
    assert feats.shape == (5, 7)
    torch.testing.assert_close(feats, expected)


def test_sample_diversity_is_one_for_the_same_images_and_zero_for_copies():
    real = data.ImageSet(torch.randint(0, 256, (40, 1, 6, 6), dtype=torch.uint8),
                         torch.arange(4).repeat(10), ("a", "b", "c", "d"))
    mean, per_class = quality.sample_diversity(real, real)
    assert mean == pytest.approx(1.0) and len(per_class) == 4
    # Mode collapse: every synthetic image of a class is the same picture.
    collapsed = data.ImageSet(real.images[:4].repeat(10, 1, 1, 1), real.labels.clone(), real.classes)
    mean, _ = quality.sample_diversity(collapsed, real)
    assert mean == pytest.approx(0.0)


def _blobs(n_per_class, seed):
    """Four easy classes: a bright quadrant (a different one per class) on a noisy dark image."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(4).repeat_interleave(n_per_class)
    images = torch.randint(0, 60, (labels.numel(), 1, 8, 8), generator=generator, dtype=torch.uint8)
    for k, (row, col) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        images[labels == k, :, row:row + 4, col:col + 4] += 180
    return data.ImageSet(images, labels, ("a", "b", "c", "d"))


def test_gan_test_on_a_pool_equal_to_the_real_data_is_high():
    real = _blobs(100, seed=0)
    accuracy, _model = quality.gan_test_accuracy(real, real, seed=0)
    assert accuracy > 0.9


def test_gan_train_on_real_like_pool_is_high_and_on_mislabelled_pool_is_low():
    pool, test = _blobs(100, seed=1), _blobs(20, seed=2)
    assert quality.gan_train_accuracy(pool, test, seed=0) > 0.9
    # Labels rotated by one class: a classifier trained on this pool gets every real image wrong.
    wrong = data.ImageSet(pool.images, (pool.labels + 1) % 4, pool.classes)
    assert quality.gan_train_accuracy(wrong, test, seed=0) < 0.1


def test_quality_scores_returns_every_field_for_meta():
    real, test = _blobs(30, seed=3), _blobs(10, seed=4)
    scores = quality.quality_scores(real, test, real, seed=0)
    assert set(scores) >= {"gan_train_acc", "gan_test_acc", "frechet_distance", "sample_diversity",
                           "sample_diversity_per_class", "quality_note", "collapsed_classes", "real_reference_acc",
                           "num_classes"}
    assert scores["collapsed_classes"] == [] and scores["real_reference_acc"] > 0.9
    assert "FID" in scores["quality_note"]
    assert scores["frechet_distance"] >= 0


class _IgnoresItsNoise(nn.Module):
    """A real generator that collapsed: it draws from one fixed noise vector whatever it is given."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z, labels=None):
        return self.generator(torch.zeros_like(z), labels)


def test_a_generator_that_ignores_its_noise_is_found_collapsed_and_the_report_warns_first(mnist5k, tmp_path):
    import json

    from analysis.gan_judgement import collapse_lines, weak_gans
    from analysis.load import load_gans
    from trainables import gan_engine

    train, test = mnist5k
    real = data.subset(train, 100, seed=0)
    spec = gan_engine.GanSpec("abadi", "conditional", 0.5, real.shape, real.num_classes, "vmap", seed=0)
    generator, _ = gan_engine.build_models(spec)
    collapsed = gan_engine.generate(_IgnoresItsNoise(generator), spec, 10, seed=1, device=torch.device("cpu"),
                                    classes=real.classes)
    scores = quality.quality_scores(real, test, collapsed, seed=0)
    assert scores["collapsed_classes"] == list(real.classes)
    assert all(ratio < quality.COLLAPSE_RATIO for ratio in scores["sample_diversity_per_class"])
    healthy = quality.quality_scores(real, test, data.subset(train, 100, seed=1), seed=0)
    assert healthy["collapsed_classes"] == []

    # As the GAN stage writes it, as the report reads it.
    for key, meta in (("collapsedgan", scores), ("healthygan", healthy)):
        folder = tmp_path / "gans" / key
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps({"key": key, "status": "ok", "arch": "abadi", "size": 100,
                                                      "seed": 0, "classes": list(real.classes), **meta}))
    gans = load_gans(tmp_path)
    (line,) = collapse_lines(gans)
    assert "collapsedgan" in line and "0, 1, 2" in line and "samples_collapsedgan.png" in line
    assert "collapsedgan" in weak_gans(gans) and "healthygan" not in weak_gans(gans)
