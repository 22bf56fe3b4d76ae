"""Bad input on the wire, sent as raw AWS JSON 1.1 requests signed with botocore's SigV4.

Every error must be AWS-shaped: a 4xx status, a JSON body whose `__type` names the
exception (bare or `namespace#Name`), and an `x-amzn-RequestId` header. The exception
names are those AWS uses: UnknownOperationException for an unknown X-Amz-Target,
SerializationException when the body cannot be read into the operation's input shape
(bad JSON, wrong JSON types, bad base64), ValidationException when a value breaks a
constraint of the model (range, length, required).
"""

from __future__ import annotations

import base64
import json

import pytest

from aws_clients import RawKms, RawResponse

ONE_MIB = 1024 * 1024


def assert_aws_error(resp: RawResponse, *types: str) -> None:
    assert 400 <= resp.status < 500, f"expected a 4xx, got {resp.describe()}"
    assert resp.request_id, f"no x-amzn-RequestId header: {resp.describe()}"
    assert resp.headers.get("content-type", "").startswith("application/x-amz-json"), resp.describe()
    assert resp.error_type in types, f"expected __type {' or '.join(types)}: {resp.describe()}"
    body = resp.json()
    message = body.get("message", body.get("Message"))
    assert message is None or isinstance(message, str), resp.describe()


@pytest.fixture
def key_id(kms):
    return kms.create_key()["KeyMetadata"]["KeyId"]


def test_raw_signed_request_works(raw: RawKms, key_id):
    # The control: the raw path itself is sound.
    resp = raw.call("ListKeys", {})
    assert resp.status == 200, resp.describe()
    assert resp.request_id, resp.describe()
    assert resp.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), resp.describe()
    assert [k["KeyId"] for k in resp.json()["Keys"]] == [key_id]


def test_request_ids_are_unique(raw: RawKms):
    ids = {raw.call("ListKeys", {}).request_id for _ in range(5)}
    assert len(ids) == 5


def test_unknown_fields_are_ignored(raw: RawKms, key_id):
    resp = raw.call("DescribeKey", {"KeyId": key_id, "NoSuchField": {"nested": [1, 2]}})
    assert resp.status == 200, resp.describe()
    assert resp.json()["KeyMetadata"]["KeyId"] == key_id


@pytest.mark.parametrize("target", [
    "TrentService.FrobnicateKey",
    "TrentService.",
    "TrentService.describekey",
    "SomeOtherService.DescribeKey",
    "DescribeKey",
])
def test_unknown_operation(raw: RawKms, target):
    resp = raw.post("{}", target=target)
    assert_aws_error(resp, "UnknownOperationException")


def test_missing_target(raw: RawKms):
    resp = raw.post("{}", target=None)
    assert_aws_error(resp, "UnknownOperationException")


@pytest.mark.parametrize("body", [
    '{"KeyId": ',
    "{KeyId: 'x'}",
    "not json at all",
    '{"KeyId": "x"} trailing',
    "\xff\xfe",
])
def test_malformed_json(raw: RawKms, body):
    resp = raw.post(body.encode("latin-1") if body == "\xff\xfe" else body, operation="DescribeKey")
    assert_aws_error(resp, "SerializationException")


@pytest.mark.parametrize("operation,params", [
    ("DescribeKey", {"KeyId": 123}),
    ("DescribeKey", {"KeyId": ["a"]}),
    ("DescribeKey", {"KeyId": {"a": "b"}}),
    ("ListKeys", {"Limit": "ten"}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": 42}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": ["a", "b"]}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "aGk=", "EncryptionContext": {"a": 1}}),
    ("CreateKey", {"Tags": {"TagKey": "a", "TagValue": "b"}}),
    ("GenerateDataKey", {"KeyId": "alias/x", "NumberOfBytes": "32"}),
    ("EnableKeyRotation", {"KeyId": "alias/x", "RotationPeriodInDays": True}),
])
def test_wrong_json_types(raw: RawKms, operation, params):
    resp = raw.call(operation, params)
    assert_aws_error(resp, "SerializationException")


@pytest.mark.parametrize("body", ["[]", '"DescribeKey"', "42", "null"])
def test_body_that_is_not_an_object(raw: RawKms, body):
    resp = raw.post(body, operation="DescribeKey")
    assert_aws_error(resp, "SerializationException")


@pytest.mark.parametrize("blob", ["!!!not base64!!!", "a", "****", "aGVsbG8=garbage="])
def test_invalid_base64_ciphertext_blob(raw: RawKms, blob):
    resp = raw.call("Decrypt", {"CiphertextBlob": blob})
    assert_aws_error(resp, "SerializationException")


def test_invalid_base64_plaintext(raw: RawKms, key_id):
    resp = raw.call("Encrypt", {"KeyId": key_id, "Plaintext": "%%%"})
    assert_aws_error(resp, "SerializationException")


@pytest.mark.parametrize("operation,params", [
    ("ListKeys", {"Limit": 0}),
    ("ListKeys", {"Limit": 100000}),
    ("ListKeys", {"Limit": -1}),
    ("ListAliases", {"Limit": 0}),
    ("DescribeKey", {}),
    ("DescribeKey", {"KeyId": ""}),
    ("DescribeKey", {"KeyId": "k" * 2049}),
    ("Encrypt", {"KeyId": "alias/x"}),
    ("GenerateRandom", {"NumberOfBytes": 0}),
    ("GenerateRandom", {"NumberOfBytes": 1025}),
    ("CreateKey", {"Description": "d" * 8193}),
    ("CreateKey", {"KeyUsage": "NOT_A_USAGE"}),
    ("ScheduleKeyDeletion", {"KeyId": "alias/x", "PendingWindowInDays": 0}),
    ("CreateAlias", {"AliasName": "alias/ok"}),
    ("TagResource", {"KeyId": "alias/x"}),
])
def test_constraint_violations_are_validation_errors(raw: RawKms, operation, params):
    resp = raw.call(operation, params)
    assert_aws_error(resp, "ValidationException")


def test_plaintext_over_4096_bytes(raw: RawKms, key_id):
    params = {"KeyId": key_id, "Plaintext": base64.b64encode(b"p" * 4097).decode()}
    assert_aws_error(raw.call("Encrypt", params), "ValidationException")


def test_oversized_body_gets_an_aws_error(raw: RawKms, key_id):
    # ~2 MiB of otherwise valid JSON: the server must answer with an AWS-shaped 4xx
    # promptly (the client's timeout bounds the wait), never hang or 500.
    huge = base64.b64encode(b"p" * (3 * ONE_MIB // 2)).decode()
    body = json.dumps({"KeyId": key_id, "Plaintext": huge})
    assert len(body) > 2 * ONE_MIB - 1024
    resp = raw.post(body, operation="Encrypt")
    assert 400 <= resp.status < 500, resp.describe()
    assert resp.error_type is not None, f"not an AWS-shaped error: {resp.describe()}"
    assert resp.request_id, resp.describe()
    # And the server still serves normal requests afterwards.
    assert raw.call("ListKeys", {}).status == 200


def test_unsigned_request_is_rejected(raw: RawKms):
    resp = raw.post("{}", operation="ListKeys", sign=False)
    assert_aws_error(resp, "MissingAuthenticationTokenException")


def test_malformed_authorization_header(raw: RawKms):
    resp = raw.post("{}", operation="ListKeys", sign=False, headers={
        "Authorization": "AWS4-HMAC-SHA256 this is not a signature",
        "X-Amz-Date": "20250101T000000Z",
    })
    assert_aws_error(resp, "IncompleteSignatureException", "InvalidSignatureException",
                     "MissingAuthenticationTokenException")

