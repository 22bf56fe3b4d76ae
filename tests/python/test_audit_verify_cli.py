"""`kagi audit` as an operator uses it.

Offline: `kagi audit verify` passes on a copy of a gracefully stopped server's trail, and
fails, naming the problem and the file, on a copy that was tampered with (a flipped byte, a
deleted, swapped or forged record, a truncated log, a deleted sealed log file, a modified
digest). Online: `checkpoint`, `proof`, `consistency` and `usage` against a running server.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit_helpers import (
    assert_verified,
    audited,
    b64,
    copy_tree,
    digest_files,
    encode_record,
    kagi_audit,
    kagi_verify,
    read_segment,
    sealed_log_files,
    segments,
)
from aws_clients import kms_client
from conftest import ACCOUNT_ID, REGION
from expect import aws_error, wait_until
from kagi_process import KagiServer

ALIAS = "alias/verify-cli"
CONTEXT = {"purpose": "verify"}


def make_calls(server: KagiServer) -> dict:
    """A small, varied history: creates, crypto, a failure. Returns what was done."""
    kms = kms_client(server.endpoint, REGION, server.file_credentials())
    meta = kms.create_key(Description="verify cli")["KeyMetadata"]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=meta["KeyId"])
    blobs = [kms.encrypt(KeyId=ALIAS, Plaintext=f"m{i}".encode(), EncryptionContext=CONTEXT)
             for i in range(3)]
    decrypted = kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=blobs[0]["CiphertextBlob"],
                            EncryptionContext=CONTEXT)
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(KeyId=meta["KeyId"], CiphertextBlob=blobs[1]["CiphertextBlob"],
                    EncryptionContext={"purpose": "wrong"})
    generated = kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")
    with aws_error("NotFoundException"):
        kms.describe_key(KeyId="alias/does-not-exist")
    for i in range(12):  # enough records that the tampered ones sit in the middle
        kms.generate_random(NumberOfBytes=16)
    return {"key": meta, "last": audited(generated), "decrypt": audited(decrypted)}


# -- offline verification ------------------------------------------------------------------


@dataclass(frozen=True)
class Trail:
    audit: Path
    cloudtrail: Path

    def verify(self, kagi_bin: str, *args: str, sealed: bool = False):
        extra = ("--cloudtrail-dir", str(self.cloudtrail)) if sealed else ()
        return kagi_verify(kagi_bin, self.audit, *extra, *args)


@pytest.fixture(scope="module")
def sealed_trail(kagi_bin, tmp_path_factory) -> Trail:
    """The trail of a server that made some calls and was stopped with SIGTERM (final
    checkpoint, everything sealed, digests written). Tests tamper with copies only."""
    base = tmp_path_factory.mktemp("sealed-trail")
    data = base / "data"
    server = KagiServer(kagi_bin, log_dir=base / "logs", dev=False, data_dir=data,
                        account_id=ACCOUNT_ID, signal_on_stop=signal.SIGTERM)
    server.start()
    try:
        make_calls(server)
    finally:
        code = server.stop()
    assert code == 0, f"kagi exited {code} on SIGTERM\n{server.diagnostics()}"
    trail = Trail(data / "audit", data / "cloudtrail")
    for name in ("checkpoint.note", "checkpoints.log", "audit-key.pub",
                 "digest-public-key.der"):
        assert (trail.audit / name).is_file(), f"{name} is missing from {trail.audit}"
    # The lookup index is a directory of segment files; SIGTERM writes the open one.
    assert any((trail.audit / "index").glob("seg-*.idx")), f"no index segment in {trail.audit}"
    assert sealed_log_files(trail.cloudtrail), "SIGTERM sealed no CloudTrail log file"
    digests = digest_files(trail.cloudtrail)
    assert digests, "SIGTERM wrote no digest file"
    for digest in digests:
        assert digest.with_name(digest.name + ".sig").is_file(), f"{digest} has no .sig"
    return trail


@pytest.fixture
def trail(sealed_trail, tmp_path) -> Trail:
    """A fresh copy of the sealed trail, to tamper with."""
    return Trail(copy_tree(sealed_trail.audit, tmp_path / "audit"),
                 copy_tree(sealed_trail.cloudtrail, tmp_path / "cloudtrail"))


def output(result) -> str:
    return result.stdout + result.stderr


def assert_rejected(result, *fragments: str) -> None:
    """Non-zero exit, and the output names every fragment (the problem, the file...)."""
    text = output(result)
    assert result.returncode != 0, f"tampering was not detected (exit 0):\n{text}"
    assert "verification OK" not in result.stdout, text
    for fragment in fragments:
        assert fragment in text, f"the output does not name {fragment!r}:\n{text}"


def only_segment(trail: Trail) -> tuple[Path, list]:
    segs = segments(trail.audit)
    assert len(segs) == 1, f"expected one segment, found {segs}"
    records = read_segment(segs[0])
    assert len(records) >= 10
    return segs[0], records


def rewrite(segment: Path, records) -> None:
    """The segment's header followed by `records` (each: (seq, payload) or raw bytes)."""
    data = segment.read_bytes()[:17]
    for r in records:
        data += r if isinstance(r, bytes) else encode_record(r.seq, r.payload)
    segment.write_bytes(data)


def test_untouched_copy_verifies(kagi_bin, trail):
    assert_verified(trail.verify(kagi_bin, sealed=True))
    assert_verified(trail.verify(kagi_bin))


def pinned_files(trail: Trail) -> tuple[Path, str, Path]:
    """A pinned copy of the checkpoint note, the verifier key, the digest public key."""
    pinned = trail.audit.parent / "pinned.note"
    pinned.write_bytes((trail.audit / "checkpoint.note").read_bytes())
    key = (trail.audit / "audit-key.pub").read_text().strip()
    return pinned, key, trail.audit / "digest-public-key.der"


def test_verify_with_pinned_checkpoint_and_keys(kagi_bin, trail):
    """`kagi audit verify <dir> --checkpoint F --verifier-key K --digest-public-key D`."""
    note, key, der = pinned_files(trail)
    assert_verified(trail.verify(kagi_bin, "--checkpoint", str(note), "--verifier-key", key,
                                 "--digest-public-key", str(der), sealed=True))
    # Another key under the same name and id: the pinned checkpoint is not accepted.
    name, key_id, _ = key.split("+", 2)
    wrong = f"{name}+{key_id}+{b64(bytes([1]) + bytes(range(32)))}"
    assert_rejected(trail.verify(kagi_bin, "--checkpoint", str(note), "--verifier-key", wrong),
                    "pinned checkpoint rejected")


def test_flipped_byte_in_a_record_is_detected(kagi_bin, trail):
    segment, records = only_segment(trail)
    victim = records[len(records) // 2]
    data = bytearray(segment.read_bytes())
    data[victim.offset + 12 + len(victim.payload) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    assert_rejected(trail.verify(kagi_bin), segment.name, f"at byte {victim.offset}",
                    f"record {victim.seq} was modified")


def test_deleted_record_is_detected(kagi_bin, trail):
    segment, records = only_segment(trail)
    k = len(records) // 2
    rewrite(segment, records[:k] + records[k + 1:])
    assert_rejected(trail.verify(kagi_bin), segment.name, f"at byte {records[k].offset}",
                    f"record {records[k].seq} is missing")


def test_truncated_newest_record_is_detected_against_a_pinned_checkpoint(kagi_bin, trail):
    segment, records = only_segment(trail)
    pinned, _, _ = pinned_files(trail)
    # The attacker also rolls the directory's own checkpoint back out of the way.
    (trail.audit / "checkpoint.note").unlink()
    with open(segment, "r+b") as f:
        f.truncate(records[-1].offset)  # a clean cut at a record boundary
    assert_rejected(trail.verify(kagi_bin, "--checkpoint", str(pinned)), segment.name,
                    f"ends after {len(records) - 1} records", "newest events were removed")


def test_swapped_records_are_detected(kagi_bin, trail):
    segment, records = only_segment(trail)
    k = len(records) // 2
    a, b = records[k], records[k + 1]
    rewrite(segment, records[:k] + [b, a] + records[k + 2:])
    a_now = a.offset + b.size  # `b` now starts where `a` did; `a` follows it
    assert_rejected(trail.verify(kagi_bin), segment.name, "reordered",
                    f"at byte {a_now}: record {a.seq} comes after record {b.seq}")


def forged_payload(records) -> bytes:
    event = json.loads(records[-1].payload)
    event["eventID"] = "00000000-0000-4000-8000-000000000000"
    event["eventName"] = "ScheduleKeyDeletion"
    return json.dumps(event, separators=(",", ":")).encode()


def test_forged_record_appended_is_detected(kagi_bin, trail):
    """A well-framed record with the next sequence number and a correct leaf hash, after a
    graceful stop whose final checkpoint and seal covered the whole log."""
    segment, records = only_segment(trail)
    with open(segment, "ab") as f:
        f.write(encode_record(records[-1].seq + 1, forged_payload(records)))
    assert_rejected(trail.verify(kagi_bin, sealed=True), segment.name)


def test_forged_record_reusing_a_number_is_detected(kagi_bin, trail):
    segment, records = only_segment(trail)
    end = records[-1].end
    with open(segment, "ab") as f:
        f.write(encode_record(records[-1].seq, forged_payload(records)))
    assert_rejected(trail.verify(kagi_bin), segment.name, f"at byte {end}",
                    f"record number {records[-1].seq}")


def test_deleted_sealed_log_file_is_detected(kagi_bin, trail):
    victim = sealed_log_files(trail.cloudtrail)[0]
    victim.unlink()
    assert_verified(trail.verify(kagi_bin))  # the log itself is intact
    assert_rejected(trail.verify(kagi_bin, sealed=True), victim.name)


def test_modified_digest_is_detected(kagi_bin, trail):
    victim = digest_files(trail.cloudtrail)[0]
    digest = json.loads(gzip.decompress(victim.read_bytes()))
    assert digest["logFiles"], f"the digest lists no log file: {digest}"
    # Hide a change to a log file: the digest now vouches for other content.
    digest["logFiles"][0]["hashValue"] = "0" * 64
    victim.write_bytes(gzip.compress(json.dumps(digest).encode()))
    assert_rejected(trail.verify(kagi_bin, sealed=True), victim.name)


# -- against a running server ---------------------------------------------------------------


@pytest.fixture
def live(start_kagi, tmp_path):
    server = start_kagi(data_dir=tmp_path / "data")
    return server, make_calls(server)


def verifier_key(server: KagiServer) -> str:
    return (server.data_dir / "audit" / "audit-key.pub").read_text().strip()


def test_checkpoint_proof_and_consistency(kagi_bin, live):
    server, calls = live
    last = calls["last"]
    key = verifier_key(server)

    def proved(*args: str):
        # A proof needs a checkpoint covering the event; checkpoints follow within a second.
        result = kagi_audit(kagi_bin, server, "--verifier-key", key, *args, check=False)
        return result if result.returncode == 0 else None

    by_id = wait_until(lambda: proved("proof", "--event-id", last.event_id), timeout=10,
                       what="an inclusion proof of the last call")
    assert "verified" in by_id.stderr, by_id.stderr
    assert json.loads(by_id.stdout)["LogIndex"] == last.log_index

    by_index = kagi_audit(kagi_bin, server, "--verifier-key", key, "proof",
                          "--log-index", str(calls["decrypt"].log_index))
    assert "verified" in by_index.stderr, by_index.stderr
    assert json.loads(by_index.stdout)["LogIndex"] == calls["decrypt"].log_index

    consistency = kagi_audit(kagi_bin, server, "--verifier-key", key, "consistency", "--first", "1")
    assert "verified" in consistency.stderr, consistency.stderr
    proof = json.loads(consistency.stdout)
    assert proof["FirstTreeSize"] == 1 and proof["SecondTreeSize"] > last.log_index

    checkpoint = kagi_audit(kagi_bin, server, "checkpoint")
    assert "verified" in checkpoint.stderr, checkpoint.stderr
    size = int(re.search(r"verified: (\d+) events", checkpoint.stderr).group(1))
    assert size > last.log_index
    assert f"kagi/{ACCOUNT_ID}" in checkpoint.stdout, "the note names the log's origin"


def test_wrong_verifier_key_is_refused(kagi_bin, live, start_kagi, tmp_path):
    server, _ = live
    other = start_kagi(data_dir=tmp_path / "other-data")
    result = kagi_audit(kagi_bin, server, "--verifier-key", verifier_key(other), "checkpoint",
                        check=False)
    assert result.returncode != 0, output(result)
    assert "verified:" not in result.stderr, output(result)


@dataclass(frozen=True)
class UsageRow:
    principal: str
    access_key: str
    operation: str
    calls: int
    errors: int


def usage_rows(stdout: str) -> dict[str, UsageRow]:
    """The table `kagi audit usage` prints, by operation."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["principal", "access", "key"])
    rows = {}
    for line in lines[header + 1:]:
        cols = line.split()
        if len(cols) < 7:
            continue
        row = UsageRow(cols[0], cols[1], cols[2], int(cols[3]), int(cols[4]))
        rows[row.operation] = row
    return rows


def test_usage_lists_the_operations_used(kagi_bin, live):
    server, calls = live
    key = calls["key"]
    access_key = server.file_credentials().access_key_id
    for name in (key["KeyId"], key["Arn"], ALIAS):
        result = kagi_audit(kagi_bin, server, "usage", name)
        rows = usage_rows(result.stdout)
        assert {"CreateKey", "CreateAlias", "Encrypt", "Decrypt", "GenerateDataKey"} <= set(rows), (
            f"usage {name}:\n{result.stdout}")
        assert "GenerateRandom" not in rows and "DescribeKey" not in rows
        assert (rows["Encrypt"].calls, rows["Encrypt"].errors) == (3, 0), result.stdout
        assert (rows["Decrypt"].calls, rows["Decrypt"].errors) == (2, 1), result.stdout
        assert rows["GenerateDataKey"].calls == 1
        assert {r.access_key for r in rows.values()} == {access_key}

    future = kagi_audit(kagi_bin, server, "usage", key["KeyId"],
                        "--start", "2999-01-01T00:00:00Z", "--end", "2999-12-31T00:00:00Z")
    assert "no recorded use" in future.stdout, future.stdout
