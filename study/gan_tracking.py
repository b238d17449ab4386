"""The whole study in the experiment tracker: one parent run per study, each GAN key a run under it
(its d_loss and g_loss per epoch, its sample grids, losses.csv and meta.json as artifacts), beside the
classifier trials' runs, which Tune's logger callbacks nest under the same parent (study.tracking).

MLflow: the experiment is the study's name; the parent run is tagged `study.role = study` and found
again by that tag, so a `study resume` (or a second driver process) adds to the same parent instead of
making another; a GAN run is tagged `study.gan_key` and logged once per key (a resume skips keys
already there). Weights & Biases: runs are grouped by the study's name (`group`, W&B's parent), a GAN
run has job_type "gan"; W&B's own modes apply (WANDB_MODE=offline writes under WANDB_DIR).

The files come from the study folder's `gans/<key>/` (the small files the GAN stage copied there), so
this runs on the driver and works for local and object storage alike.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile

from trainables.files.storage import Store

ROLE_TAG = "study.role"
KEY_TAG = "study.gan_key"
LOSS_COLUMNS = ("d_loss", "g_loss", "images_per_second", "seconds")


def mlflow_parent_run(spec) -> str:
    """The id of the study's parent run in MLflow (made on first use)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=spec.tracking.mlflow)
    experiment = client.get_experiment_by_name(spec.name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(spec.name)
    found = client.search_runs([experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'study'", max_results=1,
                               order_by=["attributes.start_time ASC"])
    if found:
        return found[0].info.run_id
    return client.create_run(experiment_id, run_name=spec.name, tags={ROLE_TAG: "study"}).info.run_id


def _files(view: Store) -> dict[str, bytes]:
    return {name: view.read_bytes(name) for name in view.listdir() if not view.is_dir(name)}


def _losses(files: dict[str, bytes]) -> list[dict]:
    if "losses.csv" not in files:
        return []
    return list(csv.DictReader(io.StringIO(files["losses.csv"].decode("utf-8"))))


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _params(meta: dict) -> dict[str, str]:
    return {k: str(v)[:250] for k, v in meta.items() if isinstance(v, str | int | float | bool) and v is not None}


def log_gans(spec, folder, metas: dict) -> None:
    """Every GAN key of this stage with a view in the study folder, as a run of each tracker asked for.
    A tracker that fails says so in one line and the study goes on (tracking never stops a study)."""
    keys = [key for key, meta in metas.items() if folder.store.exists("gans", key, "meta.json")]
    if not keys:
        return
    for name, logger in (("mlflow", _log_mlflow), ("wandb", _log_wandb)):
        if not getattr(spec.tracking, name):
            continue
        try:
            logger(spec, folder, keys)
        except Exception as err:   # a tracker down mid-study: the study's own files still hold everything
            print(f"[study] tracking.{name}: the GAN runs could not be logged ({type(err).__name__}: "
                  f"{(str(err).splitlines() or [''])[0][:200]}); the study goes on", flush=True)


def _log_mlflow(spec, folder, keys: list[str]) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=spec.tracking.mlflow)
    parent = mlflow_parent_run(spec)
    experiment_id = client.get_run(parent).info.experiment_id
    for key in keys:
        if client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'", max_results=1):
            continue   # logged by an earlier run of this study
        files = _files(folder.store.sub("gans", key))
        meta = json.loads(files["meta.json"])
        run = client.create_run(experiment_id, run_name=f"gan-{key}",
                                tags={"mlflow.parentRunId": parent, ROLE_TAG: "gan", KEY_TAG: key})
        run_id = run.info.run_id
        metrics = []
        for row in _losses(files):
            step = int(float(row.get("epoch", len(metrics)) or 0))
            for column in LOSS_COLUMNS:
                value = _number(row.get(column))
                if value is not None:
                    metrics.append(Metric(column, value, 0, step))
        for start in range(0, len(metrics), 900):   # MLflow's batch limit is 1000 metrics
            client.log_batch(run_id, metrics=metrics[start:start + 900])
        client.log_batch(run_id, params=[Param(k, v) for k, v in _params(meta).items()][:100])
        with tempfile.TemporaryDirectory() as tmp:
            for name, payload in files.items():
                path = os.path.join(tmp, name)
                with open(path, "wb") as handle:
                    handle.write(payload)
                client.log_artifact(run_id, path, artifact_path="samples" if name.endswith(".png") else None)
        client.set_terminated(run_id, "FINISHED" if meta.get("status") == "ok" else "FAILED")


def _log_wandb(spec, folder, keys: list[str]) -> None:
    import wandb

    for key in keys:
        files = _files(folder.store.sub("gans", key))
        meta = json.loads(files["meta.json"])
        run = wandb.init(project=spec.tracking.wandb, group=spec.name, job_type="gan", name=f"gan-{key}",
                         id=f"{spec.name}-gan-{key}"[:120], resume="allow", config=_params(meta), reinit=True)
        with contextlib.ExitStack() as stack:
            stack.callback(run.finish)
            for row in _losses(files):
                values = {c: _number(row.get(c)) for c in LOSS_COLUMNS}
                run.log({c: v for c, v in values.items() if v is not None}, step=int(float(row.get("epoch") or 0)))
            with tempfile.TemporaryDirectory() as tmp:
                artifact = wandb.Artifact(f"gan-{key}", type="gan")
                for name, payload in files.items():
                    path = os.path.join(tmp, name)
                    with open(path, "wb") as handle:
                        handle.write(payload)
                    artifact.add_file(path, name=name)
                grids = [wandb.Image(os.path.join(tmp, n), caption=n) for n in sorted(files) if n.endswith(".png")]
                if grids:
                    run.log({"samples": grids})
                run.log_artifact(artifact)
