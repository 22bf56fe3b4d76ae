"""Aliases (CreateAlias, UpdateAlias, DeleteAlias, ListAliases) and tags (TagResource,
UntagResource, ListResourceTags) through boto3.

AWS rules checked: alias names are `alias/` + [a-zA-Z0-9/_-], at most 256 characters,
unique per account and Region; `alias/aws/` is reserved for AWS managed keys; ListAliases'
TargetKeyId is the key id (not the ARN); tag keys starting with `aws:` are reserved.
"""

from __future__ import annotations

import pytest

from expect import assert_alias_arn, assert_recent, aws_error, random_key_id


def customer_aliases(kms, **kwargs):
    """ListAliases without AWS's predefined `alias/aws/*` entries."""
    return [a for a in kms.list_aliases(**kwargs)["Aliases"] if not a["AliasName"].startswith("alias/aws/")]


@pytest.fixture
def key_id(kms):
    return kms.create_key()["KeyMetadata"]["KeyId"]


# -- aliases --------------------------------------------------------------------------


def test_create_and_list_alias(kms, key_id, region, account_id):
    kms.create_alias(AliasName="alias/app/orders-db", TargetKeyId=key_id)
    aliases = customer_aliases(kms)
    assert len(aliases) == 1
    entry = aliases[0]
    assert entry["AliasName"] == "alias/app/orders-db"
    assert entry["TargetKeyId"] == key_id
    assert_alias_arn(entry["AliasArn"], region, account_id, "alias/app/orders-db")
    if "CreationDate" in entry:
        assert_recent(entry["CreationDate"])
    described = kms.describe_key(KeyId="alias/app/orders-db")["KeyMetadata"]
    assert described["KeyId"] == key_id


def test_create_alias_with_key_arn_target(kms):
    md = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/by-arn", TargetKeyId=md["Arn"])
    assert customer_aliases(kms)[0]["TargetKeyId"] == md["KeyId"]


def test_a_key_can_have_many_aliases(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    for name in ("alias/one", "alias/two", "alias/three"):
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.create_alias(AliasName="alias/elsewhere", TargetKeyId=other)
    mine = customer_aliases(kms, KeyId=key_id)
    assert sorted(a["AliasName"] for a in mine) == ["alias/one", "alias/three", "alias/two"]
    assert all(a["TargetKeyId"] == key_id for a in mine)
    assert len(customer_aliases(kms)) == 4


def test_list_aliases_for_unknown_key(kms):
    with aws_error("NotFoundException"):
        kms.list_aliases(KeyId=random_key_id())


def test_create_alias_twice_is_already_exists(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/taken", TargetKeyId=key_id)
    with aws_error("AlreadyExistsException"):
        kms.create_alias(AliasName="alias/taken", TargetKeyId=other)
    with aws_error("AlreadyExistsException"):
        kms.create_alias(AliasName="alias/taken", TargetKeyId=key_id)
    assert customer_aliases(kms)[0]["TargetKeyId"] == key_id


def test_create_alias_for_unknown_key(kms):
    with aws_error("NotFoundException"):
        kms.create_alias(AliasName="alias/orphan", TargetKeyId=random_key_id())
    assert customer_aliases(kms) == []


def test_alias_aws_prefix_is_reserved(kms, key_id):
    # The API reference: "The alias name cannot begin with alias/aws/". It does not name
    # the exception; AWS-compatible implementations use one of these two.
    for name in ("alias/aws/s3", "alias/aws/my-key"):
        with aws_error("NotAuthorizedException", "InvalidAliasNameException"):
            kms.create_alias(AliasName=name, TargetKeyId=key_id)
    assert customer_aliases(kms) == []


@pytest.mark.parametrize(
    "name",
    ["alias/has space", "alias/semi;colon", "alias/ümlaut", "alias/star*", "alias/" + "a" * 251],
)
def test_invalid_alias_names_are_validation_errors(kms_unvalidated, key_id, name):
    # 1-256 characters of [a-zA-Z0-9:/_-] (the model's pattern); anything else fails
    # request validation.
    with aws_error("ValidationException"):
        kms_unvalidated.create_alias(AliasName=name, TargetKeyId=key_id)


def test_alias_name_must_start_with_alias_prefix(kms_unvalidated, key_id):
    for name in ("orders", "aliasorders", "key/orders"):
        with aws_error("ValidationException", "InvalidAliasNameException"):
            kms_unvalidated.create_alias(AliasName=name, TargetKeyId=key_id)


def test_alias_name_of_256_characters_is_accepted(kms, key_id):
    name = "alias/" + "a" * 250
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key_id


def test_update_alias_moves_it(kms, key_id):
    new = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/current", TargetKeyId=key_id)
    old_blob = kms.encrypt(KeyId="alias/current", Plaintext=b"old")["CiphertextBlob"]
    kms.update_alias(AliasName="alias/current", TargetKeyId=new["KeyId"])
    assert customer_aliases(kms)[0]["TargetKeyId"] == new["KeyId"]
    assert kms.describe_key(KeyId="alias/current")["KeyMetadata"]["KeyId"] == new["KeyId"]
    assert kms.encrypt(KeyId="alias/current", Plaintext=b"new")["KeyId"] == new["Arn"]
    # Old ciphertexts remember their key, not the alias.
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"old"
    with aws_error("IncorrectKeyException"):
        kms.decrypt(CiphertextBlob=old_blob, KeyId="alias/current")


def test_update_alias_errors(kms, key_id):
    with aws_error("NotFoundException"):
        kms.update_alias(AliasName="alias/missing", TargetKeyId=key_id)
    kms.create_alias(AliasName="alias/present", TargetKeyId=key_id)
    with aws_error("NotFoundException"):
        kms.update_alias(AliasName="alias/present", TargetKeyId=random_key_id())
    assert customer_aliases(kms)[0]["TargetKeyId"] == key_id


def test_delete_alias(kms, key_id):
    kms.create_alias(AliasName="alias/short-lived", TargetKeyId=key_id)
    kms.delete_alias(AliasName="alias/short-lived")
    assert customer_aliases(kms) == []
    with aws_error("NotFoundException"):
        kms.describe_key(KeyId="alias/short-lived")
    with aws_error("NotFoundException"):
        kms.delete_alias(AliasName="alias/short-lived")
    # The key itself is untouched.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_alias_on_pending_deletion_key(kms, key_id):
    live = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/existing", TargetKeyId=key_id)
    kms.create_alias(AliasName="alias/movable", TargetKeyId=live)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with aws_error("KMSInvalidStateException"):
        kms.create_alias(AliasName="alias/doomed", TargetKeyId=key_id)
    with aws_error("KMSInvalidStateException"):
        kms.update_alias(AliasName="alias/movable", TargetKeyId=key_id)
    # An alias already on the key stays until the key is deleted, and can be removed.
    assert kms.describe_key(KeyId="alias/existing")["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.delete_alias(AliasName="alias/existing")
    assert kms.describe_key(KeyId="alias/movable")["KeyMetadata"]["KeyId"] == live


def test_aliases_are_regional(kms, kms_other_region, key_id, other_region, account_id):
    away = kms_other_region.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/shared-name", TargetKeyId=key_id)
    # The same name is free in another Region...
    kms_other_region.create_alias(AliasName="alias/shared-name", TargetKeyId=away)
    assert kms.describe_key(KeyId="alias/shared-name")["KeyMetadata"]["KeyId"] == key_id
    assert kms_other_region.describe_key(KeyId="alias/shared-name")["KeyMetadata"]["KeyId"] == away
    entry = customer_aliases(kms_other_region)[0]
    assert_alias_arn(entry["AliasArn"], other_region, account_id, "alias/shared-name")
    # ...and an alias cannot point across Regions.
    with aws_error("NotFoundException"):
        kms_other_region.create_alias(AliasName="alias/cross", TargetKeyId=key_id)
    kms.create_alias(AliasName="alias/home-only", TargetKeyId=key_id)
    with aws_error("NotFoundException"):
        kms_other_region.describe_key(KeyId="alias/home-only")


def test_list_aliases_paging(kms, key_id):
    names = {f"alias/page-{i}" for i in range(5)}
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    seen = []
    marker = None
    for _ in range(20):
        kwargs = {"Limit": 2}
        if marker:
            kwargs["Marker"] = marker
        resp = kms.list_aliases(**kwargs)
        assert len(resp["Aliases"]) <= 2
        seen += [a["AliasName"] for a in resp["Aliases"]]
        if not resp["Truncated"]:
            break
        marker = resp["NextMarker"]
    else:
        pytest.fail("ListAliases paging does not terminate")
    customer = [n for n in seen if not n.startswith("alias/aws/")]
    assert len(customer) == len(set(customer))
    assert set(customer) == names


def test_list_aliases_limit_out_of_range(kms_unvalidated):
    for limit in (0, 1001):
        with aws_error("ValidationException"):
            kms_unvalidated.list_aliases(Limit=limit)


# -- tags -----------------------------------------------------------------------------


def tags_of(kms, key_id):
    return {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}


def test_new_key_has_no_tags(kms, key_id):
    resp = kms.list_resource_tags(KeyId=key_id)
    assert resp["Tags"] == []
    assert resp["Truncated"] is False


def test_tag_untag_and_list(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[
        {"TagKey": "team", "TagValue": "payments"},
        {"TagKey": "cost-center", "TagValue": "42"},
        {"TagKey": "empty", "TagValue": ""},
    ])
    assert tags_of(kms, key_id) == {"team": "payments", "cost-center": "42", "empty": ""}
    # An existing key gets its value replaced.
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "team", "TagValue": "billing"}])
    assert tags_of(kms, key_id)["team"] == "billing"
    # Tag keys and values are case-sensitive.
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "Team", "TagValue": "Billing"}])
    assert tags_of(kms, key_id)["Team"] == "Billing"
    assert tags_of(kms, key_id)["team"] == "billing"
    kms.untag_resource(KeyId=key_id, TagKeys=["team", "empty"])
    assert tags_of(kms, key_id) == {"cost-center": "42", "Team": "Billing"}
    # Removing a tag key that is not there is not an error.
    kms.untag_resource(KeyId=key_id, TagKeys=["never-set"])
    assert tags_of(kms, key_id) == {"cost-center": "42", "Team": "Billing"}


def test_tag_operations_accept_key_arn(kms):
    md = kms.create_key()["KeyMetadata"]
    kms.tag_resource(KeyId=md["Arn"], Tags=[{"TagKey": "k", "TagValue": "v"}])
    assert tags_of(kms, md["Arn"]) == {"k": "v"}
    kms.untag_resource(KeyId=md["Arn"], TagKeys=["k"])
    assert tags_of(kms, md["KeyId"]) == {}


def test_tags_on_unknown_key(kms):
    missing = random_key_id()
    with aws_error("NotFoundException"):
        kms.tag_resource(KeyId=missing, Tags=[{"TagKey": "k", "TagValue": "v"}])
    with aws_error("NotFoundException"):
        kms.untag_resource(KeyId=missing, TagKeys=["k"])
    with aws_error("NotFoundException"):
        kms.list_resource_tags(KeyId=missing)


def test_aws_tag_prefix_is_reserved(kms, key_id):
    with aws_error("TagException"):
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "aws:createdBy", "TagValue": "me"}])
    assert tags_of(kms, key_id) == {}


def test_tags_are_per_key(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "a"}])
    kms.tag_resource(KeyId=other, Tags=[{"TagKey": "owner", "TagValue": "b"}])
    assert tags_of(kms, key_id) == {"owner": "a"}
    assert tags_of(kms, other) == {"owner": "b"}


def test_list_resource_tags_paging(kms, key_id):
    expected = {f"k{i}": f"v{i}" for i in range(5)}
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": k, "TagValue": v} for k, v in expected.items()])
    seen = {}
    marker = None
    for _ in range(20):
        kwargs = {"KeyId": key_id, "Limit": 2}
        if marker:
            kwargs["Marker"] = marker
        resp = kms.list_resource_tags(**kwargs)
        assert len(resp["Tags"]) <= 2
        for t in resp["Tags"]:
            assert t["TagKey"] not in seen
            seen[t["TagKey"]] = t["TagValue"]
        if not resp["Truncated"]:
            break
        marker = resp["NextMarker"]
    else:
        pytest.fail("ListResourceTags paging does not terminate")
    assert seen == expected


def test_tags_are_kept_while_key_is_disabled(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v"}])
    kms.disable_key(KeyId=key_id)
    assert tags_of(kms, key_id) == {"k": "v"}
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k2", "TagValue": "v2"}])
    assert tags_of(kms, key_id) == {"k": "v", "k2": "v2"}
