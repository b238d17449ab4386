"""Reliability: faults are survived, bad input is refused clearly, nothing is lost.

The study-level cases run the real `study` command as a subprocess in its own session, so each has
its own embedded Ray that lives and dies with it; a test can SIGKILL the whole process group the
way a crashed laptop or a killed job would, and then check that no Ray process outlived it (the
killed driver, with the other stops, is in test_interrupts.py).

Fault hooks (environment variables the driver forwards to every Ray worker):
STUDY_FAIL_ONCE_MARKER (a GAN worker crashes once after a checkpoint), STUDY_INJECT_NAN_EPOCH (the
GAN loss turns NaN), STUDY_INJECT_TRIAL_ERROR (classifier trials whose name contains it raise).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from study import spec as S
from study.cluster import DASHBOARD_SWITCH
from study.folder import StudyFolder
from study.results import write_results
from trainables.files import gan_cache
from trainables.files import storage as storage_module
from trainables.files.storage import Store
from trainables.quality.scoring import SCORING_FOLDER
from trainables.runners import gan_keys

REPO = Path(__file__).resolve().parents[1]
# A study small enough to run end to end in about a minute on 2 cores (most of it Ray start-up). Its
# trials run one at a time: one trial actor serves them all (reuse_actors) where two would each pay ~4 s
# of process start and imports; measured on a six-trial study with a cached GAN, 25.1 -> 21 CPU-seconds,
# and the faults below are about stopping and resuming, not about trials side by side.
TINY = ["--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.epochs=3", "--set", "gan.checkpoint_every=1",
        "--set", "classifier.epochs=2", "--set", "search.max_concurrent=1"]
STUDY_TIMEOUT = 540  # seconds for one tiny study on a busy 2-core machine: a bound, not a speed claim
POLL = 0.2
RAY_SESSION = re.compile(r"session_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+_\d+")


# --------------------------------------------------------------------------------------------------
# Running `study` as its own process group
# --------------------------------------------------------------------------------------------------
def cli_env(**study_vars: str) -> dict:
    """This environment without any STUDY_* switch or cluster address, plus the given switches. The
    suite's dashboard switch stays (conftest.py: no embedded Ray of the suite starts the dashboard)."""
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("STUDY_") or k == DASHBOARD_SWITCH) and k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", RAY_USAGE_STATS_ENABLED="0",
               TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1")
    return env | study_vars


def _proc_stat(pid: str) -> tuple[str, int] | None:
    """(state, session id) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[3])


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def leftover_processes(session_id: int, ray_sessions: set[str]) -> list[int]:
    """Live (non-zombie) processes of our process session, or of the Ray session our study started
    (Ray's raylet and GCS name their session folder on the command line), whichever they escaped to."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        if stat[1] == session_id or any(s in _cmdline(pid) for s in ray_sessions):
            found.append(int(pid))
    return found


class StudyProcess:
    """`python -m study.cli ARGS` in a new session; stdout and stderr go to files under `logs`."""

    def __init__(self, args: list[str], logs: Path, name: str, env: dict | None = None):
        logs.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = logs / f"{name}.out", logs / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "study.cli", *args], cwd=REPO,
                                         env=env or cli_env(), stdout=out, stderr=err, start_new_session=True)
        self.strays: list[int] = []

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def ray_sessions(self) -> set[str]:
        return set(RAY_SESSION.findall(self.out + self.err))

    def wait(self, timeout: float = STUDY_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"`study` ran past {timeout}s; its output:\n{self.out[-3000:]}\n{self.err[-3000:]}")

    def kill(self, settle: float = 30) -> list[int]:
        """SIGKILL the process group; wait (bounded) for every process of the session to go; kill any
        that stays, by its id, and return those ids (they would have outlived the driver)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        return self._reap(settle)

    def _reap(self, settle: float) -> list[int]:
        sessions = self.ray_sessions()
        deadline = time.monotonic() + settle
        left = leftover_processes(self.proc.pid, sessions)
        while left and time.monotonic() < deadline:
            time.sleep(POLL)
            left = leftover_processes(self.proc.pid, sessions)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.strays += left
        return left

    def __enter__(self) -> StudyProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.kill()
        else:
            self._reap(settle=15)


def run_cli(args: list[str], logs: Path, name: str, env: dict | None = None,
            timeout: float = STUDY_TIMEOUT) -> StudyProcess:
    """Run `study ARGS` to the end; the finished StudyProcess (returncode, out, err)."""
    with StudyProcess(args, logs, name, env) as process:
        process.wait(timeout)
    assert not process.strays, f"processes outlived `study {' '.join(args)}`: {process.strays}"
    return process


def wait_for(condition, process: StudyProcess, what: str, timeout: float = STUDY_TIMEOUT) -> None:
    """Poll until condition() holds; fail (with the study's output) if the study exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.proc.poll() is not None:
            pytest.fail(f"`study` exited ({process.proc.returncode}) before {what}:\n{process.out[-3000:]}\n"
                        f"{process.err[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout}s")
        time.sleep(POLL)


def snapshot(paths) -> dict[str, tuple[bytes, int]]:
    """path -> (bytes, mtime_ns): equal before and after means the file was not rewritten."""
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def losses_epochs(gan_dir: Path) -> list[int]:
    return pd.read_csv(gan_dir / "losses.csv")["epoch"].tolist()


def the_gan_dir(study: Path) -> Path:
    """The study's one GAN, in the storage root's shared cache (the study holds a view of it)."""
    (gan_dir,) = [p for p in (study.parent / "gan-cache").iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != SCORING_FOLDER]  # the scoring network
    return gan_dir


def assert_one_error_line(process: StudyProcess, *needles: str) -> str:
    """Exit code 2, and stderr is exactly one `error: ...` line (no traceback) containing the needles."""
    err = process.err.strip()
    assert process.proc.returncode == 2, f"exit {process.proc.returncode}; stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------------------
# 7. Atomic writes (fast, no Ray)
# --------------------------------------------------------------------------------------------------
def _temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_an_unknown_storage_scheme_is_refused_instead_of_becoming_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(storage_module.StorageError, match="'ftp://' is not supported; allowed: a local path or s3://"):
        Store("ftp://host/studies")
    assert list(tmp_path.iterdir()) == []
    assert Store("studies/a").is_local and Store("file:///tmp/x").uri().startswith("file://")


def test_written_files_get_normal_permissions_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        Store(tmp_path).write_bytes(b"payload", "results.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "results.csv").stat().st_mode & 0o777 == 0o644


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.write_text("old,content\n", "results.csv")

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(storage_module.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        store.write_text("new,content\n" * 1000, "results.csv")
    assert (tmp_path / "results.csv").read_text() == "old,content\n"
    assert _temp_files(tmp_path) == []


def test_a_write_that_fails_half_way_keeps_the_old_file(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.write_bytes(b"A" * 100, "pool.pt")
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half of what it is given, then fails like a full disk."""

        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(storage_module.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(storage_module.DiskFull, match=r"pool.pt: the disk is full \(\d+ MiB free, 0.0 MiB to write\); "
                                                      r"finished work is kept; allowed: free some space, then `study "
                                                      r"resume") as raised:
        store.write_bytes(b"B" * 10_000, "pool.pt")
    assert isinstance(raised.value, OSError) and raised.value.__cause__.errno == 28   # still an OSError to callers
    assert (tmp_path / "pool.pt").read_bytes() == b"A" * 100
    assert _temp_files(tmp_path) == []


_WRITER = """
import sys
from trainables.files.storage import Store
store, size = Store(sys.argv[1]), int(sys.argv[2])
for i in range(10**6):
    store.write_bytes(bytes([65 + i % 2]) * size, "big.bin")
"""


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7])
def test_a_kill_during_a_large_write_never_leaves_a_partial_file(tmp_path, delay):
    size = 8 << 20
    target = tmp_path / "big.bin"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(size)], cwd=REPO,
                            env=cli_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + STUDY_TIMEOUT  # a bound for a loaded machine's imports, not a speed claim
        while not target.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert target.exists(), f"the writer wrote nothing (exit {proc.poll()})"
        time.sleep(delay)  # somewhere inside a later write
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    payload = target.read_bytes()
    assert len(payload) == size and payload in (b"A" * size, b"B" * size)


def test_results_files_are_replaced_atomically_and_leave_no_temp_files(tmp_path, monkeypatch):
    folder = StudyFolder(Store(tmp_path))
    first = pd.DataFrame({"trial": ["a", "b"], "test_acc": [0.5, 0.6]})
    write_results(folder, first, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "results.csv"]
    before = tree_bytes(tmp_path)

    def crash(src, dst):
        raise OSError("killed while writing")

    monkeypatch.setattr(storage_module.os, "replace", crash)
    with pytest.raises(OSError):
        write_results(folder, pd.concat([first] * 100), pd.concat([first] * 100))
    assert tree_bytes(tmp_path) == before
    assert _temp_files(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# 6. Corrupt artifacts (fast, no Ray): detected by the size and sha256 in meta.json, and said
# --------------------------------------------------------------------------------------------------
KEY = "0123456789ab"


def _fake_gan(cache: Path, key: str = KEY, status: str = "ok") -> Path:
    gan_dir = cache / key
    gan_dir.mkdir(parents=True)
    payload = bytes(range(256)) * 40
    (gan_dir / "pool.pt").write_bytes(payload)
    meta = {"key": key, "status": status, "reason": "worker died" if status == "error" else "",
            "pool": {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "per_class": 4,
                     "checkpoint_epoch": 3}}
    (gan_dir / "meta.json").write_text(json.dumps(meta))
    return gan_dir


def test_an_intact_gan_is_complete(tmp_path):
    _fake_gan(tmp_path)
    assert gan_cache.completion_problem(str(tmp_path), KEY) is None
    assert gan_cache.is_complete(str(tmp_path), KEY)


@pytest.mark.parametrize("damage, problem", [
    (lambda d: (d / "pool.pt").write_bytes((d / "pool.pt").read_bytes()[:1000]), "pool.pt is 1000 bytes"),
    (lambda d: (d / "pool.pt").write_bytes(b"\0" * (d / "pool.pt").stat().st_size), "sha256"),
    (lambda d: (d / "pool.pt").unlink(), "pool.pt is missing"),
    (lambda d: (d / "meta.json").write_text('{"status": "ok", "po'), "meta.json is unreadable"),
])
def test_a_damaged_gan_is_incomplete_with_a_reason(tmp_path, damage, problem):
    damage(_fake_gan(tmp_path))
    assert not gan_cache.is_complete(str(tmp_path), KEY)
    assert problem in gan_cache.completion_problem(str(tmp_path), KEY)


def test_the_driver_says_which_gan_it_retrains_and_why(tmp_path, capsys):
    gan_dir = _fake_gan(tmp_path)
    (gan_dir / "pool.pt").write_bytes(b"truncated")
    _fake_gan(tmp_path, "bbbbbbbbbbbb")  # intact: reused, nothing said
    _fake_gan(tmp_path, "cccccccccccc", status="error")
    from study.stage_gans import gans_to_train

    jobs = {key: SimpleNamespace(name=f"job-{key[0]}", pool_per_class=4, filters=())
            for key in (KEY, "bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd")}
    jobs["eeeeeeeeeeee"] = SimpleNamespace(name="job-e", pool_per_class=9, filters=())   # intact, pool too small
    _fake_gan(tmp_path, "eeeeeeeeeeee")
    _fake_checkpoints(tmp_path / "eeeeeeeeeeee", epochs=(3,))   # its pool grows from its final checkpoint
    train, extend = gans_to_train(str(tmp_path), jobs)
    assert [job.name for job in train] == ["job-0", "job-c", "job-d"] and [job.name for job in extend] == ["job-e"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # a never-trained key is simply trained, without a warning
    assert KEY in lines[0] and "pool.pt is 9 bytes" in lines[0] and "retraining" in lines[0]
    # The damaged files are kept for a look under names nothing reads; a failed run's meta is not damage.
    assert "set aside as meta.json.damaged, pool.pt.damaged" in lines[0]
    assert (gan_dir / "pool.pt.damaged").read_bytes() == b"truncated" and not (gan_dir / "pool.pt").exists()
    assert "cccccccccccc" in lines[1] and "'error'" in lines[1] and "worker died" in lines[1]
    assert "set aside" not in lines[1] and (tmp_path / "cccccccccccc" / "meta.json").exists()


def _fake_checkpoints(gan_dir: Path, epochs=(2, 3)) -> None:
    import torch

    gan_dir.mkdir(parents=True, exist_ok=True)
    for epoch in epochs:
        folder = gan_dir / f"checkpoint_epoch{epoch:04d}"
        folder.mkdir()
        torch.save({"epoch": epoch, "generator": {"w": torch.ones(3)}}, folder / "state.pt")


def test_readable_checkpoints_are_kept_for_the_resume(tmp_path):
    gan_dir = tmp_path / KEY
    _fake_checkpoints(gan_dir)
    before = tree_bytes(gan_dir)
    assert gan_keys.discard_unusable_checkpoints(str(tmp_path), KEY) is None
    assert tree_bytes(gan_dir) == before


@pytest.mark.parametrize("damage, problem", [
    (lambda d: (d / "checkpoint_epoch0003" / "state.pt").write_bytes(
        (d / "checkpoint_epoch0003" / "state.pt").read_bytes()[:200]), "checkpoint_epoch0003/state.pt"),
    (lambda d: (d / "checkpoint_epoch0003" / "state.pt").write_bytes(b""), "checkpoint_epoch0003/state.pt"),
])
def test_an_unreadable_checkpoint_makes_the_gan_start_from_scratch(tmp_path, damage, problem):
    gan_dir = tmp_path / KEY
    _fake_checkpoints(gan_dir)
    (gan_dir / "samples_epoch002.png").write_bytes(b"png")
    damage(gan_dir)
    said = gan_keys.discard_unusable_checkpoints(str(tmp_path), KEY)
    assert problem in said and "unreadable" in said
    # Nothing a run could restore from is left: set aside under names it never reads; other outputs stay.
    assert sorted(p.name for p in gan_dir.iterdir()) == [
        "checkpoint_epoch0002.damaged", "checkpoint_epoch0003.damaged", "samples_epoch002.png"]
    assert gan_keys.discard_unusable_checkpoints(str(tmp_path), KEY) is None   # nothing left to set aside


def test_a_checkpoint_whose_write_was_cut_short_is_skipped_not_discarded(tmp_path):
    """A worker killed while writing leaves a folder with only a temp file: the one before it restores."""
    from trainables.files.storage import Store
    from trainables.gan import checkpoints as gan_checkpoints

    gan_dir = tmp_path / KEY
    _fake_checkpoints(gan_dir)
    (gan_dir / "checkpoint_epoch0004").mkdir()
    (gan_dir / "checkpoint_epoch0004" / ".state.pt.x1y2.tmp").write_bytes(b"half")
    assert gan_keys.discard_unusable_checkpoints(str(tmp_path), KEY) is None
    assert gan_checkpoints.latest(Store(gan_dir)) == "checkpoint_epoch0003"
    assert gan_checkpoints.read(Store(gan_dir), "checkpoint_epoch0003")["epoch"] == 3


# --------------------------------------------------------------------------------------------------
# 5. Bad input through the real command: exit 2, one line, no traceback, nothing overwritten
# --------------------------------------------------------------------------------------------------
def _png(path: Path, value: int, side: int = 28) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (side, side), color=value).save(path)


def _folder_cases(root: Path) -> dict[str, Path]:
    empty = root / "empty"
    empty.mkdir(parents=True)
    single = root / "single"
    for i in range(3):
        _png(single / "cat" / f"{i}.png", 10 * i)
    unreadable = root / "unreadable"
    for label in ("cat", "dog"):
        for i in range(3):
            _png(unreadable / label / f"{i}.png", 10 * i)
    (unreadable / "dog" / "broken.png").write_bytes(b"this is not a png")
    small = root / "small"      # a valid folder dataset of 2 x 20 images
    for label in ("cat", "dog"):
        for i in range(20):
            _png(small / label / f"{i}.png", 5 * i + (100 if label == "dog" else 0))
    tiny = root / "tiny"        # 10x10 images: no multiple of 4 for the abadi GAN
    for label in ("cat", "dog"):
        for i in range(20):
            _png(tiny / label / f"{i}.png", 5 * i + (100 if label == "dog" else 0), side=10)
    return {"empty": empty, "single": single, "unreadable": unreadable, "small": small, "tiny": tiny}


BAD_INPUTS = {
    # name: (extra `study run quick` arguments, text the one error line must contain)
    "unknown-classifier": (["--set", "classifier.name=['vgg']"], "classifier.name"),
    "unknown-gan": (["--set", "gan.arch='stylegan'"], "gan.arch"),
    "negative-ratio": (["--set", "mix.ratios=[0, -1]"], "mix.ratios"),
    "text-ratio": (["--set", "mix.ratios=['a']"], "mix.ratios"),
    "alpha-zero": (["--set", "gan.alpha=[0]"], "gan.alpha"),
    "size-too-large": (["--set", "sizes=[999999]"], "sizes"),
    "unknown-key": (["--set", "gan.nonsense=1"], "gan.nonsense"),
    "malformed-toml": (["@bad.toml"], "bad.toml"),
    "unwritable-storage": (["--storage", "@a-file/sub"], "--storage"),
    "missing-folder": (["--set", "dataset='folder:@no-such-folder'"], "no-such-folder"),
    "empty-folder": (["--set", "dataset='folder:@folders/empty'"], "no class subfolders"),
    "single-class-folder": (["--set", "dataset='folder:@folders/single'"], "single class"),
    "unreadable-image": (["--set", "dataset='folder:@folders/unreadable'"], "broken.png"),
    # each of these was once a traceback or a silent misuse
    "binary-spec": (["@binary.toml"], "is not UTF-8 text"),
    "overflowing-ratio": (["--set", "mix.ratios=[0, 1e307]"], "mix.ratios"),
    "name-leaves-storage": (["--name", "../escaped"], "--name"),
    "unknown-storage-scheme": (["--storage", "ftp://host/studies"], "'ftp://' is not supported"),
    "more-cpus-than-the-machine": (["--set", "resources.cpus_per_trial=64"], "resources.cpus_per_trial"),
    "a-hundred-thousandth-of-a-cpu": (["--set", "resources.cpus_per_trial=0.00001"], "resources.cpus_per_trial"),
    "sizes-beyond-a-folder-dataset": (["--set", "dataset='folder:@folders/small'", "--set", "sizes=[500]"],
                                      "is more than"),
    "images-a-gan-cannot-take": (["--set", "dataset='folder:@folders/tiny'", "--set", "sizes=[20]"],
                                 "abadi cannot train on"),
}


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Every bad input of BAD_INPUTS run through `study` at once (each is its own process and mostly
    waits for imports), plus a study folder holding another spec; name -> (process, storage)."""
    root = tmp_path_factory.mktemp("bad-input")
    _folder_cases(root / "folders")
    (root / "bad.toml").write_text('name = "broken\n[gan\nepochs = 2\n')
    (root / "a-file").write_text("not a folder")
    (root / "binary.toml").write_bytes(bytes(range(256)))
    existing = root / "existing"
    StudyFolder.for_spec(str(existing), "quick").prepare(S.load_spec("quick"), resume=False,
                                                                gan_cache=str(existing / "gan-cache"))
    (existing / "quick" / "results.csv").write_text("trial,status\nx,ok\n")

    processes = {}
    for name, (extra, _) in BAD_INPUTS.items():
        storage = root / "storage" / name
        args = ["run", "quick", "--storage", str(storage), "--no-report"]
        if extra[0].startswith("@"):  # a spec file instead of the preset
            args[1] = str(root / extra[0][1:])
            extra = []
        args += [item.replace("@", f"{root}/") for item in extra]
        if "--storage" in extra:
            args = args[:2] + args[4:]  # the case's own --storage replaces the default one
        processes[name] = (StudyProcess(args, root / "logs", name), storage)
    before = tree_bytes(existing)
    processes["different-spec"] = (StudyProcess(
        ["run", "quick", "--set", "seeds=5", "--storage", str(existing), "--no-report"],
        root / "logs", "different-spec"), existing)
    for process, _ in processes.values():
        process.wait(300)
    yield processes, before
    for process, _ in processes.values():
        process.__exit__(None, None, None)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(bad_input_runs, name):
    process, storage = bad_input_runs[0][name]
    assert_one_error_line(process, BAD_INPUTS[name][1])
    # Refused before anything was written: not even the empty folders the writability check made, nor a
    # study folder beside the storage.
    assert not storage.exists(), sorted(str(p) for p in storage.rglob("*"))
    assert not (storage.parent / "escaped").exists()


@pytest.mark.slow
def test_a_folder_holding_another_spec_is_refused_and_left_byte_identical(bad_input_runs):
    processes, before = bad_input_runs
    process, existing = processes["different-spec"]
    line = assert_one_error_line(process, "--name", "study resume")
    assert str(existing / "quick") in line
    assert tree_bytes(existing) == before  # spec.toml, env.json, results.csv untouched


# --------------------------------------------------------------------------------------------------
# 1 + 6. A GAN worker crashes once after a checkpoint; later its pool is truncated
# --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_crashed_gan_worker_resumes_and_a_truncated_pool_is_retrained(tmp_path, study_caches):
    study_caches.seed_scoring(tmp_path / "s", TINY)   # the dataset's scoring network; the GAN is trained here
    marker = tmp_path / "crashed-once"
    args = ["run", "quick", *TINY, "--set", "mix.ratios=[0, 1]", "--storage", str(tmp_path / "s"), "--no-report"]
    run = run_cli(args, tmp_path / "logs", "run", cli_env(STUDY_FAIL_ONCE_MARKER=str(marker)))
    assert run.proc.returncode == 0, run.err[-3000:]
    assert marker.exists()  # the crash really happened
    study = tmp_path / "s" / "quick"
    gan_dir = the_gan_dir(study)
    meta = json.loads((gan_dir / "meta.json").read_text())
    assert meta["status"] == "ok" and meta["epochs_trained"] == 3
    assert losses_epochs(gan_dir) == [1, 2, 3]  # the epoch after the crash is logged once
    results = pd.read_csv(study / "results.csv")
    assert len(results) == 2 and set(results["status"]) == {"ok"}

    # Truncate the pool and the newest checkpoint: `study resume` must notice both, say so, and
    # train the GAN again from scratch (restoring that checkpoint would fail on every retry).
    pool = gan_dir / "pool.pt"
    pool.write_bytes(pool.read_bytes()[: pool.stat().st_size // 2])
    state = gan_dir / "checkpoint_epoch0003" / "state.pt"
    state.write_bytes(state.read_bytes()[:1000])
    resumed = run_cli(["resume", str(study), "--no-report"], tmp_path / "logs", "resume",
                      cli_env(STUDY_FAIL_ONCE_MARKER=str(marker)))
    assert resumed.proc.returncode == 0, resumed.err[-3000:]
    told = [line for line in resumed.out.splitlines() if gan_dir.name in line and "retraining" in line]
    told += [line for line in resumed.out.splitlines() if gan_dir.name in line and "from scratch" in line]
    assert "pool.pt is" in told[0] and "truncated" in told[0]
    assert any("checkpoint_epoch0003/state.pt is unreadable" in line for line in told)
    assert gan_cache.is_complete(str(gan_dir.parent), gan_dir.name)
    meta = json.loads((gan_dir / "meta.json").read_text())
    assert meta["status"] == "ok" and meta["epochs_trained"] == 3 and losses_epochs(gan_dir) == [1, 2, 3]
    assert meta["resumed_from_epoch"] == 0
    assert len(pd.read_csv(study / "results.csv")) == 2


# --------------------------------------------------------------------------------------------------
# 3 + 4. A trial that always raises, and a GAN that diverges, in one study
# --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_errored_and_diverged_trials_are_recorded_and_never_ranked(tmp_path):
    from analysis import best_ratio_table

    env = cli_env(STUDY_INJECT_TRIAL_ERROR="_r0.5_", STUDY_INJECT_NAN_EPOCH="1")
    args = ["run", "quick", *TINY, "--set", "mix.ratios=[0, 0.5, 1]", "--set", "faults.max_failures=1",
            "--storage", str(tmp_path / "s")]
    run = run_cli(args, tmp_path / "logs", "run", env)
    assert run.proc.returncode == 0, run.err[-3000:]
    study = tmp_path / "s" / "quick"
    gan_dir = the_gan_dir(study)
    key = gan_dir.name
    assert json.loads((gan_dir / "meta.json").read_text())["status"] == "diverged"
    assert f"GAN {key}: diverged" in run.out

    results = pd.read_csv(study / "results.csv", keep_default_na=False).set_index("ratio")
    assert len(results) == 3
    assert results.loc[0, "status"] == "ok"
    assert results.loc[0.5, "status"] == "error"
    assert "injected failure" in results.loc[0.5, "reason"]
    assert results.loc[1, "status"] == "diverged" and key in results.loc[1, "reason"]
    # Tried 1 + max_failures times before it was given up.
    errored = results.loc[0.5, "trial"]
    failures = (study / "tune" / "classifiers" / errored / "error.txt").read_text()
    assert failures.count("Failure #") == 2

    # Nothing ranks: the only R > 0 cells errored or diverged; the report names what is missing.
    assert best_ratio_table(pd.read_csv(study / "results.csv")).empty
    report = (study / "report" / "report.md").read_text()
    failed_section = report.split("## Missing, errored and diverged trials", 1)[1]
    assert errored in failed_section and results.loc[1, "trial"] in failed_section
    assert "diverged" in failed_section and "error" in failed_section
