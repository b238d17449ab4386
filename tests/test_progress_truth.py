"""Progress that tells the truth: GAN epochs are reported as they end (progress.json,
between checkpoints), and the classifier ETA weighs each trial by its expected cost (images x epochs cap
x the classifier's FLOPs per image), so slow trials after fast ones do not stretch it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from study import progress
from study.trial_cost import classifier_flops, cost_model
from trainables.files import gan_progress
from trainables.files.storage import Store


def test_live_epochs_are_written_at_most_once_per_interval_and_always_the_last(tmp_path, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(gan_progress.time, "monotonic", lambda: now[0])
    store, live = Store(tmp_path), gan_progress.LiveEpochs(epochs=5, interval_s=2.0)
    live.note(store, 1, 300.0)
    assert gan_progress.read(store) == (1, 300.0)
    now[0] += 1.0
    live.note(store, 2, 310.0)                      # within the interval: not written
    assert gan_progress.read(store) == (1, 300.0)
    now[0] += 0.1
    live.note(store, 5, 320.0)                      # the last epoch: always written
    assert gan_progress.read(store) == (5, 320.0)
    (tmp_path / "progress.json").write_text('{"epoch": 3, "imag')
    assert gan_progress.read(store) == (0, 0.0)     # torn: no epoch, never an error


def test_the_gan_line_counts_epochs_between_checkpoints(tmp_path, monkeypatch):
    job = SimpleNamespace(key=lambda: "k1", epochs=100)
    (tmp_path / "k1").mkdir()
    line = progress.GanProgress(str(tmp_path), [job], {"k1"})
    monkeypatch.setattr(progress.time, "monotonic", lambda: line.started + 30)
    assert line.line().endswith("? left")           # nothing yet
    (tmp_path / "k1" / "progress.json").write_text(json.dumps({"epoch": 10, "epochs": 100, "images_per_second": 250}))
    text = line.line()                              # no losses.csv and no checkpoint yet
    assert "epoch 10/100, 250 img/s" in text and "? left" not in text and "~4m" in text


def _trial(point: dict):
    return SimpleNamespace(trial_id=str(id(point)), config={"point": point})


def test_the_trial_eta_weighs_trials_by_their_expected_cost(monkeypatch):
    cheap = {"size": 100, "ratio": 0.0, "real": True, "classifier": "mlp", "classifier_epochs": 10}
    dear = {"size": 100, "ratio": 7.0, "real": True, "classifier": "mlp", "classifier_epochs": 10}   # 8x the images
    points = [cheap, dict(cheap), dear]
    cost = cost_model({"mlp": 1.0}, train_size=1000)
    assert cost(dear) == 8 * cost(cheap)
    callback = progress.trial_progress_callback(3, "val_acc_max", cost, points)
    monkeypatch.setattr(progress.time, "monotonic", lambda: callback.started + 60)
    for point in points[:2]:
        callback.on_trial_complete(0, [], _trial(point))
    # 2 of 10 cost units took 60 s: 8 units are left, about 4 minutes (counting trials said 30 s).
    assert callback.line().endswith("~4m00s left")


def test_without_a_cost_model_the_eta_counts_trials(monkeypatch):
    callback = progress.trial_progress_callback(4, "val_acc_max")
    monkeypatch.setattr(progress.time, "monotonic", lambda: callback.started + 60)
    callback.on_trial_complete(0, [], _trial({}))
    assert callback.line().endswith("~3m00s left")


def test_classifier_flops_rank_a_convnet_above_the_mlp():
    flops = classifier_flops(["mlp", "alexnet"], (1, 28, 28), 10)
    assert flops["alexnet"] > 10 * flops["mlp"] > 0


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_the_hook_count_equals_torchs_flop_counter_on_every_registered_classifier(shape):
    """The driver counts FLOPs with forward hooks (no torch._dynamo import); torch's own counter agrees."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from trainables.classifier.models import CLASSIFIERS

    ours = classifier_flops(CLASSIFIERS, shape, 10)
    for name in CLASSIFIERS:
        torch.manual_seed(0)
        model = CLASSIFIERS[name](*shape, 10).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *shape))
        assert ours[name] == counter.get_total_flops(), name


@pytest.mark.parametrize("point, images", [({"size": 500, "ratio": 1.0, "real": True}, 1000),
                                           ({"size": 500, "ratio": 2.0, "real": False}, 1000),
                                           ({"size": "full", "ratio": 0.5, "real": True}, 1500)])
def test_trial_images_follow_the_mix(point, images):
    from study.trial_cost import trial_images

    assert trial_images(point, 1000) == images


@pytest.mark.parametrize("stats, imported", [("0", False), ("1", True)])
def test_with_usage_stats_off_tune_does_not_import_every_logger_integration_to_count_callbacks(stats, imported):
    """Tune's callback tag imports MLflow's integration (and mlflow) to count callbacks; with usage stats
    off the classifier stage skips that count, with them on Ray's own tag runs as before."""
    code = ("import sys\nfrom ray.tune import Callback\nfrom ray.tune import tune\n"
            "from study.stage_classifiers import skip_callback_telemetry_when_off\n"
            "skip_callback_telemetry_when_off()\ntune.air_usage.tag_callbacks([Callback()])\n"
            "print('ray.air.integrations.mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": stats})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(imported)
