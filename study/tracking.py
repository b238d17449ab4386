"""Experiment tracking: the classifier trials report to MLflow or Weights & Biases through Ray Tune's
own logger callbacks, named after the study and (MLflow) nested under the study's parent run, beside
one run per GAN key (study.gan_tracking). Both are optional extras; a study that asks for a tracker
whose package is missing is refused before anything starts, naming the extra to install. Tune writes
TensorBoard event files under `<study>/tune`; the `tensorboard` extra installs the viewer
(`tensorboard --logdir <study>/tune`)."""

from __future__ import annotations

import importlib.util

from study.checks import SpecError
from study.schema import Spec

# key -> (the module that must import, the extra that installs it)
TRACKERS = {"mlflow": ("mlflow", "mlflow"), "wandb": ("wandb", "wandb")}


def enabled(spec: Spec) -> list[str]:
    return [key for key in TRACKERS if getattr(spec.tracking, key)]


def check_installed(spec: Spec) -> None:
    """SpecError naming the extra when a requested tracker's package is not installed, or naming the
    problem when the MLflow tracking URI cannot be used (MLflow 3 refuses a file store, for one): the
    callback would otherwise fail inside Tune after the study had started."""
    for key in enabled(spec):
        module, extra = TRACKERS[key]
        if importlib.util.find_spec(module) is None:
            raise SpecError(f"tracking.{key}", f"needs the {module} package, which is not installed",
                            f"pip install 'gan-augment-study[{extra}]', or tracking.{key} = \"\"")
    if spec.tracking.mlflow:
        from study.reach import check_tracking_uri

        if check_tracking_uri(spec.tracking.mlflow):   # sqlite, http(s): probed with a timeout, nothing created
            return
        from mlflow.tracking import MlflowClient

        try:
            MlflowClient(tracking_uri=spec.tracking.mlflow).search_experiments(max_results=1)
        except Exception as err:   # MlflowException, a connection error, a bad scheme, ...
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise SpecError("tracking.mlflow", f"{spec.tracking.mlflow} cannot be used ({first[:200]})",
                            "an MLflow tracking URI that answers: sqlite:///mlflow.db, http://host:5000") from None


def callbacks(spec: Spec) -> list:
    """Ray Tune logger callbacks for the trackers the study asks for (one run per trial, every epoch)."""
    check_installed(spec)
    made = []
    if spec.tracking.mlflow:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        from study.gan_tracking import ROLE_TAG, mlflow_parent_run

        # Every trial's run nested under the study's parent run, beside the GAN runs (study.gan_tracking).
        made.append(MLflowLoggerCallback(tracking_uri=spec.tracking.mlflow, experiment_name=spec.name,
                                         tags={"mlflow.parentRunId": mlflow_parent_run(spec), ROLE_TAG: "classifier"},
                                         save_artifact=False))
    if spec.tracking.wandb:
        from ray.air.integrations.wandb import WandbLoggerCallback

        made.append(WandbLoggerCallback(project=spec.tracking.wandb, group=spec.name))
    return made


def endpoint_checks(spec, address: str | None) -> list:
    """Every endpoint check as a callable that raises SpecError: `study run` makes them first, in order,
    before the data is loaded; `study plan` makes all and lists every problem. Only an --address the
    user typed is probed: inside `ray job submit` RAY_ADDRESS is the job's own cluster."""
    from study.reach import check_address, check_search_storage

    return [lambda: check_address(address), lambda: check_search_storage(spec.search.storage),
            lambda: check_installed(spec)]
