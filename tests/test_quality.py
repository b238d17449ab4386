"""Quality scores on small synthetic data with known answers."""


import pytest
import torch
from torch import nn

from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.quality import scores as quality
from trainables.quality import scoring


def test_sample_diversity_is_one_for_the_same_images_and_zero_for_copies():
    real = ImageSet(torch.randint(0, 256, (40, 1, 6, 6), dtype=torch.uint8),
                         torch.arange(4).repeat(10), ("a", "b", "c", "d"))
    mean, per_class = quality.sample_diversity(real, real)
    assert mean == pytest.approx(1.0) and len(per_class) == 4
    # Mode collapse: every synthetic image of a class is the same picture.
    collapsed = ImageSet(real.images[:4].repeat(10, 1, 1, 1), real.labels.clone(), real.classes)
    mean, _ = quality.sample_diversity(collapsed, real)
    assert mean == pytest.approx(0.0)


def _blobs(n_per_class, seed):
    """Four easy classes: a bright quadrant (a different one per class) on a noisy dark image."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(4).repeat_interleave(n_per_class)
    images = torch.randint(0, 60, (labels.numel(), 1, 8, 8), generator=generator, dtype=torch.uint8)
    for k, (row, col) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        images[labels == k, :, row:row + 4, col:col + 4] += 180
    return ImageSet(images, labels, ("a", "b", "c", "d"))


@pytest.fixture(scope="module")
def blob_scorer():
    """The scoring network of the blob dataset, trained as the GAN stage trains it."""
    return scoring.train_network(_blobs(100, seed=0), _blobs(20, seed=5))


def test_gan_test_on_a_pool_equal_to_the_real_data_is_high_and_on_mislabelled_is_low(blob_scorer):
    real = _blobs(100, seed=0)
    assert blob_scorer.meta["test_acc"] > 0.9
    assert quality.gan_test_accuracy(blob_scorer.model, real) > 0.9
    wrong = ImageSet(real.images, (real.labels + 1) % 4, real.classes)
    assert quality.gan_test_accuracy(blob_scorer.model, wrong) < 0.1


def test_gan_train_on_real_like_pool_is_high_and_on_mislabelled_pool_is_low():
    pool, test = _blobs(100, seed=1), _blobs(20, seed=2)
    assert quality.gan_train_accuracy(pool, test, seed=0) > 0.9
    # Labels rotated by one class: a classifier trained on this pool gets every real image wrong.
    wrong = ImageSet(pool.images, (pool.labels + 1) % 4, pool.classes)
    assert quality.gan_train_accuracy(wrong, test, seed=0) < 0.1


def test_quality_scores_returns_every_field_for_meta(blob_scorer):
    real, test, validation = _blobs(30, seed=3), _blobs(30, seed=4), _blobs(10, seed=6)
    scores = quality.quality_scores(real, test, real, blob_scorer, seed=0, validation=validation)
    assert set(scores) >= {"gan_train_acc", "gan_test_acc", "frechet_distance", "kid", "coverage", "recall",
                           "coverage_per_class", "sample_diversity", "sample_diversity_per_class", "quality_note",
                           "collapsed_classes", "real_reference_acc", "num_classes", "scoring_key",
                           "gate_split", "gate_images", "gate_steps", "gate_held_out_images"}
    assert scores["collapsed_classes"] == [] and scores["real_reference_acc"] > 0.9
    # The pool is the real subset itself: same images, same seed, same updates, same accuracy.
    assert scores["gan_train_acc"] == scores["real_reference_acc"]
    assert scores["gate_split"] == "validation" and scores["gate_images"] == 120
    assert "FID" in scores["quality_note"] and scores["scoring_key"] == blob_scorer.key
    assert scores["frechet_distance"] >= 0 and scores["coverage"] > 0.5 and len(scores["coverage_per_class"]) == 4


class _IgnoresItsNoise(nn.Module):
    """A real generator that collapsed: it draws from one fixed noise vector whatever it is given."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z, labels=None):
        return self.generator(torch.zeros_like(z), labels)


@pytest.mark.slow   # trains a GAN for 40 epochs (about 10 s)
def test_a_generator_that_ignores_its_noise_is_found_collapsed_and_the_report_warns_first(mnist5k, tmp_path):
    """A trained conditional GAN (40 epochs on 100 images) that draws every image from one noise
    vector: the real failure mode, not a hand-written meta.json."""
    import json

    from analysis.gan_judgement import collapse_lines, weak_gans
    from analysis.inputs import load_gans
    from bench._gan_loop import make_loop
    from trainables.gan import engine as gan_engine

    train, test = mnist5k
    train, validation = sampling.split_validation(train, 400)
    real = sampling.subset(train, 100, seed=0)
    spec = gan_engine.ModelSpec("abadi", "conditional", 0.5, real.shape, real.num_classes, "vmap", seed=0)
    loop = make_loop(real, alpha=0.5, seed=0)
    for _ in range(40):
        loop.run_epoch()
    scorer = scoring.train_network(sampling.subset(train, 1000, seed=0), test)
    collapsed = gan_engine.generate(_IgnoresItsNoise(loop.gen), spec, 10, seed=1, device=torch.device("cpu"),
                                    classes=real.classes)
    scores = quality.quality_scores(real, test, collapsed, scorer, seed=0, validation=validation)
    assert scores["collapsed_classes"] == list(real.classes)
    assert all(ratio < quality.COLLAPSE_RATIO for ratio in scores["sample_diversity_per_class"])
    healthy = quality.quality_scores(real, test, sampling.subset(train, 100, seed=1), scorer, seed=0,
                                     validation=validation)
    assert healthy["collapsed_classes"] == []
    # One image per class covers almost no real image; other real images cover many.
    assert scores["coverage"] < 0.1 < healthy["coverage"] and scores["recall"] < 0.1 < healthy["recall"]

    # As the GAN stage writes it, as the report reads it.
    for key, meta in (("collapsedgan", scores), ("healthygan", healthy)):
        folder = tmp_path / "gans" / key
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps({"key": key, "status": "ok", "arch": "abadi", "size": 100,
                                                      "seed": 0, "classes": list(real.classes), **meta}))
    gans = load_gans(tmp_path)
    (line,) = collapse_lines(gans)
    assert "collapsedgan" in line and "samples_collapsedgan.png" in line
    assert "every class (all grid rows; diversity 0.00-0.00, coverage 0.0" in line
    assert "collapsedgan" in weak_gans(gans) and "healthygan" not in weak_gans(gans)
