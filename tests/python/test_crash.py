"""Crash safety: after `kill -9` under load, everything a client was told succeeded is
still there (keys, aliases, rotations) and every ciphertext it received still decrypts."""

from __future__ import annotations

import threading
import time

import pytest

from aws_clients import kms_client
from conftest import REGION

WORKERS = 8
WARMUP_KEYS = 2 * WORKERS  # acknowledged keys before the kill: every worker is under way
LOAD_AFTER_WARMUP_S = 0.5
MAX_ITERATIONS = 2000  # per worker; the kill comes first


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def test_acknowledged_writes_survive_kill_9(start_kagi, data_dir):
    first = start_kagi(data_dir=data_dir)
    creds = first.file_credentials()
    endpoint = first.endpoint
    acked_keys: list[str] = []
    acked_ciphertexts: list[tuple[str, bytes, bytes]] = []
    acked_aliases: list[tuple[str, str]] = []
    acked_rotations: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()
    errors_before_kill: list[str] = []
    # Clients are built up front: building one loads botocore's models, which is slow.
    clients = [kms_client(endpoint, REGION, creds) for _ in range(WORKERS)]

    def worker(n: int) -> None:
        kms = clients[n]
        for i in range(MAX_ITERATIONS):
            try:
                key_id = kms.create_key(Description=f"crash-{n}-{i}")["KeyMetadata"]["KeyId"]
                with lock:
                    acked_keys.append(key_id)
                plaintext = f"w{n}-i{i}".encode()
                blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
                with lock:
                    acked_ciphertexts.append((key_id, plaintext, blob))
                if i % 3 == 0:
                    alias = f"alias/crash-{n}-{i}"
                    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
                    with lock:
                        acked_aliases.append((alias, key_id))
                if i % 4 == 0:
                    kms.rotate_key_on_demand(KeyId=key_id)
                    with lock:
                        acked_rotations.append(key_id)
            except Exception as e:  # after the kill: stop, keep what was acknowledged
                if not killed.is_set():
                    with lock:
                        errors_before_kill.append(f"worker {n}: {e!r}")
                return

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(WORKERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked_keys) < WARMUP_KEYS and time.monotonic() < deadline and not errors_before_kill:
        time.sleep(0.05)
    time.sleep(LOAD_AFTER_WARMUP_S)
    killed.set()
    first.kill()  # SIGKILL: no graceful shutdown, no flush
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a client thread hung after the server was killed"

    with lock:
        keys, ciphertexts = list(acked_keys), list(acked_ciphertexts)
        aliases, rotations = list(acked_aliases), list(acked_rotations)
    assert not errors_before_kill, errors_before_kill
    assert len(keys) >= WARMUP_KEYS, f"too little load before the kill: {len(keys)} keys"

    second = start_kagi(data_dir=data_dir)
    kms = kms_client(second.endpoint, REGION, creds)
    for key_id in keys:
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    for key_id, plaintext, blob in ciphertexts:
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext, key_id
    for alias, key_id in aliases:
        assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id
    for key_id in rotations:
        assert kms.list_key_rotations(KeyId=key_id)["Rotations"], key_id
    print(f"after kill -9: {len(keys)} keys, {len(ciphertexts)} ciphertexts, "
          f"{len(aliases)} aliases, {len(rotations)} rotations all intact")
