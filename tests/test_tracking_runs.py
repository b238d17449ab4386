"""The whole study in the tracker (study.gan_tracking): one parent run per study, each GAN key a run
under it with its losses per epoch and its files as artifacts, classifier runs nested beside them;
W&B in its offline mode; `-v` after the subcommand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _folder(tmp_path: Path, key: str = "abc123"):
    from study.folder import StudyFolder
    from trainables.files.storage import Store

    store = Store(str(tmp_path / "study"))
    meta = {"key": key, "arch": "abadi", "alpha": 1.0, "size": 100, "status": "ok", "seconds": 12.5}
    store.write_text(json.dumps(meta), "gans", key, "meta.json")
    store.write_text("epoch,d_loss,g_loss,seconds,images_per_second\n1,1.2,0.7,1.0,100\n2,1.1,0.8,1.0,110\n",
                     "gans", key, "losses.csv")
    store.write_bytes(b"\x89PNG fake", "gans", key, "samples_epoch002.png")
    return StudyFolder(store), meta


def _spec(**tracking):
    return SimpleNamespace(name="tracked-study", tracking=SimpleNamespace(mlflow=tracking.get("mlflow", ""),
                                                                          wandb=tracking.get("wandb", "")))


def test_each_gan_key_is_a_run_under_the_study_parent_in_mlflow(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from study import gan_tracking

    monkeypatch.chdir(tmp_path)   # MLflow's default artifact root (./mlruns) lands here
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    folder, meta = _folder(tmp_path)
    spec = _spec(mlflow=uri)
    gan_tracking.log_gans(spec, folder, {"abc123": meta})
    gan_tracking.log_gans(spec, folder, {"abc123": meta})   # a resume: logged once
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tracked-study")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("study.role") == "study"]
    gans = [r for r in runs if r.data.tags.get("study.role") == "gan"]
    assert len(parents) == 1 and len(gans) == 1
    gan = gans[0]
    assert gan.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    assert gan.data.tags["study.gan_key"] == "abc123" and gan.info.run_name == "gan-abc123"
    assert [m.value for m in client.get_metric_history(gan.info.run_id, "d_loss")] == [1.2, 1.1]
    assert [m.step for m in client.get_metric_history(gan.info.run_id, "g_loss")] == [1, 2]
    assert gan.data.params["arch"] == "abadi" and gan.info.status == "FINISHED"
    files = {a.path for a in client.list_artifacts(gan.info.run_id)}
    assert {"meta.json", "losses.csv", "samples"} <= files
    assert [a.path for a in client.list_artifacts(gan.info.run_id, "samples")] == ["samples/samples_epoch002.png"]
    # The classifier trials' callback nests its runs under the same parent.
    assert gan_tracking.mlflow_parent_run(spec) == parents[0].info.run_id


def test_each_gan_key_is_a_run_in_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from study import gan_tracking

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    folder, meta = _folder(tmp_path)
    gan_tracking.log_gans(_spec(wandb="study-tests"), folder, {"abc123": meta})
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb").iterdir())
    assert list(runs[0].glob("*.wandb")), "the run's records were written"


def test_a_tracker_failure_is_one_line_and_the_study_goes_on(tmp_path, capsys):
    pytest.importorskip("mlflow")
    from study import gan_tracking

    folder, meta = _folder(tmp_path)
    gan_tracking.log_gans(_spec(mlflow="bogus-scheme://nowhere"), folder, {"abc123": meta})
    out = capsys.readouterr().out
    assert "[study] tracking.mlflow: the GAN runs could not be logged" in out and "the study goes on" in out


def test_verbose_flag_is_accepted_after_the_subcommand():
    for argv in (["run", "-v", "--help"], ["-v", "presets"], ["presets", "-v"], ["plan", "--verbose", "--help"]):
        done = subprocess.run([sys.executable, "-m", "study.cli", *argv], capture_output=True, text=True,
                              cwd=ROOT, timeout=120, env=dict(os.environ))
        assert done.returncode == 0, (argv, done.stderr)
    from study.cli import _parser

    assert _parser().parse_args(["presets", "-v"]).verbose is True
    assert _parser().parse_args(["presets"]).verbose is False


def test_the_classifier_runs_are_nested_under_the_same_parent(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from study import gan_tracking, tracking
    from study.spec import load_spec

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = load_spec("quick", [f"tracking.mlflow='{uri}'"])
    (callback,) = tracking.callbacks(spec)
    assert callback.tags["mlflow.parentRunId"] == gan_tracking.mlflow_parent_run(spec)
    assert callback.tags["study.role"] == "classifier" and callback.experiment_name == "quick"
