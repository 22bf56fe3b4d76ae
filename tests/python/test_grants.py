"""Grants end to end through boto3 and the AWS CLI, against a real-auth server.

An administrator grants a user who has no policy at all the use of a key, constrained to
one encryption context; the user encrypts with the grant token, is refused another context,
finds the grant among its retirable grants and retires it, after which it is refused again.
Expected behaviour is AWS KMS's (API Reference: CreateGrant, ListGrants,
ListRetirableGrants, RetireGrant, RevokeGrant; Developer Guide: "Grants in AWS KMS"). Kagi's
grants are effective at once, so the token is accepted but not needed. No grant token may
reach the audit trail.
"""

from __future__ import annotations

import json

from audit_helpers import cloudtrail_client, lookup_all, trail_event
from aws_clients import AwsCli
from conftest import ACCOUNT_ID, REGION
from expect import aws_error
# The installation fixture (real auth, `kagi admin` users) is the access-control suite's.
from test_access_control import Installation, kagi, user_arn  # noqa: F401 (fixture)

PLAINTEXT = b"grants: a key lent, then taken back"
CONTEXT = {"tenant": "blue"}


def encrypt(kms, key_id: str, context: dict | None = None, tokens: list[str] | None = None):
    args = {"KeyId": key_id, "Plaintext": PLAINTEXT}
    if context is not None:
        args["EncryptionContext"] = context
    if tokens:
        args["GrantTokens"] = tokens
    return kms.encrypt(**args)


def test_grant_to_user_without_policy_then_retire(kagi: Installation):
    key = kagi.new_key(Description="lent by grant")
    app = kagi.kms_as(kagi.new_user("app"))
    kagi.new_user("ops")
    app_arn, ops_arn = user_arn("app"), user_arn("ops")

    with aws_error("AccessDeniedException"):
        encrypt(app, key["KeyId"], CONTEXT)

    created = kagi.admin.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=app_arn, RetiringPrincipal=app_arn,
        Operations=["Encrypt", "Decrypt"],
        Constraints={"EncryptionContextSubset": CONTEXT}, Name="app-blue")
    token, grant_id = created["GrantToken"], created["GrantId"]
    assert len(grant_id) == 64

    blob = encrypt(app, key["KeyId"], CONTEXT, [token])["CiphertextBlob"]
    assert app.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT,
                       GrantTokens=[token])["Plaintext"] == PLAINTEXT
    # Context keys match case-insensitively, values exactly.
    encrypt(app, key["KeyId"], {"Tenant": "blue"})
    for other in ({"tenant": "red"}, {"tenant": "Blue"}, None):
        with aws_error("AccessDeniedException"):
            encrypt(app, key["KeyId"], other, [token])
    with aws_error("InvalidGrantTokenException"):
        encrypt(app, key["KeyId"], CONTEXT, ["not-a-grant-token"])
    with aws_error("ValidationException"):
        encrypt(app, key["KeyId"], CONTEXT, [token] * 11)
    # Only what the grant names: DescribeKey is not in it.
    with aws_error("AccessDeniedException"):
        app.describe_key(KeyId=key["KeyId"])

    listed = kagi.admin.list_grants(KeyId=key["KeyId"])
    assert listed["Truncated"] is False
    (grant,) = listed["Grants"]
    assert grant["GrantId"] == grant_id
    assert grant["KeyId"] == key["Arn"]
    assert grant["GranteePrincipal"] == app_arn
    assert grant["RetiringPrincipal"] == app_arn
    assert grant["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert grant["Name"] == "app-blue"
    assert sorted(grant["Operations"]) == ["Decrypt", "Encrypt"]
    assert grant["Constraints"] == {"EncryptionContextSubset": CONTEXT}
    assert "CreationDate" in grant

    # ListRetirableGrants: the administrator may list (identity policy), the app may not.
    retirable = kagi.admin.list_retirable_grants(RetiringPrincipal=app_arn)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant_id]
    assert kagi.admin.list_retirable_grants(RetiringPrincipal=ops_arn)["Grants"] == []
    with aws_error("AccessDeniedException"):
        app.list_retirable_grants(RetiringPrincipal=app_arn)

    # A stranger may not retire it; its retiring principal may, by token.
    stranger = kagi.kms_as(kagi.new_user("stranger"))
    with aws_error("AccessDeniedException"):
        stranger.retire_grant(GrantToken=token)
    app.retire_grant(GrantToken=token)
    with aws_error("AccessDeniedException"):
        encrypt(app, key["KeyId"], CONTEXT, [token])
    with aws_error("AccessDeniedException"):
        app.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
    assert kagi.admin.list_grants(KeyId=key["KeyId"])["Grants"] == []

    # The audit trail names the grant, never its token.
    ct = cloudtrail_client(kagi.server.endpoint, kagi.admin_creds)
    records = [trail_event(e) for e in lookup_all(ct)]
    assert records, "no events"
    for record in records:
        assert token not in json.dumps(record)
    (create,) = [r for r in records if r["eventName"] == "CreateGrant"]
    assert create["responseElements"] == {"grantId": grant_id, "keyId": key["Arn"]}
    assert create["requestParameters"]["granteePrincipal"] == app_arn
    (retire,) = [r for r in records if r["eventName"] == "RetireGrant"
                 and r.get("errorCode") is None]
    assert retire["additionalEventData"] == {"grantId": grant_id}
    assert retire["requestParameters"] is None


def test_revoke_and_errors(kagi: Installation):
    key = kagi.new_key()
    app = kagi.kms_as(kagi.new_user("app"))
    grant_id = kagi.admin.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=user_arn("app"),
        Operations=["GenerateDataKey"])["GrantId"]
    app.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    with aws_error("AccessDeniedException"):
        app.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    with aws_error("AccessDeniedException"):
        app.revoke_grant(KeyId=key["KeyId"], GrantId=grant_id)
    kagi.admin.revoke_grant(KeyId=key["KeyId"], GrantId=grant_id)
    with aws_error("AccessDeniedException"):
        app.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    with aws_error("NotFoundException"):
        kagi.admin.revoke_grant(KeyId=key["KeyId"], GrantId=grant_id)
    with aws_error("InvalidGrantIdException"):
        kagi.admin.revoke_grant(KeyId=key["KeyId"], GrantId="not-a-grant-id")
    with aws_error("ValidationException"):
        kagi.admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=user_arn("app"),
                                Operations=["Decrypt"], Name="spaces are not allowed")
    kagi.admin.disable_key(KeyId=key["KeyId"])
    with aws_error("DisabledException"):
        kagi.admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=user_arn("app"),
                                Operations=["Decrypt"])


def test_aws_cli_create_grant(kagi: Installation, tmp_path):
    key = kagi.new_key()
    app_creds = kagi.new_user("app")
    cli = AwsCli(home=tmp_path / "cli-home", region=REGION, creds=kagi.admin_creds,
                 endpoint=kagi.server.endpoint)
    created = cli.run("kms", "create-grant", "--key-id", key["KeyId"],
                      "--grantee-principal", user_arn("app"),
                      "--operations", "Encrypt", "Decrypt",
                      "--constraints", "EncryptionContextSubset={tenant=blue}").json()
    assert len(created["GrantId"]) == 64 and created["GrantToken"]
    listed = cli.run("kms", "list-grants", "--key-id", key["KeyId"]).json()
    assert [g["GrantId"] for g in listed["Grants"]] == [created["GrantId"]]
    app = kagi.kms_as(app_creds)
    encrypt(app, key["KeyId"], CONTEXT, [created["GrantToken"]])
    cli.run("kms", "revoke-grant", "--key-id", key["KeyId"], "--grant-id", created["GrantId"])
    with aws_error("AccessDeniedException"):
        encrypt(app, key["KeyId"], CONTEXT)
