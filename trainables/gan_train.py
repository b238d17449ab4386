"""The GAN training loop that Ray Train runs (`train_loop_per_worker` for a TorchTrainer).

The models, options and the step live in the pure-torch engine (trainables.gan_engine); this module
is the worker's side of Ray Train: its shard of the data, checkpoints, reports, grids and losses.
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

Faults the tests inject (trainables/fault_hooks.py) arrive as config["faults"] and act through two
hooks per epoch, never through the training step.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import time
from collections.abc import Callable

import torch
from torch import nn

from trainables import data, fit
from trainables.fault_hooks import GanFaults
from trainables.gan_engine import (
    Ema,
    GanOptions,
    GanSpec,
    build_models,
    derive_seed,
    epoch_shards,
    fixed_noise,
    group_indices,
    to_channels_last,
    train_step,
    unwrap,
)
from trainables.gan_losses import LOSSES, loss_kind
from trainables.gans import GANS

STATE_FILE = "state.pt"
LOSS_COLUMNS = ("epoch", "d_loss", "g_loss", "seconds", "images_per_second")


def generator_state(state: dict) -> dict:
    """The generator weights a checkpoint's pool and grids come from: the EMA ones when kept."""
    return state.get("generator_ema") or state["generator"]


def read_state(directory: str, device: torch.device | str = "cpu") -> dict:
    return torch.load(os.path.join(directory, STATE_FILE), map_location=device, weights_only=True)


def losses_csv(history: list[dict]) -> str:
    lines = [",".join(LOSS_COLUMNS)]
    lines += [",".join(repr(row[c]) if isinstance(row[c], float) else str(row[c]) for c in LOSS_COLUMNS)
              for row in history]
    return "\n".join(lines) + "\n"


def resolve_real(real_ref) -> tuple[data.ImageSet, data.ImageSet]:
    """(train, test) from a tuple or a Ray ObjectRef to one."""
    if not isinstance(real_ref, tuple | list):
        import ray

        real_ref = ray.get(real_ref)
    return real_ref[0], real_ref[1]   # a study also puts its validation set third


def _all_reduce_sum(values: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def train_loop_per_worker(config: dict) -> dict:
    """One worker's share of training one GAN key. See the module docstring; config keys are set by
    gan_trainer.train_loop_config."""
    import ray.train
    import ray.train.torch
    from ray.train import Checkpoint

    from trainables import gan_pool  # imports this module: imported here, not at the top
    from trainables.grids import class_grid_png
    from trainables.storage import Store

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(int(config.get("threads", 1)))
    device = ray.train.torch.get_device()
    on_gpu = device.type == "cuda"

    train_set, test_set = resolve_real(config["real_ref"])
    real = data.subset(train_set, config["size"], config["seed"])
    options = GanOptions(**config.get("options", {}))
    spec = GanSpec(config["arch"], config["conditioning"], float(config["alpha"]), real.shape,
                   real.num_classes, config["grouping"], int(config["seed"]), options.spectral_norm)
    latent_dim, num_classes, groups = GANS[spec.arch].latent_dim, spec.num_classes, spec.groups
    gen, disc = build_models(spec)
    gen, disc = to_channels_last(gen), to_channels_last(disc)
    gen = ray.train.torch.prepare_model(gen)
    disc = ray.train.torch.prepare_model(disc)
    betas = (float(config["beta1"]), 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=float(options.lr_g or config["lr"]), betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=float(options.lr_d or config["lr"]), betas=betas)
    losses = LOSSES[loss_kind(unwrap(disc).out_dim, num_classes, options.loss)]
    augment = options.augmenter()

    history: list[dict] = []
    start_epoch = 0
    state = None   # the latest checkpoint's state (restored here, or written by rank 0 below)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = read_state(directory, device)
        unwrap(gen).load_state_dict(state["generator"])
        unwrap(disc).load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
    ema = Ema(unwrap(gen), options.ema) if options.ema > 0 else None
    if ema is not None and checkpoint is not None:
        ema.model.load_state_dict(state["generator_ema"])
        ema.updates = int(state["ema_updates"])

    store = Store(config["gan_dir"])
    real_images, real_labels = real.images.to(device), real.labels.to(device)
    index_groups = group_indices(real.labels, spec.conditioning, num_classes)
    grid_z, grid_labels = fixed_noise(spec, latent_dim)
    batch_size, epochs = int(config["batch_size"]), int(config["epochs"])
    checkpoint_every = max(1, int(config["checkpoint_every"]))
    faults = GanFaults(**config.get("faults", {}))
    autocast = fit._autocast(device)
    # The key's pool and scores, drawn by rank 0 from the final state (see gan_pool.key_outputs).
    finish = functools.partial(gan_pool.key_outputs, spec=spec, per_class=int(config["pool_per_class"]),
                               train=train_set, real=real, test=test_set, store=store,
                               scoring_cache=Store(config["cache_root"]))

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
            x_real = data.to_model_input(real_images[index])  # (G, b, C, H, W)
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
        diverged = not (math.isfinite(d_loss) and math.isfinite(g_loss_mean))
        metrics = dict(row) | {"diverged": diverged}

        if diverged:
            reason = (f"GAN loss became non-finite at epoch {epoch} (d_loss={d_loss}, g_loss={g_loss_mean}); "
                      "try a lower gan.lr")
            if rank == 0:
                store.write_text(losses_csv(history), "losses.csv")
            ray.train.report(metrics)
            return {"status": "diverged", "diverged_epoch": epoch, "reason": reason, "history": history,
                    "outputs": finish(None) if rank == 0 else {}}

        if epoch % checkpoint_every and epoch != epochs:
            # No ray.train.report here: each report is a barrier across workers plus a round trip to
            # the controller (~0.5 s measured), as long as a whole per-class epoch on small data.
            # Losses of every epoch still reach losses.csv through `history`.
            continue

        with tempfile.TemporaryDirectory() as directory:
            if rank == 0:
                # The EMA weights, when kept, are the generator the study uses: they draw the grids.
                _write_epoch_outputs(store, ema.model if ema else unwrap(gen), spec, grid_z, grid_labels, device,
                                     epoch, history, functools.partial(class_grid_png, class_names=real.classes))
                state = {"generator": unwrap(gen).state_dict(), "discriminator": unwrap(disc).state_dict(),
                         "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "epoch": epoch,
                         "history": history, "rng": {"seed": spec.seed, "derived_from": "seed, epoch, rank"}}
                if ema is not None:
                    state["generator_ema"], state["ema_updates"] = ema.model.state_dict(), ema.updates
                torch.save(state, os.path.join(directory, STATE_FILE))
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(directory) if rank == 0 else None,
                             checkpoint_dir_name=f"checkpoint_epoch{epoch:04d}")
        faults.checkpoint_written(epoch)
    # Rank 0's return value becomes Result.return_value (Result.metrics only covers checkpoints).
    return {"status": "ok", "diverged_epoch": None, "reason": "", "history": history,
            "outputs": finish(state if config["draw_pool"] else None) if rank == 0 else {}}


def _write_epoch_outputs(store, gen: nn.Module, spec: GanSpec, grid_z: torch.Tensor, grid_labels: torch.Tensor,
                         device: torch.device, epoch: int, history: list[dict],
                         grid_png: Callable[..., bytes]) -> None:
    """Rank 0 at a checkpoint epoch: the fixed-noise sample grid and the loss log so far."""
    was_training = gen.training
    gen.eval()
    with torch.no_grad(), fit._autocast(device):
        images = gen(grid_z.to(device), grid_labels.to(device)).float()
    gen.train(was_training)
    png = grid_png(data.to_uint8(images.flatten(0, 1)).cpu(), grid_labels.reshape(-1), spec.num_classes,
                   title=f"GAN samples after epoch {epoch} (fixed noise; one row per class)")
    store.write_bytes(png, f"samples_epoch{epoch:03d}.png")
    store.write_text(losses_csv(history), "losses.csv")
