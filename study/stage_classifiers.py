"""The classifier stage: the plan's trials as Ray Tune function trials (grid or Optuna).

Grid mode runs only the points that have no record in `trials/` yet, in a fresh Tune experiment
(`tune/classifiers`, then `classifiers-2`, ... for later runs): a resumed or extended study never
reruns a finished trial, and results are assembled from the records (study.results). Optuna mode
keeps one experiment and restores it on resume, so the searcher continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from study import interrupts, plan, progress, tracking
from study.cluster import trials_that_fit
from study.folder import StudyFolder
from study.schema import as_values
from study.spec import validation_rule

if TYPE_CHECKING:   # imports ray.tune: the stage imports it when it runs
    from study.tune_stop import FullDiskWatch

EXPERIMENT = "classifiers"


@dataclass
class StageOutcome:
    points: list[dict]              # the plan's points (grid mode); Optuna's are in `grids`
    grids: list[Any]                # the Tune ResultGrids of this run (empty when nothing ran)


def _classifier_trial(config: dict, real_ref=None, context=None) -> None:
    from trainables.runners.classifier_trial import run_trial

    spec = context["spec"]
    point = plan.resolve_point(spec, config.get("point", config))
    gan_key = (plan.gan_job(spec, point, context["validation"]).key() if plan.uses_gan(point) else None)
    failed = context.get("gan_failures", {}).get(gan_key)
    if failed is not None and not _has_record(context["study_root"]):
        # The GAN stage could not make this key's pool (a failed growth leaves a smaller pool reading as
        # ready in the cache): the trial says that, not the "pool too small" it would meet. Not final:
        # no record, so `study resume` runs it once the GAN is there.
        import ray.tune

        ray.tune.report({"status": "error", "gan_key": gan_key, "reason": f"GAN {gan_key} error: {failed}"})
        return
    run_trial(point, gan_key, {**context, "real_ref": real_ref,
                               "subset_seed": plan.subset_seed(spec, point["seed"])})


def _has_record(study_root: str) -> bool:
    import ray.tune

    from trainables.files.storage import Store
    from trainables.files.trial_records import trial_record

    return Store(study_root).exists(trial_record(ray.tune.get_context().get_trial_name()))


def _grid_trial_name(trial) -> str:
    return plan.trial_name(trial.config["point"])


def _optuna_trial_name(spec, trial) -> str:
    # Optuna may propose the same point twice; the trial index keeps names unique.
    return f"{plan.trial_name(plan.resolve_point(spec, trial.config))}_{trial.trial_id.split('_')[-1]}"


def reports_every_epoch(spec) -> bool:
    """ASHA stops trials at epoch milestones, and a tracker draws a curve per epoch, so both see every
    epoch; otherwise trials report at most once a second (see trainables.runners.classifier_trial.EpochReports)."""
    return (spec.search.mode == "optuna" and spec.search.asha) or bool(tracking.enabled(spec))


def optuna_tune_config(spec, concurrent: int | None):
    import optuna
    import ray.tune as tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    # A persistent Optuna study (search.storage) is named after the study, so optuna-dashboard lists it
    # by that name and a resume adds to the same one.
    storage = optuna.storages.RDBStorage(spec.search.storage) if spec.search.storage else None
    searcher = OptunaSearch(metric=spec.search.metric, mode="max",
                            sampler=optuna.samplers.TPESampler(seed=spec.search.seed),
                            study_name=spec.name if storage else None, storage=storage)
    scheduler = None
    if spec.search.asha:
        from ray.tune.schedulers import ASHAScheduler

        longest = max(as_values(spec.classifier.epochs))
        scheduler = ASHAScheduler(metric=spec.search.metric, mode="max", max_t=longest,
                                  grace_period=max(1, longest // 4))
    name = functools.partial(_optuna_trial_name, spec)
    return tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=concurrent or spec.search.trials),
                           scheduler=scheduler, num_samples=spec.search.trials, reuse_actors=True,
                           trial_name_creator=name, trial_dirname_creator=name)


def pending_points(folder: StudyFolder, points: list[dict]) -> list[dict]:
    """The points without a final record (ok, diverged, or a GAN that diverged or cannot fill its
    filter): what this run must train, a failed GAN's points included (it retrains first). A
    damaged record is set aside here, before any trial starts, and its point runs again."""
    from trainables.files.trial_records import read_trial_record

    return [p for p in points if read_trial_record(folder.store, plan.trial_name(p)) is None]


def unfinished_trials(folder: StudyFolder, outcome: StageOutcome) -> int:
    """How many trials of this run ended without their result: no record (grid mode), or a Tune error."""
    from trainables.files.trial_records import trial_record

    if outcome.points:
        return sum(not folder.store.exists(trial_record(plan.trial_name(p))) for p in outcome.points)
    return sum(result.error is not None for grid in outcome.grids for result in grid)


def _next_experiment(folder: StudyFolder) -> str:
    existing = set(folder.store.listdir("tune"))
    if EXPERIMENT not in existing:
        return EXPERIMENT
    return next(f"{EXPERIMENT}-{i}" for i in range(2, 10_000) if f"{EXPERIMENT}-{i}" not in existing)


def _restored(folder: StudyFolder, experiment: str, trainable):
    """The Optuna experiment restored, or None after setting a damaged one aside (a 0-byte tuner.pkl
    from a full disk made every resume die with EOFError): the search then starts afresh, and the
    trials that finished keep their records."""
    from ray import tune

    try:
        tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True, resume_errored=True)
    except (EOFError, pickle.UnpicklingError, ValueError, OSError, AttributeError) as err:
        moved = folder.store.set_aside(f"tune/{EXPERIMENT}")
        print(f"[study] classifier stage: the Optuna experiment cannot be restored ({type(err).__name__}: "
              f"{str(err)[:120]}); set aside as {moved}, the search starts afresh", flush=True)
        return None
    print("[study] classifier stage: restoring the Optuna experiment; finished trials are kept", flush=True)
    return tuner


def run_classifier_stage(spec, folder: StudyFolder, cache_root: str, real_ref, info, validation: int,
                         resume: bool, gan_failures: dict[str, str] | None = None,
                         disk: FullDiskWatch | None = None) -> StageOutcome:
    import ray.tune as tune

    from study.tune_stop import StudyStopper

    context = {
        "spec": spec, "validation": validation, "study_root": folder.root, "cache_root": cache_root,
        "validation_rule": dataclasses.asdict(validation_rule(spec)),
        "hflip": info.hflip, "compile": spec.classifier.compile, "cpus_per_trial": spec.resources.cpus_per_trial,
        "report_every_epoch": reports_every_epoch(spec), "gan_failures": dict(gan_failures or {}),
    }
    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
    trainable = tune.with_resources(
        tune.with_parameters(_classifier_trial, real_ref=real_ref, context=context), resources)
    concurrent = spec.search.max_concurrent or trials_that_fit(
        spec.resources.cpus_per_trial, spec.resources.gpus_per_trial)
    watchers = [*tracking.callbacks(spec), *([disk] if disk else [])]   # beside the progress line's
    stopper = StudyStopper(disk)
    run_config = dict(storage_path=folder.store.uri("tune"), stop=stopper,
                      failure_config=tune.FailureConfig(max_failures=spec.faults.max_failures), verbose=1)

    if spec.search.mode == "optuna":
        experiment = folder.store.uri("tune", EXPERIMENT)
        tuner = _restored(folder, experiment, trainable) if resume and tune.Tuner.can_restore(experiment) else None
        trials = None   # a restored experiment keeps its RunConfig: no callback can join it
        if tuner is None:
            trials = progress.trial_progress_callback(spec.search.trials, spec.search.metric)
            tuner = tune.Tuner(trainable, param_space=plan.optuna_space(spec),
                               tune_config=optuna_tune_config(spec, concurrent),
                               run_config=tune.RunConfig(name=EXPERIMENT, callbacks=[trials, *watchers],
                                                         **run_config))
        return StageOutcome(points=[], grids=[_fit(tuner, trials, stopper)])

    points = plan.grid_points(spec)
    pending = pending_points(folder, points)
    done = len(points) - len(pending)
    print(f"[study] classifier stage: {len(points)} trial(s), {done} already finished, {len(pending)} to run",
          flush=True)
    if not pending:
        print("[study] every trial has finished: nothing is trained again; results.csv and the report are written "
              "again from the trial records", flush=True)
        return StageOutcome(points=points, grids=[])
    trials = progress.trial_progress_callback(len(pending), spec.search.metric, _cost_model(pending, info, validation),
                                              pending)
    tuner = tune.Tuner(
        trainable,
        param_space={"point": tune.grid_search(pending)},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrent, reuse_actors=True,
                                    trial_name_creator=_grid_trial_name, trial_dirname_creator=_grid_trial_name),
        run_config=tune.RunConfig(name=_next_experiment(folder), callbacks=[trials, *watchers], **run_config),
    )
    return StageOutcome(points=points, grids=[_fit(tuner, trials, stopper)])


def _cost_model(points: list[dict], info, validation: int):
    """The ETA's per-trial weights (study.trial_cost); None (count trials) when they cannot be made."""
    from study.trial_cost import classifier_flops, cost_model

    numeric = [int(p["size"]) for p in points if not isinstance(p["size"], str)]
    train_size = (info.max_train_size or 2 * max(numeric, default=1)) - validation
    try:
        return cost_model(classifier_flops({p["classifier"] for p in points}, tuple(info.shape), info.num_classes),
                          train_size)
    except Exception:   # the ETA falls back to counting trials; never a reason to stop a study
        return None


def skip_callback_telemetry_when_off() -> None:
    """Ray Tune's run() tags which callback classes an experiment uses, for Ray's usage stats, by
    importing every logger integration Ray ships that is installed (MLflow, W&B, Comet, Aim): 1.6 s of
    CPU in each study driver where mlflow is installed (the tracking extra), for a stage whose only
    callbacks are the study's own. With usage stats disabled (RAY_USAGE_STATS_ENABLED=0, as `study
    slurm` and the test suite set) the tag is never sent, so the count is skipped. Imported by name
    from Ray's internals: a Ray upgrade that moves it fails tests/test_progress_truth.py."""
    from ray._common.usage.usage_lib import usage_stats_enabled
    from ray.air._internal import usage as air_usage

    if not usage_stats_enabled():
        air_usage.tag_callbacks = _no_callback_tag


def _no_callback_tag(callbacks) -> bool:
    return False   # what Ray's tag_callbacks returns when it records nothing


def _fit(tuner, trials, stopper):
    """Tuner.fit() with its progress line (and the stage's last line once it ends unstopped)."""
    skip_callback_telemetry_when_off()
    if trials is None:
        with interrupts.tune_run():
            return tuner.fit()
    with interrupts.tune_run(), progress.ticking(trials.line):
        grid = tuner.fit()
    if not stopper.stop_all():   # a stopped stage's count would read as a result
        print(trials.line(final=True), flush=True)
    return grid
