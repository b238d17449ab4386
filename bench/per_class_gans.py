"""per_class_gans: the K=10 per-class GANs of one key trained together vs one after another.

All abadi GANs at alpha 1 on the same real subset (mnist-5k, 500 images = 50 per class, the quick
preset's smaller size), batch 64, lr 2e-4:

1. `per_class_gans` (the headline comparison, target >= 1.1x), through the product's own path: ours
   is what the GAN stage runs for a per-class key, one Ray Train TorchTrainer.fit() of
   gan_worker.train_loop_per_worker training the group of K=10 members (grouping
   gan_keys.AUTO_GROUPING for the device, one train step over all members per batch, one Adam over
   all members, checkpoint and sample grid at the end); the baseline is what the stage would run
   without grouping, K fits of one member each, one after another,
   each on its class's 50 images. RAY_EPOCHS epochs, ray.init and one warm-up fit excluded. A fit
   costs F + E x e (a fixed start-up F, e per epoch), so the printed model also gives the ratio at
   the quick preset's 25 GAN epochs and at Abadi's 2000, where it tends to the in-process ratio.
2. `per_class_gans_in_process` (informational): the same K GANs without Ray, in this process:
   one group (the epoch loop of gan_train.train_key, `bench._gan_loop`) vs K single-member
   trainings one after another, each for all its epochs. Same work on both sides (50 images per
   GAN per epoch, one step each; the script asserts equal images per epoch): on a CPU the
   convolutions are the whole cost, so this is parity.
3. `per_class_vmap_vs_loop` (informational): the two groupings of gan_train, vmap (ours) vs loop,
   at alpha 1, and at alpha 0.25 (a small generator, where per-call overhead matters most): the
   evidence behind AUTO_GROUPING["cpu"].

Run: .venv/bin/python bench/per_class_gans.py [--device cpu|cuda]   (about 4 minutes; default: cuda when
there is one, where the per-class path is AUTO_GROUPING["cuda"] and the Train worker holds a GPU)
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402
from bench._gan_loop import GanLoop, class_sets, make_loop  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.gan import job as gan_job
from trainables.runners import gan_keys

SIZE, SEED, BATCH_SIZE, ALPHA = 500, 0, 64, 1.0
EPOCHS_PER_REPEAT, REPEATS = 2, 5
VMAP_CASES = (("per_class_vmap_vs_loop", 1.0), ("per_class_vmap_vs_loop_alpha0.25", 0.25))
RAY_EPOCHS = 10
QUICK_EPOCHS, ABADI_EPOCHS = 25, 2000  # the quick preset's GAN epochs; Abadi's


def images_per_epoch(loop: GanLoop) -> tuple[int, int]:
    """(train steps, real images) of one epoch of `loop`: the work both sides must match."""
    shapes = [index.shape for index, _ in loop.batches(1)]
    return len(shapes), sum(rows * cols for rows, cols in shapes)


def grouping_on(device) -> str:
    """The product's per-class path on this device (gan_keys.AUTO_GROUPING)."""
    return gan_keys.AUTO_GROUPING[device.type]


def grouped_vs_one_after_another(real: ImageSet, threads: int, device) -> None:
    grouping = grouping_on(device)
    group = make_loop(real, conditioning="per-class", grouping=grouping, alpha=ALPHA, seed=SEED,
                      batch_size=BATCH_SIZE, device=device)
    singles = [make_loop(one_class, conditioning="per-class", grouping=grouping, alpha=ALPHA, seed=SEED + k,
                         batch_size=BATCH_SIZE, device=device) for k, one_class in enumerate(class_sets(real))]
    group_steps, group_images = images_per_epoch(group)
    single_work = [images_per_epoch(single) for single in singles]
    assert group_images == sum(images for _, images in single_work), "both sides must train on as many images"

    def one_after_another() -> None:
        for single in singles:  # each GAN runs all its epochs before the next one starts
            for _ in range(EPOCHS_PER_REPEAT):
                single.run_epoch()

    timings = _timing.compare(lambda: [group.run_epoch() for _ in range(EPOCHS_PER_REPEAT)], one_after_another,
                              repeats=REPEATS)
    print(f"per_class_gans_in_process: {real.num_classes} per-class abadi GANs, alpha {ALPHA:g}, {SIZE} images "
          f"({SIZE // real.num_classes} per class), batch {BATCH_SIZE}, {EPOCHS_PER_REPEAT} epochs per repeat, "
          f"torch threads {threads}, device {device}; ours = one group (grouping {grouping!r} = "
          f"AUTO_GROUPING[{device.type!r}], "
          f"{group_steps} step(s) of {group_images} images per epoch, one Adam over all members), baseline = "
          f"{len(singles)} single-member trainings one after another ({sum(s for s, _ in single_work)} steps of "
          f"{sum(i for _, i in single_work)} images per epoch in all)")
    _timing.report_timings("per_class_gans_in_process", timings,
                           f"{EPOCHS_PER_REPEAT} epochs of all {real.num_classes} GANs")


def vmap_vs_loop(real: ImageSet, device) -> None:
    for name, alpha in VMAP_CASES:
        vmapped = make_loop(real, conditioning="per-class", grouping="vmap", alpha=alpha, seed=SEED,
                            batch_size=BATCH_SIZE, device=device)
        looped = make_loop(real, conditioning="per-class", grouping="loop", alpha=alpha, seed=SEED,
                           batch_size=BATCH_SIZE, device=device)
        timings = _timing.compare(lambda v=vmapped: [v.run_epoch() for _ in range(EPOCHS_PER_REPEAT)],
                                  lambda lp=looped: [lp.run_epoch() for _ in range(EPOCHS_PER_REPEAT)],
                                  repeats=REPEATS)
        # Same seed, same draws: the two paths must train the same GANs, or the race is meaningless.
        d_v, g_v = vmapped.run_epoch()
        d_l, g_l = looped.run_epoch()
        print(f"{name}: the same 10 per-class GANs at alpha {alpha:g}, ours = grouping 'vmap', baseline = "
              f"grouping 'loop'; after {vmapped.epoch} epochs d/g loss vmap {d_v:.4f}/{g_v:.4f}, "
              f"loop {d_l:.4f}/{g_l:.4f}")
        _timing.report_timings(name, timings, f"{EPOCHS_PER_REPEAT} epochs")


def trainer_fit_seconds(real_ref, root: str, run: str, seed: int, device) -> float:
    """Wall seconds of one TorchTrainer.fit() of gan_worker.train_loop_per_worker, as the GAN stage starts it
    (1 worker, 1 CPU and on cuda 1 GPU, checkpoint and sample grid at the last epoch), on the set behind
    real_ref."""
    job = gan_job.GanJob(dataset="mnist-5k", data_root="~/.cache/study-data", size="full", seed=seed,
                           arch="abadi", conditioning="per-class", alpha=ALPHA, epochs=RAY_EPOCHS,
                           batch_size=BATCH_SIZE, lr=2e-4, beta1=0.5, pool_per_class=10,
                           checkpoint_every=RAY_EPOCHS, cpus_per_worker=1, grouping=grouping_on(device))
    trainer = gan_keys.build_run([job], f"{root}/{run}", real_ref, use_gpu=device.type == "cuda", draw_pool=False)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _timing.time_call(trainer.fit)


def one_run_vs_k_runs(real: ImageSet, test: ImageSet, device) -> None:
    import ray

    gpus = 1 if device.type == "cuda" else 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        init_seconds = _timing.time_call(lambda: ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2,
                                                          num_gpus=gpus))
    try:
        group_ref = ray.put((real, test))
        single_refs = [ray.put((one_class, test)) for one_class in class_sets(real)]
        with tempfile.TemporaryDirectory(prefix="bench_per_class_ray_") as root:
            runs = iter(range(10**6))
            # The first fit's worker imports torch and Ray Train: a warm-up, not timed.
            warmup = trainer_fit_seconds(single_refs[0], root, "warmup", SEED, device)
            group = trainer_fit_seconds(group_ref, root, f"group{next(runs)}", SEED, device)
            singles = [trainer_fit_seconds(ref, root, f"single{next(runs)}", SEED + k, device)
                       for k, ref in enumerate(single_refs)]
    finally:
        ray.shutdown()
    k = len(single_refs)
    baseline = sum(singles)
    # Model: a single-member fit costs F + E e/K, the group fit F + E e (same images per epoch in all).
    epoch_all = (group - baseline / k) / (RAY_EPOCHS * (1 - 1 / k))
    fixed = group - RAY_EPOCHS * epoch_all

    def ratio_at(epochs: int) -> float:
        return k * (fixed + epochs * epoch_all / k) / (fixed + epochs * epoch_all)

    print(f"per_class_gans: K={k} per-class abadi GANs (alpha {ALPHA:g}, {len(real)} images, {RAY_EPOCHS} "
          f"epochs) through Ray Train as the GAN stage runs them; ours = one TorchTrainer.fit() training the "
          f"{k}-member group, baseline = {k} TorchTrainer.fit() runs of one member each, one after another "
          f"({_timing.spread(singles)} s each); one run each (a repeat would take 2 more minutes); ray.init "
          f"{init_seconds:.2f} s and one warm-up fit {warmup:.2f} s excluded; ratio = baseline seconds / our seconds")
    print(f"per_class_gans: model from these runs: a fit costs {fixed:.1f} s fixed + {epoch_all:.2f} s per epoch "
          f"of all {k} GANs; so the ratio is {ratio_at(QUICK_EPOCHS):.2f} at the quick preset's {QUICK_EPOCHS} "
          f"GAN epochs and {ratio_at(ABADI_EPOCHS):.2f} at Abadi's {ABADI_EPOCHS} (extrapolated, not measured)")
    _timing.result("per_class_gans", group, baseline, baseline / group)


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0])
    threads = _timing.configure_threads()
    train, test = data.load_dataset("mnist-5k")
    real = sampling.subset(train, SIZE, SEED)
    one_run_vs_k_runs(real, test, device)
    grouped_vs_one_after_another(real, threads, device)
    vmap_vs_loop(real, device)


if __name__ == "__main__":
    main()
