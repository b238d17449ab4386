"""Our GAN training epoch, in-process: the epoch loop of gan_train.train_key.

train_key needs a Ray Train context (rank, DDP), so the benches run
its per-epoch body here for one worker on `device` (rank 0, world 1: prepare_model leaves models
unwrapped, as it does under Ray Train with one worker), built from gan_train's own pieces
(build_models, train_step, epoch_shards, LOSSES, derive_seed). Only Ray's reporting and checkpointing are
left out; those are what `gan_train.py`'s Ray Train comparison measures. On CUDA it runs as the
worker does there: real images resident on the device, noise drawn on it, bf16 autocast, channels_last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from trainables.classifier import fit
from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.gan import engine as gan_engine
from trainables.gan import losses as gan_losses
from trainables.gan.archs import GANS
from trainables.terms.gan_options import GanOptions


@dataclass
class GanLoop:
    """G, D, their Adams and the real subset of one GAN key, ready to run epochs."""

    spec: gan_engine.ModelSpec
    real: ImageSet
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    options: GanOptions = field(default_factory=GanOptions)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        self.gen, self.disc = (gan_engine.to_channels_last(m.to(self.device)) for m in gan_engine.build_models(self.spec))
        self.real = ImageSet(self.real.images.to(self.device), self.real.labels.to(self.device), self.real.classes)
        self.autocast = fit._autocast(self.device)
        betas = (self.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=self.options.lr_g or self.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=self.options.lr_d or self.lr, betas=betas)
        self.losses = gan_losses.LOSSES[gan_losses.loss_kind(self.disc.out_dim, self.spec.num_classes,
                                                             self.options.loss)]
        self.augment = gan_engine.augmenter(self.options)
        self.ema = gan_engine.Ema(self.gen, self.options.ema) if self.options.ema > 0 else None
        # Index bookkeeping stays on the CPU, as in the Train worker; each batch's index moves to the device.
        self.index_groups = gan_engine.group_indices(self.real.labels.cpu(), self.spec.conditioning, self.spec.num_classes)
        self.latent_dim = GANS[self.spec.arch].latent_dim
        self.epoch = 0

    def batches(self, epoch: int):
        """(index (G, b), noise generator) of one epoch, exactly as gan_train.train_key draws them."""
        shards = gan_engine.epoch_shards(self.index_groups, gan_engine.derive_seed(self.spec.seed, "order", epoch), 0, 1)
        shards = shards.to(self.device)
        noise_gen = torch.Generator(device=self.device).manual_seed(gan_engine.derive_seed(self.spec.seed, "noise", epoch, 0))
        torch.manual_seed(gan_engine.derive_seed(self.spec.seed, "dropout", epoch, 0))
        for start in range(0, shards.shape[1], self.batch_size):
            yield shards[:, start:start + self.batch_size], noise_gen

    def step(self, index: torch.Tensor, noise_gen: torch.Generator) -> torch.Tensor:
        """One D step and one G step (gan_engine.train_step, as the Train worker runs it) on the real
        images at `index` (G, b); returns [d_loss, g_loss, 1] for the epoch's sums."""
        x_real = sampling.to_model_input(self.real.images[index])
        labels = self.real.labels[index]
        z = torch.randn(self.spec.groups, index.shape[1], self.latent_dim, generator=noise_gen, device=self.device)
        losses = gan_engine.train_step(self.gen, self.disc, self.opt_g, self.opt_d, self.losses, x_real, labels, z,
                                       self.spec.num_classes, self.autocast, augment=self.augment, ema=self.ema)
        return torch.cat([losses, torch.ones(1, device=self.device)])

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator the study would draw its pool from: the EMA weights when kept."""
        return self.ema.model if self.ema is not None else self.gen

    def run_epoch(self) -> tuple[float, float]:
        """One epoch; (mean d_loss, mean g_loss), read once at the end as the real loop does."""
        self.epoch += 1
        self.gen.train()
        self.disc.train()
        sums = torch.zeros(3, device=self.device)
        for index, noise_gen in self.batches(self.epoch):
            sums += self.step(index, noise_gen)
        d_loss, g_loss = (sums[:2] / sums[2].clamp(min=1)).tolist()
        return d_loss, g_loss


def class_sets(real: ImageSet) -> list[ImageSet]:
    """The real images of each class as a one-class set (label 0, class name kept): what the
    training of one per-class GAN on its own sees when nobody groups the K of a key."""
    return [ImageSet(real.images[real.labels == k], torch.zeros(int((real.labels == k).sum()), dtype=torch.int64),
                          (real.classes[k],))
            for k in range(real.num_classes)]


def make_loop(real: ImageSet, *, arch: str = "abadi", conditioning: str = "conditional", alpha: float = 1.0,
              grouping: str = "vmap", seed: int = 0, batch_size: int = 64, lr: float = 2e-4, beta1: float = 0.5,
              options: GanOptions | None = None, device: str | torch.device = "cpu") -> GanLoop:
    options = options or GanOptions()
    spec = gan_engine.ModelSpec(arch, conditioning, float(alpha), real.shape, real.num_classes, grouping, seed,
                              options.spectral_norm)
    with fit.seeded(seed):  # the loop reseeds the global RNG per epoch (dropout): keep the caller's state
        return GanLoop(spec, real, batch_size=batch_size, lr=lr, beta1=beta1, options=options, device=device)
