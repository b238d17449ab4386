"""The study driver: Ray up, the GAN stage, the classifier stage, results files, the report.

    spec ─► checks: the study folder, the GAN cache, the endpoints
         ─► real data loaded once (study.real_data), validation split held out; checks on the data
         ─► ray.init (embedded cluster, or join one: --address / RAY_ADDRESS / inside `ray job submit`),
            GPU and shared-storage checks
         ─► study folder written (spec.toml, run.json, env.json); the real data ray.put once
         ─► GAN stage (study.stage_gans): every GAN key the plan needs, trained once into the
            storage root's shared cache: the missing keys packed into one Tune trial per slot, each
            a Ray Train TorchTrainer training its keys one after the other
         ─► classifier stage (study.stage_classifiers): Tune trials (grid or Optuna)
         ─► results.csv, curves.csv (study.results); report/ (build_report, after run_study)

Everything is named deterministically (study folder, Tune experiments, trial names, GAN keys), so
`study resume DIR` can pick up exactly where a killed driver stopped: finished GANs are found by key
in the cache, finished classifier trials by their record in `trials/`.
"""

from __future__ import annotations

import os
import time

from study import console, interrupts, plan
from study.cluster import (
    check_gpus_usable,
    check_resources,
    check_storage_shared,
    cluster_capacity,
    connect_ray,
)
from study.disk_space import failures_name_a_full_disk
from study.folder import StudyFolder
from study.locations import resolve_cache
from study.preflight import check_loaded_data, checks_before_ray
from study.real_data import load_real_data
from study.results import results_frames, write_results
from study.spec import validation_rule
from study.stage_classifiers import run_classifier_stage, unfinished_trials
from study.stage_gans import run_gan_stage
from study.tracking import endpoint_checks


def run_study(spec, *, storage: str, address: str | None = None, resume: bool = False,
              gan_cache: str | None = None, extra_files: dict[str, str] | None = None) -> StudyFolder:
    """Run (or continue) a study. `extra_files` (name -> text) are written into the study folder with
    spec.toml, once every check passed: `study confirm` writes confirm.json this way."""
    import ray

    from study.tune_stop import FullDiskWatch

    # Everything the user can get wrong is checked before anything is written: the folder, the data
    # (a missing download), then the resources (which need Ray up); only then spec.toml is written.
    started_at = time.time()
    folder = StudyFolder.for_spec(storage, spec.name)
    folder.check(spec, resume=resume)
    folder.refuse_if_running()   # before Ray: a second run of a running study starts nothing
    cache_root = resolve_cache(gan_cache, folder.storage_root, None if gan_cache else folder.recorded_cache())
    for check in endpoint_checks(spec, address):   # each answers within seconds or is refused
        check()
    train, test, validation, info = load_real_data(spec)
    check_loaded_data(spec, train.labels.bincount(minlength=train.num_classes).tolist(), len(test), train.classes)
    counts = train.class_counts()
    share = float(counts.max()) / len(train) if spec.sampling == "stratified" and len(train) else None
    jobs = plan.gan_jobs(spec, len(train), train.num_classes, len(validation), share)
    joined = bool(address or os.environ.get("RAY_ADDRESS"))
    for check in checks_before_ray(spec, jobs, tuple(train.shape), train.num_classes, joined):
        check()
    checked_at = time.time()
    connect_ray(address)
    interrupts.install()  # again: ray.init replaced our SIGTERM handler with one that aborts
    if joined:
        check_resources(spec, joined_cluster=True, capacity=cluster_capacity())
    check_gpus_usable(spec)   # every GPU node's CUDA works, before anything is written
    for shared in dict.fromkeys([storage, cache_root]):   # every node sees them: checkpoints, pools, records
        check_storage_shared(shared)
    with folder.running():  # one driver per study: a second run or resume is refused, naming this one
        folder.prepare(spec, resume=resume, gan_cache=cache_root)
        for name, text in (extra_files or {}).items():
            folder.store.write_text(text, name)
        console.move_into(folder.store)   # Ray's and Tune's output continues in <study>/study.log
        print(f"[study] {spec.name}: {'continuing the study in' if resume else 'a new study in'} {folder.root}",
              flush=True)
        rule = validation_rule(spec)
        held = f"validation {rule.describe()}" if rule.per_subset else f"{len(validation)} validation"
        print(f"[study] {spec.dataset}: {len(train)} training, {held} and {len(test)} test "
              f"images, {train.num_classes} classes, shape {tuple(train.shape)}", flush=True)
        skipped = plan.skipped_combinations(spec)
        if skipped:
            print(f"[study] {skipped} combination(s) left out of the grid: synthetic only at R = 0 trains on nothing",
                  flush=True)

        written_to = [folder.root, cache_root]
        disk = FullDiskWatch(written_to, folder.root)   # a failure on a full disk ends a stage at once; after
        # each stage, disk.stop_if_full stops the study when work failed on a full disk
        with failures_name_a_full_disk(written_to, folder.root):
            real_ref = ray.put((train, test, validation))  # once; every GAN worker and trial reads this copy
            stages = {"checks": checked_at - started_at, "ray_start": time.time() - checked_at}
            stage_started = time.time()
            gan_meta = run_gan_stage(spec, folder, cache_root, real_ref, jobs, disk)
            stages["gans"] = time.time() - stage_started
            interrupts.check("during the GAN stage")  # a stopped stage's unfinished GANs are not failures
            failed = [key for key, meta in gan_meta.items() if meta.get("status") not in ("ok", "diverged")]
            disk.stop_if_full(failed=bool(failed))
            for key, meta in gan_meta.items():
                if meta.get("status") != "ok":
                    print(f"[study] GAN {key}: {meta.get('status')} ({meta.get('reason', '')}); its trials are "
                          "skipped", flush=True)

            stage_started = time.time()
            outcome = run_classifier_stage(spec, folder, cache_root, real_ref, info, len(validation), resume,
                                           gan_failures={key: gan_meta[key].get("reason", "") for key in failed},
                                           disk=disk)
            stages["classifiers"] = time.time() - stage_started
            interrupts.check("during the classifier stage")  # results.csv of a half-run study would look final
            disk.stop_if_full(failed=unfinished_trials(folder, outcome) > 0)
            results, curves = results_frames(spec, folder, outcome)
            write_results(folder, results, curves)
            folder.record_run(started_at, time.time() - started_at, resume, stages)
        print(f"[study] results: {len(results)} trial(s) -> {folder.store.uri('results.csv')}", flush=True)
    return folder
