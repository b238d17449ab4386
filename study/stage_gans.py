"""The GAN stage: every GAN key the plan needs, trained once into the shared cache by Ray Train, then a
copy of each key's small files (meta.json, losses.csv, sample grids) into the study's `gans/<key>/`
for the report.

The keys are packed into one Tune trial per slot (as many as run at once), longest first, and each
trial trains its keys one after the other in one TorchTrainer run (trainables.runners.gan_worker): a fit's
start-up (fresh processes importing torch and Ray Train) is paid once per slot, not once per key."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from study import interrupts, progress
from study.cluster import gans_use_gpu, trials_that_fit
from study.folder import StudyFolder
from trainables.files.storage import Store

if TYPE_CHECKING:   # imports ray.tune: the stage imports it when it runs
    from study.tune_stop import FullDiskWatch

# What the report reads from a key's cache folder; checkpoints and pools stay in the cache.
VIEW_SUFFIXES = (".json", ".csv", ".png")
# Ray Train's bookkeeping, in the folders of keys trained before Train runs moved to `.train-runs/`.
NOT_VIEWED = frozenset({"checkpoint_manager_snapshot.json", "progress.json"})   # progress: a live hint


# Tune runs a trial's stop between two of its results (the trial's actor does one thing at a time). A GAN
# trial that reported only at its end kept a stopped study waiting Tune's fixed 10 s before its actor
# was killed (Ctrl-C in the GAN stage took 12 s to end the study, the GAN training on meanwhile); with a
# heartbeat the stop runs within HEARTBEAT_S (Tune's report raises SystemExit in the trial), and the
# Train run dies with the trial's actor, its owner: stopped, not failed.
HEARTBEAT_S = 1.0


def _gan_trial(config: dict, real_ref=None, cache_root: str = "", use_gpu: bool = False) -> None:
    import threading

    import ray.tune

    from trainables.gan.job import GanJob
    from trainables.runners.gan_keys import run_gan_jobs

    outcome: dict = {}
    stopped = threading.Event()

    def train() -> None:
        try:
            outcome["metas"] = run_gan_jobs([GanJob(**job) for job in config["jobs"]], cache_root, real_ref,
                                            use_gpu=use_gpu, stopped=stopped)
        except BaseException as err:   # raised again in the trial's own thread, as before
            outcome["error"] = err

    keys = threading.Thread(target=train, name="gan-keys", daemon=True)
    keys.start()
    keys.join(HEARTBEAT_S)
    try:
        while keys.is_alive():
            ray.tune.report({"status": "running"})
            keys.join(HEARTBEAT_S)
    except BaseException:   # Tune stops the trial: the Train run's end that follows is no GAN's failure
        stopped.set()
        raise
    if "error" in outcome:
        raise outcome["error"]
    ray.tune.report(trial_result(outcome["metas"]))


def trial_result(metas: dict) -> dict:
    """A GAN trial's one result: its keys' statuses ("ok", or the set of others), its keys, their seconds."""
    statuses = [meta.get("status") for meta in metas.values()]
    return {"status": "ok" if set(statuses) <= {"ok"} else ",".join(sorted(set(statuses))),
            "gan_keys": " ".join(metas), "seconds": sum(float(m.get("seconds") or 0) for m in metas.values())}


def _gan_trial_name(trial) -> str:
    """gan_<first key>[-and-N-more]: deterministic, so a resumed study finds the same trial folders
    (a stage's runs share no key, so the first key names its run)."""
    from trainables.gan.job import GanJob

    keys = [GanJob(**job).key() for job in trial.config["jobs"]]
    return f"gan_{keys[0]}" + (f"-and-{len(keys) - 1}-more" if len(keys) > 1 else "")


def gans_to_train(cache_root: str, jobs: dict) -> tuple[list, list]:
    """(to train, to extend), in key order: the jobs whose key is not complete in the cache, and the
    complete ones whose pool is too small or not yet filtered for this study (grown from the
    checkpoint, never retrained). A key that was written before but is no longer usable (a truncated
    pool.pt, an unreadable meta.json, a failed run) is said so on the console: the user learns why
    it reruns. Damaged files are set aside (renamed `.damaged`), never overwritten."""
    from trainables.files.gan_cache import META_FILE, completion_problem, damage, read_meta, set_aside_outputs
    from trainables.gan import checkpoints as gan_checkpoints
    from trainables.gan.pool import needs_filtering

    cache = Store(cache_root)
    train, extend = [], []
    for key, job in sorted(jobs.items()):
        problem = completion_problem(cache_root, key)
        if problem is None:
            meta = read_meta(cache_root, key)
            if meta.get("status") == "ok" and (
                    meta["pool"]["per_class"] < job.pool_per_class
                    or any(needs_filtering(meta, t, job.pool_per_class) for t in job.filters)):
                unusable = gan_checkpoints.final_problem(cache.sub(key), meta["pool"].get("checkpoint_epoch", -1))
                if unusable is None:
                    extend.append(job)
                    continue
                # Growing from it would fail inside the stage and leave the smaller pool reading as ready.
                aside = set_aside_outputs(cache_root, key) + gan_checkpoints.set_aside_all(cache.sub(key))
                print(f"[study] GAN {key}: cannot grow its pool: {unusable}; set aside as {', '.join(aside)}; "
                      "retraining it", flush=True)
                train.append(job)
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
    return full, job.epochs * (0 if full else job.size) * job.alpha ** 2


def longest_first(train: list, extend: list) -> list:
    """The keys to train, the longest first, then the pools to grow (no training: seconds each)."""
    return sorted(train, key=estimated_work, reverse=True) + extend


def pack_runs(train: list, extend: list, slots: int | None) -> list[list]:
    """The keys in one list per Train run, at most `slots` runs per run shape (trainables.runners.gan_trainer.run_shape);
    slots=None (a cluster that may grow: study.cluster.trials_that_fit) gives every key a run of its
    own, so that all of them queue their resource requests for the autoscaler.

    Longest-processing-time-first: each key, the longest first, goes to the run with the least
    estimated work so far, and a run trains its keys in that order; pools to grow (no training) go
    last, spread the same way. With one run per slot the start-up of a Train run is paid once per
    slot; the split of whole keys is the one the slots reached when Tune started one trial per key in
    this order (measured by bench/study_efficiency.py). Runs come out the longest first."""
    from trainables.runners.gan_trainer import run_shape

    to_train = {job.key() for job in train}
    runs: list[tuple[list, list[float]]] = []   # (jobs, [full subsets, estimated work]) per run
    by_shape: dict[tuple, list[int]] = {}
    for job in longest_first(train, extend):
        full, work = estimated_work(job) if job.key() in to_train else (False, 0.0)
        indices = by_shape.setdefault(run_shape(job), [])
        if slots is None or len(indices) < max(1, slots):
            indices.append(len(runs))
            runs.append(([], [0.0, 0.0]))
        jobs, load = runs[min(indices, key=lambda i: runs[i][1])]
        jobs.append(job)
        load[0], load[1] = load[0] + full, load[1] + work
    return [jobs for jobs, _ in sorted(runs, key=lambda run: run[1], reverse=True)]


def run_gan_stage(spec, folder: StudyFolder, cache_root: str, real_ref, jobs: dict,
                  disk: FullDiskWatch | None = None) -> dict:
    """Make every GAN key of `jobs` complete in the cache; return key -> meta for all of them. `disk`
    ends the stage at a GAN's failure on a full disk (study.tune_stop)."""
    import ray.tune

    from study.tune_stop import StudyStopper

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
        runs = pack_runs(train, extend, concurrent)
        if len(runs) < len(missing):
            print(f"[study] GAN stage: {len(missing)} key(s) in {len(runs)} Ray Train run(s) ({concurrent} at a time), "
                  "each training its keys one after the other, the longest first", flush=True)
        stopper = StudyStopper(disk)
        tuner = ray.tune.Tuner(
            trainable,
            param_space={"jobs": ray.tune.grid_search([[asdict(job) for job in run] for run in runs])},
            # reuse_actors: a next trial (more runs than slots: several run shapes) runs in the process the
            # last one ran in (Ray's default is a fresh process per trial, which imports torch again).
            tune_config=ray.tune.TuneConfig(max_concurrent_trials=concurrent, trial_name_creator=_gan_trial_name,
                                            trial_dirname_creator=_gan_trial_name, reuse_actors=True),
            run_config=ray.tune.RunConfig(
                name="gans", storage_path=folder.store.uri("tune"), stop=stopper,
                callbacks=[disk] if disk else None,
                # Retries at one level: the TorchTrainer inside the trial restarts its workers from the last
                # checkpoint up to faults.max_failures times; a Tune retry around it would multiply that to
                # (1 + m)^2 tries of a failure that always recurs.
                failure_config=ray.tune.FailureConfig(max_failures=0), verbose=1),
        )
        gans = progress.GanProgress(cache_root, missing, {job.key() for job in train})
        with interrupts.tune_run(), progress.ticking(gans.line):
            tuner.fit()
        if not stopper.stop_all():   # a stopped stage's count would read as a result
            print(gans.line(final=True), flush=True)
    metas = stage_metas(cache_root, jobs)
    for key, meta in metas.items():
        if meta.get("status") in ("ok", "diverged"):
            publish_view(Store(cache_root).sub(key), folder.store.sub("gans", key))
    if spec.tracking.mlflow or spec.tracking.wandb:   # each key a run under the study's parent
        from study.gan_tracking import log_gans

        log_gans(spec, folder, metas)
    return metas


def stage_metas(cache_root: str, jobs: dict) -> dict:
    """key -> meta after the stage. A key whose pool is still smaller than the study needs (its growth
    failed) is an error naming that, never "ok": its trials would each fail as "synthetic pool is too
    small", a symptom, while the study exited 0."""
    from trainables.files.gan_cache import is_complete, read_meta

    metas = {}
    for key, job in jobs.items():
        if not is_complete(cache_root, key):
            metas[key] = {"key": key, "status": "error", "reason": "GAN training failed; see tune/gans"}
            continue
        meta = read_meta(cache_root, key)
        have = (meta.get("pool") or {}).get("per_class", 0)
        if meta.get("status") == "ok" and have < job.pool_per_class:
            meta = {**meta, "status": "error", "reason": f"its pool could not grow from {have} to "
                    f"{job.pool_per_class} images per class (see tune/gans for the error); `study resume` "
                    "tries again"}
        metas[key] = meta
    return metas


def publish_view(source: Store, target: Store) -> None:
    """Copy a key's small files (not checkpoints, pools or locks) into the study folder, so that the
    report reads the study folder alone, also after the cache moved or was pruned."""
    for name in source.listdir():
        if name.endswith(VIEW_SUFFIXES) and name not in NOT_VIEWED and not source.is_dir(name):
            payload = source.read_bytes(name)
            if not target.exists(name) or target.read_bytes(name) != payload:
                target.write_bytes(payload, name)
