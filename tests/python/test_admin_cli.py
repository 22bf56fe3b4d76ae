"""`kagi admin` as an operator uses it: the real binary against a real-auth server."""

from __future__ import annotations

import json
import subprocess

import pytest

from aws_clients import kms_client
from conftest import REGION
from expect import aws_error
from kagi_process import Credentials

ADMIN_TIMEOUT_S = 30


@pytest.fixture
def server(start_kagi, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return start_kagi(data_dir=data)


def kagi_admin(kagi_bin: str, server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [kagi_bin, "admin", "--endpoint", server.endpoint,
           "--data-dir", str(server.credentials_file().parent), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=ADMIN_TIMEOUT_S,
                            stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, f"{cmd}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def test_access_key_lifecycle(kagi_bin, server, tmp_path):
    created = json.loads(kagi_admin(kagi_bin, server, "create-access-key", "--user", "alice").stdout)
    key = created["AccessKey"]
    assert key["UserName"] == "alice" and key["Status"] == "Active" and key["Admin"] is False
    alice = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    kms = kms_client(server.endpoint, REGION, alice)
    # Authenticated at once, allowed nothing until an identity policy says so.
    with aws_error("AccessDeniedException"):
        kms.list_keys()
    policy = tmp_path / "list-keys.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}))
    kagi_admin(kagi_bin, server, "put-user-policy", "--user", "alice",
               "--policy-name", "list-keys", "--policy-document", f"file://{policy}")
    kms.list_keys()
    shown = json.loads(kagi_admin(kagi_bin, server, "list-user-policies", "--user", "alice").stdout)
    assert [p["PolicyName"] for p in shown["Policies"]] == ["list-keys"]

    listed = kagi_admin(kagi_bin, server, "list-access-keys").stdout
    assert key["AccessKeyId"] in listed
    assert key["SecretAccessKey"] not in listed, "secrets are shown once, never listed"

    kagi_admin(kagi_bin, server, "disable-access-key", key["AccessKeyId"])
    with aws_error("UnrecognizedClientException"):
        kms.list_keys()
    kagi_admin(kagi_bin, server, "enable-access-key", key["AccessKeyId"])
    kms.list_keys()
    kagi_admin(kagi_bin, server, "delete-access-key", key["AccessKeyId"])
    with aws_error("UnrecognizedClientException"):
        kms.list_keys()


def test_non_admin_keys_cannot_administer(kagi_bin, server, tmp_path):
    created = json.loads(kagi_admin(kagi_bin, server, "create-access-key", "--user", "bob").stdout)
    key = created["AccessKey"]
    cmd = [kagi_bin, "admin", "--endpoint", server.endpoint, "list-access-keys"]
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=ADMIN_TIMEOUT_S,
                            stdin=subprocess.DEVNULL, env=env)
    assert result.returncode != 0
    assert "AccessDeniedException" in result.stderr, result.stderr


def test_unknown_access_key_id_is_a_clear_error(kagi_bin, server):
    result = kagi_admin(kagi_bin, server, "delete-access-key", "KAGINOSUCHKEY0000000", check=False)
    assert result.returncode != 0
    assert "NotFoundException" in result.stderr, result.stderr
