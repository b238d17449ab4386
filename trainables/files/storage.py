"""Where a study's files live: a local (or NFS) path, or an `s3://` / `gs://` URI.

Ray Train and Tune accept the same kinds of storage through pyarrow filesystems, so we do too: one
`Store` gives the handful of file operations the product needs, with the same code path for every
backend. Writes are atomic everywhere: locally a temp file in the same folder is renamed over the
target (rename is atomic on POSIX), and object stores only make an object visible once its upload
completes, so a reader never sees half a file.
"""

from __future__ import annotations

import errno
import math
import os
import posixpath
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.fs as pafs

# file:// goes through pyarrow like the cloud schemes: the same code path, testable without a cloud.
_URI_SCHEMES = ("s3://", "gs://", "gcs://", "hdfs://", "abfs://", "abfss://", "file://")


def json_safe(value):
    """NaN/inf -> None, recursively, so files stay strict JSON (and Tune's loggers see no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class StorageError(ValueError):
    """A storage location this tool cannot use (exit code 2 on the command line)."""


class DiskFull(StorageError, OSError):
    """A write failed for lack of space (the old file, if any, is intact)."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
DAMAGED_SUFFIX = ".damaged"   # what a file that cannot be read back is renamed to (Store.set_aside)
# How long a remote storage may take to answer its first request before the study refuses it.
REACH_TIMEOUT_S = 30.0
# The reachability probe (run in a child): one metadata request; the error's type and first line on failure.
_PROBE = """
import sys
import pyarrow.fs as pafs
try:
    fs, path = pafs.FileSystem.from_uri(sys.argv[1])
    fs.get_file_info(path)
    bucket = path.split("/")[0]
    if sys.argv[1].startswith(("s3://", "gs://", "gcs://")) and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
        sys.exit("NO_BUCKET " + bucket)
except Exception as err:
    sys.exit(f"{type(err).__name__}: " + (str(err).strip().splitlines() or [''])[0])
"""


def _disk_full_message(target: str | None, size: int) -> str:
    """The one wording of a full disk: the file when known (pyarrow and some libraries do not say)."""
    if target is None:
        where = "a write failed: the disk is full"
    else:
        try:
            free = shutil.disk_usage(os.path.dirname(target) or ".").free
        except OSError:
            free = 0
        writing = f", {size / 2**20:.1f} MiB to write" if size else ""
        where = f"{target}: the disk is full ({free / 2**20:.0f} MiB free{writing})"
    return f"{where}; finished work is kept; allowed: free some space, then `study resume <study folder>`"


def disk_full_from(err: BaseException) -> DiskFull | None:
    """A write that failed for lack of space anywhere (a plot, a log) as DiskFull naming its file, else None."""
    if isinstance(err, DiskFull) or not isinstance(err, OSError) or err.errno not in _DISK_FULL:
        return None
    return DiskFull(_disk_full_message(str(err.filename) if err.filename else None, 0))


def is_uri(path: str) -> bool:
    return str(path).startswith(_URI_SCHEMES)


def check_location(path: str) -> None:
    """StorageError for a `scheme://` this tool does not read (a typo or ftp:// would otherwise become
    a local folder named `ftp:`)."""
    text = str(path)
    if "://" in text and not is_uri(text):
        scheme = text.split("://", 1)[0]
        raise StorageError(f"{text}: storage scheme {scheme + '://'!r} is not supported; allowed: a local path or "
                           + ", ".join(_URI_SCHEMES))


_UNANSWERED = ("Could not connect", "Couldn't connect", "Connection refused", "resolve host", "Timeout", "timed out")


def check_s3_credentials(root: str) -> None:
    """StorageError when no S3 credentials can be found for `root` (pyarrow would otherwise go on
    unsigned and fail later, or hang on an instance-metadata lookup): keys in the URI, anonymous=true,
    or anything boto3's chain finds (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and
    ~/.aws/credentials, a web-identity or container role, an instance profile)."""
    query = root.partition("?")[2]
    if "access_key=" in query or "anonymous=true" in query.lower() or "role_arn=" in query:
        return
    try:
        import boto3
    except ImportError:
        return   # boto3 missing is refused by the lock check below, naming the extra
    session = boto3.session.Session()._session
    if "endpoint_override=" in query or os.environ.get("AWS_ENDPOINT_URL"):
        # Not AWS: no instance-metadata lookup (a request to a link-local address that only EC2 answers).
        session.get_component("credential_provider").remove("iam-role")
    if session.get_credentials() is None:
        raise StorageError(f"{root.partition('?')[0]}: no S3 credentials found; allowed: set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, an instance or pod role), or add "
                           "?anonymous=true for a public bucket")


def _local(path: str) -> str:
    return str(Path(os.path.expanduser(str(path))).absolute())


def _umask() -> int:
    """This process's umask, read without changing it where Linux allows (os.umask sets it, which
    would race with other threads creating files meanwhile)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class Store:
    """File operations rooted at `root`, which is a local path or a pyarrow-reachable URI."""

    def __init__(self, root: str | os.PathLike):
        root = str(root)
        check_location(root)
        self.query = ""
        if is_uri(root):
            # Options after "?" (s3://bucket/runs?endpoint_override=host:9000&scheme=http for MinIO) belong
            # to the filesystem, not the path: kept aside and put back on every URI handed out.
            self.fs, base = pafs.FileSystem.from_uri(root)
            self.scheme = root.split("://", 1)[0] + "://"
            self.query = "?" + root.partition("?")[2] if "?" in root else ""
            self.root = base.rstrip("/")
        else:
            self.fs, self.scheme = None, ""
            self.root = _local(root)

    @classmethod
    def reachable(cls, root: str | os.PathLike, timeout: float | None = None) -> Store:
        """The Store at `root`, after proving a remote one answers within `timeout` seconds (StorageError
        naming the URI otherwise): an unreachable endpoint would make pyarrow retry for minutes, and a
        silent one hang, before the study had written anything. The probe runs in a child process,
        which can be killed: a request stuck in pyarrow's S3 client would also hold this one's exit."""
        root = str(root)
        if not is_uri(root):
            return cls(root)
        check_location(root)
        timeout = REACH_TIMEOUT_S if timeout is None else timeout
        hint = "allowed: check the address, the credentials and the network, or use a local path"
        try:
            probe = subprocess.run([sys.executable, "-c", _PROBE, root], capture_output=True, text=True,
                                   timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StorageError(f"{root}: the storage did not answer within {timeout:.0f} s; {hint}") from None
        # An endpoint that answered, and no credentials: that is the problem, whatever it answered (an
        # unsigned request may be refused, or accepted by a permissive test server and fail later).
        answered = probe.returncode == 0 or not any(word in probe.stderr for word in _UNANSWERED)
        if root.startswith("s3://") and answered:
            check_s3_credentials(root)
        if probe.returncode != 0:
            lines = probe.stderr.strip().splitlines()
            last = lines[-1] if lines else ""
            if last.startswith("NO_BUCKET "):
                bucket = last.split(" ", 1)[1]
                scheme = root.split("://", 1)[0]
                raise StorageError(f"{root}: the bucket {bucket!r} does not exist; allowed: an existing bucket, or "
                                   f"create it first (for S3: aws s3 mb {scheme}://{bucket})")
            raise StorageError(f"{root}: the storage cannot be reached ({last[:300]}); {hint}")
        store = cls(root)
        if store.scheme == "s3://":   # the study's and the GAN cache's locks need S3's conditional writes
            from trainables.files import object_lock

            try:
                object_lock.check_conditional_writes(store.scheme, store.root, store.query)
            except object_lock.ObjectLockError as err:
                raise StorageError(f"{root}: {err}; allowed: an S3 store that honours If-None-Match "
                                   "(AWS S3, MinIO, Ceph RGW), or a local or shared folder") from None
        return store

    # -- paths ---------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.fs is None

    def uri(self, *parts: str) -> str:
        """The full path or URI of `parts` below the root (what Ray's storage_path accepts)."""
        return self.scheme + self._path(*parts) + self.query

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts) if parts else self.root

    def local_path(self, *parts: str) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.uri(*parts)} is not a local path")
        return Path(self._path(*parts))

    def sub(self, *parts: str) -> Store:
        return Store(self.uri(*parts))

    # -- queries -------------------------------------------------------------------------------
    def exists(self, *parts: str) -> bool:
        if self.is_local:
            return os.path.exists(self._path(*parts))
        return self.fs.get_file_info(self._path(*parts)).type != pafs.FileType.NotFound

    def size(self, *parts: str) -> int:
        if self.is_local:
            return os.path.getsize(self._path(*parts))
        return self.fs.get_file_info(self._path(*parts)).size

    def is_dir(self, *parts: str) -> bool:
        if self.is_local:
            return os.path.isdir(self._path(*parts))
        return self.fs.get_file_info(self._path(*parts)).type == pafs.FileType.Directory

    def listdir(self, *parts: str) -> list[str]:
        """Names directly below `parts` (sorted); empty when it does not exist."""
        if self.is_local:
            path = self._path(*parts)
            return sorted(os.listdir(path)) if os.path.isdir(path) else []
        selector = pafs.FileSelector(self._path(*parts), allow_not_found=True)
        return sorted(posixpath.basename(info.path) for info in self.fs.get_file_info(selector))

    # -- reading -------------------------------------------------------------------------------
    def read_bytes(self, *parts: str) -> bytes:
        if self.is_local:
            return Path(self._path(*parts)).read_bytes()
        with self.fs.open_input_stream(self._path(*parts)) as stream:
            return stream.read()

    def read_text(self, *parts: str) -> str:
        return self.read_bytes(*parts).decode("utf-8")

    # -- writing -------------------------------------------------------------------------------
    def makedirs(self, *parts: str) -> None:
        if self.is_local:
            for attempt in range(3):
                try:
                    os.makedirs(self._path(*parts), exist_ok=True)
                    return
                except FileNotFoundError:   # a concurrent study removed an empty parent it had made, mid-way
                    if attempt == 2:
                        raise
        else:
            self.fs.create_dir(self._path(*parts), recursive=True)

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Atomically replace the file at `parts` with `data`."""
        target = self._path(*parts)
        if not self.is_local:
            self.fs.create_dir(posixpath.dirname(target), recursive=True)
            with self.fs.open_output_stream(target) as stream:
                stream.write(data)
            return
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
        try:
            # mkstemp makes the file 0600; give it the mode any other new file gets (0644 under umask 022).
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException as err:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(err, OSError) and err.errno in _DISK_FULL:
                raise DiskFull(_disk_full_message(target, len(data))) from err
            raise

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode("utf-8"), *parts)

    def move(self, source: str, target: str) -> None:
        """Rename a file or folder (relative paths; the target must not exist)."""
        if self.is_local:
            os.replace(self._path(source), self._path(target))
        else:
            self.fs.move(self._path(source), self._path(target))

    def set_aside(self, path: str) -> str:
        """Rename the damaged file or folder `path` to the first free `<path>.damaged[-N]` (kept for a
        look, never deleted, never read again); returns the new name."""
        target = path + DAMAGED_SUFFIX
        n = 1
        while self.exists(target):
            n += 1
            target = f"{path}{DAMAGED_SUFFIX}-{n}"
        self.move(path, target)
        return target

    def delete(self, *parts: str) -> None:
        """Remove a file or folder if present."""
        if not self.exists(*parts):
            return
        if self.is_local:
            path = self._path(*parts)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        else:
            info = self.fs.get_file_info(self._path(*parts))
            if info.type == pafs.FileType.Directory:
                self.fs.delete_dir(self._path(*parts))
            else:
                self.fs.delete_file(self._path(*parts))

    def upload(self, local_dir: str | os.PathLike, *parts: str) -> None:
        """Copy the local folder `local_dir` (recursively) to `parts`."""
        target_fs = self.fs or pafs.LocalFileSystem()
        self.makedirs(*parts)
        pafs.copy_files(str(Path(local_dir).absolute()), self._path(*parts),
                        source_filesystem=pafs.LocalFileSystem(), destination_filesystem=target_fs)

    def check_writable(self) -> None:
        """Raise OSError when nothing can be written below the root (before any work starts). The probe
        is named for this call: two studies starting at once on one storage each delete their own (with
        one name, one deleted the other's between its write and its delete, and an S3 study was refused)."""
        probe = f".write-probe-{secrets.token_hex(8)}"
        self.write_bytes(b"ok", probe)
        self.delete(probe)

    def __repr__(self) -> str:
        return f"Store({self.uri()!r})"
