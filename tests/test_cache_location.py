"""The GAN cache's location: `--gan-cache` is checked before the study folder
exists (a file, an unsupported scheme, an unwritable folder: exit 2, one line naming --gan-cache, nothing
written); a relative path is resolved against the caller's working directory (never Ray's); run.json
keeps a cache under the storage root relative to it, so a moved root resumes against the cache that
moved with it; `study resume --gan-cache` points a study at a cache moved on its own."""

from __future__ import annotations

import errno
import json
import os

import pytest

from study import cli
from study import spec as S
from study.folder import RUN_FILE, StudyFolder
from study.locations import cache_from_record, resolve_cache
from trainables.files.storage import StorageError, Store


def _refused(capsys, args: list[str]) -> str:
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


# ---------------------------------------------------------------- refusals first
def test_a_cache_that_is_a_file_is_refused_before_the_study_folder_exists(tmp_path, capsys):
    (tmp_path / "a-file").write_text("mine")
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"), "--gan-cache", str(tmp_path / "a-file")])
    assert err == (f"error: --gan-cache: {tmp_path / 'a-file'} is a file, not a folder; allowed: a writable folder "
                   "(new, or one holding GAN keys) or an s3:// / gs:// URI")
    assert not (tmp_path / "s").exists() and (tmp_path / "a-file").read_text() == "mine"


def test_an_unsupported_scheme_is_refused_before_the_study_folder_exists(tmp_path, capsys):
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"), "--gan-cache", "ftp://host/cache"])
    assert err.startswith("error: --gan-cache: ftp://host/cache: storage scheme 'ftp://' is not supported; allowed: ")
    assert not (tmp_path / "s").exists()


def test_a_cache_below_a_file_is_refused_naming_the_true_cause(tmp_path, capsys):
    (tmp_path / "a-file").write_text("mine")
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"),
                            "--gan-cache", str(tmp_path / "a-file" / "cache")])
    assert err.startswith(f"error: --gan-cache: cannot write to {tmp_path / 'a-file' / 'cache'} (Not a directory); "
                          "allowed: ")
    assert not (tmp_path / "s").exists()


def test_a_read_only_cache_is_refused_as_unwritable_not_as_a_full_disk(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    real = Store.check_writable

    def read_only(store):   # tests run as root, whom chmod does not stop: the kernel's answer, simulated
        if str(store.root) == str(cache):
            raise PermissionError(errno.EACCES, "Permission denied")
        real(store)

    monkeypatch.setattr(Store, "check_writable", read_only)
    err = _refused(capsys, ["run", "quick", "--storage", str(tmp_path / "s"), "--gan-cache", str(cache)])
    assert err.startswith(f"error: --gan-cache: cannot write to {cache} (Permission denied); allowed: ")
    assert "disk is full" not in err and not (tmp_path / "s").exists()


def test_a_recorded_cache_outside_the_root_that_is_gone_is_refused_with_the_way_out(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere-cache"
    folder = StudyFolder.for_spec(str(tmp_path / "s"), "quick")
    folder.prepare(S.load_spec("quick"), resume=False, gan_cache=str(elsewhere))
    written = {p: p.read_bytes() for p in (tmp_path / "s" / "quick").iterdir()}
    err = _refused(capsys, ["resume", str(tmp_path / "s" / "quick")])
    assert err == (f"error: --gan-cache: {elsewhere}, the GAN cache this study ran with, is gone; allowed: "
                   "`--gan-cache WHERE-IT-IS-NOW` to resume against a moved cache, or "
                   f"`--gan-cache {elsewhere}` to train its GANs again there")
    assert not elsewhere.exists()                                # not recreated empty
    assert {p: p.read_bytes() for p in (tmp_path / "s" / "quick").iterdir()} == written


def test_plan_lists_a_bad_cache_as_a_problem(tmp_path, capsys):
    (tmp_path / "a-file").write_text("mine")
    assert cli.main(["plan", "quick", "--storage", str(tmp_path / "s"), "--gan-cache", str(tmp_path / "a-file")]) == 2
    assert "error: --gan-cache: " in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- resolution and the record
def test_a_relative_cache_resolves_against_the_callers_working_directory_and_is_left_unmade(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_cache("rel/cache", str(tmp_path / "s")) == str(tmp_path / "rel" / "cache")
    assert resolve_cache(None, str(tmp_path / "s")) == str(tmp_path / "s" / "gan-cache")
    assert not list(tmp_path.iterdir())                          # proved writable, then removed again


def test_run_json_keeps_a_cache_under_the_root_relative_and_one_outside_absolute(tmp_path):
    inside = StudyFolder.for_spec(str(tmp_path / "s"), "quick")
    inside.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "s" / "gan-cache"))
    assert json.loads((tmp_path / "s" / "quick" / RUN_FILE).read_text())["gan_cache"] == "gan-cache"
    assert inside.recorded_cache() == str(tmp_path / "s" / "gan-cache")
    outside = StudyFolder.for_spec(str(tmp_path / "t"), "quick")
    outside.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "shared"))
    assert json.loads((tmp_path / "t" / "quick" / RUN_FILE).read_text())["gan_cache"] == str(tmp_path / "shared")


def test_a_moved_storage_root_resumes_against_the_cache_that_moved_with_it(tmp_path):
    folder = StudyFolder.for_spec(str(tmp_path / "old"), "quick")
    folder.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "old" / "gan-cache"))
    (tmp_path / "old" / "gan-cache" / "k").mkdir(parents=True)
    os.rename(tmp_path / "old", tmp_path / "new")
    moved = StudyFolder.for_spec(str(tmp_path / "new"), "quick")
    assert moved.recorded_cache() == str(tmp_path / "new" / "gan-cache")
    assert resolve_cache(None, str(tmp_path / "new"), moved.recorded_cache()) == str(tmp_path / "new" / "gan-cache")
    assert not (tmp_path / "old").exists()                        # nothing recreated at the old place


def test_an_absolute_record_from_before_relative_records_follows_a_moved_root(tmp_path, capsys):
    (tmp_path / "new" / "gan-cache").mkdir(parents=True)
    found = cache_from_record(str(tmp_path / "old" / "gan-cache"), str(tmp_path / "new"))
    assert found == str(tmp_path / "new" / "gan-cache")
    assert "the storage root moved" in capsys.readouterr().out
    assert not (tmp_path / "old").exists()


def test_resume_gan_cache_points_a_study_at_a_moved_cache(tmp_path):
    folder = StudyFolder.for_spec(str(tmp_path / "s"), "quick")
    folder.prepare(S.load_spec("quick"), resume=False, gan_cache=str(tmp_path / "was"))
    (tmp_path / "now").mkdir()
    assert resolve_cache(str(tmp_path / "now"), str(tmp_path / "s"), folder.recorded_cache()) == str(tmp_path / "now")
    args = cli._parser().parse_args(["resume", str(tmp_path / "s" / "quick"), "--gan-cache", "now"])
    assert args.gan_cache == "now"
    with pytest.raises(StorageError):        # without it, the gone cache is refused (above), never recreated
        resolve_cache(None, str(tmp_path / "s"), folder.recorded_cache())


@pytest.mark.slow
def test_a_moved_storage_root_resumes_end_to_end_without_retraining_or_writing_outside(ray_local, study_caches, tmp_path):
    """A moved storage root end to end: run, `mv` the storage root, lose an R = 1 trial's record, resume: the
    trial runs again from the GAN cache that moved with the root; no GAN retrains; the old root is not
    recreated."""
    from tests.test_runner import TINY, _results

    study_caches.seed_gans(tmp_path / "old", TINY)   # the root's GAN cache, which moves with it
    assert cli.main(["run", "quick", *TINY, "--storage", str(tmp_path / "old"), "--no-report"]) == 0
    os.rename(tmp_path / "old", tmp_path / "new")
    root = tmp_path / "new" / "quick"
    metas = {p: p.stat().st_mtime_ns for p in (tmp_path / "new" / "gan-cache").glob("*/meta.json")}
    assert metas
    first = _results(root)
    gan_trial = first[first["ratio"] > 0]["trial"].iloc[0]
    (root / "trials" / f"{gan_trial}.json").unlink()
    (root / "results.csv").unlink()
    assert cli.main(["resume", str(root), "--no-report"]) == 0
    second = _results(root)
    assert (second["status"] == "ok").all() and len(second) == len(first)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "new" / "gan-cache").glob("*/meta.json")} == metas
    assert not (tmp_path / "old").exists()
    assert json.loads((root / RUN_FILE).read_text())["gan_cache"] == "gan-cache"
