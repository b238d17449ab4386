"""The GAN stage: every GAN key the plan needs, trained once into the shared cache by Ray Train
(one Tune trial per key, each launching a TorchTrainer), then a copy of each key's small files
(meta.json, losses.csv, sample grids) into the study's `gans/<key>/` for the report."""

from __future__ import annotations

from dataclasses import asdict

from study import interrupts, progress
from study.cluster import gans_use_gpu, trials_that_fit
from study.folder import StudyFolder
from trainables.storage import Store

# What the report reads from a key's cache folder; checkpoints and pools stay in the cache.
VIEW_SUFFIXES = (".json", ".csv", ".png")
NOT_VIEWED = frozenset({"checkpoint_manager_snapshot.json"})   # Ray Train's bookkeeping


def _gan_trial(config: dict, real_ref=None, cache_root: str = "", use_gpu: bool = False) -> None:
    import ray.tune

    from trainables.gan_stage import GanJob, run_gan_job

    meta = run_gan_job(GanJob(**config["job"]), cache_root, real_ref, use_gpu=use_gpu)
    ray.tune.report({"status": meta.get("status"), "gan_key": meta.get("key"),
                     "seconds": meta.get("seconds"), "reason": meta.get("reason", "")})


def _gan_trial_name(trial) -> str:
    """gan_<key>: deterministic, so a resumed study finds the same trial folders."""
    from trainables.gan_stage import GanJob

    return f"gan_{GanJob(**trial.config['job']).key()}"


def gans_to_train(cache_root: str, jobs: dict) -> tuple[list, list]:
    """(to train, to extend), in key order: the jobs whose key is not complete in the cache, and the
    complete ones whose pool is too small or not yet filtered for this study (grown from the
    checkpoint, never retrained). A key that was written before but is no longer usable (a truncated
    pool.pt, an unreadable meta.json, a failed run) is said so on the console: the user learns why
    it reruns. Damaged files are set aside (renamed `.damaged`), never overwritten."""
    from trainables.gan_pool import needs_filtering
    from trainables.gan_stage import META_FILE, completion_problem, damage, read_meta, set_aside_outputs

    cache = Store(cache_root)
    train, extend = [], []
    for key, job in sorted(jobs.items()):
        problem = completion_problem(cache_root, key)
        if problem is None:
            meta = read_meta(cache_root, key)
            if meta.get("status") == "ok" and (
                    meta["pool"]["per_class"] < job.pool_per_class
                    or any(needs_filtering(meta, t, job.pool_per_class) for t in job.filters)):
                extend.append(job)
            continue
        if cache.exists(key, META_FILE):
            damaged = damage(cache_root, key) is not None
            aside = f"; set aside as {', '.join(set_aside_outputs(cache_root, key))}" if damaged else ""
            print(f"[study] GAN {key}: {problem}{aside}; retraining it", flush=True)
        train.append(job)
    return train, extend


def estimated_work(job) -> tuple[bool, float]:
    """A sort key for a key's training work: epochs x real images x alpha^2 (the convolutions' width
    scales their FLOPs by about alpha^2); a "full" subset ranks above every number. Only the order
    matters: it is never shown as a time."""
    full = isinstance(job.size, str)
    return full, float(job.epochs) * (0 if full else int(job.size)) * float(job.alpha) ** 2


def longest_first(train: list, extend: list) -> list:
    """The keys to train, the longest first, then the pools to grow (no training: seconds each).
    Tune starts grid trials in this order, so the long keys take the slots first and the short ones
    fill them at the end (longest-processing-time-first scheduling), rather than a long key starting
    last on an otherwise idle machine; measured by bench/study_efficiency.py."""
    return sorted(train, key=estimated_work, reverse=True) + extend


def run_gan_stage(spec, folder: StudyFolder, cache_root: str, real_ref, jobs: dict) -> dict:
    """Make every GAN key of `jobs` complete in the cache; return key -> meta for all of them."""
    import ray.tune

    from trainables.gan_stage import is_complete, read_meta

    train, extend = gans_to_train(cache_root, jobs)
    missing = longest_first(train, extend)
    print(f"[study] GAN stage: {len(jobs)} GAN key(s) in the cache {cache_root}: {len(jobs) - len(missing)} "
          f"ready, {len(train)} to train, {len(extend)} to grow or filter their pool (no training)", flush=True)
    if missing:
        use_gpu = gans_use_gpu(spec)
        concurrent = trials_that_fit(spec.gan.workers, spec.gan.workers if use_gpu else 0)
        # The trial itself only launches a TorchTrainer; its workers hold the CPUs/GPUs. A trial that
        # also held a CPU would deadlock a 2-core machine running a 2-worker GAN. Tune refuses an
        # empty request, so the trial asks for a token amount of memory instead.
        trainable = ray.tune.with_resources(
            ray.tune.with_parameters(_gan_trial, real_ref=real_ref, cache_root=cache_root, use_gpu=use_gpu),
            {"cpu": 0, "memory": 1 << 20})
        tuner = ray.tune.Tuner(
            trainable,
            param_space={"job": ray.tune.grid_search([asdict(job) for job in missing])},
            # reuse_actors: the next key's trial runs in the process the last one ran in (Ray's default
            # is a fresh process per trial, which imports torch and Ray Train again: 2-3 s each).
            tune_config=ray.tune.TuneConfig(max_concurrent_trials=concurrent, trial_name_creator=_gan_trial_name,
                                            trial_dirname_creator=_gan_trial_name, reuse_actors=True),
            run_config=ray.tune.RunConfig(
                name="gans", storage_path=folder.store.uri("tune"),
                # Retries at one level: the TorchTrainer inside the trial restarts its workers from the last
                # checkpoint up to faults.max_failures times; a Tune retry around it would multiply that to
                # (1 + m)^2 tries of a failure that always recurs.
                failure_config=ray.tune.FailureConfig(max_failures=0), verbose=1),
        )
        gans = progress.GanProgress(cache_root, missing, {job.key() for job in train})
        with interrupts.tune_run(), progress.ticking(gans.line):
            tuner.fit()
        if not interrupts.requested():   # a stopped stage's count would read as a result
            print(gans.line(final=True), flush=True)
    metas = {}
    for key in jobs:
        if is_complete(cache_root, key):
            metas[key] = read_meta(cache_root, key)
            publish_view(Store(cache_root).sub(key), folder.store.sub("gans", key))
        else:
            metas[key] = {"key": key, "status": "error", "reason": "GAN training failed; see tune/gans"}
    return metas


def publish_view(source: Store, target: Store) -> None:
    """Copy a key's small files (not checkpoints, pools or locks) into the study folder, so that the
    report reads the study folder alone, also after the cache moved or was pruned."""
    for name in source.listdir():
        if name.endswith(VIEW_SUFFIXES) and name not in NOT_VIEWED and not source.is_dir(name):
            payload = source.read_bytes(name)
            if not target.exists(name) or target.read_bytes(name) != payload:
                target.write_bytes(payload, name)
