"""Remote storage is proven reachable before anything starts: a silent endpoint is refused
after a timeout, an unreachable one with pyarrow's reason, each in one line with exit 2; filesystem
options after "?" (MinIO's endpoint_override) stay with every URI the study hands out."""

from __future__ import annotations

import socket
import threading

import pytest

from study import cli
from study.folder import split_study_dir
from trainables.files import storage
from trainables.files.storage import StorageError, Store

OPTIONS = "scheme=http&region=us-east-1"


@pytest.fixture
def silent_endpoint():
    """host:port of a server that accepts connections and never answers (a firewall that drops, a hung
    proxy): pyarrow's S3 client would wait on it for minutes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_a_silent_storage_is_refused_after_the_timeout(silent_endpoint):
    uri = f"s3://bucket/runs?endpoint_override={silent_endpoint}&{OPTIONS}"
    with pytest.raises(StorageError, match=r"the storage did not answer within 1 s; allowed: check the address"):
        Store.reachable(uri, timeout=1)


def test_run_on_a_silent_storage_exits_2_with_one_line_before_ray_starts(silent_endpoint, monkeypatch, capsys):
    monkeypatch.setattr(storage, "REACH_TIMEOUT_S", 1.0)
    uri = f"s3://bucket/runs?endpoint_override={silent_endpoint}&{OPTIONS}"
    assert cli.main(["run", "quick", "--storage", uri]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == f"error: {uri}: the storage did not answer within 1 s; allowed: check the address, the " \
                  "credentials and the network, or use a local path\n"


@pytest.mark.slow  # the AWS SDK retries a refused connection for several seconds before it gives up
def test_an_unreachable_storage_is_refused_with_pyarrows_reason(capsys):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()   # nothing listens there now
    uri = f"s3://bucket/runs/quick?endpoint_override=127.0.0.1:{port}&{OPTIONS}"
    assert cli.main(["resume", uri]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: s3://bucket/runs?endpoint_override=127.0.0.1:{port}")
    assert "the storage cannot be reached (OSError: " in err and "Could not connect" in err


def test_filesystem_options_stay_with_every_uri_handed_out():
    store = Store(f"s3://bucket/runs?endpoint_override=127.0.0.1:9000&{OPTIONS}")   # region given: no request
    assert store.sub("quick").uri("tune") == f"s3://bucket/runs/quick/tune?endpoint_override=127.0.0.1:9000&{OPTIONS}"
    assert store.sub("quick", "gans").root == "bucket/runs/quick/gans"
    assert split_study_dir("s3://b/runs/quick?endpoint_override=h:9000") == ("s3://b/runs?endpoint_override=h:9000",
                                                                                 "quick")
    assert split_study_dir("runs/quick/") == ("runs", "quick")
    assert split_study_dir("quick") == (".", "quick")


def test_a_local_path_needs_no_probe(tmp_path):
    assert Store.reachable(tmp_path / "runs", timeout=0).is_local


def test_two_write_checks_at_once_on_one_storage_leave_each_others_probe_alone(tmp_path):
    """Two studies starting together on one storage (the GAN cache they share): the second's write check
    runs between the first's write and delete of its probe, and must not take the first's probe away
    (on S3 the first then met "Path does not exist" and the study was refused)."""
    seen = {}

    class FirstStudy(Store):
        def write_bytes(self, payload, *parts):
            super().write_bytes(payload, *parts)
            Store(str(tmp_path)).check_writable()            # the other study, in this moment
            seen["kept"] = (tmp_path / parts[-1]).exists()   # this call's probe is still there

    FirstStudy(str(tmp_path)).check_writable()
    assert seen == {"kept": True}
    assert not list(tmp_path.iterdir())   # and both probes are gone
