"""Pre-flight checks that need the loaded data: run once the dataset is decoded and the validation split
held out, before anything is written to the study folder.

A folder dataset's class sizes and image shape are known only from its files, and whether a GAN or a
classifier accepts an image shape only from building it; without these checks each problem surfaced
as a finished study whose every trial was `error` (exit 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from study.checks import FULL, SpecError
from study.schema import Spec, as_values
from study.size_checks import check_sizes_fit


def check_loaded_data(spec: Spec, train_per_class: Sequence[int], test_size: int,
                      classes: Sequence[str] = ()) -> None:
    """What a folder dataset's files decide, checked once the data is loaded and the validation split
    held out, before anything is written: a test split to measure on, and every size drawable
    class-balanced from the training split (each trial would otherwise fail on its own)."""
    if test_size == 0:
        raise SpecError("dataset", f"{spec.dataset} has no test images", "a test/ split with images of every class")
    if not train_per_class or min(train_per_class) == 0:
        raise SpecError("eval.validation", f"the validation split leaves a class of {spec.dataset} without "
                        "training images", "a smaller eval.validation, or 0")
    full = sum(train_per_class)   # what "full" resolves to (study.plan.resolved_size)
    if FULL in spec.sizes and full in spec.sizes:
        raise SpecError("sizes", f'"full" is {full} images of {spec.dataset} here, the same as the size {full}: '
                        "the two would train identical GANs and trials", f'each size once: drop "full" or {full}')
    check_sizes_fit(spec, train_per_class, classes)


def check_models(spec: Spec, jobs: dict, shape: tuple[int, int, int], num_classes: int) -> None:
    """Every GAN the plan trains and every classifier it fits, built once on the real image shape
    (cheap: no training), so a shape one cannot take is refused naming the key."""
    from trainables.classifier.models import CLASSIFIERS
    from trainables.gan import engine as gan_engine

    seen = set()
    for job in jobs.values():
        spectral_norm = bool(job.options().spectral_norm)
        built = (job.arch, job.conditioning, job.alpha, spectral_norm)
        if built in seen:
            continue
        seen.add(built)
        try:
            job.check()
            gan_engine.build_models(job.model_spec(shape, num_classes, "loop"))
        except (ValueError, RuntimeError) as err:
            raise SpecError("gan.arch", f"{job.arch} cannot train on {spec.dataset}'s {shape[1]}x{shape[2]} images "
                            f"({str(err).splitlines()[0]})", "a GAN that takes this image size, or resized "
                            "images") from None
    for name in as_values(spec.classifier.name):
        try:
            CLASSIFIERS[name](*shape, num_classes)
        except (ValueError, RuntimeError) as err:
            raise SpecError("classifier.name", f"{name} cannot take {spec.dataset}'s {shape[1]}x{shape[2]} images "
                            f"({str(err).splitlines()[0]})", "a classifier that takes this image size") from None
    from trainables.terms.choices import MAX_IMAGE_SIDE_MODELS, MIN_IMAGE_SIDE

    if not (MIN_IMAGE_SIDE <= min(shape[1:]) and max(shape[1:]) <= MAX_IMAGE_SIDE_MODELS):
        raise SpecError("image_size", f"{spec.dataset}'s images are {shape[1]}x{shape[2]}; every GAN and classifier "
                        f"takes {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE_MODELS} pixels a side",
                        f"image_size = a side from {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE_MODELS} (resized once at decode)")


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is no such file)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_pool_memory(spec: Spec, jobs: dict, shape: tuple[int, int, int], num_classes: int,
                      available: int | None = None) -> None:
    """The largest synthetic pool is generated in one process and read whole by every trial that mixes
    it in: refuse a study whose largest pool cannot fit in this machine's free memory (an embedded
    cluster; a joined cluster's nodes are other machines), with the estimate."""
    available = _available_memory() if available is None else available
    if not jobs or available is None:
        return
    largest = max(jobs.values(), key=lambda job: job.pool_per_class)
    images = largest.pool_per_class * num_classes
    needed = images * shape[0] * shape[1] * shape[2]          # uint8 pixels
    if needed > available:
        raise SpecError("mix.ratios", f"the largest synthetic pool ({images:,} images of {shape[1]}x{shape[2]}x"
                        f"{shape[0]}, {needed / 2**30:.1f} GiB) cannot fit in this machine's "
                        f"{available / 2**30:.1f} GiB of free memory", "smaller ratios or sizes, or a machine "
                        "with more memory")


def checks_before_ray(spec: Spec, jobs: dict, shape: tuple[int, int, int], num_classes: int,
                      joined: bool) -> list[Callable[[], None]]:
    """The checks that need the data but not Ray, in the order `study run` makes them (each raises on
    its problem); `study plan` runs the same list and reports every problem. A joined cluster's memory
    and resources are its nodes', checked once connected (study.cluster)."""
    from study import tracking
    from study.cluster import check_resources
    from study.limits import check_limits

    checks = [lambda: check_limits(spec, len(jobs)),   # first: a runaway plan is the problem, not its parts
              lambda: check_models(spec, jobs, shape, num_classes), lambda: tracking.check_installed(spec)]
    if not joined:
        checks += [lambda: check_pool_memory(spec, jobs, shape, num_classes),
                   lambda: check_resources(spec, joined_cluster=False)]   # before Ray: the refusal is all one sees
    return checks
