"""A real Ray head on 127.0.0.1 with token authentication, for tests.

`ray_head()` starts `ray start --head --block` in its own process group, exactly the way a cluster
node starts (token auth switched on through the environment, dashboard and Jobs API bound to the
loopback address), waits until the Jobs API answers, and tears the whole process group down on exit.
Tests then talk to it the way a laptop talks to a cluster through `ray dashboard cluster.yaml`'s
SSH tunnel: over HTTP on 127.0.0.1 with an `Authorization: Bearer <token>` header.

Ray's token mechanism (Ray >= 2.52; checked against the installed 2.60 sources):
- `RAY_AUTH_MODE=token` in the environment of every Ray process switches it on (it cannot be set
  through `_system_config`); `RAY_AUTH_MODE=disabled` switches it off.
- The token is read, highest precedence first, from `RAY_AUTH_TOKEN` (the value itself),
  `RAY_AUTH_TOKEN_PATH` (a file), or `~/.ray/auth_token` (what `ray get-auth-token --generate`
  writes). Surrounding whitespace in the file is stripped.
- HTTP clients send `Authorization: Bearer <token>` (or `X-Ray-Authorization: Bearer <token>` behind
  proxies); the dashboard answers 401 without a token and 403 with a wrong one. A few paths stay
  public (`/`, `/api/healthz`, `/api/authentication_mode`, static assets).

The fixture never touches `~/.ray/auth_token`: the head reads a fresh token from a file under the
test's tmp_path (RAY_AUTH_TOKEN_PATH, like the file that cluster.yaml mounts on every node), and
clients get it through RAY_AUTH_TOKEN, which outranks any token file on this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Every wait below is bounded by one of these; none is a performance threshold.
STARTUP_TIMEOUT_S = 90.0
SHUTDOWN_GRACE_S = 5.0    # Ray's own `ray stop` waits 16 s; a throwaway test head needs no clean exit
HTTP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.5

# Environment variables that would point a child process at some other cluster or token.
_INHERITED_RAY_VARS = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN",
                       "RAY_AUTH_TOKEN_PATH")

BIN_DIR = Path(sys.executable).parent
RAY_CLI = str(BIN_DIR / "ray")


@dataclass(frozen=True)
class RayHead:
    """A running head node: where it listens and what a client needs to reach it."""

    address: str                 # GCS address "127.0.0.1:PORT" (what ray.init / RAY_ADDRESS take)
    dashboard_url: str           # "http://127.0.0.1:PORT": dashboard and Jobs API
    dashboard_port: int
    token: str | None            # None when the head runs without token auth
    env: dict[str, str] = field(repr=False)   # full environment for a client subprocess
    temp_dir: Path = field(repr=False)        # Ray's --temp-dir (sessions, logs, sockets)
    log_path: Path = field(repr=False)        # stdout+stderr of `ray start --block`

    def auth_headers(self) -> dict[str, str]:
        """HTTP headers that authenticate a request to this head (empty without token auth)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def job_client(self):
        """A `ray.job_submission.JobSubmissionClient` that sends this head's token.

        The header is passed explicitly because the client only adds a token on its own when
        RAY_AUTH_MODE=token is set in *this* process, and tests must not change their own env.
        """
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.dashboard_url, headers=self.auth_headers())


@dataclass(frozen=True)
class JobOutcome:
    submission_id: str
    status: str                  # a ray.job_submission.JobStatus value: SUCCEEDED, FAILED, STOPPED
    logs: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET url and return (status, body), treating HTTP error statuses as answers, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on `port` (Linux /proc/net/tcp{,6}).

    Addresses come back as text: "127.0.0.1", "0.0.0.0", "::", "::1", ...
    """
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            next(f)  # header line
            for line in f:
                local, state = line.split()[1], line.split()[3]
                hex_addr, hex_port = local.split(":")
                if state != "0A" or int(hex_port, 16) != port:   # 0A = TCP_LISTEN
                    continue
                raw = bytes.fromhex(hex_addr)
                # The kernel prints each 32-bit word in host byte order (little-endian here).
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, raw))
    return found


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED_RAY_VARS}
    # Job entrypoints resolve `python`, `ray` and `study` through PATH: use this venv's first.
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    return env


def _log_tail(path: Path, chars: int = 4000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return "(no log)"


def _wait_until_ready(proc: subprocess.Popen, head: RayHead, timeout: float) -> None:
    """Block until the Jobs API answers an authenticated request, or fail with the head's log."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with code {proc.returncode} before the dashboard "
                               f"came up; log tail:\n{_log_tail(head.log_path)}")
        try:
            status, body = http_get(f"{head.dashboard_url}/api/jobs/", head.auth_headers())
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]}"
        except OSError as err:   # connection refused / reset while the dashboard starts
            last = repr(err)
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"Ray head's Jobs API did not answer within {timeout:.0f}s (last: {last}); "
                       f"log tail:\n{_log_tail(head.log_path)}")


def _session_members(session_id: int) -> list[int]:
    """Live (non-zombie) pids in session `session_id`, read from /proc/<pid>/stat."""
    pids = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the parenthesised command name: state ppid pgrp session ...
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                pids.append(int(stat_file.parent.name))
    return pids


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM every process of the head's session, SIGKILL what is left after a grace period.

    `ray start` leads its own session (start_new_session=True). Ray daemons share its process
    group, but Ray puts each worker in a process group of its own, so a killpg alone would miss
    them; all of them keep the session id, which names exactly the processes this head started.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    _signal_all(_session_members(proc.pid), signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_GRACE_S
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    _signal_all(_session_members(proc.pid), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=SHUTDOWN_GRACE_S)


@contextlib.contextmanager
def ray_head(tmp_path: Path, token: bool = True, num_cpus: int = 2, num_gpus: int = 0,
             object_store_bytes: int = 300 * 1024 * 1024,
             startup_timeout: float = STARTUP_TIMEOUT_S, gcs_port: int | None = None,
             extra_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None) -> Iterator[RayHead]:
    """Start a real Ray head on 127.0.0.1 (token auth on unless token=False) and yield a RayHead.

    All ports are picked free, so parallel test sessions and other local clusters do not collide.
    Ray's temp dir is a short directory under /tmp because Ray's Unix sockets live there and
    socket paths are limited to about 107 bytes (pytest's tmp_path is often longer).
    """
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    temp_dir = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))
    log_path = tmp_path / "ray_head.log"
    gcs_port, dashboard_port = gcs_port or free_port(), free_port()

    head_env = {**_base_env(), **(extra_env or {})}
    client_env = _base_env()
    secret = None
    if token:
        secret = secrets.token_hex(32)   # same shape as `ray get-auth-token --generate`
        token_file = tmp_path / "auth_token"
        token_file.write_text(secret)
        token_file.chmod(0o600)
        head_env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file))
        client_env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secret)
    else:
        # Explicit: Ray >= 2.59 turns token auth on by itself when ~/.ray/auth_token exists.
        head_env["RAY_AUTH_MODE"] = client_env["RAY_AUTH_MODE"] = "disabled"

    dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    client_env.update(RAY_ADDRESS=f"127.0.0.1:{gcs_port}", RAY_API_SERVER_ADDRESS=dashboard_url)
    head = RayHead(address=f"127.0.0.1:{gcs_port}", dashboard_url=dashboard_url,
                   dashboard_port=dashboard_port, token=secret, env=client_env,
                   temp_dir=temp_dir, log_path=log_path)
    cmd = [
        RAY_CLI, "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs_port}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        # Fixed defaults (52365, 10001) would collide with any other head on this machine.
        f"--dashboard-agent-listen-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
        f"--temp-dir={temp_dir}",
        f"--num-cpus={num_cpus}",
        f"--num-gpus={num_gpus}",   # > 0 on a machine without CUDA: a node whose GPUs torch cannot use
        f"--object-store-memory={object_store_bytes}",
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=head_env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until_ready(proc, head, startup_timeout)
        yield head
    finally:
        _stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def submit_and_wait(head: RayHead, entrypoint: str, working_dir: str | Path | None = None,
                    timeout: float = 300.0, runtime_env: dict | None = None) -> JobOutcome:
    """Submit `entrypoint` as a Ray job to `head`, wait for it to finish, return status and logs.

    `working_dir` is uploaded like `ray job submit --working-dir` does. On timeout the job is
    stopped and TimeoutError carries the log tail, so a hung job never hangs the test session.
    """
    from ray.job_submission import JobStatus

    env = dict(runtime_env or {})
    if working_dir is not None:
        env["working_dir"] = str(working_dir)
    client = head.job_client()
    submission_id = client.submit_job(entrypoint=entrypoint, runtime_env=env or None)
    terminal = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
    deadline = time.monotonic() + timeout
    status = client.get_job_status(submission_id)
    while status not in terminal:
        if time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                client.stop_job(submission_id)
            logs = client.get_job_logs(submission_id)
            raise TimeoutError(f"job {submission_id} ({entrypoint!r}) still {status} after "
                               f"{timeout:.0f}s; log tail:\n{logs[-4000:]}")
        time.sleep(POLL_INTERVAL_S)
        status = client.get_job_status(submission_id)
    return JobOutcome(submission_id=submission_id, status=str(status.value),
                      logs=client.get_job_logs(submission_id))


def job_list(head: RayHead, headers: dict[str, str] | None = None) -> tuple[int, list | str]:
    """GET /api/jobs/ with the given headers: (status, parsed JSON list or raw body on error)."""
    status, body = http_get(f"{head.dashboard_url}/api/jobs/", headers)
    if status == 200:
        return status, json.loads(body)
    return status, body
