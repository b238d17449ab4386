"""Object storage end to end: a local S3-compatible server (moto's, on 127.0.0.1, started by the test)
holds the study folder and the GAN cache. A study is run with --storage s3://..., a second driver on
it is refused, Ctrl-C stops it, `study resume s3://...` finishes it, `study report s3://...` rebuilds
its report; two studies started together that need one GAN train it once (the other waits on the
key's lock, a conditional-write lease object: trainables.files.object_lock). Fast tests: the one-line
refusals (no credentials, a bucket that does not exist) and the lock's semantics."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "studies-bucket"
TINY = ["--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.checkpoint_every=1", "--set", "classifier.epochs=2",
        "--set", "mix.ratios=[0, 1]", "--no-report"]


def _no_aws_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                  "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


def _cli(args: list[str], env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


# --- a local S3-compatible server -------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on loopback with one bucket; the environment a study needs to reach it."""
    pytest.importorskip("moto.server", reason="the local S3 server is moto's (`pip install -e '.[dev]'`)")
    import boto3

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = _no_aws_env() | {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    try:
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        yield {"env": env, "client": client, "port": port,
               "query": f"?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"}
    finally:
        server.terminate()
        server.wait(30)


def _keys(s3, prefix: str) -> list[str]:
    pages = s3["client"].get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.mark.slow
def test_the_server_honours_conditional_writes_and_the_lock_keeps_drivers_apart(s3, monkeypatch):
    """The lock's semantics on the real protocol: one holder; a refusal names it; a waiter runs after
    the release; a holder that stopped renewing is taken over once its lease lapses."""
    from botocore.exceptions import ClientError

    from trainables.files import cache_lock, object_lock
    from trainables.files.storage import Store

    for name, value in s3["env"].items():
        monkeypatch.setenv(name, value)
    store = Store(f"s3://{BUCKET}/locks-test{s3['query']}")
    object_lock.check_conditional_writes(store.scheme, store.root, store.query)
    with cache_lock.hold_or_refuse(store, ".study.lock"):
        assert "locks-test/.study.lock" in _keys(s3, "locks-test/")
        with pytest.raises(cache_lock.LockBusy, match=f"pid {os.getpid()}"):
            with cache_lock.hold_or_refuse(store, ".study.lock"):
                pass
    assert _keys(s3, "locks-test/") == [], "released: the lock object is gone, nothing else written"

    entered, waits = threading.Event(), []

    def second() -> None:
        with cache_lock.hold(store, "k", on_wait=waits.append):
            entered.set()

    with cache_lock.hold(store, "k"):
        thread = threading.Thread(target=second)
        thread.start()
        _wait_for(lambda: bool(waits), 60, "the second holder to report whom it waits for")
        assert not entered.is_set() and f"pid {os.getpid()}" in waits[0]
    assert entered.wait(30)
    thread.join(30)
    assert _keys(s3, "locks-test/") == []

    # Each renewal gives the object a new ETag, so a waiter that read the lease before a renewal (and
    # saw it lapsed) cannot take it over with If-Match on what it read: a live lease is never stolen.
    monkeypatch.setattr(object_lock, "LEASE_S", 0.8)
    head = lambda: s3["client"].head_object(Bucket=BUCKET, Key="locks-test/.locks/live.lock")["ETag"]  # noqa: E731
    with cache_lock.hold(store, "live"):
        read = head()
        _wait_for(lambda: head() != read, 30, "a renewal of the lease")
        with pytest.raises(ClientError) as stolen:
            s3["client"].put_object(Bucket=BUCKET, Key="locks-test/.locks/live.lock", Body=b"{}", IfMatch=read)
        assert stolen.value.response["Error"]["Code"] == "PreconditionFailed"
    assert _keys(s3, "locks-test/") == []

    # A dead holder: its lease object stays, unrenewed; past the lease it is taken over.
    monkeypatch.setattr(object_lock, "LEASE_S", 2.0)
    s3["client"].put_object(Bucket=BUCKET, Key="locks-test/.locks/dead.lock", Body=b'{"host": "gone", "pid": 1}')
    waits = []
    started = time.monotonic()
    with cache_lock.hold(store, "dead", on_wait=waits.append):
        assert time.monotonic() - started >= 1.0
    assert waits and "host gone, pid 1" in waits[0]


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "w")
    return subprocess.Popen([sys.executable, "-m", "study.cli", *args], stdout=handle, stderr=subprocess.STDOUT,
                            env=env, cwd=ROOT, start_new_session=True)


def _results(s3, folder: str):
    import pandas as pd

    return pd.read_csv(io.BytesIO(s3["client"].get_object(Bucket=BUCKET, Key=f"{folder}/results.csv")["Body"].read()))


def _wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the study ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_study_on_s3_survives_ctrl_c_resumes_reports_and_shares_its_gans(s3, tmp_path, study_caches):
    env = s3["env"] | {"STUDY_LOCK_LEASE_S": "20"}
    storage = f"s3://{BUCKET}/studies"
    folder = f"{storage}/first"

    # Bad input on this server: no credentials, a bucket that does not exist (exit 2, one line, nothing written).
    bare = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    done = _cli(["run", "quick", *TINY, "--storage", storage], bare | {"HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {storage}: no S3 credentials found; allowed: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
        "AWS_PROFILE, an instance or pod role), or add ?anonymous=true for a public bucket"]
    assert _keys(s3, "studies/") == []
    done = _cli(["run", "quick", *TINY, "--storage", "s3://no-such-bucket/studies"], env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "the bucket 'no-such-bucket' does not exist" in done.stderr
    assert "no-such-bucket" not in [b["Name"] for b in s3["client"].list_buckets()["Buckets"]]

    # The dataset's scoring network (trained once per session) in the bucket's GAN cache: the GANs are
    # trained, stopped, resumed and shared on S3 below; what scores them is not this test's subject.
    seeded = tmp_path / "seed" / "gan-cache"
    study_caches.seed_scoring(seeded.parent, TINY)
    for path in seeded.rglob("*"):
        if path.is_file():
            s3["client"].upload_file(str(path), BUCKET, f"studies/gan-cache/{path.relative_to(seeded)}")

    # 1. The study starts; a second driver on it is refused, naming the first.
    log = tmp_path / "first.log"
    # Six epochs: the stop (within a few seconds of Ctrl-C, study.stage_gans' heartbeat) lands mid-GAN.
    first = _start(["run", "quick", *TINY, "--set", "gan.epochs=6", "--storage", storage, "--name", "first"], env, log)
    try:
        _wait_for(lambda: "studies/first/.study.lock" in _keys(s3, "studies/first/"), 300, "the study lock", first)
        second = _cli(["resume", folder], env, timeout=300)
        print("second driver:", second.stderr.strip())
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1].startswith(
            f"error: {folder}: this study is running (host {socket.gethostname()}, pid {first.pid}")

        # 2. Ctrl-C once the GAN has checkpointed.
        _wait_for(lambda: any("/checkpoint" in key for key in _keys(s3, "studies/gan-cache/")), 600,
                  "a GAN checkpoint on s3", first)
        os.killpg(first.pid, signal.SIGINT)
        first.wait(120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
    print(log.read_text()[-3000:])
    assert first.returncode == 130, log.read_text()[-3000:]
    assert f"study resume {folder}" in log.read_text()
    assert "studies/first/.study.lock" not in _keys(s3, "studies/first/"), "Ctrl-C released the study lock"

    # 3. study resume s3://... finishes it; study report s3://... rebuilds the report there.
    resumed = _cli(["resume", folder], env, timeout=900)
    print(resumed.stdout[-3000:], resumed.stderr[-2000:])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = _results(s3, "studies/first")
    assert len(results) == 2 and set(results["status"]) == {"ok"}
    (key,) = set(results["gan_key"].dropna())
    meta = json.loads(s3["client"].get_object(Bucket=BUCKET, Key=f"studies/gan-cache/{key}/meta.json")["Body"].read())
    assert meta["epochs_trained"] == 6 and meta["resumed_from_epoch"] >= 1   # from its checkpoint on S3
    report = _cli(["report", folder], env, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "studies/first/report/report.md" in _keys(s3, "studies/first/report/")

    # 4. Two studies started together that need one (new) GAN: it trains once, the other waits and reuses it.
    logs = {name: tmp_path / f"{name}.log" for name in ("left", "right")}
    runs = {name: _start(["-v", "run", "quick", *TINY, "--set", "gan.epochs=2", "--storage", storage, "--name", name],
                         env, logs[name]) for name in logs}
    try:
        for process in runs.values():
            process.wait(900)
    finally:
        for process in runs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    texts = {name: path.read_text() for name, path in logs.items()}
    for name, process in runs.items():
        assert process.returncode == 0, texts[name][-3000:]
    waited = [name for name, text in texts.items() if "being trained by host" in text]
    print("waited on the other's GAN:", waited)
    assert len(waited) == 1, {name: text[-2000:] for name, text in texts.items()}
    trained = [name for name, text in texts.items() if "1 to train" in text]
    assert trained == ["left", "right"] or len(trained) >= 1
    shared = {key for name in runs for key in _results(s3, f"studies/{name}")["gan_key"].dropna()}
    left = _keys(s3, "studies/gan-cache/.locks/")
    assert len(shared) == 1 and not [key for key in left if any(k in key for k in shared)], (shared, left)
    # A lock object can outlive only a holder that was killed (the Ctrl-C above, if it landed while the
    # first study's trial held a lock the resume did not need): nobody renews it, its lease has lapsed.
    for key in left:
        head = s3["client"].head_object(Bucket=BUCKET, Key=key)
        age = (parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"]) - head["LastModified"])
        assert age.total_seconds() > 20, f"{key} is still held by a live process"
