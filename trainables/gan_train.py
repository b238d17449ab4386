"""The GAN training loop that Ray Train runs (`train_loop_per_worker` for a TorchTrainer).

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

Test hooks (set through the driver's runtime env): STUDY_INJECT_NAN_EPOCH=N makes the loss NaN in
epoch N; STUDY_FAIL_ONCE_MARKER=PATH raises once after the first checkpoint (when PATH does not
exist yet, it is created first), to exercise FailureConfig and resume.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_, stack_module_state

from trainables import data, fit
from trainables.gans import GANS

CONDITIONINGS = ("per-class", "conditional")
GROUPINGS = ("vmap", "loop")
STATE_FILE = "state.pt"
LOSS_COLUMNS = ("epoch", "d_loss", "g_loss", "seconds", "images_per_second")
GRID_COLUMNS = 10
ENV_INJECT_NAN = "STUDY_INJECT_NAN_EPOCH"
ENV_FAIL_ONCE = "STUDY_FAIL_ONCE_MARKER"


def derive_seed(*parts) -> int:
    """A 63-bit seed from any printable parts (seed, purpose, epoch, rank): independent streams."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# ---------------------------------------------------------------------------------------------
# Groups: one interface for per-class stacks and the conditional GAN


class VmapGroup(nn.Module):
    """K copies of one architecture run as one module with torch.func.vmap (per-class GANs).

    The stacked parameters are ordinary nn.Parameters of shape (K, ...) registered on this
    module, so optimizers, state_dict and DDP (via prepare_model) see plain parameters. The
    template module that functional_call runs lives on the meta device and is deliberately not a
    submodule: its parameters are placeholders only.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        params, buffers = stack_module_state(members)
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        for name, value in params.items():
            self.register_parameter(self._flat(name), nn.Parameter(value))
        for name, value in buffers.items():
            self.register_buffer(self._flat(name), value)
        self.out_dim = getattr(members[0], "out_dim", None)
        self.groups = len(members)
        object.__setattr__(self, "_template", copy.deepcopy(members[0]).to("meta"))

    @staticmethod
    def _flat(name: str) -> str:
        return name.replace(".", "__")  # parameter names may not contain dots

    def train(self, mode: bool = True) -> VmapGroup:
        super().train(mode)
        self._template.train(mode)  # not a submodule, so forward train/eval by hand (dropout)
        return self

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        params = {name: getattr(self, self._flat(name)) for name in self.param_names}
        buffers = {name: getattr(self, self._flat(name)) for name in self.buffer_names}

        def one(p, b, xi):
            return functional_call(self._template, (p, b), (xi,))

        # randomness="different": each member draws its own dropout masks, as it would alone.
        return torch.vmap(one, randomness="different")(params, buffers, x)


class LoopGroup(nn.Module):
    """K copies of one architecture run one after the other (the per-class fallback path)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.out_dim = getattr(members[0], "out_dim", None)
        self.groups = len(members)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([member(x[k]) for k, member in enumerate(self.members)])


class LabelledGroup(nn.Module):
    """One label-conditioned model seen as a group of 1: (1, b, ...) in, (1, b, ...) out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.out_dim = getattr(model, "out_dim", None)
        self.groups = 1

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x[0], labels[0]).unsqueeze(0)


GROUP_CLASSES: dict[str, type[nn.Module]] = {"vmap": VmapGroup, "loop": LoopGroup}


@dataclass(frozen=True)
class GanSpec:
    """What builds the models: everything in the train-loop config that shapes G and D."""

    arch: str
    conditioning: str
    alpha: float
    shape: tuple[int, int, int]
    num_classes: int
    grouping: str  # vmap | loop (per-class only)
    seed: int

    @property
    def groups(self) -> int:
        return self.num_classes if self.conditioning == "per-class" else 1


def check_gan_choice(arch: str, conditioning: str, grouping: str = "vmap") -> None:
    """Raise ValueError naming the problem for an unknown arch/conditioning/grouping or dagan per-class."""
    if arch not in GANS:
        raise ValueError(f"unknown GAN arch {arch!r}; choose one of {', '.join(GANS)}")
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"unknown conditioning {conditioning!r}; choose one of {', '.join(CONDITIONINGS)}")
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown per-class grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    if GANS[arch].conditional_only and conditioning != "conditional":
        raise ValueError(f"GAN arch {arch!r} is label-conditioned only (2K-way discriminator); "
                         "set gan.conditioning = \"conditional\"")


def build_models(spec: GanSpec) -> tuple[nn.Module, nn.Module]:
    """(generator group, discriminator group), initialised from spec.seed only."""
    arch = GANS[spec.arch]
    with fit.seeded(derive_seed(spec.seed, "gan-init")):
        if spec.conditioning == "conditional":
            return (LabelledGroup(arch.make_generator(spec.alpha, spec.shape, num_classes=spec.num_classes)),
                    LabelledGroup(arch.make_discriminator(spec.alpha, spec.shape, num_classes=spec.num_classes)))
        gens = [replace_all_batch_norm_modules_(arch.make_generator(spec.alpha, spec.shape))
                for _ in range(spec.num_classes)]
        discs = [replace_all_batch_norm_modules_(arch.make_discriminator(spec.alpha, spec.shape))
                 for _ in range(spec.num_classes)]
    group = GROUP_CLASSES[spec.grouping]
    return group(gens), group(discs)


# ---------------------------------------------------------------------------------------------
# Losses: a registry keyed by the discriminator's output kind


class BceLoss:
    """Standard GAN loss with logits (Goodfellow et al. 2014, non-saturating generator loss)."""

    @staticmethod
    def real(logits, labels, num_classes):
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    @staticmethod
    def fake(logits, labels, num_classes):
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))

    @staticmethod
    def generator(logits, labels, num_classes):
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


class TwoKClassLoss:
    """DAGAN (Zhang & Wu, section 3): D classifies real images of class y as y, fakes as K + y;
    G wants its fakes of class y classified as y."""

    @staticmethod
    def real(logits, labels, num_classes):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    @staticmethod
    def fake(logits, labels, num_classes):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1) + num_classes)

    @staticmethod
    def generator(logits, labels, num_classes):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


LOSSES = {"bce": BceLoss, "2k-class": TwoKClassLoss}


def loss_kind(out_dim: int, num_classes: int) -> str:
    return "2k-class" if out_dim == 2 * num_classes else "bce"


# ---------------------------------------------------------------------------------------------
# Batching: per-group index lists sharded by rank


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


# ---------------------------------------------------------------------------------------------
# One optimisation step


def train_step(gen: nn.Module, disc: nn.Module, opt_g, opt_d, losses, x_real: torch.Tensor, labels: torch.Tensor,
               z: torch.Tensor, num_classes: int, autocast, inject_nan: bool = False) -> torch.Tensor:
    """One discriminator and one generator update on a (G, b, ...) batch; returns detached
    [d_loss, g_loss], each the mean over the G GANs of the group."""
    groups = x_real.shape[0]
    # Discriminator step: one forward/backward per batch kind (safe under DDP). "* groups" turns
    # the mean over all G*b images into the sum of the G per-GAN means, so every member gets
    # exactly the gradient it would get training alone.
    opt_d.zero_grad(set_to_none=True)
    with autocast:
        fake = gen(z, labels)
        d_real = losses.real(disc(x_real, labels).float(), labels, num_classes) * groups
    if inject_nan:
        d_real = d_real * float("nan")  # test hook: a diverging loss
    d_real.backward()
    with autocast:
        d_fake = losses.fake(disc(fake.detach(), labels).float(), labels, num_classes) * groups
    d_fake.backward()
    opt_d.step()

    # Generator step through the unwrapped D: no all-reduce of D's (discarded) gradients.
    opt_g.zero_grad(set_to_none=True)
    with autocast:
        g_loss = losses.generator(unwrap(disc)(fake, labels).float(), labels, num_classes) * groups
    g_loss.backward()
    opt_g.step()
    return torch.stack([(d_real + d_fake).detach(), g_loss.detach()]) / groups


# ---------------------------------------------------------------------------------------------
# Sampling (training grids, the pool)


def fixed_noise(spec: GanSpec, latent_dim: int, columns: int = GRID_COLUMNS) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise and labels of the sample grid, (G, b, z) and (G, b): the same at every epoch."""
    generator = torch.Generator().manual_seed(derive_seed(spec.seed, "grid-noise"))
    labels = torch.arange(spec.num_classes).repeat_interleave(columns)
    if spec.conditioning == "conditional":
        return torch.randn(1, labels.numel(), latent_dim, generator=generator), labels[None]
    return (torch.randn(spec.num_classes, columns, latent_dim, generator=generator),
            labels.view(spec.num_classes, columns))


POOL_BLOCK = 1024  # images per generator call when drawing a pool; fixed, so pools grow by prefix


@torch.no_grad()
def generate(generator_group: nn.Module, spec: GanSpec, per_class: int, seed: int, device: torch.device,
             classes: tuple[str, ...] | None = None) -> data.ImageSet:
    """per_class images of every class as uint8, in no-grad blocks (eval mode).

    Blocks have one fixed shape (about POOL_BLOCK images, the same count per class, never one: the
    per-class generators use batch statistics, undefined for one image) and each block's noise comes
    from (seed, block index) alone. So the first m images of every class are the same whatever
    per_class is: a pool grows by drawing more blocks, and a trial that takes the first R x n images
    gets the same ones from a pool of any size (data.take_balanced).
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
        chunks.append(data.to_uint8(images.flatten(0, 1)).cpu())
        label_chunks.append(labels.reshape(-1).cpu())
    generator_group.train(was_training)
    classes = classes or tuple(str(k) for k in range(spec.num_classes))
    pool = data.ImageSet(torch.cat(chunks), torch.cat(label_chunks), tuple(classes))
    return pool.select(data.first_per_class(pool.labels, [per_class] * spec.num_classes))


# ---------------------------------------------------------------------------------------------
# Checkpoint contents


def to_channels_last(model: nn.Module) -> nn.Module:
    """The model in channels_last where that pays (see fit.channels_last_pays: CPU and CUDA alike)."""
    return model.to(memory_format=torch.channels_last) if fit.channels_last_pays(model) else model


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (state_dicts without the 'module.' prefix)."""
    return getattr(model, "module", model)


def read_state(directory: str, device: torch.device | str = "cpu") -> dict:
    return torch.load(os.path.join(directory, STATE_FILE), map_location=device, weights_only=True)


def losses_csv(history: list[dict]) -> str:
    lines = [",".join(LOSS_COLUMNS)]
    lines += [",".join(repr(row[c]) if isinstance(row[c], float) else str(row[c]) for c in LOSS_COLUMNS)
              for row in history]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The train loop


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def _test_hooks(config: dict) -> tuple[int | None, str | None]:
    """(inject-NaN epoch, fail-once marker) from the config, else from the environment."""
    nan_epoch = config.get("_inject_nan_at_epoch")
    marker = config.get("_fail_once_marker")
    return (nan_epoch if nan_epoch is not None else _env_int(ENV_INJECT_NAN),
            marker if marker is not None else (os.environ.get(ENV_FAIL_ONCE) or None))


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
    gan_stage.train_loop_config."""
    import ray.train
    import ray.train.torch
    from ray.train import Checkpoint

    from trainables.grids import class_grid_png
    from trainables.storage import Store

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(int(config.get("threads", 1)))
    device = ray.train.torch.get_device()
    on_gpu = device.type == "cuda"

    train_set, _test = resolve_real(config["real_ref"])
    real = data.subset(train_set, config["size"], config["seed"])
    spec = GanSpec(config["arch"], config["conditioning"], float(config["alpha"]), real.shape,
                   real.num_classes, config["grouping"], int(config["seed"]))
    latent_dim, num_classes, groups = GANS[spec.arch].latent_dim, spec.num_classes, spec.groups
    gen, disc = build_models(spec)
    gen, disc = to_channels_last(gen), to_channels_last(disc)
    gen = ray.train.torch.prepare_model(gen)
    disc = ray.train.torch.prepare_model(disc)
    betas = (float(config["beta1"]), 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=float(config["lr"]), betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=float(config["lr"]), betas=betas)
    losses = LOSSES[loss_kind(unwrap(disc).out_dim, num_classes)]

    history: list[dict] = []
    start_epoch = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = read_state(directory, device)
        unwrap(gen).load_state_dict(state["generator"])
        unwrap(disc).load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start_epoch, history = int(state["epoch"]), list(state["history"])

    store = Store(config["gan_dir"])
    real_images, real_labels = real.images.to(device), real.labels.to(device)
    index_groups = group_indices(real.labels, spec.conditioning, num_classes)
    grid_z, grid_labels = fixed_noise(spec, latent_dim)
    batch_size, epochs = int(config["batch_size"]), int(config["epochs"])
    checkpoint_every = max(1, int(config["checkpoint_every"]))
    nan_epoch, fail_marker = _test_hooks(config)
    autocast = fit._autocast(device)

    for epoch in range(start_epoch + 1, epochs + 1):
        started_at, started = time.time(), time.perf_counter()
        shards = epoch_shards(index_groups, derive_seed(spec.seed, "order", epoch), rank, world)
        noise_gen = torch.Generator(device=device).manual_seed(derive_seed(spec.seed, "noise", epoch, rank))
        torch.manual_seed(derive_seed(spec.seed, "dropout", epoch, rank))  # dropout draws (worker-local RNG)
        sums = torch.zeros(3, device=device)  # d_loss, g_loss, steps: summed on the device, one sync per epoch
        gen.train()
        disc.train()
        for step, start in enumerate(range(0, shards.shape[1], batch_size)):
            index = shards[:, start:start + batch_size].to(device)  # (G, b)
            x_real = data.to_model_input(real_images[index])  # (G, b, C, H, W)
            labels = real_labels[index]
            z = torch.randn(groups, index.shape[1], latent_dim, generator=noise_gen, device=device)

            step_losses = train_step(gen, disc, opt_g, opt_d, losses, x_real, labels, z, num_classes, autocast,
                                     inject_nan=nan_epoch == epoch and step == 0)
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
            return {"status": "diverged", "diverged_epoch": epoch, "reason": reason, "history": history}

        if epoch % checkpoint_every and epoch != epochs:
            # No ray.train.report here: each report is a barrier across workers plus a round trip to
            # the controller (~0.5 s measured), as long as a whole per-class epoch on small data.
            # Losses of every epoch still reach losses.csv through `history`.
            continue

        with tempfile.TemporaryDirectory() as directory:
            if rank == 0:
                _write_epoch_outputs(store, unwrap(gen), spec, grid_z, grid_labels, device, epoch, history,
                                     class_grid_png)
                torch.save({"generator": unwrap(gen).state_dict(), "discriminator": unwrap(disc).state_dict(),
                            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "epoch": epoch,
                            "history": history, "rng": {"seed": spec.seed, "derived_from": "seed, epoch, rank"}},
                           os.path.join(directory, STATE_FILE))
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(directory) if rank == 0 else None,
                             checkpoint_dir_name=f"checkpoint_epoch{epoch:04d}")
        if fail_marker and not os.path.exists(fail_marker):
            with open(fail_marker, "w") as marker:
                marker.write(f"simulated worker crash after epoch {epoch}\n")
            raise RuntimeError(f"simulated worker crash after the checkpoint of epoch {epoch} ({ENV_FAIL_ONCE})")
    # Rank 0's return value becomes Result.return_value (Result.metrics only covers checkpoints).
    return {"status": "ok", "diverged_epoch": None, "reason": "", "history": history}


def _write_epoch_outputs(store, gen: nn.Module, spec: GanSpec, grid_z: torch.Tensor, grid_labels: torch.Tensor,
                         device: torch.device, epoch: int, history: list[dict],
                         grid_png: Callable[..., bytes]) -> None:
    """Rank 0 at a checkpoint epoch: the fixed-noise sample grid and the loss log so far."""
    was_training = gen.training
    gen.eval()
    with torch.no_grad(), fit._autocast(device):
        images = gen(grid_z.to(device), grid_labels.to(device)).float()
    gen.train(was_training)
    png = grid_png(data.to_uint8(images.flatten(0, 1)).cpu(), grid_labels.reshape(-1), spec.num_classes)
    store.write_bytes(png, f"samples_epoch{epoch:03d}.png")
    store.write_text(losses_csv(history), "losses.csv")

