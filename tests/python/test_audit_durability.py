"""The audit trail is durable before a response leaves, and fails closed.

- kill -9 under load: every event a client was told about (its `x-kagi-audit-event-id`)
  is found after a restart, and the log verifies.
- disk full (the audit dir on a 2 MiB tmpfs): while the audit log cannot be written, calls
  are refused with 503 DependencyTimeoutException and change nothing (not even the call
  that found the disk full); a refusal leaves the keep-alive connection usable; SIGTERM
  still stops the server; once space is back, calls succeed again without a restart.
"""

from __future__ import annotations

import errno
import http.client
import json
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from audit_helpers import (
    assert_verified,
    audited,
    cloudtrail_client,
    kagi_verify,
    lookup_all,
    trail_event,
)
from aws_clients import AMZ_JSON, HTTP_TIMEOUT_S, RawKms, kms_client
from conftest import REGION
from expect import error_code, wait_until
from kagi_process import Credentials, KagiServer

WORKERS = 8
LOAD_S = 3.0
LOOKUP_THREADS = 8
TMPFS_SIZE = "2m"
RECOVERY_TIMEOUT_S = 10
STOP_ON_FULL_DISK_S = 10


# -- kill -9 ------------------------------------------------------------------------------


def test_acknowledged_events_survive_kill_9(start_kagi, kagi_bin, tmp_path):
    data = tmp_path / "data"
    first = start_kagi(data_dir=data)
    creds = first.file_credentials()
    # Clients are built up front: building one loads botocore's models, which is slow.
    clients = [kms_client(first.endpoint, REGION, creds) for _ in range(WORKERS)]
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]
    acked: list[tuple[str, str]] = []  # (event id, request id) of answered calls
    errors_before_kill: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def worker(n: int) -> None:
        kms = clients[n]
        i = 0
        while True:
            try:
                if i % 2:
                    resp = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
                else:
                    resp = kms.encrypt(KeyId=key_id, Plaintext=f"w{n}-{i}".encode())
            except Exception as e:  # after the kill: stop, keep what was acknowledged
                if not killed.is_set():
                    with lock:
                        errors_before_kill.append(f"worker {n}: {e!r}")
                return
            call = audited(resp)
            with lock:
                acked.append((call.event_id, call.request_id))
            i += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_S)
    killed.set()
    first.kill()  # SIGKILL: no final checkpoint, no sealing
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a client thread hung after the server was killed"
    assert not errors_before_kill, errors_before_kill[:5]
    with lock:
        events = list(acked)
    assert len(events) >= 10 * WORKERS, f"too little load before the kill: {len(events)} calls"

    second = start_kagi(data_dir=data)
    lookups = [cloudtrail_client(second.endpoint, creds) for _ in range(LOOKUP_THREADS)]

    def missing(n: int) -> list[str]:
        lost = []
        for event_id, request_id in events[n::LOOKUP_THREADS]:
            found = lookup_all(lookups[n], "EventId", event_id)
            if [e["EventId"] for e in found] != [event_id]:
                lost.append(event_id)
            elif trail_event(found[0])["requestID"] != request_id:
                lost.append(f"{event_id} (another request id)")
        return lost

    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        lost = [e for part in pool.map(missing, range(LOOKUP_THREADS)) for e in part]
    assert not lost, f"{len(lost)} of {len(events)} acknowledged events are gone: {lost[:5]}"
    print(f"after kill -9: all {len(events)} acknowledged events found")

    assert second.stop() == 0
    assert_verified(kagi_verify(kagi_bin, data / "audit", "--cloudtrail-dir", str(data / "cloudtrail")))


# -- disk full ----------------------------------------------------------------------------


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs on {path} (the suite runs as root): "
                    f"{result.stderr.strip() or result.stdout.strip()}")


def unmount(path: Path) -> None:
    result = subprocess.run(["umount", str(path)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:  # still busy: detach it so the tmp dir can go
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(path: Path) -> int:
    """Writes `path` until the file system is full (down to the last byte); its size."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\xa5" * chunk
            while True:
                try:
                    n = f.write(block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
                written += n
                if n < chunk:
                    break
    assert written > 0
    return written


def unavailable(resp_or_exc) -> bool:
    """A 503 DependencyTimeoutException, from boto3 or the raw helper."""
    if isinstance(resp_or_exc, ClientError):
        status = resp_or_exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return status == 503 and error_code(resp_or_exc) == "DependencyTimeoutException"
    return resp_or_exc.status == 503 and resp_or_exc.error_type == "DependencyTimeoutException"


def boto_call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except ClientError as e:
        return e


def succeeded(answer) -> bool:
    """A boto3 result (a dict), or a raw response with status 200."""
    return isinstance(answer, dict) or getattr(answer, "status", None) == 200


def list_keys(kms):
    """`([key id, ...],)` once ListKeys succeeds (a tuple, so no keys is still truthy)."""
    resp = boto_call(kms.list_keys)
    return None if isinstance(resp, ClientError) else ([k["KeyId"] for k in resp["Keys"]],)


@dataclass
class SmallDisk:
    """A server whose audit dir (`--audit-dir`) is on a 2 MiB tmpfs."""

    mnt: Path
    audit: Path
    server: KagiServer
    creds: Credentials
    kms: object
    raw: RawKms

    @property
    def filler(self) -> Path:
        return self.mnt / "filler"

    def fill(self) -> None:
        fill(self.filler)

    def free(self) -> None:
        self.filler.unlink()

    def until_refused(self, call) -> list:
        """Makes `call()` until it is refused; every answer, the refusal last. Calls are
        still audited, durably, while their events fit in the part of the log's reserve
        written before the disk filled: up to 64 KiB (the writer tops the reserve up
        once that much is used) plus what the last page holds, so well under 150 events."""
        answers = []
        for _ in range(300):
            answers.append(call())
            if not succeeded(answers[-1]):
                break
        assert unavailable(answers[-1]), f"after filling the disk: {answers[-1]}"
        assert len(answers) <= 150, f"{len(answers)} calls were still audited on a full disk"
        return answers


@pytest.fixture
def small_disk(start_kagi, tmp_path) -> SmallDisk:
    mnt = tmp_path / "small-disk"
    mount_tmpfs(mnt, TMPFS_SIZE)
    server = None
    try:
        audit = mnt / "audit"
        server = start_kagi(data_dir=tmp_path / "data", extra_args=("--audit-dir", str(audit)))
        creds = server.file_credentials()
        yield SmallDisk(mnt, audit, server, creds, kms_client(server.endpoint, REGION, creds),
                        RawKms(server.endpoint, REGION, creds))
    finally:
        # Room first: stopping on a full disk is test_sigterm_on_a_full_disk_stops's concern.
        (mnt / "filler").unlink(missing_ok=True)
        if server is not None:  # nothing may hold the mount open
            server.stop(expect_clean=False)
        unmount(mnt)


def test_disk_full_fails_closed_and_recovers(kagi_bin, tmp_path, small_disk):
    disk, kms, raw = small_disk, small_disk.kms, small_disk.raw
    assert (disk.audit / "log").is_dir(), "the audit log goes where --audit-dir says"
    assert not (tmp_path / "data" / "audit").exists()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = [audited(kms.encrypt(KeyId=key_id, Plaintext=b"before")) for _ in range(3)]
    keys_before = {k["KeyId"] for k in kms.list_keys()["Keys"]}

    disk.fill()
    probes = disk.until_refused(
        lambda: raw.call("Encrypt", {"KeyId": key_id, "Plaintext": "cHJvYmU="}))

    # Refused while the log cannot be written: boto3 (no retries) and raw.
    for _ in range(3):
        refused = boto_call(kms.create_key, Description="must not exist")
        assert isinstance(refused, ClientError) and unavailable(refused), refused
        # The refusal itself is recorded in the log's reserved space while it lasts (the
        # server stops starting work as soon as it cannot top the reserve up), so it may
        # name its event; what matters is that nothing ran.
        # A pause, so that urllib3 notices a connection the server closed after the
        # refusal (test_refusals_keep_the_connection_usable checks that separately).
        time.sleep(0.1)
        assert unavailable(boto_call(kms.encrypt, KeyId=key_id, Plaintext=b"x"))
        resp = raw.call("CreateKey", {"Description": "must not exist either"})
        assert unavailable(resp), resp.describe()
        time.sleep(0.1)

    disk.free()
    started = time.monotonic()

    def works():
        resp = boto_call(kms.encrypt, KeyId=key_id, Plaintext=b"after")
        return None if isinstance(resp, ClientError) else resp

    after = audited(wait_until(works, timeout=RECOVERY_TIMEOUT_S, interval=0.2,
                               what="calls to succeed again once the disk has room"))
    print(f"recovered {time.monotonic() - started:.2f}s after the disk had room again")
    assert raw.call("ListKeys", {}).status == 200
    keys_after = {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert keys_after == keys_before, "a refused CreateKey ran anyway"
    # The lookup index (on the same full disk) recovers too: old and new events are found.
    ct = cloudtrail_client(disk.server.endpoint, disk.creds)
    for call in [*before, *(audited(p) for p in probes[:-1]), after]:
        found = lookup_all(ct, "EventId", call.event_id)
        assert [e["EventId"] for e in found] == [call.event_id], f"{call} not found after recovery"

    assert disk.server.stop() == 0
    assert_verified(kagi_verify(kagi_bin, disk.audit))


def test_call_that_finds_the_disk_full_changes_nothing(small_disk):
    """The call whose own event cannot be written gets a 503: its effect must not remain
    either (a key created without an audit record)."""
    kms = small_disk.kms
    assert list_keys(kms) == ([],)
    small_disk.fill()
    answers = small_disk.until_refused(lambda: boto_call(kms.create_key, Description="full"))
    created = [a["KeyMetadata"]["KeyId"] for a in answers[:-1]]
    small_disk.free()
    (keys,) = wait_until(lambda: list_keys(kms), timeout=RECOVERY_TIMEOUT_S, interval=0.2,
                         what="ListKeys to succeed after the disk has room")
    assert sorted(keys) == sorted(created), (
        "the CreateKey answered with 503 DependencyTimeoutException created a key anyway: "
        f"{sorted(set(keys) - set(created))}")


def test_refusals_keep_the_connection_usable(small_disk):
    """A refused call is answered like any other: on a keep-alive connection, the next
    request gets its own answer (unless the refusal said `Connection: close`)."""
    disk = small_disk
    disk.fill()
    disk.until_refused(lambda: disk.raw.call("ListKeys", {}))
    with KeepAlive(disk.server.endpoint, REGION, disk.creds) as conn:
        for i in range(3):
            status, headers, body = conn.call("CreateKey", {"Description": f"refused {i}"})
            assert status == 503 and b"DependencyTimeoutException" in body, (status, body)
            if headers.get("connection", "").lower() == "close":
                conn.reconnect()
            time.sleep(0.1)  # time for a server-side close to arrive


def test_sigterm_on_a_full_disk_stops(small_disk):
    """An operator can stop a server whose audit disk is full (it cannot write a final
    checkpoint, but it must not hang)."""
    disk = small_disk
    disk.fill()
    disk.until_refused(lambda: disk.raw.call("ListKeys", {}))
    proc = disk.server.proc
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(STOP_ON_FULL_DISK_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kagi still runs {STOP_ON_FULL_DISK_S}s after SIGTERM with its audit disk "
                    f"full\n{disk.server.diagnostics(tail=10)}")
    print(f"SIGTERM on a full disk: exit code {code}")


class KeepAlive:
    """Signed requests on one HTTP/1.1 connection, as SDK connection pools send them."""

    def __init__(self, endpoint: str, region: str, creds: Credentials) -> None:
        url = urlsplit(endpoint)
        self.host, self.port, self.region, self.creds = url.hostname, url.port, region, creds
        self.endpoint = endpoint
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)

    def __enter__(self) -> "KeepAlive":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)

    def call(self, operation: str, params: dict) -> tuple[int, dict[str, str], bytes]:
        """One signed request; the body follows the headers a moment later, as it does
        from clients that write headers and body separately (or over a slow link)."""
        body = json.dumps(params).encode()
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers={
            "Content-Type": AMZ_JSON, "X-Amz-Target": f"TrentService.{operation}"})
        SigV4Auth(BotoCredentials(self.creds.access_key_id, self.creds.secret_access_key),
                  "kms", self.region).add_auth(request)
        try:
            self.conn.putrequest("POST", "/", skip_accept_encoding=True)
            for name, value in request.headers.items():
                self.conn.putheader(name, value)
            self.conn.putheader("Content-Length", str(len(body)))
            self.conn.endheaders()
            time.sleep(0.05)
            self.conn.send(body)
            resp = self.conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, ConnectionError) as e:
            raise AssertionError(
                f"{operation}: the server closed the kept-alive connection after the previous "
                f"answer without `Connection: close`: {e!r}") from e
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
