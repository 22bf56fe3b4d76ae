"""The audit trail read back as AWS clients read CloudTrail: LookupEvents through boto3
and the AWS CLI, the audit headers of every response, and KMS GetKeyLastUsage.

Every test runs a real-auth server with its own data directory, so the trail holds exactly
the calls the test made (plus its own lookups, which are audited too)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from audit_helpers import (
    CLOUDTRAIL_SOURCE,
    KEY_RESOURCE_TYPE,
    KMS_SOURCE,
    Audited,
    audited,
    b64,
    cloudtrail_client,
    create_user,
    has_audit_headers,
    ids_of,
    lookup_all,
    lookup_pages,
    read_segment,
    segments,
    the_event,
    trail_event,
)
from aws_clients import AwsCli, RawKms, kms_client, send
from conftest import ACCOUNT_ID, REGION
from expect import assert_recent, aws_error
from kagi_process import Credentials

PLAINTEXT = b"kagi-audit: the eagle lands at midnight"
ALIAS = "alias/audit-lookup"
PAGED_CALLS = 120  # more than two full pages of 50


@pytest.fixture
def server(start_kagi, tmp_path):
    return start_kagi(data_dir=tmp_path / "data")


@pytest.fixture
def admin_creds(server) -> Credentials:
    return server.file_credentials()


@pytest.fixture
def ct(server, admin_creds):
    """CloudTrail as the bootstrap admin (LookupEvents needs an admin principal)."""
    return cloudtrail_client(server.endpoint, admin_creds)


@pytest.fixture
def ct_unvalidated(server, admin_creds):
    return cloudtrail_client(server.endpoint, admin_creds, validate=False)


@pytest.fixture
def alice(kagi_bin, server) -> Credentials:
    return create_user(kagi_bin, server, "alice")


@pytest.fixture
def kms(server, alice):
    """KMS as alice, a non-admin user: her calls are the ones the tests look for."""
    return kms_client(server.endpoint, REGION, alice)


@dataclass
class Scenario:
    key_id: str
    key_arn: str
    alias_arn: str
    blob: bytes
    create: Audited
    alias: Audited
    encrypt: Audited
    decrypt: Audited
    failed: Audited  # DescribeKey of an alias that does not exist
    all: dict[str, Audited] = field(default_factory=dict)

    def ids(self, *names: str) -> set[str]:
        return {self.all[n].event_id for n in names}


@pytest.fixture
def scenario(kms) -> Scenario:
    """CreateKey, CreateAlias, Encrypt, Decrypt and a failed DescribeKey, as alice."""
    created = kms.create_key(Description="audit lookup")
    meta = created["KeyMetadata"]
    alias = kms.create_alias(AliasName=ALIAS, TargetKeyId=meta["KeyId"])
    enc = kms.encrypt(KeyId=meta["KeyId"], Plaintext=PLAINTEXT,
                      EncryptionContext={"purpose": "audit-test"})
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"],
                      EncryptionContext={"purpose": "audit-test"})
    assert dec["Plaintext"] == PLAINTEXT
    with aws_error("NotFoundException") as failure:
        kms.describe_key(KeyId="alias/no-such-alias")
    calls = {
        "create": audited(created),
        "alias": audited(alias),
        "encrypt": audited(enc),
        "decrypt": audited(dec),
        "failed": audited(failure.value),
    }
    indexes = [a.log_index for a in calls.values()]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes), (
        f"sequential calls must get increasing log indexes: {indexes}")
    assert len({a.event_id for a in calls.values()}) == len(calls), "event ids must be unique"
    return Scenario(
        key_id=meta["KeyId"],
        key_arn=meta["Arn"],
        alias_arn=f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{ALIAS}",
        blob=enc["CiphertextBlob"],
        all=calls,
        **calls,
    )


def found(ct, key: str, value: str) -> set[str]:
    return set(ids_of(lookup_all(ct, key, value)))


def test_lookup_by_every_attribute(ct, scenario, alice):
    s = scenario
    everything = s.ids("create", "alias", "encrypt", "decrypt", "failed")
    with_key = s.ids("create", "alias", "encrypt", "decrypt")

    # EventId: exactly that event, with the fields LookupEvents returns.
    event = the_event(ct, s.encrypt.event_id)
    assert event["EventName"] == "Encrypt"
    assert event["ReadOnly"] == "true"
    assert event["AccessKeyId"] == alice.access_key_id
    assert event["Username"] == "alice"
    assert event["EventSource"] == KMS_SOURCE
    assert_recent(event["EventTime"])
    assert event["Resources"] == [{"ResourceType": KEY_RESOURCE_TYPE, "ResourceName": s.key_arn}]
    assert trail_event(event)["eventID"] == s.encrypt.event_id

    assert found(ct, "EventName", "Encrypt") == s.ids("encrypt")
    assert found(ct, "EventName", "DescribeKey") == s.ids("failed")
    assert found(ct, "EventName", "NoSuchOperation") == set()

    writes, reads = found(ct, "ReadOnly", "false"), found(ct, "ReadOnly", "true")
    assert s.ids("create", "alias") <= writes and not writes & s.ids("encrypt", "decrypt", "failed")
    assert s.ids("encrypt", "decrypt", "failed") <= reads and not reads & s.ids("create", "alias")

    assert found(ct, "Username", "alice") == everything
    assert found(ct, "AccessKeyId", alice.access_key_id) == everything
    assert found(ct, "Username", "nobody") == set()

    by_type = found(ct, "ResourceType", KEY_RESOURCE_TYPE)
    assert with_key <= by_type and s.failed.event_id not in by_type
    assert found(ct, "ResourceType", "AWS::S3::Bucket") == set()

    assert found(ct, "ResourceName", s.key_arn) == with_key
    assert found(ct, "ResourceName", s.key_id) == with_key, "a bare key id names the key too"
    assert found(ct, "ResourceName", s.alias_arn) == s.ids("alias")

    kms_events = found(ct, "EventSource", KMS_SOURCE)
    assert everything <= kms_events
    lookups = lookup_all(ct, "EventSource", CLOUDTRAIL_SOURCE)
    assert lookups and not set(ids_of(lookups)) & kms_events
    assert {e["EventName"] for e in lookups} == {"LookupEvents"}, "our lookups are audited too"


def test_header_event_id_and_cloudtrail_event_match_the_call(ct, kms, scenario, alice):
    s = scenario
    record = trail_event(the_event(ct, s.encrypt.event_id))
    assert record["eventVersion"] == "1.11"
    assert record["eventID"] == s.encrypt.event_id
    assert record["requestID"] == s.encrypt.request_id
    assert record["eventName"] == "Encrypt"
    assert record["eventSource"] == KMS_SOURCE
    assert record["awsRegion"] == REGION
    assert record["readOnly"] is True
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert record["userIdentity"]["accessKeyId"] == alice.access_key_id
    assert record["userIdentity"]["userName"] == "alice"
    assert record["resources"] == [
        {"accountId": ACCOUNT_ID, "type": KEY_RESOURCE_TYPE, "ARN": s.key_arn}]
    assert record["requestParameters"]["encryptionContext"] == {"purpose": "audit-test"}
    assert "errorCode" not in record

    # Decrypt names no key; its record names the key the ciphertext belongs to.
    dec = trail_event(the_event(ct, s.decrypt.event_id))
    assert dec["requestID"] == s.decrypt.request_id
    assert [r["ARN"] for r in dec["resources"]] == [s.key_arn]

    failed = trail_event(the_event(ct, s.failed.event_id))
    assert failed["requestID"] == s.failed.request_id
    assert failed["errorCode"] == "NotFoundException"
    assert failed["resources"] == []

    created = trail_event(the_event(ct, s.create.event_id))
    assert [r["ARN"] for r in created["resources"]] == [s.key_arn]
    alias = trail_event(the_event(ct, s.alias.event_id))
    assert sorted(r["ARN"] for r in alias["resources"]) == sorted([s.key_arn, s.alias_arn])

    # No secret reaches the trail: not the plaintext, not its base64, not the ciphertext.
    data_key = kms.generate_data_key(KeyId=s.key_id, KeySpec="AES_256")
    secrets = {
        "plaintext": PLAINTEXT.decode(),
        "plaintext (base64)": b64(PLAINTEXT),
        "ciphertext blob (base64)": b64(s.blob),
        "data key (base64)": b64(data_key["Plaintext"]),
        "encrypted data key (base64)": b64(data_key["CiphertextBlob"]),
    }
    records = [e["CloudTrailEvent"] for e in lookup_all(ct)]
    assert len(records) >= 6
    for what, secret in secrets.items():
        leaks = [r for r in records if secret in r]
        assert not leaks, f"the {what} is in a CloudTrail event: {leaks[0][:400]}"


def test_every_request_is_audited_but_probes_are_not(ct, server, scenario, alice):
    raw = RawKms(server.endpoint, REGION, alice)
    before = audited(raw.call("ListKeys", {}))
    probe = send(server.endpoint, "GET", "/_kagi/health", b"", {})
    assert probe.status == 200 and not has_audit_headers(probe), probe.describe()
    ready = send(server.endpoint, "GET", "/_kagi/ready", b"", {})
    assert not has_audit_headers(ready), ready.describe()

    malformed = raw.post(b"{not json", operation="Encrypt")
    assert malformed.status == 400, malformed.describe()
    stranger = RawKms(server.endpoint, REGION, Credentials("AKIAUNKNOWNKEY000000", "not-a-secret"))
    unknown = stranger.call("ListKeys", {})
    assert unknown.error_type == "UnrecognizedClientException", unknown.describe()
    unsigned = raw.post(b"{}", operation="ListKeys", sign=False)
    assert unsigned.status in (400, 403), unsigned.describe()

    answers = [audited(r) for r in (malformed, unknown, unsigned)]
    assert [a.log_index for a in answers] == [before.log_index + i for i in (1, 2, 3)], (
        "probes take no log index; every other request takes exactly one")
    for answer, raw_response in zip(answers, (malformed, unknown, unsigned)):
        record = trail_event(the_event(ct, answer.event_id))
        assert record["requestID"] == raw_response.request_id
        assert record["errorCode"] == raw_response.error_type
    stranger_events = lookup_all(ct, "AccessKeyId", "AKIAUNKNOWNKEY000000")
    assert ids_of(stranger_events) == [answers[1].event_id]
    assert trail_event(stranger_events[0])["userIdentity"]["type"] == "Unknown"


def test_nothing_secret_is_written_to_the_log_files(server, scenario):
    on_disk = b"".join(r.payload for seg in segments(server.data_dir / "audit")
                       for r in read_segment(seg))
    for secret in (PLAINTEXT, b64(PLAINTEXT).encode(), b64(scenario.blob).encode()):
        assert secret not in on_disk


def test_paging_is_newest_first_without_duplicates_or_gaps(ct, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    calls = [audited(kms.encrypt(KeyId=key_id, Plaintext=b"x")) for _ in range(PAGED_CALLS)]
    newest_first = [a.event_id for a in reversed(calls)]

    # Without a filter: the whole log, newest first. Its newest event is our last call (a
    # lookup is recorded only after it answers), so the log holds exactly last index + 1
    # events, and each must come exactly once.
    everything = lookup_all(ct)
    ids = ids_of(everything)
    assert len(ids) == len(set(ids)), "an event came twice"
    assert ids[0] == calls[-1].event_id
    assert len(ids) == calls[-1].log_index + 1, "events are missing from the pages"
    position = {event_id: i for i, event_id in enumerate(ids)}
    assert [position[e] for e in newest_first] == sorted(position[e] for e in newest_first)
    times = [e["EventTime"] for e in everything]
    assert times == sorted(times, reverse=True), "newest first"

    pages = lookup_pages(ct, "EventName", "Encrypt")
    assert [len(p) for p in pages] == [50, 50, PAGED_CALLS - 100], "MaxResults defaults to 50"
    assert [e for p in pages for e in ids_of(p)] == newest_first

    small = lookup_pages(ct, "ResourceName", key_id, MaxResults=7)
    assert all(len(p) == 7 for p in small[:-1]) and 1 <= len(small[-1]) <= 7
    encrypts = [e for p in small for e in p if e["EventName"] == "Encrypt"]
    assert ids_of(encrypts) == newest_first
    assert small[-1][-1]["EventName"] == "CreateKey", "the key's oldest event comes last"


def test_start_and_end_time(ct, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]

    def batch() -> list[str]:
        return [audited(kms.encrypt(KeyId=key_id, Plaintext=b"t")).event_id for _ in range(3)]

    # Event times have one-second resolution: keep every batch well clear of the bound.
    early = batch()
    time.sleep(1.5)
    middle = datetime.now(timezone.utc)
    time.sleep(1.5)
    late = batch()

    def encrypts(**kwargs) -> list[str]:
        return ids_of(lookup_all(ct, "EventName", "Encrypt", **kwargs))

    assert encrypts(StartTime=middle) == late[::-1]
    assert encrypts(EndTime=middle) == early[::-1]
    assert encrypts(StartTime=middle - timedelta(minutes=5), EndTime=middle) == early[::-1]
    assert encrypts(StartTime=middle - timedelta(minutes=5),
                    EndTime=middle + timedelta(minutes=5)) == (early + late)[::-1]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert encrypts(StartTime=future) == []
    assert encrypts(StartTime=middle, EndTime=middle) == []


def test_lookup_errors(ct, ct_unvalidated, server, alice):
    now = datetime.now(timezone.utc)
    key_id_attr = {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}
    with aws_error("InvalidLookupAttributesException"):
        ct.lookup_events(LookupAttributes=[key_id_attr, key_id_attr])
    with aws_error("InvalidLookupAttributesException"):
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "Color", "AttributeValue": "blue"}])
    with aws_error("InvalidMaxResultsException"):
        ct_unvalidated.lookup_events(MaxResults=51)
    with aws_error("InvalidMaxResultsException"):
        ct_unvalidated.lookup_events(MaxResults=0)
    with aws_error("InvalidTimeRangeException"):
        ct.lookup_events(StartTime=now, EndTime=now - timedelta(hours=1))
    with aws_error("InvalidNextTokenException"):
        ct.lookup_events(NextToken="bm90LWEtdG9rZW4=garbage")
    with aws_error("InvalidEventCategoryException"):
        ct_unvalidated.lookup_events(EventCategory="management")
    assert ct.lookup_events(EventCategory="insight")["Events"] == []
    assert len(ct.lookup_events(MaxResults=50)["Events"]) <= 50

    # LookupEvents shows everyone's activity: it is for admin principals only.
    with aws_error("AccessDeniedException"):
        cloudtrail_client(server.endpoint, alice).lookup_events()


def test_aws_cli_lookup_events(server, admin_creds, scenario, tmp_path):
    cli = AwsCli(home=tmp_path / "cli-home", region=REGION, creds=admin_creds,
                 endpoint=server.endpoint)
    out = cli.run("cloudtrail", "lookup-events", "--lookup-attributes",
                  f"AttributeKey=ResourceName,AttributeValue={scenario.key_arn}",
                  "--max-results", "5").json()
    events = out["Events"]
    assert ids_of(events) == [scenario.decrypt.event_id, scenario.encrypt.event_id,
                              scenario.alias.event_id, scenario.create.event_id]
    assert [e["EventName"] for e in events] == ["Decrypt", "Encrypt", "CreateAlias", "CreateKey"]
    for event in events:
        assert trail_event(event)["eventID"] == event["EventId"]
        assert {"ResourceType": KEY_RESOURCE_TYPE, "ResourceName": scenario.key_arn} in event["Resources"]

    by_id = cli.run("cloudtrail", "lookup-events", "--lookup-attributes",
                    f"AttributeKey=EventId,AttributeValue={scenario.failed.event_id}").json()
    assert ids_of(by_id["Events"]) == [scenario.failed.event_id]


def test_get_key_last_usage(kms):
    meta = kms.create_key()["KeyMetadata"]
    unused = kms.get_key_last_usage(KeyId=meta["KeyId"])
    assert unused["KeyId"] == meta["KeyId"]
    assert unused["KeyLastUsage"] == {}, "a key never used has no last usage"
    assert unused["KeyCreationDate"] == meta["CreationDate"]
    assert unused["TrackingStartDate"] <= datetime.now(timezone.utc)

    generated = kms.generate_data_key(KeyId=meta["KeyId"], NumberOfBytes=32)
    call = audited(generated)
    kms.describe_key(KeyId=meta["KeyId"])  # not a use of the key
    for name in (meta["KeyId"], meta["Arn"]):
        usage = kms.get_key_last_usage(KeyId=name)
        assert usage["KeyId"] == meta["KeyId"]
        last = usage["KeyLastUsage"]
        assert last["Operation"] == "GenerateDataKey"
        assert last["KmsRequestId"] == generated["ResponseMetadata"]["RequestId"] == call.request_id
        assert last["CloudTrailEventId"] == call.event_id
        assert_recent(last["Timestamp"])

    encrypted = audited(kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"later"))
    last = kms.get_key_last_usage(KeyId=meta["KeyId"])["KeyLastUsage"]
    assert (last["Operation"], last["CloudTrailEventId"]) == ("Encrypt", encrypted.event_id)

    kms.create_alias(AliasName="alias/last-usage", TargetKeyId=meta["KeyId"])
    with aws_error("NotFoundException"):
        kms.get_key_last_usage(KeyId="alias/last-usage")
