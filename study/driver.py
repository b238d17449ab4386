"""The study driver: Ray up, the GAN stage, the classifier stage, results files, the report.

    spec ─► study folder (spec.toml, env.json)
         ─► ray.init (embedded cluster, or join one: --address / RAY_ADDRESS / inside `ray job submit`)
         ─► real data loaded once, ray.put once
         ─► GAN stage: one Tune trial per missing GAN key, each running a Ray Train TorchTrainer
         ─► classifier stage: Tune trials (grid or Optuna), each reading a finished pool
         ─► results.csv, curves.csv, report/

Everything is named deterministically (study folder, Tune experiments, trial names, GAN keys), so
`study resume DIR` can pick up exactly where a killed driver stopped: finished GANs are found by key
in `gans/`, finished classifier trials by their record in `trials/`, and Tune restores the rest.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from study import spec as S
from trainables import data as D
from trainables.storage import Store

TRIAL_AXES = ("size", "alpha", "ratio", "classifier", "seed")
CURVE_COLUMNS = ("epoch", "test_acc", "test_loss", "train_loss")


class StudyError(ValueError):
    """A problem with the study folder the user can fix (exit code 2 on the command line)."""


# --------------------------------------------------------------------------------------------
# The study folder
# --------------------------------------------------------------------------------------------
@dataclass
class StudyFolder:
    store: Store

    @classmethod
    def for_spec(cls, storage: str, name: str) -> StudyFolder:
        return cls(Store(storage).sub(name))

    @property
    def root(self) -> str:
        return self.store.uri()

    def check(self, spec, *, resume: bool) -> str:
        """Refuse an unwritable storage or a folder holding a different spec; returns the spec's TOML.
        Writes nothing but the (empty) folder, so a refused run leaves nothing a rerun could trip on."""
        try:
            self.store.makedirs()
            self.store.check_writable()
        except OSError as err:
            raise StudyError(f"--storage: cannot write to {self.root} ({err.strerror or err}); "
                             "allowed: a writable folder or an s3:// / gs:// URI") from None
        text = S.spec_to_toml(spec)
        if self.store.exists("spec.toml") and self.store.read_text("spec.toml") != text and not resume:
            raise StudyError(
                f"{self.root}: holds a study with a different spec; allowed: --name NEW to start "
                f"another study, or `study resume {self.root}` to continue this one")
        return text

    def prepare(self, spec, *, resume: bool) -> None:
        """Write spec.toml (once) and env.json after the checks above."""
        text = self.check(spec, resume=resume)
        if not self.store.exists("spec.toml"):
            self.store.write_text(text, "spec.toml")
        self.store.write_text(json.dumps(environment_info(), indent=2, sort_keys=True) + "\n", "env.json")


def environment_info() -> dict:
    """Versions, git sha and devices: what a reader needs to trust (or rerun) the numbers."""
    import optuna
    import ray
    import torch

    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__,
        "optuna": optuna.__version__, "git_sha": sha, "platform": platform.platform(),
        "cpus": os.cpu_count(), "gpus": devices,
        "devices": [f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})", *devices],
    }


# --------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------
def connect_ray(address: str | None) -> None:
    """Join a cluster when one is named (or when running inside `ray job submit`), else start one."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    # Fault-injection switches must reach the worker processes of an embedded cluster too.
    env_vars = {k: v for k, v in os.environ.items() if k.startswith("STUDY_")}
    runtime_env = {"env_vars": env_vars} if env_vars else None
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
        return
    # The dashboard (on 127.0.0.1 only) shows trials live, and Ray Train's placement-group cleaner
    # queries actor state through it: without it, that cleaner logs a warning every few seconds.
    context = ray.init(include_dashboard=True, dashboard_host="127.0.0.1", runtime_env=runtime_env,
                       log_to_driver=True)
    if context.dashboard_url:
        print(f"[study] Ray dashboard (this machine only): http://{context.dashboard_url}", flush=True)


def check_gpu_request(spec, joined_cluster: bool) -> None:
    """GPU trials on a machine without GPUs would wait forever: refuse them up front on an embedded
    cluster (nothing will ever add a GPU); on a joined cluster an autoscaler may still add GPU nodes."""
    _, gpus = cluster_capacity()
    if spec.resources.gpus_per_trial > 0 and gpus == 0:
        if not joined_cluster:
            raise StudyError(
                f"resources.gpus_per_trial: {spec.resources.gpus_per_trial:g} but this machine has no GPU; "
                "allowed: 0 on a CPU-only machine (--set resources.gpus_per_trial=0), or run on a GPU cluster "
                "with --address")
        print("[study] no GPU in the cluster yet: trials wait for the autoscaler to add GPU nodes", flush=True)


def gans_use_gpu(spec) -> bool:
    """GANs train on GPUs when the cluster has some, or when the study asks for GPUs (an autoscaling
    cluster starts its GPU workers from zero, so none may be visible when the GAN stage starts)."""
    _, gpus = cluster_capacity()
    return gpus > 0 or spec.resources.gpus_per_trial > 0


def cluster_capacity() -> tuple[float, float]:
    import ray

    resources = ray.cluster_resources()
    return float(resources.get("CPU", 1)), float(resources.get("GPU", 0))


def trials_that_fit(cpus_per_trial: float, gpus_per_trial: float) -> int | None:
    cpus, gpus = cluster_capacity()
    fits = math.floor(cpus / cpus_per_trial) if cpus_per_trial > 0 else 10**6
    if gpus_per_trial > 0:
        if not gpus:  # an autoscaling cluster with no GPU node yet: Tune queues trials by resources
            return None
        fits = min(fits, math.floor(gpus / gpus_per_trial))
    return max(1, fits)


# --------------------------------------------------------------------------------------------
# GAN stage
# --------------------------------------------------------------------------------------------
def resolved_size(size, train: D.ImageSet) -> int:
    return len(train) if size == "full" else int(size)


def gan_jobs(spec, train: D.ImageSet) -> dict:
    """lookup key (size|alpha|seed) -> GanJob for every GAN some classifier trial will read."""
    from trainables.classifier_trial import gan_lookup_key
    from trainables.gan_stage import GanJob

    largest_ratio = S.max_ratio(spec)
    jobs = {}
    # Optuna trials all use seed 0 (a repeat is not a hyperparameter to tune), so only its GANs are needed.
    points = [p for p in S.gan_points(spec) if spec.search.mode == "grid" or p["seed"] == 0]
    for point in points:
        n = resolved_size(point["size"], train)
        jobs[gan_lookup_key(point["size"], point["alpha"], point["seed"])] = GanJob(
            dataset=spec.dataset, data_root=spec.data_root, size=point["size"], seed=point["seed"],
            arch=spec.gan.arch, conditioning=spec.gan.conditioning, alpha=float(point["alpha"]),
            epochs=spec.gan.epochs, batch_size=spec.gan.batch_size, lr=spec.gan.lr, beta1=spec.gan.beta1,
            # ceil, plus one: take_balanced spreads a remainder over classes, never more than one each
            pool_per_class=math.ceil(largest_ratio * n / train.num_classes) + 1,
            workers=spec.gan.workers, checkpoint_every=spec.gan.checkpoint_every,
            max_failures=spec.faults.max_failures,
        )
    return jobs


def _gan_trial(config: dict, real_ref=None, study_root: str = "", use_gpu: bool = False) -> None:
    import ray.tune

    from trainables.gan_stage import GanJob, run_gan_job

    meta = run_gan_job(GanJob(**config["job"]), study_root, real_ref, use_gpu=use_gpu)
    ray.tune.report({"status": meta.get("status"), "gan_key": meta.get("key"),
                     "seconds": meta.get("seconds"), "reason": meta.get("reason", "")})


def run_gan_stage(spec, folder: StudyFolder, real_ref, jobs: dict) -> dict:
    """Train every GAN key not yet complete in storage; return key -> meta for all of them."""
    from dataclasses import asdict

    import ray.tune

    from trainables.gan_stage import is_complete, read_meta

    unique = {job.key(): job for job in jobs.values()}
    missing = gans_to_train(folder, unique)
    print(f"[study] GAN stage: {len(unique)} GAN key(s), {len(unique) - len(missing)} already in storage, "
          f"{len(missing)} to train", flush=True)
    if missing:
        use_gpu = gans_use_gpu(spec)
        concurrent = trials_that_fit(spec.gan.workers, spec.gan.workers if use_gpu else 0)
        # The trial itself only launches a TorchTrainer; its workers hold the CPUs/GPUs. A trial that
        # also held a CPU would deadlock a 2-core machine running a 2-worker GAN. Tune refuses an
        # empty request, so the trial asks for a token amount of memory instead.
        trainable = ray.tune.with_resources(
            ray.tune.with_parameters(_gan_trial, real_ref=real_ref, study_root=folder.root, use_gpu=use_gpu),
            {"cpu": 0, "memory": 1 << 20})
        tuner = ray.tune.Tuner(
            trainable,
            param_space={"job": ray.tune.grid_search([asdict(job) for job in missing])},
            tune_config=ray.tune.TuneConfig(
                max_concurrent_trials=concurrent,
                trial_name_creator=_gan_trial_name,
                trial_dirname_creator=_gan_trial_name,
            ),
            run_config=ray.tune.RunConfig(
                name="gans", storage_path=folder.store.uri("tune"),
                failure_config=ray.tune.FailureConfig(max_failures=spec.faults.max_failures),
                verbose=1,
            ),
        )
        tuner.fit()
    return {key: read_meta(folder.root, key) if is_complete(folder.root, key) else
            {"key": key, "status": "error", "reason": "GAN training failed; see tune/gans"}
            for key in unique}


def gans_to_train(folder: StudyFolder, unique: dict) -> list:
    """The jobs whose key is not complete in storage, in key order. A key that was written before but
    is no longer usable (a truncated pool.pt, an unreadable meta.json, a failed run) is said so on
    the console: the user learns that it is retrained and why."""
    from trainables.gan_stage import META_FILE, completion_problem

    missing = []
    for key, job in sorted(unique.items()):
        problem = completion_problem(folder.root, key)
        if problem is None:
            continue
        if folder.store.exists("gans", key, META_FILE):
            print(f"[study] GAN {key}: {problem}; retraining it", flush=True)
        missing.append(job)
    return missing


def _gan_trial_name(trial) -> str:
    """gan_<key>: deterministic, so a resumed study finds the same trial folders."""
    from trainables.gan_stage import GanJob

    return f"gan_{GanJob(**trial.config['job']).key()}"


# --------------------------------------------------------------------------------------------
# Classifier stage
# --------------------------------------------------------------------------------------------
def trial_name(config: dict) -> str:
    """Deterministic, readable, unique per grid point."""
    return (f"{config['classifier']}_n{config['size']}_a{float(config['alpha']):g}"
            f"_r{float(config['ratio']):g}_s{config['seed']}")


def _classifier_trial(config: dict, real_ref=None, context=None) -> None:
    from trainables.classifier_trial import run_trial

    run_trial({**config, "context": {**context, "real_ref": real_ref}})


def classifier_param_space(spec):
    """grid: every combination, each exactly once; optuna: a search space for OptunaSearch."""
    import ray.tune as tune

    if spec.search.mode == "grid":
        return {axis: tune.grid_search(list(values)) for axis, values in (
            ("size", spec.sizes), ("alpha", spec.gan.alpha), ("ratio", spec.mix.ratios),
            ("classifier", spec.classifier.name), ("seed", list(range(spec.seeds))))}
    ratio = (tune.uniform(*spec.search.ratio_range) if spec.search.ratio_range
             else tune.choice(list(spec.mix.ratios)))
    return {"size": tune.choice(list(spec.sizes)), "alpha": tune.choice(list(spec.gan.alpha)),
            "ratio": ratio, "classifier": tune.choice(list(spec.classifier.name)), "seed": 0}


def _grid_trial_name(trial) -> str:
    return trial_name(trial.config)


def _optuna_trial_name(trial) -> str:
    # Optuna may propose the same continuous point twice; the trial index keeps names unique.
    return f"{trial_name(trial.config)}_{trial.trial_id.split('_')[-1]}"


def classifier_tune_config(spec, concurrent: int | None):
    import ray.tune as tune

    if spec.search.mode == "grid":
        return tune.TuneConfig(max_concurrent_trials=concurrent, reuse_actors=True,
                               trial_name_creator=_grid_trial_name, trial_dirname_creator=_grid_trial_name)
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(metric=spec.search.metric, mode="max",
                            sampler=optuna.samplers.TPESampler(seed=spec.search.seed))
    scheduler = None
    if spec.search.asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(metric=spec.search.metric, mode="max", max_t=spec.classifier.epochs,
                                  grace_period=max(1, spec.classifier.epochs // 4))
    return tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=concurrent or spec.search.trials),
                           scheduler=scheduler, num_samples=spec.search.trials, reuse_actors=True,
                           trial_name_creator=_optuna_trial_name, trial_dirname_creator=_optuna_trial_name)


def reports_every_epoch(spec) -> bool:
    """ASHA stops trials at epoch milestones, so it must see every epoch; otherwise trials report at
    most once a second (see trainables.classifier_trial.EpochReports)."""
    return spec.search.mode == "optuna" and spec.search.asha


def run_classifier_stage(spec, folder: StudyFolder, real_ref, jobs: dict, info: D.DatasetInfo, resume: bool):
    import ray.tune as tune

    context = {
        "study_root": folder.root, "gan_keys": {k: job.key() for k, job in jobs.items()},
        "real": spec.mix.real, "augment": spec.mix.augment, "hflip": info.hflip,
        "epochs": spec.classifier.epochs, "batch_size": spec.classifier.batch_size, "lr": spec.classifier.lr,
        "compile": spec.classifier.compile, "cpus_per_trial": spec.resources.cpus_per_trial,
        "report_every_epoch": reports_every_epoch(spec),
    }
    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
    trainable = tune.with_resources(
        tune.with_parameters(_classifier_trial, real_ref=real_ref, context=context), resources)
    experiment = folder.store.uri("tune", "classifiers")
    if resume and tune.Tuner.can_restore(experiment):
        print("[study] classifier stage: restoring the Tune experiment; finished trials are kept", flush=True)
        tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        concurrent = spec.search.max_concurrent or trials_that_fit(
            spec.resources.cpus_per_trial, spec.resources.gpus_per_trial)
        tuner = tune.Tuner(
            trainable,
            param_space=classifier_param_space(spec),
            tune_config=classifier_tune_config(spec, concurrent),
            run_config=tune.RunConfig(
                name="classifiers", storage_path=folder.store.uri("tune"),
                failure_config=tune.FailureConfig(max_failures=spec.faults.max_failures),
                verbose=1,
            ),
        )
    return tuner.fit()


# --------------------------------------------------------------------------------------------
# Results files
# --------------------------------------------------------------------------------------------
def _trial_curve(folder: StudyFolder, name: str, result) -> list[dict]:
    """Per-epoch metrics: from the trial's record (complete even across a driver restart), else from its
    final report, else from whatever epochs it reported before it failed."""
    from trainables.classifier_trial import trial_record

    record = trial_record(name)
    if folder.store.exists(record):
        return json.loads(folder.store.read_text(record)).get("curve", [])
    if isinstance((result.metrics or {}).get("curve"), list):
        return result.metrics["curve"]
    frame = result.metrics_dataframe
    if frame is None or "status" not in frame:
        return []
    epochs = frame[frame["status"] == "running"]
    return [{c: row.get(c) for c in CURVE_COLUMNS} for _, row in epochs.iterrows()]


def results_frames(spec, folder: StudyFolder, result_grid, jobs: dict):
    """ResultGrid -> (results, curves) DataFrames in the columns DESIGN.md promises."""
    import pandas as pd

    from trainables.classifier_trial import gan_lookup_key

    fixed = {"dataset": spec.dataset, "real": spec.mix.real, "augment": spec.mix.augment,
             "gan_arch": spec.gan.arch, "conditioning": spec.gan.conditioning}
    rows, curves = [], []
    for result in result_grid:
        config = {axis: result.config[axis] for axis in TRIAL_AXES}
        name = os.path.basename(str(result.path).rstrip("/"))
        job = jobs.get(gan_lookup_key(config["size"], config["alpha"], config["seed"]))
        needs_gan = float(config["ratio"]) > 0 or not spec.mix.real
        metrics = dict(result.metrics or {})
        row = {"trial": name, **fixed, **config, "gan_key": job.key() if (job and needs_gan) else ""}
        if result.error is not None:
            row.update(status="error", reason=str(result.error).strip().splitlines()[-1][:300])
        else:
            status = metrics.get("status", "error")
            row.update(status="ok" if status == "running" else status, reason=metrics.get("reason", ""))
        for metric in ("test_acc", "test_acc_max", "test_loss", "train_loss", "precision", "recall", "f1",
                       "train_seconds", "images_per_second", "train_images"):
            row[metric] = metrics.get(metric)
        per_class = metrics.get("per_class_acc")
        row["per_class_acc"] = json.dumps(per_class) if per_class is not None else ""
        rows.append(row)
        curves.extend({"trial": name, **fixed, **config, **point} for point in _trial_curve(folder, name, result))
    results = pd.DataFrame(rows)
    if len(results):
        results = results.sort_values(["size", "alpha", "ratio", "classifier", "seed", "trial"],
                                      key=lambda s: s.astype(str) if s.name == "size" else s)
    return results.reset_index(drop=True), pd.DataFrame(curves)


def write_results(folder: StudyFolder, results, curves) -> None:
    folder.store.write_text(results.to_csv(index=False), "results.csv")
    folder.store.write_text(curves.to_csv(index=False), "curves.csv")


# --------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------
def run_study(spec, *, storage: str, address: str | None = None, resume: bool = False) -> StudyFolder:
    import ray

    # Everything the user can get wrong is checked before anything is written: the folder, the data
    # (a missing download), then the resources (which need Ray up); only then spec.toml is written.
    folder = StudyFolder.for_spec(storage, spec.name)
    folder.check(spec, resume=resume)
    info = D.dataset_info(spec.dataset)
    train, test = D.load_dataset(spec.dataset, spec.data_root)
    jobs = gan_jobs(spec, train)
    connect_ray(address)
    check_gpu_request(spec, joined_cluster=bool(address or os.environ.get("RAY_ADDRESS")))
    folder.prepare(spec, resume=resume)
    print(f"[study] {spec.name}: writing to {folder.root}", flush=True)
    print(f"[study] {spec.dataset}: {len(train)} training and {len(test)} test images, "
          f"{train.num_classes} classes, shape {tuple(train.shape)}", flush=True)

    real_ref = ray.put((train, test))  # once; every GAN worker and classifier trial reads this copy
    gan_meta = run_gan_stage(spec, folder, real_ref, jobs)
    bad = {k: m for k, m in gan_meta.items() if m.get("status") != "ok"}
    for key, meta in bad.items():
        print(f"[study] GAN {key}: {meta.get('status')} ({meta.get('reason', '')}); its trials are skipped",
              flush=True)

    print("[study] classifier stage", flush=True)
    grid = run_classifier_stage(spec, folder, real_ref, jobs, info, resume)
    results, curves = results_frames(spec, folder, grid, jobs)
    write_results(folder, results, curves)
    print(f"[study] results: {len(results)} trial(s) -> {folder.store.uri('results.csv')}", flush=True)
    return folder


def build_report(folder: StudyFolder) -> str | None:
    """Build report/ with the analysis package (which reads files only)."""
    from analysis import build_report as analysis_report

    if folder.store.is_local:
        return str(analysis_report(folder.store.local_path()))
    # Remote storage (s3://, gs://, ...): the analysis reads files, so it works on a local copy of what
    # it needs (not the checkpoints or pools), and the report goes back next to the results.
    import tempfile

    had_results = folder.store.exists("results.csv")
    with tempfile.TemporaryDirectory(prefix="study-report-") as local:
        for name in folder.store.listdir():
            skip = name == "report" or (name == "tune" and had_results)  # tune/ only rebuilds results.csv
            if not skip:
                _copy_down(folder.store, name, Path(local))
        analysis_report(local)
        folder.store.upload(Path(local, "report"), "report")
        if not had_results:
            for name in ("results.csv", "curves.csv"):
                if Path(local, name).exists():
                    folder.store.write_bytes(Path(local, name).read_bytes(), name)
    return folder.store.uri("report", "report.md")


def _report_needs(parts: tuple[str, ...]) -> bool:
    """GAN checkpoints and pools are large and the analysis never reads them."""
    return not (len(parts) == 3 and parts[0] == "gans" and (parts[2].startswith("checkpoint") or parts[2] == "pool.pt"))


def _copy_down(store: Store, name: str, local: Path, *parents: str) -> None:
    """One entry of the study folder (file or folder, recursively) into `local`, minus what the
    report does not need."""
    parts = (*parents, name)
    if not _report_needs(parts):
        return
    if store.is_dir(*parts):
        for child in store.listdir(*parts):
            _copy_down(store, child, local, *parts)
    else:
        target = local.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.read_bytes(*parts))
