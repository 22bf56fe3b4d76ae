"""`kagi serve --store postgres://…`: the same service on the real PostgreSQL server on
127.0.0.1:5432. Each test creates its own database and drops it afterwards; a missing
server is a failure, never a skip."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from aws_clients import kms_client
from conftest import REGION
from expect import aws_error

PG = "127.0.0.1"
PSQL_TIMEOUT_S = 30


def psql(sql: str) -> None:
    """Runs `sql` as a maintenance statement (user postgres, else root; trust auth)."""
    failures = []
    for user in ("postgres", "root"):
        result = subprocess.run(
            ["psql", "-h", PG, "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=PSQL_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
        if result.returncode == 0:
            return
        failures.append(f"{user}: {result.stderr.strip()}")
    raise AssertionError(
        f"PostgreSQL on {PG}:5432 did not run {sql!r} ({'; '.join(failures)}). Start it with "
        "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
    )


@pytest.fixture
def pg_url():
    name = f"kagi_test_py_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield f"postgres://postgres@{PG}:5432/{name}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_keys_live_in_postgres_and_survive_a_restart(start_kagi, tmp_path, pg_url):
    data = tmp_path / "data"
    data.mkdir()
    first = start_kagi(data_dir=data, extra_args=("--store", pg_url))
    creds = first.file_credentials()
    kms = kms_client(first.endpoint, REGION, creds)
    key = kms.create_key(Description="on postgres")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/pg", TargetKeyId=key)
    blob = kms.encrypt(KeyId="alias/pg", Plaintext=b"stored in postgres",
                       EncryptionContext={"db": "pg"})["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    assert first.stop() == 0, first.diagnostics()
    # Nothing went to the embedded database.
    assert not (data / "kagi.db").exists()

    second = start_kagi(data_dir=data, extra_args=("--store", pg_url))
    kms = kms_client(second.endpoint, REGION, creds)
    assert kms.describe_key(KeyId="alias/pg")["KeyMetadata"]["KeyId"] == key
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"db": "pg"})["Plaintext"] == b"stored in postgres"
    assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 1
    with aws_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=blob)


def test_a_store_that_is_not_postgres_is_refused(kagi_bin, tmp_path):
    result = subprocess.run(
        [kagi_bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
         "--store", "mysql://nope"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "postgres://" in result.stderr, result.stderr


def _get(url: str) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_readiness_follows_the_database(start_kagi, tmp_path, pg_url):
    data = tmp_path / "data"
    data.mkdir()
    server = start_kagi(data_dir=data, extra_args=("--store", pg_url))
    assert _get(server.endpoint + "/_kagi/ready") == (200, {"Status": "ready"})
    # The database goes away under the server: not ready, but still alive and answering.
    psql(f"DROP DATABASE {pg_url.rsplit('/', 1)[1]} WITH (FORCE)")
    status, body = _get(server.endpoint + "/_kagi/ready")
    assert status == 503 and body["__type"] == "DependencyTimeoutException", body
    assert _get(server.endpoint + "/_kagi/health") == (200, {"Status": "ok"})
