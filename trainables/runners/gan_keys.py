"""GAN keys end to end: key, cache lookup, one Ray Train run for the keys to train, pools, meta.

A GAN key names everything that changes the trained generator and nothing else (trainables.gan.job):
dataset, validation split, real subset (size, seed; its validation part and sampling where they
differ from the default), arch, conditioning, alpha, epochs, global batch size, lr, beta1, the
training options that differ from the papers' recipe and GAN_CODE_VERSION. Not the pool size (a pool grows on
demand from the final checkpoint, and its first images do not depend on its size), not how it
runs (data_root, workers, checkpoint cadence, retries, grouping). A key that is complete in the
cache is reused by every study that shares the cache, and never retrained.

The cache (`<storage>/gan-cache/` by default) holds one folder per key: its `checkpoint_epochNNNN/`
folders (gan_checkpoints: whichever run trains the key next resumes from the newest),
`samples_epochNNN.png`, `losses.csv`, `real_samples.png`, `pool.pt` and `meta.json` (written last:
its presence with status ok or diverged is what "complete" means); Ray Train's own run folders go
to `.train-runs/`. Two studies that need one key at the same time train it once: a lock per key
(trainables.files.cache_lock) makes the second wait.
"""

from __future__ import annotations

import contextlib
import platform
import threading
from dataclasses import asdict

import torch

from trainables.data.validation import real_sets
from trainables.files import cache_lock, gan_cache
from trainables.files.storage import Store
from trainables.gan import checkpoints as gan_checkpoints
from trainables.gan import pool as gan_pool
from trainables.gan.job import GAN_CODE_VERSION, GanJob, KeyRun
from trainables.quality import scores as quality
from trainables.runners import gan_train
from trainables.runners.gan_trainer import build_trainer, run_name

# Which per-class path "auto" picks, by device type. CPU: measured on the 2-core build machine
# (abadi, alpha 1, batch 64, 500 mnist-5k images, interleaved epochs of the same train_step): the
# loop was 8-15% faster than vmap (1 thread 1.43 vs 1.56 s/epoch, 2 threads 0.58 vs 0.66), as
# CPU convolutions gain nothing from one big batched kernel. CUDA: vmap, which replaces K small
# kernel launches per layer by one (not measured here: no GPU on the build machine).
AUTO_GROUPING = {"cpu": "loop", "cuda": "vmap"}


def discard_unusable_checkpoints(cache_root: str, key: str) -> str | None:
    """Set aside the key's checkpoints when the one a rerun would restore is unreadable (see
    gan_checkpoints.discard_unusable); returns what was wrong, or None."""
    return gan_checkpoints.discard_unusable(gan_cache.key_store(cache_root, key))


def resolve_grouping(job: GanJob, use_gpu: bool) -> str:
    if job.grouping != "auto":
        return job.grouping
    # Spectral norm's power iteration updates buffers in place, which vmap cannot batch.
    return "loop" if job.options().spectral_norm else AUTO_GROUPING["cuda" if use_gpu else "cpu"]


def _gpus_present() -> bool:
    import ray

    if ray.is_initialized():
        return ray.cluster_resources().get("GPU", 0) > 0
    return torch.cuda.is_available()


def _versions() -> dict:
    import ray

    return {"python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__,
            "gan_code": GAN_CODE_VERSION}


def run_gan_job(job: GanJob, cache_root: str, real_ref, use_gpu: bool | None = None,
                say=lambda text: print(text, flush=True)) -> dict:
    """run_gan_jobs for one key; returns its meta."""
    return run_gan_jobs([job], cache_root, real_ref, use_gpu, say)[job.key()]


def run_gan_jobs(jobs: list[GanJob], cache_root: str, real_ref, use_gpu: bool | None = None,
                 say=lambda text: print(text, flush=True), stopped: threading.Event | None = None) -> dict:
    """Make every key of `jobs` complete in the cache with a pool of at least job.pool_per_class
    images per class: reuse it, grow its pool, or train it; the keys to train train one after the other
    in one Ray Train run, in the order given (trainables.runners.gan_worker). Returns key -> meta.

    `real_ref` is (train, test[, validation]) ImageSets or a Ray ObjectRef to that tuple, train being
    the training split after the validation split was held out. Holds the keys' locks throughout
    (taken in key order, so two studies never wait on each other in a circle): a second study
    needing one of them waits, then reuses it. A diverged key gets meta with status "diverged" (it
    does not raise) and the run goes on with the next; a key whose run fails beyond
    FailureConfig(max_failures) gets meta with status "error", the keys after it still train (see
    _train), and the first failure is raised at the end. A run that fails once `stopped` is set was
    stopped, not failed (the study is ending and took the run down): it is raised as it is, and no
    key's meta.json says "error" (its checkpoints stay, and `study resume` continues it).
    """
    for job in jobs:
        job.check()
    with contextlib.ExitStack() as locks:
        for key in sorted(job.key() for job in jobs):
            locks.enter_context(cache_lock.hold(
                Store(cache_root), key,
                on_wait=lambda holder, key=key: say(f"[study] GAN {key}: being trained by {holder}; waiting for it")))
        metas, to_train = {}, []
        for job in jobs:
            key = job.key()
            if not gan_cache.is_complete(cache_root, key):
                to_train.append(job)
                continue
            metas[key] = gan_cache.read_meta(cache_root, key)
            if metas[key].get("status") == "ok" and metas[key]["pool"]["per_class"] < job.pool_per_class:
                say(f"[study] GAN {key}: growing its pool from {metas[key]['pool']['per_class']} to "
                    f"{job.pool_per_class} images per class (no retraining)")
                metas[key] = on_reserved(job, use_gpu, _grow_pool, job, cache_root, metas[key])
        trained, failure = _train(to_train, cache_root, real_ref, use_gpu, say, stopped) if to_train else ({}, None)
        metas |= trained
        metas = {job.key(): _filter_pools(job, cache_root, real_ref, metas[job.key()], use_gpu, say) for job in jobs}
    if failure is not None:
        raise failure   # after the keys that did train got their pools filtered
    return metas


def _grow_pool(job: GanJob, cache_root: str, meta: dict) -> dict:
    return gan_pool.grow_pool(job, gan_cache.key_store(cache_root, job.key()), meta)


def _filter_pools(job: GanJob, cache_root: str, real_ref, meta: dict, use_gpu: bool | None, say) -> dict:
    """Make the filtered pools (mix.filter = "confident") the studies need; see gan_pool.ensure_filtered."""
    pending = [t for t in job.filters if meta.get("status") == "ok"
               and gan_pool.needs_filtering(meta, t, job.pool_per_class)]
    for threshold in pending:
        meta = on_reserved(job, use_gpu, _filter_pool, job, cache_root, real_ref, meta, threshold)
        entry = meta["filtered_pools"][gan_pool.filtered_name(threshold)]
        say(f"[study] GAN {job.key()}: filter confident >= {threshold:g}: "
            + (f"{entry['drawn_per_kept']:.2f} images drawn per kept one" if entry["status"] == "ok"
               else entry["reason"]))
    return meta


def _filter_pool(job: GanJob, cache_root: str, real_ref, meta: dict, threshold: float) -> dict:
    train, _test, validation = gan_train.resolve_sets(real_ref)
    real, _held_out = real_sets(train, validation, job.size, job.seed, job.validation_rule())  # never its validation part
    return gan_pool.ensure_filtered(job, gan_cache.key_store(cache_root, job.key()), meta, real, threshold)


def build_run(jobs: list[GanJob], cache_root: str, real_ref, use_gpu: bool, draw_pool: bool = True):
    """The TorchTrainer that trains `jobs` in this order (gan_trainer.build_trainer), each key with what
    its meta.json records from here. draw_pool=False: no pools or scores (benches timing the fit)."""
    import ray

    shared = {"use_gpu": use_gpu, "versions": _versions(), "quality_note": quality.QUALITY_NOTE,
              "train_run": run_name(jobs), "train_run_keys": [job.key() for job in jobs]}
    keys = []
    for job in jobs:
        grouping = resolve_grouping(job, use_gpu)
        meta = asdict(job) | {"key": job.key(), "key_fields": job.key_fields(), "grouping": grouping} | shared
        keys.append(KeyRun.of(job, cache_root, grouping, meta))
    ref = real_ref if isinstance(real_ref, ray.ObjectRef) else ray.put(tuple(real_ref))
    return build_trainer(jobs, ref, cache_root, keys, use_gpu, draw_pool)


def _train(jobs: list[GanJob], cache_root: str, real_ref, use_gpu: bool | None, say,
           stopped: threading.Event | None = None) -> tuple[dict, Exception | None]:
    """Train `jobs` (none complete) in one Ray Train run: (key -> meta as its worker wrote them, the
    first failure or None).

    A run that fails beyond its retries fails one key: the first it had not finished (the keys train
    in order). That key's meta.json says status "error" with the reason, and the keys after it train
    in a new run, as they would have in runs of their own."""
    for job in jobs:
        problem = discard_unusable_checkpoints(cache_root, job.key())
        if problem:
            say(f"[study] GAN {job.key()}: {problem}; training it from scratch")
    use_gpu = _gpus_present() if use_gpu is None else use_gpu
    metas, failure, pending = {}, None, list(jobs)
    while pending:
        trainer = build_run(pending, cache_root, real_ref, use_gpu)
        try:
            return metas | trainer.fit().return_value, failure
        except Exception as err:
            if stopped is not None and stopped.is_set():
                raise
            done = [job for job in pending if gan_cache.is_complete(cache_root, job.key())]
            metas |= {job.key(): gan_cache.read_meta(cache_root, job.key()) for job in done}
            failed = next((i for i, job in enumerate(pending) if job not in done), None)
            if failed is None:   # every key ended before the run failed (in its teardown)
                break
            failure = failure or err
            reason = f"GAN training failed: {err}".splitlines()[0]
            meta = trainer.train_loop_config["keys"][failed].meta | {"status": "error", "reason": reason}
            metas[pending[failed].key()] = gan_cache.write_meta(gan_cache.key_store(cache_root, pending[failed].key()), meta)
            say(f"[study] GAN {pending[failed].key()}: {reason}")
            pending = [job for job in pending[failed + 1:] if job not in done]
    return metas, failure


def on_reserved(job: GanJob, use_gpu: bool | None, work, *args):
    """work(*args) as a Ray task that holds what it computes with: one GAN worker's CPUs, as torch
    threads, and a GPU when the GAN trained on GPUs. Growing or filtering the pool of a key trained
    earlier needs no Train run; the Tune trial that calls this holds no resources itself, so two GAN
    trials on a 2-core machine never wait on each other. (A key trained now gets its pool from its
    own Train worker, which holds the generator: gan_pool.key_outputs.)
    Scheduled outside the trial's placement group, which Tune makes capture child tasks and which
    has no CPU to give."""
    import ray

    use_gpu = _gpus_present() if use_gpu is None else use_gpu
    task = ray.remote(_with_threads).options(num_cpus=job.cpus_per_worker, num_gpus=1 if use_gpu else 0,
                                              max_retries=0, name=f"gan-pool {job.key()}",
                                              scheduling_strategy="DEFAULT")
    return ray.get(task.remote(job.cpus_per_worker, work, *args))


def _with_threads(threads: int, work, *args):
    torch.set_num_threads(max(1, int(threads)))
    return work(*args)
