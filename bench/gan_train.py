"""gan_train: our GAN epoch (gan_train's loop body, in-process) vs a pytorch/examples dcgan-style loop.

Both train the same label-conditioned abadi GAN (alpha 1, G and D built from the same seed) on the
same 500 mnist-5k images, batch 64, Adam(2e-4, betas (0.5, 0.999)), BCE on logits, one D step
(real, then fake.detach()) and one G step per batch.
- ours: `bench._gan_loop.GanLoop` = the per-epoch body of gan_train.train_key (uint8
  tensors, randperm shards, losses summed on the device, read once per epoch).
- baseline: written like pytorch/examples dcgan/main.py: a DataLoader over a Dataset with
  ToTensor + Normalize transforms (num_workers=0), netD.zero_grad / errD_real / errD_fake /
  optimizerD.step / netG.zero_grad / errG / optimizerG.step, losses read with .item() every batch.
Target: >= 1.0x.

Second comparison: the same epochs run end to end by Ray Train (TorchTrainer, 1 worker with 1 CPU,
gan_worker.train_loop_per_worker, one checkpoint + sample grid at the end) vs in-process. Reported twice:
whole fit() (worker start-up, checkpoint, teardown included) and steady state (the per-epoch
seconds the loop logs inside Ray vs the in-process epoch). ray.init itself is excluded.

Third: the fit as the product runs it (gan_trainer.build_trainer: without the Ray Train parts a GAN
run does not use) vs Ray's default TorchTrainer with the same loop, config and settings, fits
interleaved; in wall seconds, and in CPU seconds of the whole machine per fit (what a fit takes from
the GAN training next to it on a busy laptop).

Fourth: KEYS_PER_RUN keys trained one after the other in one fit (as the GAN stage runs a slot's keys)
vs one fit per key, interleaved; the fixed cost per key is what is left after the keys' in-process epochs.

Run: .venv/bin/python bench/gan_train.py [--device cpu|cuda]   (default: cuda when there is one)
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench import _timing  # noqa: E402
from bench._baseline import pil_loader  # noqa: E402
from bench._gan_loop import make_loop  # noqa: E402
from trainables.classifier import fit  # noqa: E402
from trainables.data import datasets as data
from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.gan import engine as gan_engine
from trainables.gan import job as gan_job
from trainables.gan.archs import GANS  # noqa: E402
from trainables.runners import gan_keys, gan_trainer

SIZE, SEED, BATCH_SIZE, LR, BETA1, ALPHA = 500, 0, 64, 2e-4, 0.5, 1.0
REPEATS = 5
RAY_EPOCHS, RAY_REPEATS = 3, 2
KEYS_PER_RUN = 3   # the quick preset's keys per slot: 6 keys on 2 cores


class DcganExampleLoop:
    """The training loop of pytorch/examples dcgan/main.py, on our abadi G and D with labels."""

    def __init__(self, real: ImageSet, device: torch.device):
        arch = GANS["abadi"]
        with fit.seeded(gan_engine.derive_seed(SEED, "gan-init")):
            self.net_g = arch.make_generator(ALPHA, real.shape, num_classes=real.num_classes).to(device)
            self.net_d = arch.make_discriminator(ALPHA, real.shape, num_classes=real.num_classes).to(device)
        self.nz, self.device = arch.latent_dim, device
        self.loader = pil_loader(real.images, real.labels, batch_size=BATCH_SIZE, shuffle=True, seed=SEED)
        self.optimizer_d = torch.optim.Adam(self.net_d.parameters(), lr=LR, betas=(BETA1, 0.999))
        self.optimizer_g = torch.optim.Adam(self.net_g.parameters(), lr=LR, betas=(BETA1, 0.999))
        self.criterion = F.binary_cross_entropy_with_logits  # main.py: Sigmoid + BCELoss
        self.g_losses: list[float] = []
        self.d_losses: list[float] = []

    def run_epoch(self) -> None:
        for real_cpu, labels in self.loader:
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            self.net_d.zero_grad()
            real_cpu, labels = real_cpu.to(self.device), labels.to(self.device)   # main.py: data[0].to(device)
            batch_size = real_cpu.size(0)
            output = self.net_d(real_cpu, labels)
            err_d_real = self.criterion(output, torch.full_like(output, 1.0))
            err_d_real.backward()
            noise = torch.randn(batch_size, self.nz, device=self.device)
            fake = self.net_g(noise, labels)
            output = self.net_d(fake.detach(), labels)
            err_d_fake = self.criterion(output, torch.full_like(output, 0.0))
            err_d_fake.backward()
            self.optimizer_d.step()
            # (2) Update G: maximize log(D(G(z)))
            self.net_g.zero_grad()
            output = self.net_d(fake, labels)
            err_g = self.criterion(output, torch.full_like(output, 1.0))
            err_g.backward()
            self.optimizer_g.step()
            self.d_losses.append((err_d_real + err_d_fake).item())
            self.g_losses.append(err_g.item())


def loop_comparison(real: ImageSet, device: torch.device) -> None:
    ours = make_loop(real, conditioning="conditional", alpha=ALPHA, seed=SEED, batch_size=BATCH_SIZE, device=device)
    baseline = DcganExampleLoop(real, device)
    timings = _timing.compare(ours.run_epoch, baseline.run_epoch, repeats=REPEATS)
    d_ours, g_ours = ours.run_epoch()
    print(f"gan_train: conditional abadi alpha {ALPHA}, {SIZE} images, batch {BATCH_SIZE}; "
          f"{len(real) / timings.ours_median:.1f} vs {len(real) / timings.baseline_median:.1f} images/s; "
          f"losses after {ours.epoch} epochs: ours d={d_ours:.3f} g={g_ours:.3f}, baseline "
          f"d={statistics.mean(baseline.d_losses[-8:]):.3f} g={statistics.mean(baseline.g_losses[-8:]):.3f}")
    _timing.report_timings("gan_train", timings, "epoch")


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (/proc/stat; 0 where absent)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    except OSError:
        return 0.0
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def ray_defaults():
    """Ray Train as it comes: none of gan_trainer's one-node settings in this process's environment."""
    saved = {name: os.environ.pop(name) for name in gan_trainer.ONE_NODE_SETTINGS if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def ray_fit_seconds(real_ref, root: str, run: str, lean: bool = True, seeds: tuple[int, ...] = (SEED,),
                    use_gpu: bool = False) -> tuple[float, float, list[float]]:
    """(wall seconds, machine CPU seconds) of one TorchTrainer.fit() training one key of RAY_EPOCHS epochs per
    seed, one after the other, and the per-epoch seconds it logged; lean=False runs the same loop and config
    on Ray's default TorchTrainer."""
    from ray.train.torch import TorchTrainer

    jobs = [gan_job.GanJob(dataset="mnist-5k", data_root="~/.cache/study-data", size=SIZE, seed=seed, arch="abadi",
                             conditioning="conditional", alpha=ALPHA, epochs=RAY_EPOCHS, batch_size=BATCH_SIZE, lr=LR,
                             beta1=BETA1, pool_per_class=10, checkpoint_every=RAY_EPOCHS, cpus_per_worker=1,
                             grouping="vmap") for seed in seeds]
    trainer = gan_keys.build_run(jobs, f"{root}/run{run}", real_ref, use_gpu=use_gpu, draw_pool=False)
    settings = contextlib.nullcontext()
    if not lean:
        trainer = TorchTrainer(trainer.train_loop_per_worker, train_loop_config=trainer.train_loop_config,
                               scaling_config=trainer.scaling_config, run_config=trainer.run_config)
        settings = ray_defaults()
    with settings:
        cpu, started = machine_cpu_seconds(), time.perf_counter()
        result = trainer.fit()
        seconds, cpu = time.perf_counter() - started, machine_cpu_seconds() - cpu
    return seconds, cpu, [row["seconds"] for meta in result.return_value.values() for row in meta["losses"]]


def ray_comparison(train: ImageSet, test: ImageSet, real: ImageSet, device: torch.device) -> None:
    import functools

    import ray

    gpu = device.type == "cuda"   # the Train worker then holds a GPU, as the GAN stage's workers do

    started = time.perf_counter()
    # As a study starts Ray on a laptop (the dashboard on): Ray's placement-group cleaner polls through it.
    ray.init(include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False, num_cpus=2,
             num_gpus=1 if gpu else 0)
    fit_seconds = functools.partial(ray_fit_seconds, use_gpu=gpu)
    init_seconds = time.perf_counter() - started
    try:
        real_ref = ray.put((train, test))
        ray_runs, in_process_runs, ray_epochs, in_process_epochs = [], [], [], []
        default_runs, ray_cpu, default_cpu, one_run, run_each = [], [], [], [], []
        with tempfile.TemporaryDirectory(prefix="bench_gan_ray_") as root:
            fit_seconds(real_ref, root, "warmup")  # warm-up: first worker start imports torch, ray.train
            for run in range(RAY_REPEATS):
                seconds, cpu, epochs = fit_seconds(real_ref, root, str(run))
                ray_runs.append(seconds)
                ray_cpu.append(cpu)
                ray_epochs += epochs
                loop = make_loop(real, conditioning="conditional", alpha=ALPHA, seed=SEED, batch_size=BATCH_SIZE,
                                 device=device)
                epoch_times = [_timing.time_call(loop.run_epoch) for _ in range(RAY_EPOCHS)]
                in_process_runs.append(sum(epoch_times))
                in_process_epochs += epoch_times
                seconds, cpu, _ = fit_seconds(real_ref, root, f"default{run}", lean=False)
                default_runs.append(seconds)
                default_cpu.append(cpu)
                seeds = tuple(range(KEYS_PER_RUN))
                one_run.append(fit_seconds(real_ref, root, f"keys{run}", seeds=seeds)[0])
                run_each.append(sum(fit_seconds(real_ref, root, f"key{run}-{seed}", seeds=(seed,))[0]
                                    for seed in seeds))
    finally:
        ray.shutdown()
    print(f"gan_train_ray: ray.init {init_seconds:.2f} s (excluded); {RAY_EPOCHS} epochs per run, "
          f"median of {RAY_REPEATS} runs; ratio = in-process seconds / Ray Train seconds "
          f"(1.0 = no overhead)")
    e2e = _timing.Timings(ray_runs, in_process_runs)
    print(f"gan_train_ray_end_to_end: seconds per TorchTrainer.fit() of {RAY_EPOCHS} epochs vs the same "
          f"epochs in-process (ours = Ray Train, baseline = in-process); fixed cost "
          f"{e2e.ours_median - e2e.baseline_median:.2f} s per fit")
    _timing.result("gan_train_ray_end_to_end", e2e.ours_median, e2e.baseline_median, e2e.speedup)
    steady = _timing.Timings(ray_epochs, in_process_epochs)
    print(f"gan_train_ray_per_epoch: seconds per epoch as logged inside the Ray Train worker vs in-process "
          f"(ours = Ray Train, baseline = in-process), median of {len(ray_epochs)} epochs")
    _timing.result("gan_train_ray_per_epoch", steady.ours_median, steady.baseline_median, steady.speedup)
    lean = _timing.Timings(ray_runs, default_runs)
    cpu = _timing.Timings(ray_cpu, default_cpu)
    fixed_ours, fixed_default = lean.ours_median - e2e.baseline_median, lean.baseline_median - e2e.baseline_median
    print(f"gan_train_ray_lean_vs_default: seconds per fit as the product runs it vs Ray's default TorchTrainer "
          f"(same loop, config, scaling), interleaved, median of {RAY_REPEATS}; fixed cost {fixed_ours:.2f} s vs "
          f"{fixed_default:.2f} s per fit; machine CPU {cpu.ours_median:.1f} vs {cpu.baseline_median:.1f} CPU-s per fit")
    _timing.result("gan_train_ray_lean_vs_default", lean.ours_median, lean.baseline_median, lean.speedup)
    _timing.result("gan_train_ray_lean_vs_default_cpu", cpu.ours_median, cpu.baseline_median, cpu.speedup)
    keys = _timing.Timings(one_run, run_each)
    epochs_per_key = statistics.median(in_process_epochs) * RAY_EPOCHS
    per_key = [(t - KEYS_PER_RUN * epochs_per_key) / KEYS_PER_RUN for t in (keys.ours_median, keys.baseline_median)]
    print(f"gan_train_ray_keys_per_run: {KEYS_PER_RUN} keys of {RAY_EPOCHS} epochs trained one after the other in "
          f"one TorchTrainer.fit() (ours, the GAN stage's runs) vs one fit per key (baseline), seconds for all "
          f"{KEYS_PER_RUN}, median of {RAY_REPEATS}; fixed cost per key {per_key[0]:.2f} s vs {per_key[1]:.2f} s")
    _timing.result("gan_train_ray_keys_per_run", keys.ours_median, keys.baseline_median, keys.speedup)


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0])
    threads = _timing.configure_threads()
    train, test = data.load_dataset("mnist-5k")
    real = sampling.subset(train, SIZE, SEED)
    print(f"gan_train: torch threads {threads}, device {device}")
    loop_comparison(real, device)
    ray_comparison(train, test, real, device)


if __name__ == "__main__":
    main()
