"""The three ways the suite talks to Kagi: boto3, raw signed HTTP, and the AWS CLI.

- `kms_client` builds a boto3 KMS client that never retries (an error must reach the
  test as it was sent) and has bounded connect/read timeouts.
- `RawKms` sends hand-made AWS JSON 1.1 requests, signed with botocore's own SigV4
  signer (or not signed at all), so tests can send what no SDK would: bad JSON, wrong
  types, huge bodies.
- `AwsCli` runs the AWS CLI (v1, from this venv) as a user would, with a private
  HOME and config files so nothing from the machine's own AWS setup leaks in.

None of this knows how the server is started: see `kagi_process.py`.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from kagi_process import Credentials

HTTP_TIMEOUT_S = 30
CLI_TIMEOUT_S = 60
AMZ_JSON = "application/x-amz-json-1.1"


def kms_client(endpoint: str, region: str, creds: Credentials, *, validate: bool = True):
    """A boto3 KMS client. `validate=False` lets out-of-range values reach the server."""
    config = Config(
        region_name=region,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=HTTP_TIMEOUT_S,
        parameter_validation=validate,
    )
    session = boto3.session.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        region_name=region,
    )
    return session.client("kms", endpoint_url=endpoint, config=config)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-amzn-requestid")

    @property
    def error_type(self) -> str | None:
        """`__type`, reduced to the bare exception name (AWS may send `ns#Name`)."""
        try:
            body = self.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or "__type" not in body:
            return None
        return str(body["__type"]).rsplit("#", 1)[-1]

    def describe(self) -> str:
        return f"HTTP {self.status} headers={self.headers} body={self.body[:500]!r}"


@dataclass
class RawKms:
    """Hand-made requests to the KMS endpoint."""

    endpoint: str
    region: str
    creds: Credentials | None

    def post(
        self,
        body: bytes | str,
        *,
        target: str | None = None,
        operation: str | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        body_after_signing: bytes | None = None,
    ) -> RawResponse:
        if isinstance(body, str):
            body = body.encode("utf-8")
        if operation is not None:
            target = f"TrentService.{operation}"
        all_headers = {"Content-Type": AMZ_JSON}
        if target is not None:
            all_headers["X-Amz-Target"] = target
        all_headers.update(headers or {})
        if sign:
            assert self.creds is not None
            request = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers=all_headers)
            boto_creds = BotoCredentials(self.creds.access_key_id, self.creds.secret_access_key)
            SigV4Auth(boto_creds, "kms", self.region).add_auth(request)
            all_headers = dict(request.headers.items())
        if body_after_signing is not None:
            body = body_after_signing
        return send(self.endpoint, "POST", "/", body, all_headers)

    def call(self, operation: str, params: dict) -> RawResponse:
        return self.post(json.dumps(params), operation=operation)


def send(endpoint: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> RawResponse:
    """One HTTP/1.1 exchange with a bounded timeout.

    A server may answer an oversized body early and stop reading; the response it
    sent is still read after the failed write.
    """
    url = urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=HTTP_TIMEOUT_S)
    try:
        try:
            conn.request(method, path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        data = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def aws_cli_command() -> list[str]:
    """The venv's `aws` entry point, else `python -m awscli` from this interpreter."""
    exe = Path(sys.executable).parent / "aws"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "awscli"]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else None


@dataclass
class AwsCli:
    """The AWS CLI with a private, explicit environment."""

    home: Path
    region: str
    creds: Credentials
    endpoint: str | None  # None: rely on AWS_ENDPOINT_URL_KMS in `extra_env`
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "aws-config"
        shared = self.home / "aws-credentials"
        config.touch()
        shared.touch()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(shared),
            "AWS_ACCESS_KEY_ID": self.creds.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.creds.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "AWS": shlex.join(aws_cli_command()),
        }
        if self.endpoint is not None:
            env["KAGI_ENDPOINT"] = self.endpoint
        env.update(self.extra_env)
        return env

    def base_args(self) -> list[str]:
        args = aws_cli_command()
        if self.endpoint is not None:
            args += ["--endpoint-url", self.endpoint]
        return args

    def run(self, *args: str, check: bool = True, cwd: Path | None = None) -> CliResult:
        """`aws kms ...` with `--output json`; `check` asserts exit code 0."""
        cmd = self.base_args() + ["--output", "json", *args]
        proc = subprocess.run(
            cmd,
            env=self.env(),
            cwd=cwd or self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
        result = CliResult(proc.returncode, proc.stdout, proc.stderr)
        if check:
            assert proc.returncode == 0, (
                f"`{shlex.join(cmd)}` exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return result

    def shell(self, script: str, *, cwd: Path) -> CliResult:
        """A bash script, as a user would type it; `$AWS` is the CLI (with --endpoint-url).

        Runs with `set -euo pipefail`; asserts exit code 0.
        """
        env = self.env()
        env["AWS"] = shlex.join(self.base_args())
        bash = shutil.which("bash") or "/bin/bash"
        proc = subprocess.run(
            [bash, "-c", "set -euo pipefail\n" + script],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S * 2,
        )
        assert proc.returncode == 0, (
            f"script exited {proc.returncode}\n{script}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)
