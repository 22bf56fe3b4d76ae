"""Key lifecycle through boto3: CreateKey, DescribeKey, ListKeys, Enable/DisableKey,
UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion, and region isolation.

Expected values follow the AWS KMS API reference (e.g. ScheduleKeyDeletion's KeyId is
the key ARN; CancelKeyDeletion leaves the key Disabled; the window is 7-30 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from expect import (
    assert_key_arn,
    assert_key_id,
    assert_near,
    assert_recent,
    aws_error,
    random_key_id,
)


def test_create_key_defaults(kms, region, account_id):
    md = kms.create_key()["KeyMetadata"]
    assert_key_id(md["KeyId"])
    assert_key_arn(md["Arn"], region, account_id, md["KeyId"])
    assert md["AWSAccountId"] == account_id
    assert md["Enabled"] is True
    assert md["KeyState"] == "Enabled"
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert md.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert md["Origin"] == "AWS_KMS"
    assert md["KeyManager"] == "CUSTOMER"
    assert md.get("Description", "") == ""
    assert md.get("MultiRegion", False) is False
    assert "DeletionDate" not in md
    assert_recent(md["CreationDate"])


def test_create_key_with_description_tags_and_policy(kms, account_id):
    policy = (
        '{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User '
        f'Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account_id}:root"}},'
        '"Action":"kms:*","Resource":"*"}]}'
    )
    md = kms.create_key(
        Description="payments database",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        Policy=policy,
        Tags=[{"TagKey": "team", "TagValue": "payments"}, {"TagKey": "env", "TagValue": ""}],
    )["KeyMetadata"]
    assert md["Description"] == "payments database"
    described = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert described["Description"] == "payments database"
    tags = kms.list_resource_tags(KeyId=md["KeyId"])["Tags"]
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags) == [("env", ""), ("team", "payments")]


def test_key_ids_are_unique(kms):
    ids = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    assert len(ids) == 5


def test_describe_key_by_id_arn_alias_and_alias_arn(kms, region, account_id):
    md = kms.create_key(Description="four names")["KeyMetadata"]
    kms.create_alias(AliasName="alias/four-names", TargetKeyId=md["KeyId"])
    alias_arn = f"arn:aws:kms:{region}:{account_id}:alias/four-names"
    for name in (md["KeyId"], md["Arn"], "alias/four-names", alias_arn):
        described = kms.describe_key(KeyId=name)["KeyMetadata"]
        assert described["KeyId"] == md["KeyId"], name
        assert described["Arn"] == md["Arn"], name
        assert described["Description"] == "four names"


def test_describe_unknown_key(kms, region, account_id):
    missing = random_key_id()
    for name in (
        missing,
        f"arn:aws:kms:{region}:{account_id}:key/{missing}",
        "alias/does-not-exist",
        f"arn:aws:kms:{region}:{account_id}:alias/does-not-exist",
    ):
        with aws_error("NotFoundException"):
            kms.describe_key(KeyId=name)


def test_describe_key_malformed_id_is_not_found(kms):
    # AWS answers NotFoundException ("Invalid keyId ...") for an id that is no UUID.
    with aws_error("NotFoundException"):
        kms.describe_key(KeyId="not-a-key-id")


def test_list_keys_lists_created_keys(kms, region, account_id):
    created = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)}
    resp = kms.list_keys()
    assert resp["Truncated"] is False
    assert "NextMarker" not in resp
    listed = {k["KeyId"]: k["KeyArn"] for k in resp["Keys"]}
    assert set(listed) == created
    for key_id, arn in listed.items():
        assert_key_arn(arn, region, account_id, key_id)


def test_list_keys_paging_with_limit_and_marker(kms):
    created = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    seen: list[str] = []
    marker = None
    pages = 0
    truncated_pages = 0
    while True:
        pages += 1
        assert pages <= 10, "ListKeys paging does not terminate"
        kwargs = {"Limit": 2}
        if marker:
            kwargs["Marker"] = marker
        resp = kms.list_keys(**kwargs)
        assert len(resp["Keys"]) <= 2
        seen += [k["KeyId"] for k in resp["Keys"]]
        if not resp["Truncated"]:
            assert "NextMarker" not in resp
            break
        truncated_pages += 1
        marker = resp["NextMarker"]
        assert marker
    assert truncated_pages >= 2
    assert len(seen) == len(set(seen)), f"a key was listed twice: {seen}"
    assert set(seen) == created


def test_list_keys_paginator(kms):
    created = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(4)}
    pages = kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3})
    listed = [k["KeyId"] for page in pages for k in page["Keys"]]
    assert sorted(listed) == sorted(created)


def test_list_keys_default_page_is_100(kms):
    # "If you do not include a value, it defaults to 100."
    created = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(103)}
    first = kms.list_keys()
    assert len(first["Keys"]) <= 100
    assert first["Truncated"] is True
    rest = kms.list_keys(Marker=first["NextMarker"], Limit=1000)
    assert rest["Truncated"] is False
    assert {k["KeyId"] for k in first["Keys"] + rest["Keys"]} == created


def test_list_keys_garbage_marker(kms):
    kms.create_key()
    with aws_error("InvalidMarkerException"):
        kms.list_keys(Marker="this-is-not-a-marker-kagi-gave-out")


def test_list_keys_limit_out_of_range(kms_unvalidated):
    for limit in (0, 1001, 100000):
        with aws_error("ValidationException"):
            kms_unvalidated.list_keys(Limit=limit)


def test_list_keys_accepts_limit_bounds(kms):
    kms.create_key()
    assert len(kms.list_keys(Limit=1)["Keys"]) == 1
    assert len(kms.list_keys(Limit=1000)["Keys"]) == 1


def test_disable_and_enable_key(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Disabled"
    assert md["Enabled"] is False
    kms.disable_key(KeyId=key_id)  # disabling a disabled key is allowed
    kms.enable_key(KeyId=key_id)
    md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Enabled"
    assert md["Enabled"] is True
    kms.enable_key(KeyId=key_id)  # and enabling an enabled one


def test_enable_disable_accept_arn_and_unknown_is_not_found(kms):
    md = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=md["Arn"])
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=md["Arn"])
    for op in (kms.enable_key, kms.disable_key):
        with aws_error("NotFoundException"):
            op(KeyId=random_key_id())


def test_update_key_description(kms):
    key_id = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="after")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "after"
    kms.update_key_description(KeyId=key_id, Description="")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"].get("Description", "") == ""
    with aws_error("NotFoundException"):
        kms.update_key_description(KeyId=random_key_id(), Description="x")


def test_schedule_key_deletion_default_window(kms):
    md = kms.create_key()["KeyMetadata"]
    resp = kms.schedule_key_deletion(KeyId=md["KeyId"])
    now = datetime.now(timezone.utc)
    assert resp["KeyId"] == md["Arn"]  # the key ARN, per the API reference
    assert resp["KeyState"] == "PendingDeletion"
    assert resp["PendingWindowInDays"] == 30
    assert_near(resp["DeletionDate"], now + timedelta(days=30), within=timedelta(days=1))
    described = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion"
    assert described["Enabled"] is False
    assert_near(described["DeletionDate"], resp["DeletionDate"], within=timedelta(seconds=1))


def test_schedule_key_deletion_window_bounds(kms, kms_unvalidated):
    for days in (7, 30):
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        resp = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
        assert resp["PendingWindowInDays"] == days
        assert_near(
            resp["DeletionDate"],
            datetime.now(timezone.utc) + timedelta(days=days),
            within=timedelta(days=1),
        )
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for days in (0, 6, 31, 365):
        with aws_error("ValidationException"):
            kms_unvalidated.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_pending_deletion_key_state_rules(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with aws_error("KMSInvalidStateException"):
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with aws_error("KMSInvalidStateException"):
        kms.enable_key(KeyId=key_id)
    with aws_error("KMSInvalidStateException"):
        kms.disable_key(KeyId=key_id)
    # Still listed and described while pending deletion.
    assert key_id in [k["KeyId"] for k in kms.list_keys()["Keys"]]


def test_cancel_key_deletion_leaves_key_disabled(kms):
    md = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    resp = kms.cancel_key_deletion(KeyId=md["KeyId"])
    assert resp["KeyId"] == md["Arn"]
    described = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "Disabled"
    assert described["Enabled"] is False
    assert "DeletionDate" not in described
    kms.enable_key(KeyId=md["KeyId"])
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_cancel_key_deletion_of_a_key_not_pending_deletion(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with aws_error("KMSInvalidStateException"):
        kms.cancel_key_deletion(KeyId=key_id)
    with aws_error("NotFoundException"):
        kms.cancel_key_deletion(KeyId=random_key_id())
    with aws_error("NotFoundException"):
        kms.schedule_key_deletion(KeyId=random_key_id())


def test_disabled_key_can_be_scheduled_for_deletion(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    assert kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["KeyState"] == "PendingDeletion"


def test_keys_are_regional(kms, kms_other_region, region, other_region, account_id):
    home = kms.create_key()["KeyMetadata"]
    away = kms_other_region.create_key()["KeyMetadata"]
    assert_key_arn(away["Arn"], other_region, account_id, away["KeyId"])
    with aws_error("NotFoundException"):
        kms_other_region.describe_key(KeyId=home["KeyId"])
    with aws_error("NotFoundException"):
        kms.describe_key(KeyId=away["KeyId"])
    with aws_error("NotFoundException"):
        kms_other_region.encrypt(KeyId=home["KeyId"], Plaintext=b"x")
    with aws_error("NotFoundException"):
        kms_other_region.disable_key(KeyId=home["KeyId"])
    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [home["KeyId"]]
    assert [k["KeyId"] for k in kms_other_region.list_keys()["Keys"]] == [away["KeyId"]]
    assert kms.describe_key(KeyId=home["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_dev_reset_wipes_keys_aliases_and_tags(kms, fresh_dev_server):
    key_id = kms.create_key(Tags=[{"TagKey": "a", "TagValue": "b"}])["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/wiped", TargetKeyId=key_id)
    fresh_dev_server.dev_reset()
    assert kms.list_keys()["Keys"] == []
    customer_aliases = [a for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")]
    assert customer_aliases == []
    with aws_error("NotFoundException"):
        kms.describe_key(KeyId=key_id)
    # The same alias name is free again.
    new_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/wiped", TargetKeyId=new_id)
