"""Every GAN and classifier of the registries takes 64x64 and 128x128 (depth follows
resolution); images outside 28-128 pixels a side are refused before anything runs, naming image_size."""

from __future__ import annotations

import pytest
import torch

from study.checks import SpecError
from trainables.classifier.fit import seeded
from trainables.classifier.models import CLASSIFIERS
from trainables.gan.archs import GANS


def test_images_outside_28_to_128_pixels_are_refused_naming_image_size():
    from study import plan
    from study.preflight import check_models
    from study.spec import load_spec

    spec = load_spec("quick", ["classifier.name=['mlp']"], check_registries=False)
    jobs = plan.gan_jobs(spec, 3600, 10, 400)
    with pytest.raises(SpecError, match=r"^image_size: mnist-5k's images are 256x256; every GAN and classifier "
                                        r"takes 28 to 128 pixels a side"):
        check_models(spec, jobs, (1, 256, 256), 10)


@pytest.mark.parametrize("side", [64, 128])
@pytest.mark.parametrize("name", sorted(GANS))
def test_every_gan_takes_64_and_128(name, side):
    arch = GANS[name]
    with seeded(0):
        generator = arch.make_generator(1.0, (3, side, side), 4)
        discriminator = arch.make_discriminator(1.0, (3, side, side), 4)
    labels = torch.tensor([0, 3])
    images = generator(torch.randn(2, arch.latent_dim), labels)
    assert images.shape == (2, 3, side, side) and images.abs().max() <= 1
    assert discriminator(images, labels).shape[0] == 2


@pytest.mark.parametrize("name", ["abadi", "dagan"])
def test_depth_follows_resolution_and_the_papers_sizes_are_unchanged(name):
    arch = GANS[name]
    sizes = {side: sum(p.numel() for p in arch.make_generator(1.0, (1, side, side), 10).parameters())
             for side in (28, 32, 64, 128)}
    # the start map stays small, so the first layer does not grow with the square of the side
    assert sizes[128] < 2 * sizes[32]
    deconvs = {side: len(arch.make_generator(1.0, (1, side, side), 10).deconvs) for side in (32, 64, 128)}
    assert deconvs[32] < deconvs[64] < deconvs[128]


@pytest.mark.parametrize("side", [64, 128])
@pytest.mark.parametrize("name", [n for n in sorted(CLASSIFIERS) if n != "inception"] + [
    pytest.param("inception", marks=pytest.mark.slow)])
def test_every_classifier_takes_64_and_128(name, side):
    with seeded(0):
        model = CLASSIFIERS[name](3, side, side, 5).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, side, side)).shape == (2, 5)


def test_the_scoring_network_works_at_64():
    from trainables.data.images import ImageSet
    from trainables.quality import scoring

    images = torch.randint(0, 256, (40, 1, 64, 64), dtype=torch.uint8)
    labels = torch.arange(40) % 2
    train = ImageSet(images, labels, ("a", "b"))
    net = scoring.train_network(train, train)
    assert net.meta["image_shape"] == [1, 64, 64] and 0 <= net.meta["test_acc"] <= 1
