"""The pure-torch GAN engine: specs, models, options, one training step, EMA, sampling.

No Ray here: the Ray Train worker loop (trainables.runners.gan_train) and the benches both call this, so
they time and train exactly the same step. The kinds of GAN are groups (trainables.gan.groups), the
losses a registry (trainables.gan.losses), DiffAugment its own module (trainables.gan.augment).

Options beyond the papers (trainables.terms.gan_options.GanOptions, checked there without torch; every
default is the papers' recipe): the loss (bce | hinge), DiffAugment of D's inputs with a policy and a
strength (`augmenter`), an exponential moving average of G's weights (which then draws every sample
grid and the pool), spectral norm on D, and separate learning rates for D and G.

Determinism and resume: batch order, noise, dropout and augmentation draws are reseeded from
(seed, epoch, rank) at the start of every epoch by the caller (derive_seed), so an epoch's random
draws do not depend on what ran before.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import replace_all_batch_norm_modules_

from trainables.classifier import fit
from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.gan.archs import GANS
from trainables.gan.augment import diff_augment
from trainables.gan.grids import GRID_COLUMNS
from trainables.gan.groups import GROUP_CLASSES, LabelledGroup
from trainables.terms.choices import CONDITIONINGS
from trainables.terms.gan_options import GanOptions, parse_policy

GROUPINGS = ("vmap", "loop")


def augmenter(options: GanOptions) -> Callable[[torch.Tensor], torch.Tensor]:
    """The DiffAugment of D's inputs that `options` ask for (the identity when none)."""
    policy, strength = parse_policy(options.diffaugment), float(options.diffaugment_strength)
    if not policy or strength <= 0:
        return _no_augment
    return lambda x: diff_augment(x, policy, strength)


def _no_augment(x: torch.Tensor) -> torch.Tensor:
    return x


class Ema:
    """An exponential moving average of a generator group's weights (buffers copied as they are).

    The decay warms up as min(decay, (1 + t) / (10 + t)) after t updates (TensorFlow's
    ExponentialMovingAverage with num_updates): without it the average still remembers the random
    initial weights for hundreds of steps, and short CPU budgets drew grids from it (measured in
    bench/gan_quality.py: spectral norm + EMA 0.99 without warm-up had coverage 0.04 after 25 epochs
    on 500 images, 0.47 after 50). `updates` is checkpointed with the weights.
    """

    def __init__(self, generator: nn.Module, decay: float, updates: int = 0):
        self.decay, self.updates = decay, updates
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        decay = self.current_decay()
        self.updates += 1
        for average, current in zip(self.model.parameters(), generator.parameters(), strict=True):
            average.lerp_(current, 1.0 - decay)
        for average, current in zip(self.model.buffers(), generator.buffers(), strict=True):
            average.copy_(current)


def derive_seed(*parts) -> int:
    """A 63-bit seed from any printable parts (seed, purpose, epoch, rank): independent streams."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class ModelSpec:
    """What builds the models: everything that shapes G and D (a GAN job's model_spec gives it)."""

    arch: str
    conditioning: str
    alpha: float
    shape: tuple[int, int, int]
    num_classes: int
    grouping: str  # vmap | loop (per-class only)
    seed: int
    spectral_norm: bool = False  # on every conv and linear layer of D (Miyato et al. 2018)

    @property
    def groups(self) -> int:
        return self.num_classes if self.conditioning == "per-class" else 1


def _normalised(disc: nn.Module, spectral_norm: bool) -> nn.Module:
    """D with spectral normalisation on every conv and linear layer, when asked for."""
    if spectral_norm:
        for module in list(disc.modules()):
            if isinstance(module, nn.Conv2d | nn.Linear):
                torch.nn.utils.parametrizations.spectral_norm(module)
    return disc


def check_gan_choice(arch: str, conditioning: str, grouping: str = "vmap") -> None:
    """Raise ValueError naming the problem for an unknown arch/conditioning/grouping or dagan per-class."""
    GANS.check(arch)
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"unknown conditioning {conditioning!r}; choose one of {', '.join(CONDITIONINGS)}")
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown per-class grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    if GANS[arch].conditional_only and conditioning != "conditional":
        raise ValueError(f"GAN arch {arch!r} is label-conditioned only (2K-way discriminator); "
                         "set gan.conditioning = \"conditional\"")


def build_models(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    """(generator group, discriminator group), initialised from spec.seed only."""
    arch = GANS[spec.arch]
    with fit.seeded(derive_seed(spec.seed, "gan-init")):
        if spec.conditioning == "conditional":
            # G first, then D: the order in which they draw their initial weights from the seeded RNG.
            gen = arch.make_generator(spec.alpha, spec.shape, num_classes=spec.num_classes)
            disc = arch.make_discriminator(spec.alpha, spec.shape, num_classes=spec.num_classes)
            return LabelledGroup(gen), LabelledGroup(_normalised(disc, spec.spectral_norm))
        gens = [replace_all_batch_norm_modules_(arch.make_generator(spec.alpha, spec.shape))
                for _ in range(spec.num_classes)]
        discs = [_normalised(replace_all_batch_norm_modules_(arch.make_discriminator(spec.alpha, spec.shape)),
                             spec.spectral_norm) for _ in range(spec.num_classes)]
    group = GROUP_CLASSES[spec.grouping]
    return group(gens), group(discs)


def group_indices(labels: torch.Tensor, conditioning: str, num_classes: int) -> list[torch.Tensor]:
    """Real-image indices each group trains on: one list per class, or everything for conditional."""
    if conditioning == "conditional":
        return [torch.arange(labels.shape[0])]
    return [torch.nonzero(labels == k).flatten() for k in range(num_classes)]


def epoch_shards(groups: list[torch.Tensor], epoch_seed: int, rank: int, world: int) -> torch.Tensor:
    """(G, per_rank) index table for one epoch on one rank.

    Each group's indices are shuffled with the epoch's seed (the same on every rank), wrapped to
    the largest group's length rounded up to a multiple of `world` (so every group and every rank
    takes the same number of equal-size steps, which vmap and DDP both need), and dealt out
    rank::world.
    """
    generator = torch.Generator().manual_seed(epoch_seed)
    longest = max(int(g.numel()) for g in groups)
    padded_length = math.ceil(longest / world) * world
    rows = []
    for g in groups:
        order = g[torch.randperm(g.numel(), generator=generator)]
        repeats = math.ceil(padded_length / max(order.numel(), 1))
        rows.append(order.repeat(repeats)[:padded_length])
    return torch.stack(rows)[:, rank::world]


def train_step(gen: nn.Module, disc: nn.Module, opt_g, opt_d, losses, x_real: torch.Tensor, labels: torch.Tensor,
               z: torch.Tensor, num_classes: int, autocast,
               augment: Callable[[torch.Tensor], torch.Tensor] = _no_augment, ema: Ema | None = None) -> torch.Tensor:
    """One discriminator and one generator update on a (G, b, ...) batch; returns detached
    [d_loss, g_loss], each the mean over the G GANs of the group. `augment` transforms every image D
    sees, real and fake, in both steps (DiffAugment); `ema` follows G after its step."""
    groups = x_real.shape[0]
    # Discriminator step: one forward/backward per batch kind (safe under DDP). "* groups" turns
    # the mean over all G*b images into the sum of the G per-GAN means, so every member gets
    # exactly the gradient it would get training alone.
    opt_d.zero_grad(set_to_none=True)
    with autocast:
        fake = gen(z, labels)
        d_real = losses.real(disc(augment(x_real), labels).float(), labels, num_classes) * groups
    d_real.backward()
    with autocast:
        d_fake = losses.fake(disc(augment(fake.detach()), labels).float(), labels, num_classes) * groups
    d_fake.backward()
    opt_d.step()

    # Generator step through the unwrapped D: no all-reduce of D's (discarded) gradients.
    opt_g.zero_grad(set_to_none=True)
    with autocast:
        g_loss = losses.generator(unwrap(disc)(augment(fake), labels).float(), labels, num_classes) * groups
    g_loss.backward()
    opt_g.step()
    if ema is not None:
        ema.update(unwrap(gen))
    return torch.stack([(d_real + d_fake).detach(), g_loss.detach()]) / groups


def fixed_noise(spec: ModelSpec, latent_dim: int, columns: int = GRID_COLUMNS) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise and labels of the sample grid, (G, b, z) and (G, b): the same at every epoch."""
    generator = torch.Generator().manual_seed(derive_seed(spec.seed, "grid-noise"))
    labels = torch.arange(spec.num_classes).repeat_interleave(columns)
    if spec.conditioning == "conditional":
        return torch.randn(1, labels.numel(), latent_dim, generator=generator), labels[None]
    return (torch.randn(spec.num_classes, columns, latent_dim, generator=generator),
            labels.view(spec.num_classes, columns))


POOL_BLOCK = 1024  # images per generator call when drawing a pool; fixed, so pools grow by prefix


@torch.no_grad()
def generate(generator_group: nn.Module, spec: ModelSpec, per_class: int, seed: int, device: torch.device,
             classes: tuple[str, ...] | None = None) -> ImageSet:
    """per_class images of every class as uint8, in no-grad blocks (eval mode).

    Blocks have one fixed shape (about POOL_BLOCK images, the same count per class, never one: the
    per-class generators use batch statistics, undefined for one image) and each block's noise comes
    from (seed, block index) alone. So the first m images of every class are the same whatever
    per_class is: a pool grows by drawing more blocks, and a trial that takes the first R x n images
    gets the same ones from a pool of any size (sampling.take_balanced).
    """
    latent_dim = GANS[spec.arch].latent_dim
    step = max(2, POOL_BLOCK // spec.num_classes)
    was_training = generator_group.training
    generator_group.eval()
    chunks, label_chunks = [], []
    for block in range(math.ceil(per_class / step)):
        noise_gen = torch.Generator().manual_seed(derive_seed(seed, "pool-block", block))
        if spec.conditioning == "conditional":
            labels = torch.arange(spec.num_classes).repeat_interleave(step)[None]
            z = torch.randn(1, labels.shape[1], latent_dim, generator=noise_gen)
        else:
            labels = torch.arange(spec.num_classes)[:, None].expand(-1, step)
            z = torch.randn(spec.num_classes, step, latent_dim, generator=noise_gen)
        with fit._autocast(device):
            images = generator_group(z.to(device), labels.to(device)).float()
        chunks.append(sampling.to_uint8(images.flatten(0, 1)).cpu())
        label_chunks.append(labels.reshape(-1).cpu())
    generator_group.train(was_training)
    classes = classes or tuple(str(k) for k in range(spec.num_classes))
    pool = ImageSet(torch.cat(chunks), torch.cat(label_chunks), tuple(classes))
    return pool.select(sampling.first_per_class(pool.labels, [per_class] * spec.num_classes))


def to_channels_last(model: nn.Module) -> nn.Module:
    """The model in channels_last where that pays (see fit.channels_last_pays: CPU and CUDA alike)."""
    return model.to(memory_format=torch.channels_last) if fit.channels_last_pays(model) else model


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (state_dicts without the 'module.' prefix)."""
    return getattr(model, "module", model)
