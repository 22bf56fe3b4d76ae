"""A real-auth server on a tmp data dir: bootstrap credentials, SigV4 enforcement,
graceful shutdown, and that everything survives a restart.

Auth errors are AWS's: a wrong secret is InvalidSignatureException, an unknown access
key id UnrecognizedClientException, no Authorization MissingAuthenticationTokenException.
"""

from __future__ import annotations

import signal
import subprocess
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from aws_clients import AMZ_JSON, AwsCli, RawKms, kms_client, send
from conftest import ACCOUNT_ID, REGION, file_mode
from expect import assert_key_arn, aws_error, wait_until
from kagi_process import Credentials, dev_credentials

BOOTSTRAP_VARS = ("AWS_ENDPOINT_URL_KMS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def real_server(start_kagi, data_dir):
    return start_kagi(data_dir=data_dir)


# -- bootstrap -------------------------------------------------------------------------


def test_first_start_prints_and_writes_admin_credentials(real_server):
    exports = real_server.exported_env(BOOTSTRAP_VARS)
    missing = [n for n in BOOTSTRAP_VARS if n not in exports]
    assert not missing, f"bootstrap did not print {missing}\n{real_server.diagnostics()}"
    assert exports["AWS_ENDPOINT_URL_KMS"].rstrip("/") == real_server.endpoint.rstrip("/")
    assert exports["AWS_DEFAULT_REGION"] == "us-east-1"
    assert exports["AWS_ACCESS_KEY_ID"]
    assert len(exports["AWS_SECRET_ACCESS_KEY"]) >= 20

    path = real_server.credentials_file()
    assert path.is_file(), f"{path} was not written"
    assert file_mode(path) == 0o600, f"{path} has mode {oct(file_mode(path))}"
    from_file = real_server.file_credentials()
    assert from_file == Credentials(exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])


def test_bootstrap_credentials_work_with_boto3(real_server):
    kms = kms_client(real_server.endpoint, REGION, real_server.file_credentials())
    md = kms.create_key(Description="real auth")["KeyMetadata"]
    assert_key_arn(md["Arn"], REGION, ACCOUNT_ID, md["KeyId"])
    assert kms.decrypt(
        CiphertextBlob=kms.encrypt(KeyId=md["KeyId"], Plaintext=b"signed")["CiphertextBlob"]
    )["Plaintext"] == b"signed"


def test_credentials_file_works_as_aws_shared_credentials_file(real_server, tmp_path):
    # What a user does with the file the server wrote: point the CLI at it.
    creds = real_server.file_credentials()
    cli = AwsCli(home=tmp_path / "home", region=REGION, creds=creds, endpoint=real_server.endpoint,
                 extra_env={"AWS_SHARED_CREDENTIALS_FILE": str(real_server.credentials_file())})
    env = cli.env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    proc = subprocess.run(cli.base_args() + ["--output", "json", "kms", "list-keys"], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert '"Keys"' in proc.stdout


def test_printed_exports_drive_the_aws_cli(real_server, tmp_path):
    # `eval` the printed lines and run the CLI without --endpoint-url.
    exports = real_server.exported_env(BOOTSTRAP_VARS)
    creds = Credentials(exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])
    cli = AwsCli(home=tmp_path / "home", region=exports["AWS_DEFAULT_REGION"], creds=creds, endpoint=None,
                 extra_env={"AWS_ENDPOINT_URL_KMS": exports["AWS_ENDPOINT_URL_KMS"]})
    key_id = cli.run("kms", "create-key").json()["KeyMetadata"]["KeyId"]
    listed = cli.run("kms", "list-keys").json()["Keys"]
    assert [k["KeyId"] for k in listed] == [key_id]


# -- SigV4 is enforced ------------------------------------------------------------------


def test_wrong_secret_is_invalid_signature(real_server):
    good = real_server.file_credentials()
    bad = Credentials(good.access_key_id, good.secret_access_key[:-1] + ("A" if good.secret_access_key[-1] != "A" else "B"))
    with aws_error("InvalidSignatureException"):
        kms_client(real_server.endpoint, REGION, bad).list_keys()


def test_unknown_access_key_is_unrecognized_client(real_server):
    stranger = Credentials("AKIAUNKNOWNUNKNOWN00", "x" * 40)
    with aws_error("UnrecognizedClientException"):
        kms_client(real_server.endpoint, REGION, stranger).list_keys()


def test_dev_credentials_are_refused(real_server):
    with aws_error("UnrecognizedClientException"):
        kms_client(real_server.endpoint, REGION, dev_credentials()).create_key()


def test_missing_authentication(real_server):
    raw = RawKms(real_server.endpoint, REGION, None)
    resp = raw.post("{}", operation="ListKeys", sign=False)
    assert 400 <= resp.status < 500, resp.describe()
    assert resp.error_type == "MissingAuthenticationTokenException", resp.describe()
    assert resp.request_id, resp.describe()


def test_body_changed_after_signing_is_invalid_signature(real_server):
    raw = RawKms(real_server.endpoint, REGION, real_server.file_credentials())
    ok = raw.post('{"Limit": 5}', operation="ListKeys")
    assert ok.status == 200, ok.describe()
    resp = raw.post('{"Limit": 5}', operation="ListKeys", body_after_signing=b'{"Limit": 6}')
    assert 400 <= resp.status < 500, resp.describe()
    assert resp.error_type == "InvalidSignatureException", resp.describe()


def test_target_changed_after_signing_is_invalid_signature(real_server):
    # X-Amz-Target is a signed header: a signature for ListKeys cannot run CreateKey.
    creds = real_server.file_credentials()
    request = AWSRequest(method="POST", url=real_server.endpoint + "/", data=b"{}",
                         headers={"Content-Type": AMZ_JSON, "X-Amz-Target": "TrentService.ListKeys"})
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "kms", REGION).add_auth(request)
    headers = dict(request.headers.items())
    headers["X-Amz-Target"] = "TrentService.CreateKey"
    resp = send(real_server.endpoint, "POST", "/", b"{}", headers)
    assert resp.error_type == "InvalidSignatureException", resp.describe()
    assert kms_client(real_server.endpoint, REGION, creds).list_keys()["Keys"] == []


def test_signature_scoped_to_another_service_is_rejected(real_server):
    # "Credential should be scoped to correct service: 'kms'."
    creds = real_server.file_credentials()
    request = AWSRequest(method="POST", url=real_server.endpoint + "/", data=b"{}",
                         headers={"Content-Type": AMZ_JSON, "X-Amz-Target": "TrentService.ListKeys"})
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3", REGION).add_auth(request)
    resp = send(real_server.endpoint, "POST", "/", b"{}", dict(request.headers.items()))
    assert 400 <= resp.status < 500, resp.describe()
    assert resp.error_type == "InvalidSignatureException", resp.describe()


def test_expired_signature_is_rejected(real_server):
    # SigV4 requests are valid for 5 minutes around the server's clock; an hour-old
    # signature is refused (AWS: InvalidSignatureException, "Signature expired").
    raw = RawKms(real_server.endpoint, REGION, real_server.file_credentials())
    an_hour_ago = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    with mock.patch("botocore.auth.get_current_datetime", return_value=an_hour_ago):
        resp = raw.post("{}", operation="ListKeys")
    assert 400 <= resp.status < 500, resp.describe()
    assert resp.error_type == "InvalidSignatureException", resp.describe()


def test_signature_for_another_region_sees_other_keys(real_server):
    creds = real_server.file_credentials()
    east = kms_client(real_server.endpoint, "us-east-1", creds)
    west = kms_client(real_server.endpoint, "eu-west-1", creds)
    key_id = east.create_key()["KeyMetadata"]["KeyId"]
    with aws_error("NotFoundException"):
        west.describe_key(KeyId=key_id)
    assert west.list_keys()["Keys"] == []


# -- shutdown and restart ----------------------------------------------------------------


def test_sigterm_exits_zero(real_server):
    assert real_server.stop() == 0, real_server.diagnostics()


def test_sigint_exits_zero(start_kagi, data_dir):
    server = start_kagi(data_dir=data_dir, stop_signal=signal.SIGINT)
    assert server.stop() == 0, server.diagnostics()


def test_dev_server_sigterm_exits_zero(start_kagi):
    server = start_kagi(dev=True)
    assert server.stop() == 0, server.diagnostics()


def test_restart_keeps_keys_aliases_rotations_and_ciphertexts(start_kagi, data_dir):
    first = start_kagi(data_dir=data_dir)
    creds = first.file_credentials()
    kms = kms_client(first.endpoint, REGION, creds)

    key = kms.create_key(Description="survives restarts", Tags=[{"TagKey": "tier", "TagValue": "gold"}])["KeyMetadata"]
    key_id = key["KeyId"]
    kms.create_alias(AliasName="alias/persistent", TargetKeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    context = {"app": "billing"}
    before_rotation = kms.encrypt(KeyId="alias/persistent", Plaintext=b"before rotation",
                                  EncryptionContext=context)["CiphertextBlob"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    kms.rotate_key_on_demand(KeyId=key_id)
    wait_until(lambda: kms.list_key_rotations(KeyId=key_id)["Rotations"], what="the on-demand rotation")
    after_rotation = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]

    disabled = kms.create_key(Description="disabled")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    doomed = kms.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
    deletion_date = kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)["DeletionDate"]
    west = kms_client(first.endpoint, "eu-west-1", creds)
    west_key = west.create_key()["KeyMetadata"]["KeyId"]

    assert first.stop() == 0, first.diagnostics()

    second = start_kagi(data_dir=data_dir)
    kms = kms_client(second.endpoint, REGION, creds)  # the same credentials still work
    # The bootstrap secret is shown once, on the first start only.
    assert creds.secret_access_key not in second.stdout_text()
    west = kms_client(second.endpoint, "eu-west-1", creds)

    assert kms.decrypt(CiphertextBlob=before_rotation, EncryptionContext=context)["Plaintext"] == b"before rotation"
    assert kms.decrypt(CiphertextBlob=after_rotation, KeyId="alias/persistent")["Plaintext"] == b"after rotation"
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=before_rotation)

    described = kms.describe_key(KeyId="alias/persistent")["KeyMetadata"]
    assert described["KeyId"] == key_id
    assert described["Arn"] == key["Arn"]
    assert described["Description"] == "survives restarts"
    assert described["CreationDate"] == key["CreationDate"]
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1 and rotations[0]["RotationType"] == "ON_DEMAND"
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 180
    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
    assert tags == [{"TagKey": "tier", "TagValue": "gold"}]
    assert kms.describe_key(KeyId=disabled)["KeyMetadata"]["KeyState"] == "Disabled"
    pending = kms.describe_key(KeyId=doomed)["KeyMetadata"]
    assert pending["KeyState"] == "PendingDeletion"
    assert abs(pending["DeletionDate"] - deletion_date) <= timedelta(seconds=1)
    assert {k["KeyId"] for k in kms.list_keys()["Keys"]} == {key_id, disabled, doomed}
    assert [k["KeyId"] for k in west.list_keys()["Keys"]] == [west_key]

    # Still writable after the restart, and the new ciphertext survives another one.
    later = kms.encrypt(KeyId="alias/persistent", Plaintext=b"second life")["CiphertextBlob"]
    assert second.stop() == 0, second.diagnostics()
    third = start_kagi(data_dir=data_dir)
    kms = kms_client(third.endpoint, REGION, creds)
    assert kms.decrypt(CiphertextBlob=later)["Plaintext"] == b"second life"
    assert kms.decrypt(CiphertextBlob=before_rotation, EncryptionContext=context)["Plaintext"] == b"before rotation"
