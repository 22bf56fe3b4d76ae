"""Helpers shared by the audit trail tests (`test_audit_*.py`).

- `audited(...)`: the audit headers (`x-kagi-audit-event-id`, `x-kagi-audit-log-index`) and
  the request id of a boto3 response, a boto3 `ClientError` or a raw response.
- `cloudtrail_client`, `lookup_all`: CloudTrail LookupEvents through boto3, following
  `NextToken` (bounded).
- `kagi_admin`, `kagi_audit`, `kagi_verify`: the `kagi admin` / `kagi audit` commands as an
  operator runs them.
- `read_segment`, `encode_record`: the on-disk record framing of the audit log, so tests
  can tamper with a copied log the way an attacker would (valid framing, recomputed hashes).

Expected values come from the spec of the audit trail (CloudTrail record contents, AWS's
LookupEvents and GetKeyLastUsage references), not from Kagi's source.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from aws_clients import HTTP_TIMEOUT_S, RawResponse
from kagi_process import Credentials, KagiServer

EVENT_ID_HEADER = "x-kagi-audit-event-id"
LOG_INDEX_HEADER = "x-kagi-audit-log-index"
KMS_SOURCE = "kms.amazonaws.com"
CLOUDTRAIL_SOURCE = "cloudtrail.amazonaws.com"
KEY_RESOURCE_TYPE = "AWS::KMS::Key"
COMMAND_TIMEOUT_S = 60
MAX_PAGES = 200  # a paging loop that does not end is a bug, not a slow test

# -- audit headers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Audited:
    """What a response says about its audit event."""

    event_id: str
    log_index: int
    request_id: str


def _headers_of(answer) -> dict[str, str]:
    if isinstance(answer, RawResponse):
        return answer.headers
    if isinstance(answer, ClientError):
        answer = answer.response
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return {k.lower(): v for k, v in headers.items()}


def audited(answer) -> Audited:
    """The audit headers of a boto3 response dict, a `ClientError` or a `RawResponse`."""
    headers = _headers_of(answer)
    assert EVENT_ID_HEADER in headers, f"no {EVENT_ID_HEADER} header: {headers}"
    assert LOG_INDEX_HEADER in headers, f"no {LOG_INDEX_HEADER} header: {headers}"
    index = headers[LOG_INDEX_HEADER]
    assert index.isdigit(), f"{LOG_INDEX_HEADER} is not a number: {index!r}"
    request_id = headers.get("x-amzn-requestid", "")
    assert request_id, f"no x-amzn-RequestId: {headers}"
    return Audited(headers[EVENT_ID_HEADER], int(index), request_id)


def has_audit_headers(answer) -> bool:
    headers = _headers_of(answer)
    return EVENT_ID_HEADER in headers or LOG_INDEX_HEADER in headers


# -- CloudTrail LookupEvents ------------------------------------------------------------


def cloudtrail_client(endpoint: str, creds: Credentials, *, region: str = "us-east-1",
                      validate: bool = True):
    """A boto3 CloudTrail client that never retries. `validate=False` lets out-of-range
    values reach the server."""
    config = Config(
        region_name=region,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=HTTP_TIMEOUT_S,
        parameter_validation=validate,
    )
    return boto3.client(
        "cloudtrail",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=config,
    )


def lookup_kwargs(key: str | None = None, value: str | None = None, **kwargs) -> dict:
    if key is not None:
        kwargs["LookupAttributes"] = [{"AttributeKey": key, "AttributeValue": value}]
    return kwargs


def lookup_pages(ct, key: str | None = None, value: str | None = None, **kwargs) -> list[list[dict]]:
    """Every page of a lookup, following NextToken."""
    args = lookup_kwargs(key, value, **kwargs)
    pages = []
    for _ in range(MAX_PAGES):
        resp = ct.lookup_events(**args)
        pages.append(resp["Events"])
        token = resp.get("NextToken")
        if not token:
            return pages
        args["NextToken"] = token
    raise AssertionError(f"LookupEvents {args} still had a NextToken after {MAX_PAGES} pages")


def lookup_all(ct, key: str | None = None, value: str | None = None, **kwargs) -> list[dict]:
    return [e for page in lookup_pages(ct, key, value, **kwargs) for e in page]


def ids_of(events: list[dict]) -> list[str]:
    return [e["EventId"] for e in events]


def trail_event(event: dict) -> dict:
    """The CloudTrail record (`CloudTrailEvent`, a JSON string) of a LookupEvents event."""
    return json.loads(event["CloudTrailEvent"])


def the_event(ct, event_id: str) -> dict:
    """The one event LookupEvents finds by EventId."""
    found = lookup_all(ct, "EventId", event_id)
    assert ids_of(found) == [event_id], f"LookupEvents EventId={event_id} found {ids_of(found)}"
    return found[0]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the kagi command --------------------------------------------------------------------


def run_kagi(kagi_bin: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [kagi_bin, *args]
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "NO_PROXY": "127.0.0.1,localhost"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                            stdin=subprocess.DEVNULL, env=env)
    if check:
        assert result.returncode == 0, (
            f"{cmd} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def kagi_admin(kagi_bin: str, server: KagiServer, *args: str) -> subprocess.CompletedProcess:
    return run_kagi(kagi_bin, "admin", "--endpoint", server.endpoint,
                    "--data-dir", str(server.data_dir), *args)


FULL_KMS_ACCESS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})


def create_user(kagi_bin: str, server: KagiServer, user: str) -> Credentials:
    """A new (non-admin) access key for `user`, made with `kagi admin`, and an identity
    policy allowing every KMS action (keys keep the default key policy, which delegates to
    identity policies)."""
    key = json.loads(kagi_admin(kagi_bin, server, "create-access-key", "--user", user).stdout)
    kagi_admin(kagi_bin, server, "put-user-policy", "--user", user,
               "--policy-name", "full-kms-access", "--policy-document", FULL_KMS_ACCESS)
    return Credentials(key["AccessKey"]["AccessKeyId"], key["AccessKey"]["SecretAccessKey"])


def kagi_audit(kagi_bin: str, server: KagiServer, *args: str,
               check: bool = True) -> subprocess.CompletedProcess:
    """`kagi audit --endpoint ... --data-dir ... <args>` against a running server."""
    return run_kagi(kagi_bin, "audit", "--endpoint", server.endpoint,
                    "--data-dir", str(server.data_dir), *args, check=check)


def kagi_verify(kagi_bin: str, audit_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`kagi audit verify <audit dir> <args>` (offline; the exit code is the caller's)."""
    return run_kagi(kagi_bin, "audit", "verify", str(audit_dir), *args, check=False)


def assert_verified(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0 and "verification OK" in result.stdout, (
        f"kagi audit verify exited {result.returncode}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}")


# -- audit directory layout ---------------------------------------------------------------

SEGMENT_HEADER_LEN = 17
RECORD_OVERHEAD = 4 + 8 + 32


@dataclass(frozen=True)
class Record:
    offset: int  # of the length field, in the segment file
    seq: int
    payload: bytes

    @property
    def size(self) -> int:
        return RECORD_OVERHEAD + len(self.payload)

    @property
    def end(self) -> int:
        return self.offset + self.size


def log_dir(audit_dir: Path) -> Path:
    return audit_dir / "log"


def segments(audit_dir: Path) -> list[Path]:
    found = sorted(log_dir(audit_dir).glob("log-*.seg"))
    assert found, f"no segment files in {log_dir(audit_dir)}"
    for path in found:
        assert len(path.stem) == len("log-") + 20 and path.stem[4:].isdigit(), path.name
    return found


def leaf_hash(payload: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + payload).digest()


def encode_record(seq: int, payload: bytes) -> bytes:
    """A well-framed record: length, sequence number, payload, RFC 6962 leaf hash."""
    return struct.pack(">IQ", len(payload), seq) + payload + leaf_hash(payload)


def read_segment(path: Path) -> list[Record]:
    """Every record of a segment; asserts the framing is intact (an untampered file). A
    running server's newest segment ends in the writer's reserve, zero bytes after the last
    record: reading stops there."""
    data = path.read_bytes()
    assert data[:8] == b"KAGILOG\x00" and data[8] == 1, f"{path}: unexpected header"
    pos, records = SEGMENT_HEADER_LEN, []
    while pos < len(data):
        if data[pos:pos + 12] == bytes(12) and not data[pos:].strip(b"\x00"):
            break
        length, seq = struct.unpack(">IQ", data[pos:pos + 12])
        payload = data[pos + 12:pos + 12 + length]
        assert data[pos + 12 + length:pos + RECORD_OVERHEAD + length] == leaf_hash(payload), (
            f"{path}: record at byte {pos} does not check out")
        records.append(Record(pos, seq, payload))
        pos += RECORD_OVERHEAD + length
    return records


def sealed_log_files(cloudtrail_dir: Path) -> list[Path]:
    return sorted(p for p in cloudtrail_dir.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"))


def digest_files(cloudtrail_dir: Path) -> list[Path]:
    return sorted(p for p in cloudtrail_dir.glob("AWSLogs/*/CloudTrail-Digest/*/*/*/*/*.json.gz"))


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
