"""The endpoints a study talks to, proved usable before anything is written, each within a timeout.

`search.storage` (an Optuna RDB), the MLflow tracking URI and the Ray cluster of `--address` were
first touched deep inside a run: an sqlite file in a missing folder failed after spec.toml, run.json
and env.json existed; an address where nothing listens, or an MLflow server that does not answer,
hung for minutes (Ray's and MLflow's own retries) with no output. Here each gets one cheap probe with
a short timeout and a one-line refusal naming its key. The probes create nothing: an sqlite database
is checked by its folder (and its header when the file exists), never opened, so `study plan` may
run them too.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from study.checks import SpecError

TIMEOUT_S = 5.0          # a local or LAN endpoint answers in milliseconds; a WAN one in well under a second
SQLITE_HEADER = b"SQLite format 3\x00"


def _first_line(err: BaseException) -> str:
    return ((str(err).strip().splitlines() or [type(err).__name__])[0])[:200]


def _sqlite_problem(url: str) -> str | None:
    """Why an sqlite URL cannot hold a database, or None: its folder must exist and be writable, and a file
    already there must be an sqlite database (never created here)."""
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception as err:   # sqlalchemy's ArgumentError for a malformed URL
        return f"not a database URL ({_first_line(err)})"
    if not database or database == ":memory:":
        return "an in-memory database keeps nothing"
    path = Path(os.path.expanduser(database)).absolute()
    if path.exists():
        if not path.is_file():
            return f"{path} is a folder, not a database file"
        with open(path, "rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER and path.stat().st_size:
                return f"{path} is not an sqlite database"
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    if not path.parent.is_dir():
        return f"its folder {path.parent} does not exist"
    return None if os.access(path.parent, os.W_OK) else f"its folder {path.parent} is not writable"


def _tcp_problem(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"nothing answered at {host}:{port} within {timeout:g} s"
    except OSError as err:
        return f"nothing answers at {host}:{port} ({err.strerror or _first_line(err)})"


def _url_problem(url: str, timeout: float) -> str | None:
    """An RDB URL other than sqlite: its server must accept a TCP connection (no login, nothing created)."""
    parsed = urllib.parse.urlsplit(url)
    default_ports = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433,
                     "oracle": 1521}
    scheme = parsed.scheme.split("+")[0]
    if not parsed.hostname:
        return "names no server"
    return _tcp_problem(parsed.hostname, parsed.port or default_ports.get(scheme, 0), timeout)


def check_search_storage(url: str, timeout: float = TIMEOUT_S) -> None:
    """SpecError `search.storage: ...` unless the Optuna RDB URL can be used."""
    if not url:
        return
    scheme = url.split(":", 1)[0].split("+")[0]
    problem = _sqlite_problem(url) if scheme == "sqlite" else _url_problem(url, timeout)
    if problem:
        raise SpecError("search.storage", f"{url} cannot be used: {problem}",
                        "sqlite:///path/to/optuna.db in an existing writable folder, a database server that "
                        "answers (postgresql://user@host/db), or \"\" for an in-memory Optuna study")


def check_tracking_uri(uri: str, timeout: float = TIMEOUT_S) -> bool:
    """SpecError `tracking.mlflow: ...` when an sqlite or http(s) MLflow tracking URI cannot be used:
    sqlite checked without creating the database, http(s) asked once (MLflow's client retries for two
    minutes). Returns whether the URI was of those kinds (others are left to MLflow's own client,
    which refuses a file store at once)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme.split("+")[0] == "sqlite":
        problem = _sqlite_problem(uri)
    elif scheme in ("http", "https"):
        problem = _http_problem(uri, timeout)
    else:
        return False
    if problem:
        raise SpecError("tracking.mlflow", f"{uri} cannot be used ({problem})",
                        "an MLflow tracking URI that answers: sqlite:///mlflow.db (in an existing folder), "
                        "http://host:5000")
    return True


def _http_problem(uri: str, timeout: float) -> str | None:
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None   # it answered (an older server without /health, or one behind auth)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError | socket.timeout):
            return f"no answer within {timeout:g} s"
        return f"no answer ({getattr(reason, 'strerror', None) or _first_line(reason)})"


ADDRESS_ALLOWED = ("the address of a running Ray cluster's head (host:6379, ray://host:10001; `ray start "
                   "--head` prints it), or no --address for an embedded cluster on this machine")


def check_address(address: str | None, timeout: float = TIMEOUT_S) -> None:
    """SpecError `--address: ...` unless a Ray cluster's head answers there (Ray's own connect retries
    for minutes). `auto` must find a cluster started on this machine."""
    if not address:
        return
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die

            address = canonicalize_bootstrap_address_or_die("auto")
        except Exception as err:   # ConnectionError: no cluster started here
            raise SpecError("--address", f"auto finds no Ray cluster on this machine ({_first_line(err)})",
                            ADDRESS_ALLOWED) from None
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SpecError("--address", f"{address} is not host:port", ADDRESS_ALLOWED)
    problem = _tcp_problem(host.strip("[]"), int(port), timeout)
    if problem:
        raise SpecError("--address", f"{address}: {problem}", ADDRESS_ALLOWED)
