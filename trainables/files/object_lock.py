"""A lock on S3 object storage: one lock object per lock, written with S3's conditional writes.

Taking it is `PutObject` with `If-None-Match: *`: the store creates the object only when none exists,
so of two drivers (or two studies needing one GAN key) exactly one succeeds and the other gets 412.
The holder keeps a lease: a thread rewrites the object every LEASE_S / 4 seconds with
`If-Match: <its ETag>` (a compare-and-swap: it fails if anyone replaced it). A holder that died (a
killed driver or worker, a reclaimed spot node) stops renewing; once the object is older than LEASE_S,
by the store's own clock (the response's Date minus the object's Last-Modified, so no two machines'
clocks are compared), a waiter takes it over with `If-Match` on the ETag it read, which again only one
waiter can win. Releasing deletes the object if it is still ours.

Every write carries a fresh body (the holder's token and a renewal count), so every write gets a new
ETag: S3's ETag of a plain PutObject is the MD5 of its body, and with one body per holder a renewal
would keep the ETag, so a waiter's takeover (`If-Match` on the ETag it read while the lease looked
lapsed) would still match after the holder renewed, and steal a live lease.

Why conditional writes and not a coordinator on the cluster: they need nothing running beside the
storage (two studies may be on two clusters, or one on a laptop), survive any node's death, and cost
one request per LEASE_S / 4 seconds per held lock. AWS S3 has honoured If-None-Match on PutObject since
August 2024 and If-Match since November 2024; MinIO and moto's server do too. A store that ignores
them would make the lock a no-op, so every store is checked once per process (`check_conditional_writes`)
and refused when it does not honour them.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

LEASE_S = float(os.environ.get("STUDY_LOCK_LEASE_S", "60"))
POLL_S = min(2.0, LEASE_S / 8)
_CHECKED: set[tuple] = set()
_CHECK_LOCK = threading.Lock()


class ObjectLockError(RuntimeError):
    """The store cannot hold a lock (no conditional writes, no client library)."""


def _client(scheme: str, root: str, query: str):
    """(boto3 S3 client, bucket, key prefix) for a Store's scheme, root (bucket/prefix) and ?query
    (pyarrow's options: endpoint_override, scheme, region, access_key, secret_key, session_token). Options
    not in the query come from boto3's own chain: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, profiles, roles."""
    if scheme != "s3://":
        raise ObjectLockError(f"{scheme}: locks on this storage are not implemented (s3:// is)")
    try:
        import boto3
    except ImportError:
        raise ObjectLockError("s3:// storage locks need boto3; allowed: pip install "
                              "'gan-augment-study[s3]'") from None
    options = {k: v[-1] for k, v in parse_qs(query.lstrip("?")).items()}
    endpoint = options.get("endpoint_override")
    if endpoint and "://" not in endpoint:
        endpoint = f"{options.get('scheme', 'https')}://{endpoint}"
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint or None, region_name=options.get("region") or None,
        aws_access_key_id=options.get("access_key") or None, aws_secret_access_key=options.get("secret_key") or None,
        aws_session_token=options.get("session_token") or None)
    bucket, _, prefix = root.partition("/")
    return client, bucket, prefix


def _status(err) -> int:
    return int(getattr(err, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _conflict(err) -> bool:
    """412 Precondition Failed, or 409 ConditionalRequestConflict (a concurrent conditional write)."""
    return _status(err) in (409, 412)


def check_conditional_writes(scheme: str, root: str, query: str) -> None:
    """ObjectLockError unless the store refuses a second If-None-Match create of one object (once per
    store and process; leaves nothing behind)."""
    client, bucket, prefix = _client(scheme, root, query)
    ident = (client.meta.endpoint_url, bucket)
    with _CHECK_LOCK:
        if ident in _CHECKED:
            return
        key = f"{prefix.rstrip('/')}/.lock-probe-{uuid.uuid4().hex}".lstrip("/")
        client.put_object(Bucket=bucket, Key=key, Body=b"1", IfNoneMatch="*")
        try:
            client.put_object(Bucket=bucket, Key=key, Body=b"2", IfNoneMatch="*")
            honoured = False
        except Exception as err:   # botocore.exceptions.ClientError
            if not _conflict(err):
                raise
            honoured = True
        finally:
            client.delete_object(Bucket=bucket, Key=key)
        if not honoured:
            raise ObjectLockError(f"{scheme}{bucket}: this object store ignores conditional writes "
                                  "(If-None-Match), so two drivers could not be kept apart")
        _CHECKED.add(ident)


def _describe(body: bytes, age: float | None) -> str:
    try:
        holder = json.loads(body)
        text = f"host {holder['host']}, pid {holder['pid']}"
    except (ValueError, KeyError, TypeError):
        text = "another process"
    if age is not None:
        text += f"; its lease was renewed {age:.0f} s ago and lapses {LEASE_S:.0f} s after a renewal"
    return text


def _age(response) -> float:
    """Seconds since the object was last written, on the store's clock."""
    now = email.utils.parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
    return max(0.0, (now - response["LastModified"]).total_seconds())


def _body(token: str, renewal: int) -> bytes:
    """What the lock object holds: who holds it (said to waiters), the holder's token (what release
    matches) and the renewal count (so that each write has its own ETag)."""
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": token,
                       "renewal": renewal}).encode()


def _token(body: bytes) -> str | None:
    try:
        return json.loads(body).get("token")
    except (ValueError, AttributeError):
        return None


class _Lease(threading.Thread):
    def __init__(self, client, bucket: str, key: str, token: str, etag: str):
        super().__init__(daemon=True, name=f"lease:{key}")
        self.client, self.bucket, self.key, self.token, self.etag = client, bucket, key, token, etag
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        renewal = 0
        while not self.stop.wait(LEASE_S / 4):
            renewal += 1
            try:
                self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag,
                                                   Body=_body(self.token, renewal))["ETag"]
            except Exception as err:
                if _conflict(err) or _status(err) == 404:
                    self.lost = True
                    print(f"[study] lock {self.bucket}/{self.key} was taken over by another process "
                          "(this one did not renew it in time)", flush=True)
                    return
                # a transient error: the next renewal tries again (the lease has LEASE_S of slack)


@contextlib.contextmanager
def hold(scheme: str, root: str, query: str, path: str, on_busy: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock object `<root>/<path>` for the block. When a live holder has it, on_busy(holder)
    runs once: it raises to refuse, or returns to wait (polling) until the lock is free."""
    check_conditional_writes(scheme, root, query)
    client, bucket, prefix = _client(scheme, root, query)
    key = f"{prefix.rstrip('/')}/{path}".lstrip("/")
    token = uuid.uuid4().hex
    body = _body(token, 0)
    told = False
    while True:
        try:
            etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")["ETag"]
            break
        except Exception as err:
            if not _conflict(err):
                raise
        try:
            current = client.get_object(Bucket=bucket, Key=key)
        except Exception as err:
            if _status(err) == 404:
                continue   # released between our two requests
            raise
        held, age = current["Body"].read(), _age(current)
        if age > LEASE_S:   # its holder stopped renewing: take it over, if no other waiter did first
            try:
                etag = client.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current["ETag"])["ETag"]
                break
            except Exception as err:
                if not (_conflict(err) or _status(err) == 404):
                    raise
                continue
        if not told:
            told = True
            on_busy(_describe(held, age))
        time.sleep(POLL_S)
    lease = _Lease(client, bucket, key, token, etag)
    lease.start()
    try:
        yield
    finally:
        lease.stop.set()
        lease.join(timeout=30)
        if not lease.lost:
            _release(client, bucket, key, lease.etag, token)


def _release(client, bucket: str, key: str, etag: str, token: str) -> None:
    """Delete the lock object if it is still ours: If-Match on the delete where the store and client
    know it, else read it back and delete it when it holds our token."""
    try:
        client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        return
    except Exception as err:
        if _conflict(err) or _status(err) == 404:
            return   # taken over meanwhile, or gone: not ours to delete
    with contextlib.suppress(Exception):
        if _token(client.get_object(Bucket=bucket, Key=key)["Body"].read()) == token:
            client.delete_object(Bucket=bucket, Key=key)
