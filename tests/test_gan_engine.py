"""The pure-torch GAN engine's options: hinge loss, DiffAugment, EMA of G, spectral norm on D,
separate learning rates, recipes (no Ray)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from trainables.gan import augment as gan_augment
from trainables.gan import engine as gan_engine
from trainables.gan import job as gan_job
from trainables.gan import losses as gan_losses
from trainables.gan.archs import GANS
from trainables.gan.engine import Ema, ModelSpec, augmenter, build_models, train_step
from trainables.runners import gan_keys
from trainables.terms import gan_options
from trainables.terms.gan_options import GanOptions, resolve_options


def _spec(grouping="loop", conditioning="per-class", arch="abadi", spectral_norm=False):
    return ModelSpec(arch, conditioning, 0.25, (1, 28, 28), 3, grouping, seed=0, spectral_norm=spectral_norm)


def _batch(spec, b=4):
    groups = spec.num_classes if spec.conditioning == "per-class" else 1
    x = torch.rand(groups, b, 1, 28, 28) * 2 - 1
    labels = torch.arange(spec.num_classes).repeat_interleave(b)[: groups * b].reshape(groups, b) % spec.num_classes
    z = torch.randn(groups, b, GANS[spec.arch].latent_dim)
    return x, labels, z


def _step(spec, options: GanOptions, ema=None):
    torch.manual_seed(0)
    gen, disc = build_models(spec)
    opt_g = torch.optim.Adam(gen.parameters(), lr=options.lr_g or 1e-3)
    opt_d = torch.optim.Adam(disc.parameters(), lr=options.lr_d or 1e-3)
    losses = gan_losses.LOSSES[gan_losses.loss_kind(disc.out_dim, spec.num_classes, options.loss)]
    x, labels, z = _batch(spec)
    ema = Ema(gen, options.ema) if options.ema else None
    out = train_step(gen, disc, opt_g, opt_d, losses, x, labels, z, spec.num_classes, torch.autocast("cpu", enabled=False),
                     augment=augmenter(options), ema=ema)
    return out, gen, ema


def test_hinge_loss_terms():
    logits = torch.tensor([[2.0, 0.0, -3.0]])
    assert gan_losses.HingeLoss.real(logits, None, 2) == pytest.approx((0 + 1 + 4) / 3)
    assert gan_losses.HingeLoss.fake(logits, None, 2) == pytest.approx((3 + 1 + 0) / 3)
    assert gan_losses.HingeLoss.generator(logits, None, 2) == pytest.approx(1 / 3)


OPTIONS = [GanOptions(loss="hinge"), GanOptions(diffaugment="translation,cutout"), GanOptions(ema=0.9),
           GanOptions(lr_d=4e-4, lr_g=1e-4), GanOptions(spectral_norm=True)]
KINDS = [("loop", "per-class"), ("vmap", "per-class"), ("vmap", "conditional")]


# Spectral norm on vmapped per-class GANs is refused (test_colour_augmentation_...), so not trained here.
@pytest.mark.parametrize("options, grouping, conditioning", [
    (options, *kind) for options in OPTIONS for kind in KINDS if not (options.spectral_norm and kind == KINDS[1])])
def test_every_option_trains_every_kind_of_gan(options, grouping, conditioning):
    spec = _spec(grouping, conditioning, spectral_norm=options.spectral_norm)
    out, _, _ = _step(spec, options)
    assert out.shape == (2,) and torch.isfinite(out).all()


def test_dagan_trains_with_its_2k_class_loss_and_diffaugment():
    spec = _spec("vmap", "conditional", arch="dagan")
    out, _, _ = _step(spec, GanOptions(diffaugment="translation", ema=0.9))
    assert torch.isfinite(out).all()


def test_ema_follows_the_generator_by_its_decay_after_warm_up():
    gen = torch.nn.Linear(2, 2)
    ema = Ema(gen, 0.75, updates=1000)                         # warm-up over: the decay itself
    before = ema.model.weight.clone()
    with torch.no_grad():
        gen.weight.add_(4.0)
    ema.update(gen)
    assert torch.allclose(ema.model.weight, before + 1.0)      # 0.25 of the way to the new weights
    assert not ema.model.weight.requires_grad and ema.updates == 1001


def test_ema_warm_up_forgets_the_initial_weights_fast():
    gen = torch.nn.Linear(2, 2)
    ema = Ema(gen, 0.999)
    assert ema.current_decay() == pytest.approx(0.1)            # (1 + 0) / (10 + 0)
    before = ema.model.weight.clone()
    with torch.no_grad():
        gen.weight.add_(1.0)
    ema.update(gen)
    assert torch.allclose(ema.model.weight, before + 0.9)      # 90% of the way on the first update
    for _ in range(10_000):
        ema.updates += 1
    assert ema.current_decay() == 0.999


def test_diffaugment_keeps_shape_and_gradients_and_strength_zero_is_identity():
    x = (torch.rand(2, 5, 3, 16, 16) * 2 - 1).requires_grad_()
    torch.manual_seed(1)
    y = gan_augment.diff_augment(x, ("color", "translation", "cutout"), 1.0)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert gan_augment.diff_augment(x, ("translation",), 0.0) is x
    torch.manual_seed(1)
    again = gan_augment.diff_augment(x, ("color", "translation", "cutout"), 1.0)
    assert torch.equal(again, y)                               # seeded by the loop: repeatable


def test_cutout_blacks_out_a_square_and_translation_shifts():
    x = torch.ones(1, 1, 8, 8)
    cut = gan_augment.cutout(x, 1.0)
    assert (cut == -1).sum() > 0 and (cut == 1).sum() > 0
    moved = gan_augment.translation(x, 1.0)
    assert set(moved.unique().tolist()) <= {-1.0, 1.0}


BUNDLE = {"ema": 0.99, "diffaugment": "translation", "diffaugment_strength": 0.5}


@pytest.fixture
def bundle(monkeypatch):
    """A second recipe in the registry, as a measured one would be added."""
    monkeypatch.setitem(gan_options.RECIPES, "bundle", BUNDLE)
    return "bundle"


def test_recipes_resolve_with_overrides_and_paper_is_the_default(bundle):
    assert resolve_options("paper", {}) == GanOptions()
    assert resolve_options(bundle, {"ema": 0.5}).ema == 0.5
    assert resolve_options(bundle, {}) == GanOptions(**BUNDLE)
    with pytest.raises(ValueError, match="unknown GAN recipe"):
        resolve_options("fancy", {})


def test_a_key_depends_on_the_resolved_options_only(bundle):
    base = gan_job.GanJob(dataset="mnist-5k", data_root="", size=100, seed=0, arch="abadi", conditioning="conditional",
                            alpha=1.0, epochs=2, batch_size=32, lr=2e-4, beta1=0.5, pool_per_class=11)
    assert replace(base, recipe="paper", loss="bce", ema=0.0).key() == base.key()
    assert replace(base, recipe=bundle).key() != base.key()
    assert replace(base, **BUNDLE).key() == replace(base, recipe=bundle).key()


@pytest.mark.parametrize("options, arch, message", [
    (GanOptions(loss="hinge"), "dagan", "2K class logits"),
    (GanOptions(loss="wasserstein"), "abadi", "unknown GAN loss"),
    (GanOptions(diffaugment="rotate"), "abadi", "unknown DiffAugment policy"),
    (GanOptions(diffaugment_strength=-1), "abadi", "strength"),
    (GanOptions(ema=1.0), "abadi", "EMA decay"),
    (GanOptions(lr_d=0), "abadi", "lr_d"),
])
def test_bad_options_are_refused_with_the_option_named(options, arch, message):
    with pytest.raises(ValueError, match=message):
        options.check(arch, channels=1)


def test_colour_augmentation_needs_rgb_and_spectral_norm_needs_the_loop_for_per_class():
    with pytest.raises(ValueError, match="RGB"):
        GanOptions(diffaugment="color").check("abadi", channels=1)
    job = gan_job.GanJob(dataset="mnist-5k", data_root="", size=100, seed=0, arch="abadi", conditioning="per-class",
                           alpha=1.0, epochs=2, batch_size=32, lr=2e-4, beta1=0.5, pool_per_class=11, spectral_norm=True)
    with pytest.raises(ValueError, match="loop grouping"):
        replace(job, grouping="vmap").check()
    assert gan_keys.resolve_grouping(job, use_gpu=True) == "loop"


def test_a_conditional_gan_draws_g_before_d_so_keys_keep_meaning_the_same_gan():
    """The initial weights follow the seeded RNG in construction order; a reordering would silently
    give every cached key a different GAN."""
    from trainables.classifier import fit

    spec = _spec("vmap", "conditional")
    gen, _ = build_models(spec)
    with fit.seeded(gan_engine.derive_seed(spec.seed, "gan-init")):
        alone = GANS[spec.arch].make_generator(spec.alpha, spec.shape, num_classes=spec.num_classes)
    for built, expected in zip(gen.model.state_dict().values(), alone.state_dict().values(), strict=True):
        assert torch.equal(built, expected)
