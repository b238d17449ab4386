"""One GAN key's training loop, as a Ray Train worker runs it (gan_worker.train_loop_per_worker calls
`train_key` for each key of its run).

The models, options and the step live in the pure-torch engine (trainables.gan.engine); this module
is the worker's side of one key: its shard of the data, checkpoints, grids and losses.
One loop trains every GAN kind of the study, because all of them are expressed as a *group*:
a generator and a discriminator that map a batch shaped (groups, b, ...) to (groups, b, ...).

- `conditional`: one label-conditioned GAN (groups = 1), `LabelledGroup`.
- `per-class`: K unconditional GANs, one per class, each trained only on its class's real images
  (Abadi section 3). All K train in this one Ray Train run, either
  `VmapGroup`: the K parameter sets stacked into ordinary nn.Parameters of one module and run with
  torch.func.vmap over functional_call (one big kernel per layer instead of K small ones), or
  `LoopGroup`: an nn.ModuleList run one member after the other.
  Both give each member exactly the gradients it would get alone: the loss is the *sum* of the
  members' mean losses and their parameters are disjoint; Adam is elementwise, so one Adam over
  the stacked parameters is K independent Adams. BatchNorm in per-class members is switched to
  batch statistics (torch.func.replace_all_batch_norm_modules_, needed under vmap and applied to
  both paths so they stay interchangeable); GAN training uses batch statistics anyway.

Distributed: G and D are each wrapped by `ray.train.torch.prepare_model` (DDP when there is more
than one worker) with their own Adam; each rank takes its shard of the in-memory real subset by
index (no DataLoader). The generator step runs D unwrapped so that it does not all-reduce D's
gradients, which the next discriminator step discards anyway.

Determinism and resume: batch order, noise and dropout are reseeded from (seed, epoch, rank) at the
start of every epoch, so an epoch's random draws do not depend on what ran before; with G, D and
both optimizer states restored from a checkpoint, a resumed run repeats an uninterrupted one.

Faults the tests inject (trainables/runners/fault_hooks.py) arrive as config["faults"] and act through two
hooks per epoch, never through the training step.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from trainables.classifier import fit
from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.data.validation import real_sets
from trainables.files import gan_progress
from trainables.files.storage import Store
from trainables.gan import checkpoints as gan_checkpoints
from trainables.gan import pool as gan_pool
from trainables.gan.archs import GANS
from trainables.gan.engine import (
    Ema,
    ModelSpec,
    augmenter,
    build_models,
    derive_seed,
    epoch_shards,
    fixed_noise,
    group_indices,
    to_channels_last,
    train_step,
    unwrap,
)
from trainables.gan.grids import class_grid_png
from trainables.gan.job import KeyRun
from trainables.gan.losses import LOSSES, loss_kind
from trainables.runners.fault_hooks import GanFaults

LOSS_COLUMNS = ("epoch", "d_loss", "g_loss", "seconds", "images_per_second")


def losses_csv(history: list[dict]) -> str:
    lines = [",".join(LOSS_COLUMNS)]
    lines += [",".join(repr(row[c]) if isinstance(row[c], float) else str(row[c]) for c in LOSS_COLUMNS)
              for row in history]
    return "\n".join(lines) + "\n"


def resolve_sets(real_ref) -> tuple[ImageSet, ImageSet, ImageSet | None]:
    """(train, test, validation or None) from a tuple or a Ray ObjectRef to one (a study puts its
    validation set third)."""
    if not isinstance(real_ref, tuple | list):
        import ray

        real_ref = ray.get(real_ref)
    return real_ref[0], real_ref[1], (real_ref[2] if len(real_ref) > 2 else None)


def resolve_real(real_ref) -> tuple[ImageSet, ImageSet]:
    """(train, test) from a tuple or a Ray ObjectRef to one."""
    return resolve_sets(real_ref)[:2]


def _all_reduce_sum(values: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


@dataclass(frozen=True)
class Worker:
    """What one Train worker holds for every key of its run (gan_worker.train_loop_per_worker)."""

    rank: int
    world: int
    device: torch.device
    train: ImageSet          # the training split (after the validation split was held out)
    test: ImageSet
    faults: GanFaults
    scoring_cache: Store          # where the dataset's scoring network is cached (the GAN cache root)
    draw_pool: bool = True        # False: end at the last checkpoint, without pool or scores (benches)
    validation: ImageSet | None = None   # the study's validation split: the quality gate's held-out images

    def agreed(self, value):
        """Rank 0's value on every rank: what rank 0 read from storage, so that all ranks take the same
        path (a rank that skipped a key or restored another epoch would hang the DDP collectives)."""
        if self.world > 1:
            import torch.distributed as dist

            box = [value]
            dist.broadcast_object_list(box, src=0)
            return box[0]
        return value


def train_key(run: KeyRun, worker: Worker) -> dict:
    """One worker's share of training one GAN key (`run`: its KeyRun, as the driver built it): resume from
    the key's newest checkpoint, train to job.epochs, checkpoint, and on rank 0 end by drawing the
    key's pool and scores. Returns {status, diverged_epoch, reason, history, outputs} (outputs: rank 0)."""
    import ray.train.torch

    rank, world, device = worker.rank, worker.world, worker.device
    on_gpu = device.type == "cuda"
    # The subset's training part: under eval.validation_from = "subset" its validation part is never
    # shown to the GAN, and is what the quality gate is measured on (trainables.data.validation).
    job = run.job
    real, held_out = real_sets(worker.train, worker.validation, job.size, job.seed, job.validation_rule())
    options = job.options()
    spec = job.model_spec(real.shape, real.num_classes, run.grouping)
    latent_dim, num_classes, groups = GANS[spec.arch].latent_dim, spec.num_classes, spec.groups
    gen, disc = build_models(spec)
    gen, disc = to_channels_last(gen), to_channels_last(disc)
    gen = ray.train.torch.prepare_model(gen)
    disc = ray.train.torch.prepare_model(disc)
    betas = (job.beta1, 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=options.lr_g or job.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=options.lr_d or job.lr, betas=betas)
    losses = LOSSES[loss_kind(unwrap(disc).out_dim, num_classes, options.loss)]
    augment = augmenter(options)

    store = Store(run.gan_dir)
    history: list[dict] = []
    start_epoch = 0
    state = None   # the latest checkpoint's state (restored here, or written by rank 0 below)
    restore_from = worker.agreed(gan_checkpoints.latest(store) if rank == 0 else None)
    if restore_from is not None:
        state = gan_checkpoints.read(store, restore_from, device)
        unwrap(gen).load_state_dict(state["generator"])
        unwrap(disc).load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
    ema = Ema(unwrap(gen), options.ema) if options.ema > 0 else None
    if ema is not None and state is not None:
        ema.model.load_state_dict(state["generator_ema"])
        ema.updates = int(state["ema_updates"])

    real_images, real_labels = real.images.to(device), real.labels.to(device)
    index_groups = group_indices(real.labels, spec.conditioning, num_classes)
    grid_z, grid_labels = fixed_noise(spec, latent_dim)
    batch_size, epochs, checkpoint_every = job.per_worker_batch(), job.epochs, job.checkpoint_every
    faults = worker.faults
    autocast = fit._autocast(device)
    # The key's pool and scores, drawn by rank 0 from the final state (see gan_pool.key_outputs).
    finish = functools.partial(gan_pool.key_outputs, spec=spec, per_class=job.pool_per_class,
                               train=worker.train, real=real, test=worker.test, store=store,
                               scoring_cache=worker.scoring_cache, validation=held_out)

    live = gan_progress.LiveEpochs(epochs)
    for epoch in range(start_epoch + 1, epochs + 1):
        started_at, started = time.time(), time.perf_counter()
        shards = epoch_shards(index_groups, derive_seed(spec.seed, "order", epoch), rank, world)
        noise_gen = torch.Generator(device=device).manual_seed(derive_seed(spec.seed, "noise", epoch, rank))
        torch.manual_seed(derive_seed(spec.seed, "dropout", epoch, rank))  # dropout draws (worker-local RNG)
        sums = torch.zeros(3, device=device)  # d_loss, g_loss, steps: summed on the device, one sync per epoch
        gen.train()
        disc.train()
        faults.epoch_starts(epoch, unwrap(gen))
        for start in range(0, shards.shape[1], batch_size):
            index = shards[:, start:start + batch_size].to(device)  # (G, b)
            x_real = sampling.to_model_input(real_images[index])  # (G, b, C, H, W)
            labels = real_labels[index]
            z = torch.randn(groups, index.shape[1], latent_dim, generator=noise_gen, device=device)

            step_losses = train_step(gen, disc, opt_g, opt_d, losses, x_real, labels, z, num_classes, autocast,
                                     augment=augment, ema=ema)
            sums += torch.cat([step_losses, torch.ones(1, device=device)])
        sums = _all_reduce_sum(sums, world)  # every rank gets the same numbers: all stop together
        if on_gpu:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        images = shards.numel() * world
        d_loss, g_loss_mean = (sums[:2] / sums[2].clamp(min=1)).tolist()
        row = {"epoch": epoch, "d_loss": d_loss, "g_loss": g_loss_mean, "seconds": seconds,
               "images_per_second": images / seconds if seconds > 0 else 0.0, "started_at": started_at}
        history.append(row)
        if rank == 0:
            live.note(store, epoch, row["images_per_second"])   # the console's epoch count between checkpoints

        if not (math.isfinite(d_loss) and math.isfinite(g_loss_mean)):
            reason = (f"GAN loss became non-finite at epoch {epoch} (d_loss={d_loss}, g_loss={g_loss_mean}); "
                      "try a lower gan.lr")
            if rank == 0:
                store.write_text(losses_csv(history), "losses.csv")
            return {"status": "diverged", "diverged_epoch": epoch, "reason": reason, "history": history,
                    "outputs": finish(None) if rank == 0 else {}}

        if epoch % checkpoint_every and epoch != epochs:
            # Losses of every epoch still reach losses.csv (and the next checkpoint) through `history`.
            continue
        if rank == 0:
            # The EMA weights, when kept, are the generator the study uses: they draw the grids.
            _write_epoch_outputs(store, ema.model if ema else unwrap(gen), spec, grid_z, grid_labels, device,
                                 epoch, history, functools.partial(class_grid_png, class_names=real.classes))
            state = {"generator": unwrap(gen).state_dict(), "discriminator": unwrap(disc).state_dict(),
                     "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "epoch": epoch,
                     "history": history, "rng": {"seed": spec.seed, "derived_from": "seed, epoch, rank"}}
            if ema is not None:
                state["generator_ema"], state["ema_updates"] = ema.model.state_dict(), ema.updates
            gan_checkpoints.write(store, state)
        faults.checkpoint_written(epoch)
    return {"status": "ok", "diverged_epoch": None, "reason": "", "history": history,
            "outputs": finish(state if worker.draw_pool else None) if rank == 0 else {}}


def _write_epoch_outputs(store, gen: nn.Module, spec: ModelSpec, grid_z: torch.Tensor, grid_labels: torch.Tensor,
                         device: torch.device, epoch: int, history: list[dict],
                         grid_png: Callable[..., bytes]) -> None:
    """Rank 0 at a checkpoint epoch: the fixed-noise sample grid and the loss log so far."""
    was_training = gen.training
    gen.eval()
    with torch.no_grad(), fit._autocast(device):
        images = gen(grid_z.to(device), grid_labels.to(device)).float()
    gen.train(was_training)
    png = grid_png(sampling.to_uint8(images.flatten(0, 1)).cpu(), grid_labels.reshape(-1), spec.num_classes,
                   title=f"GAN samples after epoch {epoch} (fixed noise; one row per class)")
    store.write_bytes(png, f"samples_epoch{epoch:03d}.png")
    store.write_text(losses_csv(history), "losses.csv")
