"""A pool that must grow from a GAN's final checkpoint: an unreadable or missing
final checkpoint is found before the GAN stage hands the growth to Ray, set aside with the key's
outputs, and the key retrains; a growth that fails anyway leaves the key in error with that cause, and
its trials say so, never "synthetic pool is too small" while the study exits 0."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

KEY = "aaaaaaaaaaaa"


def _fake_gan(cache: Path, per_class: int = 4, epoch: int = 3) -> Path:
    """A complete key (meta.json ok, pool.pt matching it) whose pool was drawn from checkpoint `epoch`."""
    import torch

    gan_dir = cache / KEY
    gan_dir.mkdir(parents=True)
    payload = bytes(range(256)) * 40
    (gan_dir / "pool.pt").write_bytes(payload)
    (gan_dir / "meta.json").write_text(json.dumps({"key": KEY, "status": "ok", "reason": "", "pool": {
        "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "per_class": per_class,
        "checkpoint_epoch": epoch}}))
    for e in (epoch - 1, epoch):
        (gan_dir / f"checkpoint_epoch{e:04d}").mkdir()
        torch.save({"epoch": e, "generator": {"w": torch.ones(3)}}, gan_dir / f"checkpoint_epoch{e:04d}" / "state.pt")
    return gan_dir


def _job(per_class: int = 9):
    return SimpleNamespace(name="job", pool_per_class=per_class, filters=())


@pytest.mark.parametrize("damage, problem", [
    (lambda d: (d / "checkpoint_epoch0003" / "state.pt").write_bytes(b"PK\x03\x04 cut short"), "is unreadable"),
    (lambda d: (d / "checkpoint_epoch0003" / "state.pt").write_bytes(b""), "is unreadable"),
    (lambda d: (d / "checkpoint_epoch0003" / "state.pt").unlink(), "is missing"),
], ids=["truncated", "empty", "missing"])
def test_an_unusable_final_checkpoint_is_set_aside_and_the_key_retrains(tmp_path, capsys, damage, problem):
    from study.stage_gans import gans_to_train

    gan_dir = _fake_gan(tmp_path)
    damage(gan_dir)
    train, extend = gans_to_train(str(tmp_path), {KEY: _job()})
    assert [job.name for job in train] == ["job"] and extend == []
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"[study] GAN {KEY}: cannot grow its pool: its final checkpoint "
                           "checkpoint_epoch0003/state.pt ") and problem in line and line.endswith("retraining it")
    assert "set aside as meta.json.damaged, pool.pt.damaged, checkpoint_epoch0002.damaged" in line
    # Nothing is left for the retraining to restore from or to read as complete; everything is kept.
    assert not (gan_dir / "meta.json").exists() and not list(gan_dir.glob("checkpoint_epoch????"))
    assert (gan_dir / "checkpoint_epoch0003.damaged").is_dir()


def test_a_readable_final_checkpoint_lets_the_pool_grow_without_retraining(tmp_path, capsys):
    from study.stage_gans import gans_to_train

    _fake_gan(tmp_path)
    train, extend = gans_to_train(str(tmp_path), {KEY: _job()})
    assert train == [] and [job.name for job in extend] == ["job"]
    assert capsys.readouterr().out == ""


def test_a_pool_that_did_not_grow_is_an_error_with_that_cause_not_ok(tmp_path):
    from study.stage_gans import stage_metas

    _fake_gan(tmp_path, per_class=4)
    meta = stage_metas(str(tmp_path), {KEY: _job(per_class=9)})[KEY]
    assert meta["status"] == "error"
    assert meta["reason"].startswith("its pool could not grow from 4 to 9 images per class (see tune/gans")
    assert stage_metas(str(tmp_path), {KEY: _job(per_class=4)})[KEY]["status"] == "ok"     # big enough: ok
    assert json.loads((tmp_path / KEY / "meta.json").read_text())["status"] == "ok"       # the cache is untouched


def test_a_trial_of_a_failed_gan_reports_the_gans_cause(monkeypatch):
    """The classifier stage's trial wrapper ends such a trial with the GAN's reason (no record: a resume
    runs it once the GAN is there) instead of meeting the smaller pool."""
    import ray.tune

    from study import plan, stage_classifiers
    from study import spec as S

    spec = S.load_spec("quick")
    point = next(p for p in plan.trial_points(spec) if plan.uses_gan(p))
    key = plan.gan_job(spec, point, 100).key()
    reported = []
    monkeypatch.setattr(ray.tune, "report", reported.append)
    monkeypatch.setattr(stage_classifiers, "_has_record", lambda root: False)
    import trainables.runners.classifier_trial as trial_module

    monkeypatch.setattr(trial_module, "run_trial", lambda *a: pytest.fail("the trial ran on a failed GAN's pool"))
    context = {"spec": spec, "validation": 100, "study_root": "/nowhere", "gan_failures": {key: "its pool could "
                                                                                                  "not grow"}}
    stage_classifiers._classifier_trial({"point": point}, real_ref=None, context=context)
    assert reported == [{"status": "error", "gan_key": key, "reason": f"GAN {key} error: its pool could not grow"}]


@pytest.mark.slow
def test_an_unreadable_final_checkpoint_before_a_pool_grows_retrains_the_key_end_to_end(ray_local, study_caches, tmp_path,
                                                                                       capsys):
    """The reported case: a finished study, its GAN's final checkpoint made unreadable, then extended to a
    larger R (the pool must grow): the key retrains, every trial is ok, exit 0, and the damaged
    checkpoint is kept aside."""
    from study import cli
    from tests.test_runner import TINY, _results

    study_caches.seed_study(tmp_path, TINY)   # a finished tiny study and its GAN (a copy: its checkpoint is cut below)
    (key_dir,) = [p for p in (tmp_path / "gan-cache").iterdir() if (p / "pool.pt").exists()]
    final = max(key_dir.glob("checkpoint_epoch*/state.pt"))
    final.write_bytes(final.read_bytes()[:100])
    capsys.readouterr()
    assert cli.main(["resume", str(tmp_path / "quick"), "--set", "mix.ratios=[0, 1, 4]", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert f"GAN {key_dir.name}: cannot grow its pool: its final checkpoint {final.parent.name}/state.pt is unreadable" in out
    results = _results(tmp_path / "quick")
    assert (results["status"] == "ok").all() and set(results["ratio"]) == {0.0, 1.0, 4.0}
    assert (key_dir / f"{final.parent.name}.damaged" / "state.pt").stat().st_size == 100     # kept for a look
    assert json.loads((key_dir / "meta.json").read_text())["pool"]["per_class"] >= 40   # grown: R = 4 of n = 100
