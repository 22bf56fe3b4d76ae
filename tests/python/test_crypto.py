"""Cryptographic operations through boto3: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, GenerateRandom, encryption context, key states, and
envelope encryption the way applications do it (a local AES-GCM with a KMS data key).
"""

from __future__ import annotations

import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aws_clients import kms_client
from expect import assert_key_arn, aws_error, random_key_id


@pytest.fixture
def key(kms):
    return kms.create_key(Description="crypto")["KeyMetadata"]


# -- Encrypt / Decrypt ----------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 16, 1000, 4096])
def test_encrypt_decrypt_round_trip(kms, key, size):
    plaintext = os.urandom(size)
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext)
    assert enc["KeyId"] == key["Arn"]
    assert enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = enc["CiphertextBlob"]
    if size >= 16:
        assert plaintext not in blob
    assert len(blob) <= 6144
    dec = kms.decrypt(CiphertextBlob=blob)
    assert dec["Plaintext"] == plaintext
    assert dec["KeyId"] == key["Arn"]
    assert dec["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"


def test_ciphertexts_are_randomised(kms, key):
    a = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    b = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    assert a != b


def test_every_key_name_works_for_encrypt_and_decrypt(kms, key, region, account_id):
    kms.create_alias(AliasName="alias/names", TargetKeyId=key["KeyId"])
    names = [
        key["KeyId"],
        key["Arn"],
        "alias/names",
        f"arn:aws:kms:{region}:{account_id}:alias/names",
    ]
    for name in names:
        enc = kms.encrypt(KeyId=name, Plaintext=b"hello")
        assert enc["KeyId"] == key["Arn"], name
        for decrypt_name in names:
            dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], KeyId=decrypt_name)
            assert dec["Plaintext"] == b"hello"
            assert dec["KeyId"] == key["Arn"]


def test_encrypt_plaintext_size_limits(kms_unvalidated, key):
    with aws_error("ValidationException"):
        kms_unvalidated.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4097)
    with aws_error("ValidationException"):
        kms_unvalidated.encrypt(KeyId=key["KeyId"], Plaintext=b"")


def test_encrypt_with_unknown_key(kms):
    with aws_error("NotFoundException"):
        kms.encrypt(KeyId=random_key_id(), Plaintext=b"x")
    with aws_error("NotFoundException"):
        kms.encrypt(KeyId="alias/nothing-here", Plaintext=b"x")


def test_ciphertext_does_not_decrypt_in_another_region(kms, kms_other_region, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"home")["CiphertextBlob"]
    kms_other_region.create_key()
    with aws_error("InvalidCiphertextException", "NotFoundException"):
        kms_other_region.decrypt(CiphertextBlob=blob)


def test_concurrent_clients(dev_server, creds, region, key):
    # Bounded smoke test: 8 threads x 20 round trips, each thread with its own client
    # (boto3 clients are thread-safe, but separate ones mean separate connections).
    clients = [kms_client(dev_server.endpoint, region, creds) for _ in range(8)]

    def worker(n: int) -> int:
        for i in range(20):
            data = f"{n}-{i}".encode()
            blob = clients[n].encrypt(KeyId=key["KeyId"], Plaintext=data)["CiphertextBlob"]
            assert clients[n].decrypt(CiphertextBlob=blob)["Plaintext"] == data
        return n

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(worker, range(8), timeout=120)) == list(range(8))


def test_decrypt_with_another_key_id_is_incorrect_key(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"mine")["CiphertextBlob"]
    with aws_error("IncorrectKeyException"):
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    with aws_error("IncorrectKeyException"):
        kms.decrypt(CiphertextBlob=blob, KeyId=other["Arn"])


# -- encryption context ---------------------------------------------------------------


def test_encryption_context_round_trip(kms, key):
    context = {"tenant": "acme", "purpose": "invoices", "ünïcode": "välue"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext=context)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"ctx"
    # Order of the pairs is irrelevant.
    reordered = dict(reversed(list(context.items())))
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)["Plaintext"] == b"ctx"


@pytest.mark.parametrize(
    "given",
    [
        None,
        {},
        {"tenant": "acme"},
        {"tenant": "acme", "purpose": "INVOICES"},
        {"tenant": "acme", "purpose": "invoices", "extra": "pair"},
        {"Tenant": "acme", "purpose": "invoices"},
    ],
)
def test_encryption_context_mismatch_is_invalid_ciphertext(kms, key, given):
    context = {"tenant": "acme", "purpose": "invoices"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext=context)["CiphertextBlob"]
    kwargs = {} if given is None else {"EncryptionContext": given}
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=blob, **kwargs)


def test_context_given_on_decrypt_but_not_on_encrypt(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"no ctx")["CiphertextBlob"]
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})


# -- damaged ciphertexts --------------------------------------------------------------


def _flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


def test_tampered_ciphertext_is_invalid(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"integrity matters")["CiphertextBlob"]
    positions = sorted({0, 1, len(blob) // 4, len(blob) // 2, (3 * len(blob)) // 4, len(blob) - 1})
    for i in positions:
        with aws_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=_flip(blob, i))
    # The untouched blob still decrypts: nothing above changed server state.
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"integrity matters"


def test_truncated_and_extended_ciphertext_is_invalid(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"complete")["CiphertextBlob"]
    for damaged in (blob[:1], blob[: len(blob) // 2], blob[:-1], blob + b"\x00"):
        with aws_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=damaged)


def test_garbage_ciphertext_is_invalid(kms, key):
    for garbage in (b"\x00", os.urandom(64), os.urandom(300), b"not a kms ciphertext at all"):
        with aws_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=garbage)
        with aws_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=garbage, KeyId=key["KeyId"])


def test_ciphertext_of_a_deleted_key_after_reset_is_unusable(kms, key, fresh_dev_server):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"gone")["CiphertextBlob"]
    fresh_dev_server.dev_reset()
    with aws_error("InvalidCiphertextException", "NotFoundException"):
        kms.decrypt(CiphertextBlob=blob)


# -- ReEncrypt ------------------------------------------------------------------------


def test_re_encrypt_to_another_key(kms, key):
    dest = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move me")["CiphertextBlob"]
    resp = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest["KeyId"])
    assert resp["SourceKeyId"] == key["Arn"]
    assert resp["KeyId"] == dest["Arn"]
    assert resp["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert resp["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    dec = kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])
    assert dec["Plaintext"] == b"move me"
    assert dec["KeyId"] == dest["Arn"]
    with aws_error("IncorrectKeyException"):
        kms.decrypt(CiphertextBlob=resp["CiphertextBlob"], KeyId=key["KeyId"])


def test_re_encrypt_changes_encryption_context(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext={"v": "1"})["CiphertextBlob"]
    with aws_error("InvalidCiphertextException"):
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["KeyId"])
    resp = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"v": "1"},
        DestinationKeyId=key["KeyId"],
        DestinationEncryptionContext={"v": "2"},
    )
    new = resp["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new, EncryptionContext={"v": "2"})["Plaintext"] == b"ctx"
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=new, EncryptionContext={"v": "1"})


def test_re_encrypt_with_wrong_source_key(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with aws_error("IncorrectKeyException"):
        kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=other["KeyId"], DestinationKeyId=other["KeyId"])
    resp = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=key["Arn"], DestinationKeyId=other["Arn"])
    assert resp["KeyId"] == other["Arn"]


def test_re_encrypt_key_states(kms, key):
    dest = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=dest["KeyId"])
    with aws_error("DisabledException"):
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest["KeyId"])
    kms.enable_key(KeyId=dest["KeyId"])
    kms.disable_key(KeyId=key["KeyId"])
    with aws_error("DisabledException"):
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest["KeyId"])
    with aws_error("NotFoundException"):
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=random_key_id())


# -- data keys ------------------------------------------------------------------------


@pytest.mark.parametrize("spec,length", [("AES_256", 32), ("AES_128", 16)])
def test_generate_data_key_key_spec(kms, key, spec, length):
    resp = kms.generate_data_key(KeyId=key["KeyId"], KeySpec=spec)
    assert resp["KeyId"] == key["Arn"]
    assert len(resp["Plaintext"]) == length
    dec = kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])
    assert dec["Plaintext"] == resp["Plaintext"]
    assert dec["KeyId"] == key["Arn"]


@pytest.mark.parametrize("n", [1, 64, 1024])
def test_generate_data_key_number_of_bytes(kms, key, n):
    resp = kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=n)
    assert len(resp["Plaintext"]) == n
    assert kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"] == resp["Plaintext"]


def test_generate_data_key_is_unique_per_call(kms, key):
    a = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
    b = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
    assert a != b


def test_generate_data_key_requires_exactly_one_length(kms_unvalidated, key):
    with aws_error("ValidationException"):
        kms_unvalidated.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", NumberOfBytes=32)
    with aws_error("ValidationException"):
        kms_unvalidated.generate_data_key(KeyId=key["KeyId"])
    for n in (0, 1025):
        with aws_error("ValidationException"):
            kms_unvalidated.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=n)
    with aws_error("ValidationException"):
        kms_unvalidated.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_512")


def test_generate_data_key_with_context(kms, key):
    resp = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"file": "a.txt"})
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])
    dec = kms.decrypt(CiphertextBlob=resp["CiphertextBlob"], EncryptionContext={"file": "a.txt"})
    assert dec["Plaintext"] == resp["Plaintext"]


def test_generate_data_key_without_plaintext(kms, key):
    resp = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in resp
    assert resp["KeyId"] == key["Arn"]
    assert len(kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"]) == 32
    resp = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=100)
    assert len(kms.decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"]) == 100


def test_generate_data_key_without_plaintext_validation(kms_unvalidated, key):
    with aws_error("ValidationException"):
        kms_unvalidated.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_128", NumberOfBytes=16)
    with aws_error("ValidationException"):
        kms_unvalidated.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=1025)


# -- GenerateRandom -------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 32, 1024])
def test_generate_random_lengths(kms, n):
    assert len(kms.generate_random(NumberOfBytes=n)["Plaintext"]) == n


def test_generate_random_is_random(kms):
    samples = {kms.generate_random(NumberOfBytes=32)["Plaintext"] for _ in range(5)}
    assert len(samples) == 5


def test_generate_random_bounds(kms_unvalidated):
    for n in (0, 1025):
        with aws_error("ValidationException"):
            kms_unvalidated.generate_random(NumberOfBytes=n)


# -- key states -----------------------------------------------------------------------


def test_disabled_key_refuses_crypto_until_enabled(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    with aws_error("DisabledException"):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with aws_error("DisabledException"):
        kms.decrypt(CiphertextBlob=blob)
    with aws_error("DisabledException"):
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    with aws_error("DisabledException"):
        kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"


def test_pending_deletion_key_refuses_crypto_until_cancelled(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with aws_error("KMSInvalidStateException"):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with aws_error("KMSInvalidStateException"):
        kms.decrypt(CiphertextBlob=blob)
    with aws_error("KMSInvalidStateException"):
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    with aws_error("KMSInvalidStateException"):
        kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    with aws_error("DisabledException"):
        kms.decrypt(CiphertextBlob=blob)
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"


# -- envelope encryption, as applications do it ---------------------------------------


def _seal_file(kms, key_id: str, source, sealed, context: dict) -> None:
    """GenerateDataKey, AES-256-GCM the file locally, keep only the wrapped key."""
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    nonce = os.urandom(12)
    aad = json.dumps(context, sort_keys=True).encode()
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, source.read_bytes(), aad)
    sealed.write_text(json.dumps({
        "wrapped_key": base64.b64encode(data_key["CiphertextBlob"]).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "context": context,
    }))
    del data_key  # the plaintext data key is discarded; only KMS can unwrap it again


def _open_file(kms, sealed) -> bytes:
    envelope = json.loads(sealed.read_text())
    context = envelope["context"]
    plain_key = kms.decrypt(
        CiphertextBlob=base64.b64decode(envelope["wrapped_key"]), EncryptionContext=context
    )["Plaintext"]
    aad = json.dumps(context, sort_keys=True).encode()
    return AESGCM(plain_key).decrypt(
        base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ciphertext"]), aad
    )


def test_envelope_encryption_of_a_file(kms, key, tmp_path):
    kms.create_alias(AliasName="alias/backups", TargetKeyId=key["KeyId"])
    source = tmp_path / "report.csv"
    content = b"id,amount\n" + b"".join(f"{i},{i * 7}\n".encode() for i in range(20000))
    source.write_bytes(content)
    sealed = tmp_path / "report.csv.sealed"
    _seal_file(kms, "alias/backups", source, sealed, {"file": "report.csv", "bucket": "backups"})
    source.unlink()
    assert content not in sealed.read_bytes()
    assert _open_file(kms, sealed) == content


def test_envelope_wrapped_key_is_bound_to_its_context(kms, key, tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(1000))
    sealed = tmp_path / "a.sealed"
    _seal_file(kms, key["KeyId"], source, sealed, {"file": "a.bin"})
    envelope = json.loads(sealed.read_text())
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=base64.b64decode(envelope["wrapped_key"]), EncryptionContext={"file": "b.bin"})


def test_envelope_with_key_generated_without_plaintext(kms, key):
    # The "encrypt later" pattern: store a wrapped key now, unwrap it when needed.
    wrapped = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")["CiphertextBlob"]
    data_key = kms.decrypt(CiphertextBlob=wrapped)["Plaintext"]
    nonce = os.urandom(12)
    sealed = AESGCM(data_key).encrypt(nonce, b"later", None)
    again = kms.decrypt(CiphertextBlob=wrapped, KeyId=key["KeyId"])["Plaintext"]
    assert AESGCM(again).decrypt(nonce, sealed, None) == b"later"


def test_ciphertext_arn_names_the_region(kms, key, region, account_id):
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert_key_arn(enc["KeyId"], region, account_id, key["KeyId"])
