"""Access control end to end: key policies and users' identity policies, through boto3 and
the AWS CLI, against a real-auth server (real SigV4, users made with `kagi admin`).

Every test runs its own server with a fresh data directory. The bootstrap admin (implicit
"Allow *" identity policies, key policies still apply) makes the keys; users are made with
`kagi admin create-access-key --user NAME` and start with no policy at all.

Expected behaviour is AWS KMS's: an explicit deny anywhere wins; the key policy must allow
the caller, by naming the user (enough on its own) or the account root (then an identity
policy must allow too); calls on no key are decided by identity policies alone. Denials are
`AccessDeniedException` with IAM's "User: ... is not authorized to perform: ..." message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

import pytest
from botocore.exceptions import ClientError

from audit_helpers import (
    KMS_SOURCE,
    audited,
    cloudtrail_client,
    kagi_admin,
    lookup_all,
    trail_event,
)
from aws_clients import AwsCli, kms_client
from conftest import ACCOUNT_ID, REGION
from expect import aws_error, error_code
from kagi_process import Credentials, KagiServer

PLAINTEXT = b"kagi access control: the owls are not what they seem"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def denial(user: str, action: str, resource: str, reason: str) -> str:
    """IAM's AccessDenied message; `reason` is one of the `because/with ...` endings below."""
    return (f"User: {user_arn(user)} is not authorized to perform: {action} "
            f"on resource: {resource} {reason}")


def no_resource_allow(action: str) -> str:
    return f"because no resource-based policy allows the {action} action"


def no_identity_allow(action: str) -> str:
    return f"because no identity-based policy allows the {action} action"


DENY_IN_RESOURCE = "with an explicit deny in a resource-based policy"
DENY_IN_IDENTITY = "with an explicit deny in an identity-based policy"


def identity_policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def key_policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def deny(actions, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": actions, "Resource": resource, **extra}


def names(*users: str) -> dict:
    """A key policy `Principal` naming IAM users of the account directly."""
    arns = [user_arn(u) for u in users]
    return {"AWS": arns[0] if len(arns) == 1 else arns}


def error_message(info) -> str:
    return info.value.response["Error"]["Message"]


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class Installation:
    """A real-auth server, its admin, and a way to make users and give them policies."""

    kagi_bin: str
    server: KagiServer
    admin_creds: Credentials
    admin_name: str

    @cached_property
    def admin(self):
        """KMS as the bootstrap admin."""
        return kms_client(self.server.endpoint, REGION, self.admin_creds)

    def admin_cmd(self, *args: str):
        return kagi_admin(self.kagi_bin, self.server, *args)

    def new_user(self, name: str) -> Credentials:
        created = json.loads(self.admin_cmd("create-access-key", "--user", name).stdout)
        key = created["AccessKey"]
        assert key["UserName"] == name and key["Admin"] is False, created
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def kms_as(self, creds: Credentials):
        return kms_client(self.server.endpoint, REGION, creds)

    def put_user_policy(self, user: str, policy_name: str, document: str) -> None:
        self.admin_cmd("put-user-policy", "--user", user, "--policy-name", policy_name,
                       "--policy-document", document)

    def user_policies(self, user: str) -> list[dict]:
        return json.loads(self.admin_cmd("list-user-policies", "--user", user).stdout)["Policies"]

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


# -- 1. a user with no policy ------------------------------------------------------------------


def test_user_without_policies_is_denied_everything(kagi):
    key = kagi.new_key(Description="for nobody")
    blob = kagi.admin.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    alice = kagi.kms_as(kagi.new_user("alice"))
    assert kagi.user_policies("alice") == []

    with aws_error("AccessDeniedException") as info:
        alice.list_keys()
    assert error_message(info) == denial("alice", "kms:ListKeys", "*", no_identity_allow("kms:ListKeys"))

    with aws_error("AccessDeniedException") as info:
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)
    assert error_message(info) == denial("alice", "kms:Encrypt", key["Arn"],
                                         no_identity_allow("kms:Encrypt"))

    # Decrypt names no key: the message names the key the ciphertext belongs to.
    with aws_error("AccessDeniedException") as info:
        alice.decrypt(CiphertextBlob=blob)
    assert error_message(info) == denial("alice", "kms:Decrypt", key["Arn"],
                                         no_identity_allow("kms:Decrypt"))

    # The admin, on the same key, is not affected.
    assert kagi.admin.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT


# -- 2. an identity policy on one key ------------------------------------------------------------


def test_identity_policy_on_one_key_opens_that_key_only(kagi):
    mine, other = kagi.new_key(Description="mine"), kagi.new_key(Description="other")
    other_blob = kagi.admin.encrypt(KeyId=other["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.put_user_policy("alice", "use-mine", identity_policy(
        allow(["kms:Encrypt", "kms:Decrypt"], mine["Arn"])))

    # The default key policy delegates to the account: the identity policy decides.
    blob = alice.encrypt(KeyId=mine["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT

    with aws_error("AccessDeniedException") as info:
        alice.encrypt(KeyId=other["KeyId"], Plaintext=PLAINTEXT)
    assert error_message(info) == denial("alice", "kms:Encrypt", other["Arn"],
                                         no_identity_allow("kms:Encrypt"))
    with aws_error("AccessDeniedException") as info:
        alice.decrypt(CiphertextBlob=other_blob)
    assert error_message(info) == denial("alice", "kms:Decrypt", other["Arn"],
                                         no_identity_allow("kms:Decrypt"))
    # Allowed actions only: DescribeKey on her own key is not among them, nor is ListKeys.
    with aws_error("AccessDeniedException") as info:
        alice.describe_key(KeyId=mine["KeyId"])
    assert error_message(info) == denial("alice", "kms:DescribeKey", mine["Arn"],
                                         no_identity_allow("kms:DescribeKey"))
    with aws_error("AccessDeniedException") as info:
        alice.list_keys()
    assert error_message(info) == denial("alice", "kms:ListKeys", "*", no_identity_allow("kms:ListKeys"))


# -- 3. encryption context conditions -----------------------------------------------------------


def test_encryption_context_value_condition(kagi):
    key = kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.put_user_policy("alice", "backups-only", identity_policy(allow(
        ["kms:Encrypt", "kms:Decrypt"], key["Arn"],
        Condition={"StringEquals": {"kms:EncryptionContext:purpose": "backup"}})))

    blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT,
                         EncryptionContext={"purpose": "backup"})["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "backup"})[
        "Plaintext"] == PLAINTEXT

    for context in ({"purpose": "restore"}, {"purpose": "Backup"}, {"owner": "backup"}, {}):
        with aws_error("AccessDeniedException") as info:
            alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext=context)
        assert error_message(info) == denial("alice", "kms:Encrypt", key["Arn"],
                                             no_identity_allow("kms:Encrypt")), context

    # A ciphertext of another context (made by the admin) cannot be decrypted by alice.
    other = kagi.admin.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT,
                               EncryptionContext={"purpose": "audit"})["CiphertextBlob"]
    with aws_error("AccessDeniedException"):
        alice.decrypt(CiphertextBlob=other, EncryptionContext={"purpose": "audit"})


def test_encryption_context_key_name_in_a_condition_ignores_case(kagi):
    # AWS KMS developer guide, "Case sensitivity of the encryption context condition": the
    # condition key, `kms:EncryptionContext:` and the context key alike, is not case
    # sensitive; only the value's case is up to the operator. A case-sensitive context key
    # needs kms:EncryptionContextKeys (see the next test).
    key = kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.put_user_policy("alice", "app-context", identity_policy(allow(
        "kms:Encrypt", key["Arn"],
        Condition={"StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"}})))

    refused = {}
    for context in ({"AppName": "ExampleApp"}, {"appname": "ExampleApp"}, {"APPNAME": "ExampleApp"}):
        try:
            alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext=context)
        except ClientError as exc:
            refused[json.dumps(context)] = f"{error_code(exc)}: {exc.response['Error']['Message']}"
    assert not refused, f"contexts refused although the condition key ignores case: {refused}"
    with aws_error("AccessDeniedException"):
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT,
                      EncryptionContext={"AppName": "exampleapp"})


def test_encryption_context_keys_condition(kagi):
    key = kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.put_user_policy("alice", "known-context-keys", identity_policy(allow(
        "kms:Encrypt", key["Arn"],
        Condition={"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["purpose", "team"]}})))

    for context in ({"purpose": "backup"}, {"purpose": "backup", "team": "ops"}, {"team": "ops"}):
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext=context)
    # ForAllValues holds vacuously when there is no context at all (AWS's documented pitfall).
    alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)

    for context in ({"purpose": "backup", "owner": "mallory"}, {"Purpose": "backup"}):
        with aws_error("AccessDeniedException") as info:
            alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext=context)
        assert error_message(info) == denial("alice", "kms:Encrypt", key["Arn"],
                                             no_identity_allow("kms:Encrypt")), context


def test_policy_variable_in_a_condition_value(kagi):
    key = kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.put_user_policy("alice", "own-context", identity_policy(allow(
        "kms:Encrypt", "*",
        Condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}})))

    alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext={"owner": "alice"})
    with aws_error("AccessDeniedException"):
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext={"owner": "bob"})
    with aws_error("AccessDeniedException"):
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT,
                      EncryptionContext={"owner": "${aws:username}"})


# -- 4. a key policy naming the user -------------------------------------------------------------


def test_key_policy_naming_the_user_is_enough(kagi):
    key, plain_key = kagi.new_key(), kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        {"Sid": "Key administrators", "Principal": names(kagi.admin_name), **allow("kms:*")},
        {"Sid": "Alice uses the key", "Principal": names("alice"),
         **allow(["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"])},
    ))
    assert kagi.user_policies("alice") == []

    blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT
    assert alice.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]

    # Only what the statement lists, and only on this key.
    with aws_error("AccessDeniedException") as info:
        alice.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    assert error_message(info) == denial("alice", "kms:GetKeyPolicy", key["Arn"],
                                         no_resource_allow("kms:GetKeyPolicy"))
    with aws_error("AccessDeniedException") as info:
        alice.encrypt(KeyId=plain_key["KeyId"], Plaintext=PLAINTEXT)
    assert error_message(info) == denial("alice", "kms:Encrypt", plain_key["Arn"],
                                         no_identity_allow("kms:Encrypt"))
    # The admin keeps full control through its own statement.
    kagi.admin.get_key_policy(KeyId=key["KeyId"], PolicyName="default")


# -- 5. explicit denies ----------------------------------------------------------------------------


def test_identity_deny_overrides_key_policy_allow(kagi):
    key = kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        {"Principal": names(kagi.admin_name), **allow("kms:*")},
        {"Principal": names("alice"), **allow(["kms:Encrypt", "kms:Decrypt"])},
    ))
    kagi.put_user_policy("alice", "no-decrypt", identity_policy(deny("kms:Decrypt")))

    blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    with aws_error("AccessDeniedException") as info:
        alice.decrypt(CiphertextBlob=blob)
    assert error_message(info) == denial("alice", "kms:Decrypt", key["Arn"], DENY_IN_IDENTITY)


def test_key_policy_deny_overrides_the_admin(kagi):
    key = kagi.new_key()
    blob = kagi.admin.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    kagi.admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        {"Sid": "Enable IAM User Permissions", "Principal": {"AWS": ROOT_ARN}, **allow("kms:*")},
        {"Sid": "Nobody decrypts", "Principal": {"AWS": "*"}, **deny("kms:Decrypt")},
    ))
    with aws_error("AccessDeniedException") as info:
        kagi.admin.decrypt(CiphertextBlob=blob)
    assert error_message(info) == denial(kagi.admin_name, "kms:Decrypt", key["Arn"], DENY_IN_RESOURCE)
    # Everything else still works for the admin (its implicit identity allow + the root statement).
    kagi.admin.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)
    kagi.admin.get_key_policy(KeyId=key["KeyId"], PolicyName="default")


# -- 6. GetKeyPolicy / ListKeyPolicies ------------------------------------------------------------


def test_default_key_policy(kagi):
    key = kagi.new_key()
    got = kagi.admin.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    assert got["PolicyName"] == "default"
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17"
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": ROOT_ARN}
    assert statement["Action"] == "kms:*"
    assert statement["Resource"] == "*"
    # PolicyName is optional and means "default"; the key ARN names the key as well.
    assert kagi.admin.get_key_policy(KeyId=key["Arn"])["Policy"] == got["Policy"]

    listed = kagi.admin.list_key_policies(KeyId=key["KeyId"])
    assert listed["PolicyNames"] == ["default"]
    assert listed["Truncated"] is False

    with aws_error("NotFoundException"):
        kagi.admin.get_key_policy(KeyId=key["KeyId"], PolicyName="other")


# -- 7. PutKeyPolicy checks and the lockout ---------------------------------------------------------


def test_put_key_policy_rejects_malformed_documents(kagi):
    key = kagi.new_key()
    before = kagi.admin.get_key_policy(KeyId=key["KeyId"])["Policy"]
    malformed = [
        "{not json",
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Perhaps", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}]}),
        # A key policy statement must name a principal.
        identity_policy(allow("kms:*")),
    ]
    for document in malformed:
        with aws_error("MalformedPolicyDocumentException"):
            kagi.admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=document)
    assert kagi.admin.get_key_policy(KeyId=key["KeyId"])["Policy"] == before


def test_lockout_safety_check_and_its_bypass(kagi):
    alice = kagi.kms_as(kagi.new_user("alice"))
    throwaway = kagi.new_key(Description="locked out on purpose")
    only_alice = key_policy({"Principal": names("alice"), **allow("kms:*")})
    keys_before = kagi.admin.list_keys()["Keys"]

    with aws_error("MalformedPolicyDocumentException") as info:
        kagi.admin.put_key_policy(KeyId=throwaway["KeyId"], PolicyName="default", Policy=only_alice)
    assert error_message(info) == LOCKOUT_MESSAGE
    assert json.loads(kagi.admin.get_key_policy(KeyId=throwaway["KeyId"])["Policy"])[
        "Statement"][0]["Principal"] == {"AWS": ROOT_ARN}, "a refused policy must not be stored"

    # CreateKey with such a policy is refused the same way, and no key is made.
    with aws_error("MalformedPolicyDocumentException") as info:
        kagi.admin.create_key(Policy=only_alice)
    assert error_message(info) == LOCKOUT_MESSAGE
    assert kagi.admin.list_keys()["Keys"] == keys_before

    kagi.admin.put_key_policy(KeyId=throwaway["KeyId"], PolicyName="default", Policy=only_alice,
                              BypassPolicyLockoutSafetyCheck=True)
    # Locked out, as in AWS: the admin's implicit identity allow needs a key policy that
    # delegates to the account or names the admin.
    with aws_error("AccessDeniedException") as info:
        kagi.admin.get_key_policy(KeyId=throwaway["KeyId"], PolicyName="default")
    assert error_message(info) == denial(kagi.admin_name, "kms:GetKeyPolicy", throwaway["Arn"],
                                         no_resource_allow("kms:GetKeyPolicy"))
    with aws_error("AccessDeniedException") as info:
        kagi.admin.put_key_policy(KeyId=throwaway["KeyId"], PolicyName="default",
                                  Policy=key_policy({"Principal": {"AWS": ROOT_ARN}, **allow("kms:*")}),
                                  BypassPolicyLockoutSafetyCheck=True)
    assert error_message(info) == denial(kagi.admin_name, "kms:PutKeyPolicy", throwaway["Arn"],
                                         no_resource_allow("kms:PutKeyPolicy"))
    # The key is not dead: the principal the policy names still holds it.
    assert json.loads(alice.get_key_policy(KeyId=throwaway["KeyId"])["Policy"]) == json.loads(only_alice)


# -- 8. the AWS CLI ----------------------------------------------------------------------------------


def test_aws_cli_get_and_put_key_policy(kagi, tmp_path):
    key = kagi.new_key()
    kagi.new_user("alice")
    cli = AwsCli(home=tmp_path / "cli-home", region=REGION, creds=kagi.admin_creds,
                 endpoint=kagi.server.endpoint)

    got = cli.run("kms", "get-key-policy", "--key-id", key["KeyId"], "--policy-name", "default").json()
    assert got["PolicyName"] == "default"
    assert json.loads(got["Policy"])["Statement"][0]["Principal"] == {"AWS": ROOT_ARN}

    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Alice encrypts", "Effect": "Allow", "Principal": {"AWS": user_arn("alice")},
         "Action": "kms:Encrypt", "Resource": "*"},
    ]}
    (cli.home / "p.json").write_text(json.dumps(policy, indent=2))
    put = cli.run("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy", "file://p.json")
    assert put.stdout.strip() == "", put.stdout

    got = cli.run("kms", "get-key-policy", "--key-id", key["Arn"], "--policy-name", "default").json()
    assert json.loads(got["Policy"]) == policy
    assert kagi.admin.list_key_policies(KeyId=key["KeyId"])["PolicyNames"] == ["default"]

    # The CLI fails on the lockout refusal and names AWS's exception and message.
    (cli.home / "lockout.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        policy["Statement"][1]]}))
    refused = cli.run("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy",
                      "file://lockout.json", check=False)
    assert refused.returncode != 0
    assert "MalformedPolicyDocumentException" in refused.stderr, refused.stderr
    assert LOCKOUT_MESSAGE in refused.stderr, refused.stderr


# -- 9. denials are audited ----------------------------------------------------------------------


def test_denied_call_is_audited(kagi):
    key = kagi.new_key()
    alice_creds = kagi.new_user("alice")
    alice = kagi.kms_as(alice_creds)
    with aws_error("AccessDeniedException") as info:
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT, EncryptionContext={"purpose": "audit"})
    event_id = audited(info.value).event_id
    request_id = info.value.response["ResponseMetadata"]["RequestId"]

    ct = cloudtrail_client(kagi.server.endpoint, kagi.admin_creds)
    events = lookup_all(ct, "EventName", "Encrypt")
    assert [e["EventId"] for e in events] == [event_id], events
    (event,) = events
    assert event["Username"] == "alice"
    assert event["AccessKeyId"] == alice_creds.access_key_id
    assert event["EventSource"] == KMS_SOURCE

    record = trail_event(event)
    assert record["eventName"] == "Encrypt"
    assert record["requestID"] == request_id
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["userIdentity"]["arn"] == user_arn("alice")
    assert record["userIdentity"]["userName"] == "alice"
    assert record["userIdentity"]["accessKeyId"] == alice_creds.access_key_id
    assert record["errorMessage"] == error_message(info)
    assert "responseElements" not in record or record["responseElements"] is None
    # CloudTrail records a KMS AccessDeniedException as errorCode "AccessDenied".
    assert record["errorCode"] == "AccessDenied", record


# -- 10. taking access away -------------------------------------------------------------------------


def test_delete_user_policy_takes_access_away_at_once(kagi):
    key = kagi.new_key()
    alice = kagi.kms_as(kagi.new_user("alice"))
    kagi.put_user_policy("alice", "encrypt", identity_policy(allow("kms:Encrypt", key["Arn"])))
    alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)  # allowed, and now cached

    kagi.admin_cmd("delete-user-policy", "--user", "alice", "--policy-name", "encrypt")
    assert kagi.user_policies("alice") == []
    with aws_error("AccessDeniedException") as info:
        alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)
    assert error_message(info) == denial("alice", "kms:Encrypt", key["Arn"],
                                         no_identity_allow("kms:Encrypt"))

    # Putting it back opens the key again, also at once.
    kagi.put_user_policy("alice", "encrypt", identity_policy(allow("kms:Encrypt", key["Arn"])))
    alice.encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)


# -- 11. a principal of a second account ---------------------------------------------------------

OTHER_ACCOUNT = "222222222222"


def test_a_second_account_uses_a_key_only_when_both_sides_allow(kagi):
    key = kagi.new_key(Description="shared with account 222222222222")
    created = json.loads(kagi.admin_cmd("create-access-key", "--user", "partner",
                                        "--account", OTHER_ACCOUNT).stdout)["AccessKey"]
    assert created["AccountId"] == OTHER_ACCOUNT
    partner = kagi.kms_as(Credentials(created["AccessKeyId"], created["SecretAccessKey"]))
    partner_arn = f"arn:aws:iam::{OTHER_ACCOUNT}:user/partner"

    # Its own account allows it, but the default key policy trusts only the key's account.
    kagi.put_user_policy("partner", "use-shared", identity_policy(allow(["kms:Encrypt", "kms:Decrypt"],
                                                                        key["Arn"])))
    with aws_error("AccessDeniedException") as info:
        partner.encrypt(KeyId=key["Arn"], Plaintext=PLAINTEXT)
    assert partner_arn in error_message(info)

    # The key policy trusts account 222222222222 as well: both sides allow.
    kagi.admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        {"Principal": {"AWS": ROOT_ARN}, **allow("kms:*")},
        {"Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
         **allow(["kms:Encrypt", "kms:Decrypt"])},
    ))
    blob = partner.encrypt(KeyId=key["Arn"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert kagi.admin.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT

    # Its account takes the permission back: denied, although the key still trusts it.
    kagi.admin_cmd("delete-user-policy", "--user", "partner", "--policy-name", "use-shared")
    with aws_error("AccessDeniedException") as info:
        partner.decrypt(CiphertextBlob=blob)
    assert error_message(info).endswith("because no identity-based policy allows the kms:Decrypt action")

    # This installation holds no keys of account 222222222222.
    with aws_error("AccessDeniedException"):
        partner.list_keys()
