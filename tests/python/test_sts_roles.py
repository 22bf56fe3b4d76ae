"""Roles and STS end to end: AssumeRole and GetCallerIdentity through boto3's `sts` client
and the AWS CLI, and the session credentials used with boto3's `kms` client, against a
real-auth server (real SigV4, roles and users made with `kagi admin`).

Every test runs its own server with a fresh data directory. The bootstrap admin (implicit
"Allow *" identity policies) makes the keys and may assume any role whose trust policy
delegates to the account; users made with `kagi admin create-access-key` start with no
policy at all.

Expected behaviour is AWS's: the trust policy decides who may assume a role (naming the
caller is enough; naming the account root leaves it to the caller's identity policies); a
session is allowed what the role's inline policies allow, and what key policies naming the
role or the session allow; refusals of AssumeRole are 403 `AccessDenied` with IAM's "User:
... is not authorized to perform: sts:AssumeRole on resource: <role arn>"; KMS answers
credentials it does not recognize with `UnrecognizedClientException`, STS with
`InvalidClientTokenId`. Session expiry is left to the Rust tests (they have a manual clock).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property

import boto3
import pytest
from botocore.config import Config

from audit_helpers import (
    KMS_SOURCE,
    audited,
    cloudtrail_client,
    kagi_admin,
    lookup_all,
    segments,
    trail_event,
)
from aws_clients import HTTP_TIMEOUT_S, AwsCli
from conftest import ACCOUNT_ID, REGION
from expect import assert_near, aws_error
from kagi_process import Credentials, KagiServer

PLAINTEXT = b"kagi sts: the role, not the person"
STS_SOURCE = "sts.amazonaws.com"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
OTHER_ACCOUNT = "444455556666"
ROLE_ID = r"AROA[A-Z0-9]{17}"
INVALID_TOKEN = "The security token included in the request is invalid."


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def role_arn(name: str, account: str = ACCOUNT_ID) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def session_arn(role: str, session: str) -> str:
    return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}"


def assume_denial(caller_arn: str, target_role_arn: str) -> str:
    return (f"User: {caller_arn} is not authorized to perform: sts:AssumeRole "
            f"on resource: {target_role_arn}")


def kms_denial(caller_arn: str, action: str, resource: str) -> re.Pattern:
    """IAM's AccessDenied message for a KMS call; either policy kind may be the reason."""
    return re.compile(
        re.escape(f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} ")
        + r"because no (identity|resource)-based policy allows the " + re.escape(action) + " action")


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def trust(*principals: str) -> str:
    """A trust policy letting `principals` (ARNs) call sts:AssumeRole."""
    aws = principals[0] if len(principals) == 1 else list(principals)
    return document({"Effect": "Allow", "Principal": {"AWS": aws}, "Action": "sts:AssumeRole"})


def error_message(info) -> str:
    return info.value.response["Error"]["Message"]


def http_status(info) -> int:
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def client(service: str, endpoint: str, creds: Credentials, token: str | None = None, *,
           validate: bool = True):
    """A boto3 client that never retries; `token` is the session token of a role session."""
    config = Config(
        region_name=REGION,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=HTTP_TIMEOUT_S,
        parameter_validation=validate,
    )
    session = boto3.session.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=token,
        region_name=REGION,
    )
    return session.client(service, endpoint_url=endpoint, config=config)


@dataclass
class RoleSession:
    """What AssumeRole answered."""

    creds: Credentials
    token: str
    arn: str
    assumed_role_id: str
    expiration: datetime
    response: dict


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class Installation:
    """A real-auth server, its admin, and ways to make users, roles and sessions."""

    kagi_bin: str
    server: KagiServer
    admin_creds: Credentials
    admin_name: str

    @cached_property
    def admin(self):
        """KMS as the bootstrap admin."""
        return client("kms", self.server.endpoint, self.admin_creds)

    @cached_property
    def admin_sts(self):
        return client("sts", self.server.endpoint, self.admin_creds)

    @cached_property
    def admin_sts_unvalidated(self):
        """No client-side validation: out-of-range values reach the server."""
        return client("sts", self.server.endpoint, self.admin_creds, validate=False)

    def admin_cmd(self, *args: str):
        return kagi_admin(self.kagi_bin, self.server, *args)

    def new_user(self, name: str) -> Credentials:
        created = json.loads(self.admin_cmd("create-access-key", "--user", name).stdout)
        key = created["AccessKey"]
        assert key["UserName"] == name and key["Admin"] is False, created
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def put_user_policy(self, user: str, policy_name: str, policy: str) -> None:
        self.admin_cmd("put-user-policy", "--user", user, "--policy-name", policy_name,
                       "--policy-document", policy)

    def put_role(self, role: str, trust_policy: str, max_session: int | None = None) -> dict:
        args = ["put-role", "--role", role, "--trust-policy", trust_policy]
        if max_session is not None:
            args += ["--max-session-duration", str(max_session)]
        answer = json.loads(self.admin_cmd(*args).stdout)["Role"]
        assert answer["RoleName"] == role and answer["Arn"] == role_arn(role), answer
        return answer

    def put_role_policy(self, role: str, policy_name: str, policy: str) -> None:
        self.admin_cmd("put-role-policy", "--role", role, "--policy-name", policy_name,
                       "--policy-document", policy)

    def role_policies(self, role: str) -> list[dict]:
        return json.loads(self.admin_cmd("list-role-policies", "--role", role).stdout)["Policies"]

    def roles(self) -> list[str]:
        return [r["RoleName"] for r in json.loads(self.admin_cmd("list-roles").stdout)["Roles"]]

    def sts_as(self, creds: Credentials, token: str | None = None, *, validate: bool = True):
        return client("sts", self.server.endpoint, creds, token, validate=validate)

    def kms_as(self, creds: Credentials, token: str | None = None):
        return client("kms", self.server.endpoint, creds, token)

    def session_kms(self, s: RoleSession):
        return self.kms_as(s.creds, s.token)

    def assume(self, role: str, session: str, *, sts=None, **kwargs) -> RoleSession:
        sts = sts or self.admin_sts
        resp = sts.assume_role(RoleArn=role_arn(role), RoleSessionName=session, **kwargs)
        c = resp["Credentials"]
        user = resp["AssumedRoleUser"]
        return RoleSession(Credentials(c["AccessKeyId"], c["SecretAccessKey"]), c["SessionToken"],
                           user["Arn"], user["AssumedRoleId"], c["Expiration"], resp)

    def new_key(self, **kwargs) -> dict:
        return self.admin.create_key(**kwargs)["KeyMetadata"]


@pytest.fixture
def kagi(kagi_bin, start_kagi, tmp_path) -> Installation:
    data = tmp_path / "data"
    data.mkdir()
    server = start_kagi(data_dir=data)
    admin_creds = server.file_credentials()
    listed = json.loads(kagi_admin(kagi_bin, server, "list-access-keys").stdout)["AccessKeys"]
    (admin,) = [k for k in listed if k["AccessKeyId"] == admin_creds.access_key_id]
    assert admin["Admin"] is True, listed
    return Installation(kagi_bin, server, admin_creds, admin["UserName"])


# -- 1. GetCallerIdentity -------------------------------------------------------------------------


def test_get_caller_identity_of_the_admin_and_of_a_role_session(kagi):
    me = kagi.admin_sts.get_caller_identity()
    assert me["Account"] == ACCOUNT_ID
    assert me["Arn"] == user_arn(kagi.admin_name)
    # AWS answers an IAM user's unique id (AIDA…); Kagi users have none, the name stands in.
    assert me["UserId"] == kagi.admin_name, me

    kagi.put_role("reader", trust(ROOT_ARN))
    s = kagi.assume("reader", "nightly-batch")
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", s.creds.access_key_id), s.creds.access_key_id
    assert s.creds.secret_access_key and s.token
    assert s.arn == session_arn("reader", "nightly-batch")
    assert re.fullmatch(ROLE_ID + ":nightly-batch", s.assumed_role_id), s.assumed_role_id
    # The default session lasts an hour.
    assert_near(s.expiration, datetime.now(timezone.utc) + timedelta(seconds=3600),
                within=timedelta(seconds=60))

    who = kagi.sts_as(s.creds, s.token).get_caller_identity()
    assert who["Account"] == ACCOUNT_ID
    assert who["Arn"] == s.arn
    assert who["UserId"] == s.assumed_role_id

    # Another session of the same role: same role id, its own session name.
    other = kagi.assume("reader", "other-run")
    who = kagi.sts_as(other.creds, other.token).get_caller_identity()
    assert who["Arn"] == session_arn("reader", "other-run")
    assert who["UserId"] == s.assumed_role_id.split(":")[0] + ":other-run"
    assert other.creds.access_key_id != s.creds.access_key_id


# -- 2. a role's inline policy -------------------------------------------------------------------


def test_role_session_is_allowed_what_the_role_policy_allows(kagi):
    key = kagi.new_key(Description="app data")
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role_policy("app", "use-keys", document(allow(["kms:Encrypt", "kms:Decrypt"])))
    assert [p["PolicyName"] for p in kagi.role_policies("app")] == ["use-keys"]

    s = kagi.assume("app", "worker-1")
    kms = kagi.session_kms(s)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT
    # And the admin reads what the session wrote: the same key, no copy.
    assert kagi.admin.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT

    with aws_error("AccessDeniedException") as info:
        kms.describe_key(KeyId=key["KeyId"])
    assert kms_denial(s.arn, "kms:DescribeKey", key["Arn"]).fullmatch(error_message(info)), (
        error_message(info))
    with aws_error("AccessDeniedException") as info:
        kms.list_keys()
    assert kms_denial(s.arn, "kms:ListKeys", "*").fullmatch(error_message(info)), error_message(info)


# -- 3. the trust policy delegates to the account ---------------------------------------------------


def test_user_needs_sts_assume_role_when_the_trust_policy_names_the_account(kagi):
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role("elsewhere", trust(ROOT_ARN))
    alice = kagi.new_user("alice")
    alice_sts = kagi.sts_as(alice)

    with aws_error("AccessDenied") as info:
        alice_sts.assume_role(RoleArn=role_arn("app"), RoleSessionName="alice")
    assert http_status(info) == 403
    assert error_message(info) == assume_denial(user_arn("alice"), role_arn("app"))

    # A policy on another role does not open this one.
    kagi.put_user_policy("alice", "assume-elsewhere",
                         document(allow("sts:AssumeRole", role_arn("elsewhere"))))
    with aws_error("AccessDenied") as info:
        alice_sts.assume_role(RoleArn=role_arn("app"), RoleSessionName="alice")
    assert error_message(info) == assume_denial(user_arn("alice"), role_arn("app"))

    kagi.put_user_policy("alice", "assume-app", document(allow("sts:AssumeRole", role_arn("app"))))
    s = kagi.assume("app", "alice", sts=alice_sts)
    assert s.arn == session_arn("app", "alice")
    assert kagi.sts_as(s.creds, s.token).get_caller_identity()["Arn"] == s.arn


# -- 4. the trust policy names one user -------------------------------------------------------------


def test_trust_policy_naming_a_user_admits_that_user_only(kagi):
    ci = kagi.new_user("ci")
    mallory = kagi.new_user("mallory")
    kagi.put_role("deploy", trust(user_arn("ci")))

    # Named in the trust policy: no identity policy needed.
    s = kagi.assume("deploy", "ci-run", sts=kagi.sts_as(ci))
    assert s.arn == session_arn("deploy", "ci-run")

    # The admin's implicit allow-all does not help: the trust policy does not delegate.
    with aws_error("AccessDenied") as info:
        kagi.admin_sts.assume_role(RoleArn=role_arn("deploy"), RoleSessionName="admin-run")
    assert http_status(info) == 403
    assert error_message(info) == assume_denial(user_arn(kagi.admin_name), role_arn("deploy"))

    # Nor does an identity policy of another user.
    kagi.put_user_policy("mallory", "assume", document(allow("sts:AssumeRole", "*")))
    with aws_error("AccessDenied") as info:
        kagi.sts_as(mallory).assume_role(RoleArn=role_arn("deploy"), RoleSessionName="mallory")
    assert error_message(info) == assume_denial(user_arn("mallory"), role_arn("deploy"))


# -- 5. key policies naming the role or the session ------------------------------------------------


def test_key_policy_naming_the_role_or_the_session(kagi):
    kagi.put_role("app", trust(ROOT_ARN))  # no role policy at all
    assert kagi.role_policies("app") == []
    admin_statement = {"Sid": "Key administrators", "Principal": {"AWS": user_arn(kagi.admin_name)},
                       **allow("kms:*")}
    for_role = kagi.new_key(Description="the role's")
    kagi.admin.put_key_policy(KeyId=for_role["KeyId"], PolicyName="default", Policy=document(
        admin_statement,
        {"Sid": "The app role", "Principal": {"AWS": role_arn("app")},
         **allow(["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"])},
    ))
    for_session = kagi.new_key(Description="one session's")
    kagi.admin.put_key_policy(KeyId=for_session["KeyId"], PolicyName="default", Policy=document(
        admin_statement,
        {"Sid": "One session", "Principal": {"AWS": session_arn("app", "session-a")},
         **allow("kms:Encrypt")},
    ))
    plain = kagi.new_key(Description="default key policy")

    a, b = kagi.assume("app", "session-a"), kagi.assume("app", "session-b")
    for s in (a, b):
        kms = kagi.session_kms(s)
        blob = kms.encrypt(KeyId=for_role["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT
        assert kms.describe_key(KeyId=for_role["KeyId"])["KeyMetadata"]["Arn"] == for_role["Arn"]
        # Only what the statement lists.
        with aws_error("AccessDeniedException") as info:
            kms.get_key_policy(KeyId=for_role["KeyId"], PolicyName="default")
        assert kms_denial(s.arn, "kms:GetKeyPolicy", for_role["Arn"]).fullmatch(
            error_message(info)), error_message(info)
        # The default key policy delegates to identity policies, and the role has none.
        with aws_error("AccessDeniedException") as info:
            kms.encrypt(KeyId=plain["KeyId"], Plaintext=PLAINTEXT)
        assert kms_denial(s.arn, "kms:Encrypt", plain["Arn"]).fullmatch(error_message(info)), (
            error_message(info))

    # A key policy naming one session admits that session, not its siblings.
    kagi.session_kms(a).encrypt(KeyId=for_session["KeyId"], Plaintext=PLAINTEXT)
    with aws_error("AccessDeniedException") as info:
        kagi.session_kms(b).encrypt(KeyId=for_session["KeyId"], Plaintext=PLAINTEXT)
    assert kms_denial(b.arn, "kms:Encrypt", for_session["Arn"]).fullmatch(error_message(info)), (
        error_message(info))
    # The admin kept its own access to both keys.
    kagi.admin.get_key_policy(KeyId=for_role["KeyId"], PolicyName="default")
    kagi.admin.get_key_policy(KeyId=for_session["KeyId"], PolicyName="default")


# -- 6. tampered and missing session tokens -----------------------------------------------------------


def _flip_last(token: str) -> str:
    return token[:-1] + ("1" if token[-1] != "1" else "0")


def test_tampered_or_missing_session_token_is_not_a_credential(kagi):
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role_policy("app", "list", document(allow("kms:ListKeys")))
    s, other = kagi.assume("app", "real"), kagi.assume("app", "other")
    kagi.session_kms(s).list_keys()  # the genuine article works

    wrong = {
        "a tampered token": (s.creds, _flip_last(s.token)),
        "a token cut short": (s.creds, s.token[:-2]),
        "no token": (s.creds, None),
        "another session's token": (s.creds, other.token),
        "someone else's access key id": (Credentials(other.creds.access_key_id,
                                                     s.creds.secret_access_key), s.token),
    }
    for what, (creds, token) in wrong.items():
        with aws_error("UnrecognizedClientException") as info:
            kagi.kms_as(creds, token).list_keys()
        assert error_message(info) == INVALID_TOKEN, what
        with aws_error("InvalidClientTokenId") as info:
            kagi.sts_as(creds, token).get_caller_identity()
        assert http_status(info) == 403, what

    # The genuine session is unaffected by the forgeries.
    kagi.session_kms(s).list_keys()


# -- 7. taking access away ---------------------------------------------------------------------------


def test_deleting_the_role_policy_and_then_the_role_takes_effect_at_once(kagi):
    key = kagi.new_key()
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role_policy("app", "encrypt", document(allow("kms:Encrypt", key["Arn"])))
    kagi.put_role_policy("app", "list", document(allow("kms:ListKeys")))
    s = kagi.assume("app", "long-lived")
    kms = kagi.session_kms(s)
    kms.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)  # allowed, and now cached

    kagi.admin_cmd("delete-role-policy", "--role", "app", "--policy-name", "encrypt")
    assert [p["PolicyName"] for p in kagi.role_policies("app")] == ["list"]
    with aws_error("AccessDeniedException") as info:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)
    assert kms_denial(s.arn, "kms:Encrypt", key["Arn"]).fullmatch(error_message(info)), (
        error_message(info))
    kms.list_keys()  # the other policy still applies: the session itself is alive

    kagi.admin_cmd("delete-role", "--role", "app")
    assert "app" not in kagi.roles()
    with aws_error("UnrecognizedClientException") as info:
        kms.list_keys()
    assert error_message(info) == INVALID_TOKEN
    with aws_error("InvalidClientTokenId"):
        kagi.sts_as(s.creds, s.token).get_caller_identity()
    # No new session of a role that is gone.
    with aws_error("AccessDenied") as info:
        kagi.admin_sts.assume_role(RoleArn=role_arn("app"), RoleSessionName="again")
    assert error_message(info) == assume_denial(user_arn(kagi.admin_name), role_arn("app"))


def test_a_role_made_again_under_the_same_name_does_not_revive_old_sessions(kagi):
    # AWS gives every role a unique id and a session belongs to that role, not to its name:
    # deleting a role ends its sessions for good, whatever is later made with the name.
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role_policy("app", "list", document(allow("kms:ListKeys")))
    old = kagi.assume("app", "before")
    kagi.session_kms(old).list_keys()

    kagi.admin_cmd("delete-role", "--role", "app")
    kagi.put_role("app", trust(user_arn("someone-else")))
    kagi.put_role_policy("app", "list", document(allow("kms:ListKeys")))

    with aws_error("UnrecognizedClientException") as info:
        kagi.session_kms(old).list_keys()
    assert error_message(info) == INVALID_TOKEN


# -- 8. validation and unknown roles -------------------------------------------------------------------


def test_assume_role_validation_and_roles_that_cannot_be_assumed(kagi):
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role("long", trust(ROOT_ARN), max_session=7200)
    sts = kagi.admin_sts_unvalidated

    with aws_error("ValidationError") as info:
        sts.assume_role(RoleArn=role_arn("app"), RoleSessionName="x")
    assert http_status(info) == 400
    assert "roleSessionName" in error_message(info), error_message(info)
    with aws_error("ValidationError") as info:
        sts.assume_role(RoleArn=role_arn("app"), RoleSessionName="no spaces allowed")
    assert "roleSessionName" in error_message(info), error_message(info)

    # Above the role's MaxSessionDuration (3600 by default, 7200 for "long").
    for role, duration in (("app", 3601), ("long", 7201)):
        with aws_error("ValidationError") as info:
            sts.assume_role(RoleArn=role_arn(role), RoleSessionName="too-long",
                            DurationSeconds=duration)
        assert http_status(info) == 400
        assert error_message(info).startswith(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role"), (
            error_message(info))
    # Below STS's minimum.
    with aws_error("ValidationError") as info:
        sts.assume_role(RoleArn=role_arn("long"), RoleSessionName="too-short", DurationSeconds=899)
    assert "durationSeconds" in error_message(info), error_message(info)
    # Up to the maximum is fine, and the expiration says so.
    s = kagi.assume("long", "two-hours", DurationSeconds=7200)
    assert_near(s.expiration, datetime.now(timezone.utc) + timedelta(seconds=7200),
                within=timedelta(seconds=60))
    s = kagi.assume("app", "short", DurationSeconds=900)
    assert_near(s.expiration, datetime.now(timezone.utc) + timedelta(seconds=900),
                within=timedelta(seconds=60))

    # Another account's role (even one named like a local role), and no role at all: the
    # same refusal, which does not tell whether the role exists.
    for arn in (role_arn("app", OTHER_ACCOUNT), role_arn("no-such-role")):
        with aws_error("AccessDenied") as info:
            sts.assume_role(RoleArn=arn, RoleSessionName="probe")
        assert http_status(info) == 403
        assert error_message(info) == assume_denial(user_arn(kagi.admin_name), arn)


# -- 9. the AWS CLI ------------------------------------------------------------------------------------


def test_aws_cli_assume_role_then_encrypt_with_the_session(kagi, tmp_path):
    key = kagi.new_key()
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role_policy("app", "use-key", document(allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"])))
    as_admin = AwsCli(home=tmp_path / "cli-admin", region=REGION, creds=kagi.admin_creds,
                      endpoint=kagi.server.endpoint)

    assumed = as_admin.run("sts", "assume-role", "--role-arn", role_arn("app"),
                           "--role-session-name", "cli").json()
    c = assumed["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == session_arn("app", "cli")

    session_creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"])
    as_session = AwsCli(home=tmp_path / "cli-session", region=REGION, creds=session_creds,
                        endpoint=kagi.server.endpoint,
                        extra_env={"AWS_SESSION_TOKEN": c["SessionToken"]})
    who = as_session.run("sts", "get-caller-identity").json()
    assert who["Arn"] == session_arn("app", "cli")
    assert who["Account"] == ACCOUNT_ID

    (as_session.home / "secret.txt").write_bytes(PLAINTEXT)
    enc = as_session.run("kms", "encrypt", "--key-id", key["KeyId"],
                         "--plaintext", "fileb://secret.txt").json()
    assert enc["KeyId"] == key["Arn"]
    # The admin decrypts it, so the ciphertext is real.
    blob = base64.b64decode(enc["CiphertextBlob"])
    assert kagi.admin.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT

    # Without the token, the same keys are refused.
    no_token = AwsCli(home=tmp_path / "cli-no-token", region=REGION, creds=session_creds,
                      endpoint=kagi.server.endpoint)
    refused = no_token.run("kms", "encrypt", "--key-id", key["KeyId"],
                           "--plaintext", "fileb://secret.txt", check=False,
                           cwd=as_session.home)
    assert refused.returncode != 0
    assert "UnrecognizedClientException" in refused.stderr, refused.stderr

    # And the CLI shows the trust policy's refusal as AWS does.
    kagi.put_role("closed", trust(user_arn("nobody")))
    refused = as_admin.run("sts", "assume-role", "--role-arn", role_arn("closed"),
                           "--role-session-name", "cli", check=False)
    assert refused.returncode != 0
    assert "AccessDenied" in refused.stderr, refused.stderr
    assert assume_denial(user_arn(kagi.admin_name), role_arn("closed")) in refused.stderr


# -- 10. the audit trail -------------------------------------------------------------------------------


def test_assume_role_and_the_session_calls_are_audited(kagi):
    key = kagi.new_key()
    kagi.put_role("app", trust(ROOT_ARN))
    kagi.put_role_policy("app", "encrypt", document(allow("kms:Encrypt")))
    s = kagi.assume("app", "audited-session")
    assume_event_id = audited(s.response).event_id
    enc = kagi.session_kms(s).encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)
    enc_event_id = audited(enc).event_id

    ct = cloudtrail_client(kagi.server.endpoint, kagi.admin_creds)
    events = lookup_all(ct, "EventName", "AssumeRole")
    assert [e["EventId"] for e in events] == [assume_event_id], events
    (event,) = events
    assert event["EventSource"] == STS_SOURCE
    assert event["Username"] == kagi.admin_name
    assert event["AccessKeyId"] == kagi.admin_creds.access_key_id
    record = trail_event(event)
    assert record["eventSource"] == STS_SOURCE
    assert record["eventName"] == "AssumeRole"
    assert record["requestID"] == s.response["ResponseMetadata"]["RequestId"]
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["userIdentity"]["arn"] == user_arn(kagi.admin_name)
    assert record["requestParameters"]["roleArn"] == role_arn("app")
    assert record["requestParameters"]["roleSessionName"] == "audited-session"
    assert "errorCode" not in record or record["errorCode"] is None, record

    # No bearer material of the session anywhere in the record, nor in the answer to
    # LookupEvents, nor in the audit log on disk, nor in what the server printed.
    bearer = {"SecretAccessKey": s.creds.secret_access_key, "SessionToken": s.token}
    for name, value in bearer.items():
        assert value not in event["CloudTrailEvent"], f"{name} is in the AssumeRole record"
        assert value not in json.dumps(events, default=str), f"{name} is in LookupEvents"
    on_disk = b"".join(seg.read_bytes() for seg in segments(kagi.server.data_dir / "audit"))
    printed = kagi.server.stdout_text() + kagi.server.stderr_text()
    for name, value in bearer.items():
        assert value.encode() not in on_disk, f"{name} is in the audit log on disk"
        assert value not in printed, f"{name} is in the server's output"

    # The session's KMS call names the session, as CloudTrail does for an assumed role.
    (enc_event,) = lookup_all(ct, "EventName", "Encrypt")
    assert enc_event["EventId"] == enc_event_id
    assert enc_event["EventSource"] == KMS_SOURCE
    assert enc_event["AccessKeyId"] == s.creds.access_key_id
    identity = trail_event(enc_event)["userIdentity"]
    assert identity["type"] == "AssumedRole", identity
    assert identity["arn"] == s.arn
    assert identity["principalId"] == s.assumed_role_id
    assert identity["accountId"] == ACCOUNT_ID
    assert identity["accessKeyId"] == s.creds.access_key_id


def test_assume_role_records_the_requested_duration(kagi):
    # CloudTrail records AssumeRole's requestParameters as sent: roleArn, roleSessionName
    # and, when given, durationSeconds (a number).
    kagi.put_role("app", trust(ROOT_ARN))
    s = kagi.assume("app", "timed", DurationSeconds=900)
    ct = cloudtrail_client(kagi.server.endpoint, kagi.admin_creds)
    (event,) = lookup_all(ct, "EventName", "AssumeRole")
    assert event["EventId"] == audited(s.response).event_id
    assert trail_event(event)["requestParameters"] == {
        "roleArn": role_arn("app"),
        "roleSessionName": "timed",
        "durationSeconds": 900,
    }
