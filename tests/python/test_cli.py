"""The AWS CLI (v1) against Kagi with `--endpoint-url`, following the commands of the
AWS KMS developer guide: create-key, create-alias, encrypt with `fileb://`, decrypt
through `--query Plaintext --output text | base64 -d`, generate-data-key, list-keys,
schedule-key-deletion.
"""

from __future__ import annotations

import base64

from expect import assert_key_arn, assert_key_id


def test_cli_walkthrough(aws_cli, tmp_path, region, account_id):
    # 1. create-key
    created = aws_cli.run("kms", "create-key", "--description", "cli walkthrough").json()
    md = created["KeyMetadata"]
    key_id = md["KeyId"]
    assert_key_id(key_id)
    assert_key_arn(md["Arn"], region, account_id, key_id)
    assert md["KeyState"] == "Enabled"

    # 2. create-alias (no output on success)
    result = aws_cli.run("kms", "create-alias", "--alias-name", "alias/walkthrough",
                         "--target-key-id", key_id)
    assert result.stdout.strip() == ""
    described = aws_cli.run("kms", "describe-key", "--key-id", "alias/walkthrough").json()
    assert described["KeyMetadata"]["KeyId"] == key_id

    # 3. encrypt a file, keep the binary ciphertext, as the guide does
    secret = b"database password: hunter2\n\x00\x01\xff binary tail"
    (tmp_path / "secret.txt").write_bytes(secret)
    aws_cli.shell(
        "$AWS kms encrypt --key-id alias/walkthrough --plaintext fileb://secret.txt "
        "--output text --query CiphertextBlob | base64 --decode > secret.enc",
        cwd=tmp_path,
    )
    ciphertext = (tmp_path / "secret.enc").read_bytes()
    assert ciphertext and secret not in ciphertext

    # 4. decrypt it back through the documented pipeline
    aws_cli.shell(
        "$AWS kms decrypt --ciphertext-blob fileb://secret.enc "
        "--output text --query Plaintext | base64 -d > secret.out",
        cwd=tmp_path,
    )
    assert (tmp_path / "secret.out").read_bytes() == secret

    # decrypt with --key-id and JSON output too
    dec = aws_cli.run("kms", "decrypt", "--ciphertext-blob", "fileb://secret.enc",
                      "--key-id", key_id, cwd=tmp_path).json()
    assert base64.b64decode(dec["Plaintext"]) == secret
    assert dec["KeyId"] == md["Arn"]

    # 5. generate-data-key, then decrypt the wrapped copy
    dk = aws_cli.run("kms", "generate-data-key", "--key-id", "alias/walkthrough",
                     "--key-spec", "AES_256").json()
    plain_key = base64.b64decode(dk["Plaintext"])
    assert len(plain_key) == 32
    assert dk["KeyId"] == md["Arn"]
    (tmp_path / "datakey.enc").write_bytes(base64.b64decode(dk["CiphertextBlob"]))
    unwrapped = aws_cli.run("kms", "decrypt", "--ciphertext-blob", "fileb://datakey.enc",
                            "--query", "Plaintext", "--output", "text", cwd=tmp_path)
    assert base64.b64decode(unwrapped.stdout.strip()) == plain_key

    # 6. list-keys and list-aliases
    keys = aws_cli.run("kms", "list-keys").json()["Keys"]
    assert {"KeyId": key_id, "KeyArn": md["Arn"]} in keys
    aliases = aws_cli.run("kms", "list-aliases", "--key-id", key_id).json()["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/walkthrough"]

    # 7. schedule-key-deletion with the shortest window
    scheduled = aws_cli.run("kms", "schedule-key-deletion", "--key-id", key_id,
                            "--pending-window-in-days", "7").json()
    assert scheduled["KeyId"] == md["Arn"]
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    state = aws_cli.run("kms", "describe-key", "--key-id", key_id,
                        "--query", "KeyMetadata.KeyState", "--output", "text")
    assert state.stdout.strip() == "PendingDeletion"


def test_cli_encryption_context(aws_cli, tmp_path):
    key_id = aws_cli.run("kms", "create-key").json()["KeyMetadata"]["KeyId"]
    (tmp_path / "p.txt").write_bytes(b"with context")
    aws_cli.shell(
        f"$AWS kms encrypt --key-id {key_id} --plaintext fileb://p.txt "
        "--encryption-context purpose=test,tenant=acme "
        "--query CiphertextBlob --output text | base64 -d > p.enc",
        cwd=tmp_path,
    )
    out = aws_cli.shell(
        "$AWS kms decrypt --ciphertext-blob fileb://p.enc --encryption-context tenant=acme,purpose=test "
        "--query Plaintext --output text | base64 -d",
        cwd=tmp_path,
    )
    assert out.stdout == "with context"
    wrong = aws_cli.run("kms", "decrypt", "--ciphertext-blob", "fileb://p.enc",
                        "--encryption-context", "tenant=evil,purpose=test", check=False, cwd=tmp_path)
    assert wrong.returncode != 0
    assert "InvalidCiphertextException" in wrong.stderr


def test_cli_pages_through_list_keys(aws_cli):
    # The CLI follows NextMarker itself; --page-size makes it take several pages.
    created = {aws_cli.run("kms", "create-key").json()["KeyMetadata"]["KeyId"] for _ in range(5)}
    listed = aws_cli.run("kms", "list-keys", "--page-size", "2").json()["Keys"]
    assert sorted(k["KeyId"] for k in listed) == sorted(created)


def test_cli_reports_aws_errors(aws_cli):
    result = aws_cli.run("kms", "describe-key", "--key-id", "alias/no-such-alias", check=False)
    assert result.returncode != 0
    assert "NotFoundException" in result.stderr
    assert "DescribeKey" in result.stderr


def test_cli_generate_random_and_rotation(aws_cli):
    rnd = aws_cli.run("kms", "generate-random", "--number-of-bytes", "48").json()
    assert len(base64.b64decode(rnd["Plaintext"])) == 48
    key_id = aws_cli.run("kms", "create-key").json()["KeyMetadata"]["KeyId"]
    aws_cli.run("kms", "enable-key-rotation", "--key-id", key_id, "--rotation-period-in-days", "180")
    status = aws_cli.run("kms", "get-key-rotation-status", "--key-id", key_id).json()
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 180
    aws_cli.run("kms", "tag-resource", "--key-id", key_id, "--tags", "TagKey=env,TagValue=dev")
    tags = aws_cli.run("kms", "list-resource-tags", "--key-id", key_id).json()["Tags"]
    assert tags == [{"TagKey": "env", "TagValue": "dev"}]
