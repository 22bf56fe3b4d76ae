"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand, ListKeyRotations.

AWS rules checked: automatic rotation is off for a new key; RotationPeriodInDays is
90-2560 (default 365); on-demand rotation works whether or not automatic rotation is
on; old ciphertexts keep decrypting after rotation. In AWS an on-demand rotation
completes asynchronously, so the tests poll (bounded) instead of assuming it is done.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from expect import assert_near, aws_error, random_key_id, wait_until


@pytest.fixture
def key(kms):
    return kms.create_key(Description="rotating")["KeyMetadata"]


def rotations(kms, key_id, **kwargs):
    return kms.list_key_rotations(KeyId=key_id, **kwargs)["Rotations"]


def rotate_and_wait(kms, key_id: str, expected_count: int) -> list[dict]:
    resp = kms.rotate_key_on_demand(KeyId=key_id)
    assert resp["KeyId"].endswith(key_id)

    def completed():
        listed = rotations(kms, key_id)
        return listed if len(listed) >= expected_count else None

    return wait_until(
        completed,
        timeout=15,
        what=f"{expected_count} completed rotation(s) of {key_id}",
    )


def test_new_key_has_rotation_disabled(kms, key):
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in status
    assert rotations(kms, key["KeyId"]) == []


def test_enable_rotation_with_default_period(kms, key):
    kms.enable_key_rotation(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 365
    if "KeyId" in status:
        assert status["KeyId"].endswith(key["KeyId"])
    if "NextRotationDate" in status:
        assert_near(status["NextRotationDate"], datetime.now(timezone.utc) + timedelta(days=365),
                    within=timedelta(days=2))


@pytest.mark.parametrize("days", [90, 180, 2560])
def test_enable_rotation_with_custom_period(kms, key, days):
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=days)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == days


def test_rotation_period_can_be_changed(kms, key):
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=400)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=120)
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["RotationPeriodInDays"] == 120


@pytest.mark.parametrize("days", [0, 89, 2561, 100000])
def test_rotation_period_out_of_range(kms_unvalidated, key, days):
    with aws_error("ValidationException"):
        kms_unvalidated.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=days)
    assert kms_unvalidated.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_disable_rotation(kms, key):
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.disable_key_rotation(KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_rotation_operations_on_unknown_key(kms):
    missing = random_key_id()
    for call in (
        lambda: kms.enable_key_rotation(KeyId=missing),
        lambda: kms.disable_key_rotation(KeyId=missing),
        lambda: kms.get_key_rotation_status(KeyId=missing),
        lambda: kms.rotate_key_on_demand(KeyId=missing),
        lambda: kms.list_key_rotations(KeyId=missing),
    ):
        with aws_error("NotFoundException"):
            call()


def test_rotation_on_disabled_key(kms, key):
    kms.disable_key(KeyId=key["KeyId"])
    with aws_error("DisabledException"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    with aws_error("DisabledException"):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    # Reading the status of a disabled key is allowed.
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_rotation_on_pending_deletion_key(kms, key):
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with aws_error("KMSInvalidStateException"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    with aws_error("KMSInvalidStateException"):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])


def test_on_demand_rotation_keeps_old_ciphertexts_decryptable(kms, key):
    key_id = key["KeyId"]
    before = kms.encrypt(KeyId=key_id, Plaintext=b"before", EncryptionContext={"v": "1"})["CiphertextBlob"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    listed = rotate_and_wait(kms, key_id, 1)
    assert len(listed) == 1
    entry = listed[0]
    assert entry["RotationType"] == "ON_DEMAND"
    assert entry["KeyId"].endswith(key_id)
    assert abs(datetime.now(timezone.utc) - entry["RotationDate"]) < timedelta(minutes=5)
    after = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=before, EncryptionContext={"v": "1"})["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=after)["Plaintext"] == b"after"
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    # Rotation keeps the key's identity and state.
    md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["Arn"] == key["Arn"]
    assert md["KeyState"] == "Enabled"


def test_on_demand_rotation_does_not_enable_automatic_rotation(kms, key):
    rotate_and_wait(kms, key["KeyId"], 1)
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_several_rotations_are_listed_and_paged(kms, key):
    key_id = key["KeyId"]
    blobs = [kms.encrypt(KeyId=key_id, Plaintext=b"gen0")["CiphertextBlob"]]
    for generation in range(1, 4):
        # A new on-demand rotation may be refused while one is in progress (ConflictException).
        wait_until(
            lambda: "OnDemandRotationStartDate" not in kms.get_key_rotation_status(KeyId=key_id),
            what="no on-demand rotation in progress",
        )
        rotate_and_wait(kms, key_id, generation)
        blobs.append(kms.encrypt(KeyId=key_id, Plaintext=f"gen{generation}".encode())["CiphertextBlob"])
    listed = rotations(kms, key_id)
    assert len(listed) == 3
    assert all(r["RotationType"] == "ON_DEMAND" for r in listed)
    for generation, blob in enumerate(blobs):
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == f"gen{generation}".encode()
    # Paging with Limit/Marker returns each rotation once.
    seen = []
    marker = None
    for _ in range(10):
        kwargs = {"KeyId": key_id, "Limit": 1}
        if marker:
            kwargs["Marker"] = marker
        resp = kms.list_key_rotations(**kwargs)
        assert len(resp["Rotations"]) <= 1
        seen += resp["Rotations"]
        if not resp["Truncated"]:
            break
        marker = resp["NextMarker"]
    else:
        pytest.fail("ListKeyRotations paging does not terminate")
    assert sorted(r["RotationDate"] for r in seen) == sorted(r["RotationDate"] for r in listed)


def test_re_encrypt_after_rotation_moves_to_current_material(kms, key):
    key_id = key["KeyId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"refresh me")["CiphertextBlob"]
    rotate_and_wait(kms, key_id, 1)
    fresh = kms.re_encrypt(CiphertextBlob=old, DestinationKeyId=key_id)
    assert fresh["SourceKeyId"] == key["Arn"]
    assert fresh["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=fresh["CiphertextBlob"])["Plaintext"] == b"refresh me"


def test_list_key_rotations_limit_out_of_range(kms_unvalidated, key):
    for limit in (0, 1001):
        with aws_error("ValidationException"):
            kms_unvalidated.list_key_rotations(KeyId=key["KeyId"], Limit=limit)
