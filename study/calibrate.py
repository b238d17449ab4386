"""`study plan`'s time estimate on a storage root with no history: a few seconds of calibration.

A few GAN steps (one discriminator and one generator update each, the study's arch, alpha,
conditioning, recipe, batch size and image shape, one thread as one Train worker has) and a few
classifier steps (each classifier of the study, its batch size, `resources.cpus_per_trial` threads)
on random images of the study's shape, timed after one warm-up step, on this machine's CPU (or its
GPU when there is one). Throughput in images per second is what the loss logs and results.csv
record, so the estimate uses the same formulas whether its speed was measured here or read from
history. Nothing is written and Ray is not started.
"""

from __future__ import annotations

import contextlib
import time

import torch

GAN_STEPS = 5
TRIAL_STEPS = 10
BUDGET_S = 2.0   # per measurement, after its warm-up step
# Speed-up of a GPU over this machine's CPU when the plan is for GPUs and none is here to measure: a
# stated assumption, not a measurement (small GANs and classifiers at 28-32 px on one A10G against
# one to four CPU threads run roughly 20-50x faster; the low end is taken).
ASSUMED_GPU_SPEEDUP = 20.0


@contextlib.contextmanager
def _threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _timed(step, steps: int) -> float:
    """Seconds per step of `step()`: the median of up to `steps` timed calls (at least one, no more than
    BUDGET_S seconds of them) after a warm-up call (the first call pays for allocations and kernel
    selection; the median ignores a step another process on a shared machine slowed down)."""
    import statistics

    def once() -> float:
        started = time.perf_counter()
        step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - started

    once()
    times = [once()]
    started = time.perf_counter()
    while len(times) < steps and time.perf_counter() - started < BUDGET_S:
        times.append(once())
    return statistics.median(times)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def gan_speed(job, shape: tuple[int, int, int], num_classes: int, steps: int = GAN_STEPS) -> float:
    """Images per second one Train worker trains GAN `job` at (trainables.runners.gan_train's step)."""
    from trainables import GANS
    from trainables.classifier import fit
    from trainables.data import sampling
    from trainables.gan.engine import augmenter, build_models, train_step, unwrap
    from trainables.gan.losses import LOSSES, loss_kind

    options = job.options()
    # Per-class: the K GANs of a key see n/K images each per epoch, so images per second of one of them
    # is the key's (the loop grouping; vmap is at least as fast): one class's GAN is timed, 1/K the cost.
    per_class = job.conditioning == "per-class"
    spec = job.model_spec(shape, 1 if per_class else num_classes, "loop")
    num_classes = spec.num_classes
    where = device()
    with _threads(job.cpus_per_worker if where.type == "cpu" else 1):
        gen, disc = build_models(spec)
        gen, disc = gen.to(where), disc.to(where)
        opt_g = torch.optim.Adam(gen.parameters(), lr=job.lr, betas=(job.beta1, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=job.lr, betas=(job.beta1, 0.999))
        losses = LOSSES[loss_kind(unwrap(disc).out_dim, num_classes, options.loss)]
        groups = spec.groups
        per_group = max(2, job.batch_size)   # each group's batch, as gan_train slices it
        images = torch.randint(0, 256, (groups, per_group, *shape), dtype=torch.uint8, device=where)
        labels = (torch.arange(groups, device=where)[:, None].expand(groups, per_group) if groups > 1
                  else torch.randint(0, num_classes, (1, per_group), device=where))
        latent = GANS[job.arch].latent_dim
        pool = images.reshape(groups * per_group, *shape).repeat(4, 1, 1, 1)   # a stand-in real set
        autocast = fit._autocast(where)
        augment = augmenter(options)

        def step():   # as gan_train's inner loop: index a batch, convert it, draw the noise, update D and G
            index = torch.randint(0, pool.shape[0], (groups, per_group), device=where)
            x = sampling.to_model_input(pool[index])
            z = torch.randn(groups, per_group, latent, device=where)
            train_step(gen, disc, opt_g, opt_d, losses, x, labels, z, num_classes, autocast, augment=augment)

        return groups * per_group / _timed(step, steps)


def trial_speed(name: str, batch_size: int, threads: float, shape: tuple[int, int, int], num_classes: int,
                steps: int = TRIAL_STEPS) -> float:
    """Images per second a classifier trial trains `name` at (forward, backward, Adam step)."""
    from trainables import CLASSIFIERS
    from trainables.data import sampling

    where = device()
    with _threads(threads):
        model = CLASSIFIERS[name](shape[0], shape[1], shape[2], num_classes).to(where)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        pool = torch.randint(0, 256, (4 * int(batch_size), *shape), dtype=torch.uint8, device=where)
        pool_labels = torch.randint(0, num_classes, (pool.shape[0],), device=where)

        def step():   # as fit's loop: index a batch, convert it, one Adam update
            index = torch.randint(0, pool.shape[0], (int(batch_size),), device=where)
            x, labels = sampling.to_model_input(pool[index]), pool_labels[index]
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), labels).backward()
            optimizer.step()

        return int(batch_size) / _timed(step, steps)


def calibrate(spec, jobs: dict, shape: tuple[int, int, int], num_classes: int) -> dict:
    """{"gan": {run shape: images/s}, "trial": {classifier: images/s}, "outputs": {"gate": images/s,
    "scoring": images/s} (when GANs are to train), "seconds": spent, "device": ...}."""
    from study.schema import as_values

    started = time.perf_counter()
    gan: dict[tuple, float] = {}
    for job in jobs.values():
        shape_key = gan_shape(job)
        if shape_key not in gan:
            gan[shape_key] = gan_speed(job, shape, num_classes)
    trial = {}
    for name in as_values(spec.classifier.name):
        batch = spec.classifier.batch_size
        trial[name] = trial_speed(name, int(max(as_values(batch))), spec.resources.cpus_per_trial, shape, num_classes)
    outputs = {}
    if jobs:   # a key's outputs: the gate classifiers and the scoring network, on the GAN worker's threads
        from trainables.quality.scores import QUALITY_BATCH_SIZE, QUALITY_CLASSIFIER
        from trainables.quality.scoring import SCORING_BATCH_SIZE, SCORING_CLASSIFIER

        threads = max(job.cpus_per_worker for job in jobs.values())
        outputs = {"gate": trial_speed(QUALITY_CLASSIFIER, QUALITY_BATCH_SIZE, threads, shape, num_classes),
                   "scoring": trial_speed(SCORING_CLASSIFIER, SCORING_BATCH_SIZE, threads, shape, num_classes)}
    return {"gan": gan, "trial": trial, "outputs": outputs, "seconds": time.perf_counter() - started,
            "device": device().type}


def gan_shape(job) -> tuple:
    """What a GAN's speed depends on (not its seed, size or epochs)."""
    return (job.arch, job.conditioning, job.alpha, job.recipe, job.batch_size, job.options().spectral_norm,
            job.diffaugment)
