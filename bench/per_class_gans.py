"""per_class_gans: the K=10 per-class GANs of one key trained together vs one after another.

Three comparisons, all abadi GANs at alpha 1 on the same real subset (mnist-5k, 500 images = 50 per
class, the quick preset's smaller size), batch 64, lr 2e-4, in one process, same epochs:

1. `per_class_gans` (the issue's comparison, target >= 1.1x). Ours: the product's path, one group
   of the K=10 members with grouping gan_stage.AUTO_GROUPING for the CPU, run by the loop body of
   train_loop_per_worker (`bench._gan_loop`): one train step over the whole group per batch, one
   Adam over all members. Baseline: the K GANs trained one after another, each as its own
   single-member training for all the epochs (its own G, D, Adams and batches over its class's
   images only): what a user writes without grouping. Same total work: every member takes the same
   steps on the same number of images (50 per class < batch 64, so one step per epoch each).
2. `per_class_vmap_vs_loop` (informational): the two groupings of gan_train, vmap (ours) vs loop,
   at alpha 1, and at alpha 0.25 (a small generator, where per-call overhead matters most): the
   evidence behind AUTO_GROUPING["cpu"].
3. `per_class_one_run_vs_k_runs` (informational, the cost the product actually avoids): one Ray
   Train TorchTrainer.fit() for a K-member group vs K fits of one member each, RAY_EPOCHS epochs.
   K=4 classes (digits 0-3) there, because 10 single-member fits (~12 s of fixed cost each when the
   machine is quiet, 13-25 s when loaded) do not fit into the 5 minutes a bench may take. ray.init is excluded.

Run: .venv/bin/python bench/per_class_gans.py
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
from trainables import data, gan_stage, gan_train  # noqa: E402

SIZE, SEED, BATCH_SIZE, ALPHA = 500, 0, 64, 1.0
EPOCHS_PER_REPEAT, REPEATS = 2, 5
GROUPING = gan_stage.AUTO_GROUPING["cpu"]  # the product's per-class path on this machine
VMAP_CASES = (("per_class_vmap_vs_loop", 1.0), ("per_class_vmap_vs_loop_alpha0.25", 0.25))
RAY_CLASSES, RAY_EPOCHS, RAY_REPEATS = 4, 2, 2


def images_per_epoch(loop: GanLoop) -> tuple[int, int]:
    """(train steps, real images) of one epoch of `loop`: the work both sides must match."""
    shapes = [index.shape for index, _ in loop.batches(1)]
    return len(shapes), sum(rows * cols for rows, cols in shapes)


def grouped_vs_one_after_another(real: data.ImageSet, threads: int) -> None:
    group = make_loop(real, conditioning="per-class", grouping=GROUPING, alpha=ALPHA, seed=SEED,
                      batch_size=BATCH_SIZE)
    singles = [make_loop(one_class, conditioning="per-class", grouping=GROUPING, alpha=ALPHA, seed=SEED + k,
                         batch_size=BATCH_SIZE) for k, one_class in enumerate(class_sets(real))]
    group_steps, group_images = images_per_epoch(group)
    single_work = [images_per_epoch(single) for single in singles]
    assert group_images == sum(images for _, images in single_work), "both sides must train on as many images"

    def one_after_another() -> None:
        for single in singles:  # each GAN runs all its epochs before the next one starts
            for _ in range(EPOCHS_PER_REPEAT):
                single.run_epoch()

    timings = _timing.compare(lambda: [group.run_epoch() for _ in range(EPOCHS_PER_REPEAT)], one_after_another,
                              repeats=REPEATS)
    print(f"per_class_gans: {real.num_classes} per-class abadi GANs, alpha {ALPHA:g}, {SIZE} images "
          f"({SIZE // real.num_classes} per class), batch {BATCH_SIZE}, {EPOCHS_PER_REPEAT} epochs per repeat, "
          f"torch threads {threads}; ours = one group (grouping {GROUPING!r} = AUTO_GROUPING['cpu'], "
          f"{group_steps} step(s) of {group_images} images per epoch, one Adam over all members), baseline = "
          f"{len(singles)} single-member trainings one after another ({sum(s for s, _ in single_work)} steps of "
          f"{sum(i for _, i in single_work)} images per epoch in all)")
    _timing.report_timings("per_class_gans", timings, f"{EPOCHS_PER_REPEAT} epochs of all {real.num_classes} GANs")


def vmap_vs_loop(real: data.ImageSet) -> None:
    for name, alpha in VMAP_CASES:
        vmapped = make_loop(real, conditioning="per-class", grouping="vmap", alpha=alpha, seed=SEED,
                            batch_size=BATCH_SIZE)
        looped = make_loop(real, conditioning="per-class", grouping="loop", alpha=alpha, seed=SEED,
                           batch_size=BATCH_SIZE)
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


def trainer_fit_seconds(real_ref, root: str, run: str, seed: int) -> float:
    """Wall seconds of one TorchTrainer.fit() of gan_train.train_loop_per_worker, as gan_stage starts it
    (1 worker, 1 CPU, checkpoint and sample grid at the last epoch), on the set behind real_ref."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    job = gan_stage.GanJob(dataset="mnist-5k", data_root="~/.cache/study-data", size="full", seed=seed,
                           arch="abadi", conditioning="per-class", alpha=ALPHA, epochs=RAY_EPOCHS,
                           batch_size=BATCH_SIZE, lr=2e-4, beta1=0.5, pool_per_class=10,
                           checkpoint_every=RAY_EPOCHS, cpus_per_worker=1)
    trainer = TorchTrainer(
        gan_train.train_loop_per_worker,
        train_loop_config=gan_stage.train_loop_config(job, real_ref, f"{root}/{run}", GROUPING),
        scaling_config=ScalingConfig(num_workers=1, use_gpu=False, resources_per_worker={"CPU": 1}),
        run_config=RunConfig(name=run, storage_path=f"{root}/ray"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _timing.time_call(trainer.fit)


def one_run_vs_k_runs(real: data.ImageSet, test: data.ImageSet) -> None:
    import ray

    keep = real.labels < RAY_CLASSES
    group_set = data.ImageSet(real.images[keep], real.labels[keep], real.classes[:RAY_CLASSES])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        init_seconds = _timing.time_call(lambda: ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2))
    try:
        group_ref = ray.put((group_set, test))
        single_refs = [ray.put((one_class, test)) for one_class in class_sets(group_set)]
        with tempfile.TemporaryDirectory(prefix="bench_per_class_ray_") as root:
            runs = iter(range(10**6))

            def one_run() -> float:
                return trainer_fit_seconds(group_ref, root, f"group{next(runs)}", SEED)

            def k_runs() -> float:
                return sum(trainer_fit_seconds(ref, root, f"single{next(runs)}", SEED + k)
                           for k, ref in enumerate(single_refs))

            warmup = trainer_fit_seconds(single_refs[0], root, "warmup", SEED)  # first worker imports torch, ray.train
            timings = _timing.compare(one_run, k_runs, repeats=RAY_REPEATS, warmup=0)
    finally:
        ray.shutdown()
    print(f"per_class_one_run_vs_k_runs: K={RAY_CLASSES} classes (digits 0-{RAY_CLASSES - 1}, "
          f"{len(group_set)} images; K=4, not 10, so that the K single-member runs fit into the bench's 5 "
          f"minutes), {RAY_EPOCHS} epochs; ours = one TorchTrainer.fit() training the {RAY_CLASSES}-member "
          f"group, baseline = {RAY_CLASSES} TorchTrainer.fit() runs of one member each, one after another; "
          f"ray.init {init_seconds:.2f} s and one warm-up fit {warmup:.2f} s excluded; fixed cost per fit "
          f"~{(timings.baseline_median - timings.ours_median) / (RAY_CLASSES - 1):.2f} s")
    _timing.report_timings("per_class_one_run_vs_k_runs", timings, "key (all K GANs)")


def main() -> None:
    threads = _timing.configure_threads()
    train, test = data.load_dataset("mnist-5k")
    real = data.subset(train, SIZE, SEED)
    grouped_vs_one_after_another(real, threads)
    vmap_vs_loop(real)
    one_run_vs_k_runs(real, test)


if __name__ == "__main__":
    main()
