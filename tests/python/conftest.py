"""Fixtures for the Kagi client suite (boto3, raw SigV4 HTTP, AWS CLI).

- One `--dev` server for the whole session; every test starts from an empty server
  (`POST /_kagi/dev/reset`, autouse).
- `start_kagi` starts extra servers (real auth, a tmp data dir, restarts) that are
  stopped at the end of the test that started them.
- The test process itself is scrubbed of AWS configuration so nothing from the
  machine (profiles, endpoints, regions) changes what a test sends.

The binary comes from `KAGI_BIN` (required; `cargo xtask test` sets it).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import pytest

from aws_clients import AwsCli, RawKms, kms_client
from kagi_process import Credentials, KagiServer, dev_credentials, kill_all_live

ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"

_SCRATCH = pytest.StashKey[Path]()
_STARTED = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    # No AWS setting of the machine may leak into boto3 or botocore in this process.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    scratch = Path(tempfile.mkdtemp(prefix="kagi-tests-aws-"))
    config.stash[_SCRATCH] = scratch
    (scratch / "config").touch()
    (scratch / "credentials").touch()
    os.environ["AWS_CONFIG_FILE"] = str(scratch / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(scratch / "credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    binary = os.environ.get("KAGI_BIN")
    if not binary:
        raise pytest.UsageError(
            "KAGI_BIN is not set: point it at the kagi binary "
            "(cargo xtask test does this), e.g. KAGI_BIN=target/debug/kagi"
        )
    path = Path(binary)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise pytest.UsageError(f"KAGI_BIN={binary} is not an executable file")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    kill_all_live()


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report carries the stderr tail of the servers it used."""
    report = yield
    if report.failed:
        servers = []
        funcargs = getattr(item, "funcargs", {})
        if "fresh_dev_server" in funcargs:
            servers.append(("dev server", funcargs["fresh_dev_server"]))
        for name, server in item.stash.get(_STARTED, []):
            servers.append((name, server))
        for name, server in servers:
            code = server.proc.poll() if server.proc else None
            state = "running" if server.proc and code is None else f"exited {code}"
            report.sections.append((f"kagi {name} ({state})", server.diagnostics(tail=40)))
    return report


@pytest.fixture(scope="session")
def kagi_bin() -> str:
    return os.environ["KAGI_BIN"]


# -- the shared dev server -------------------------------------------------------------


@pytest.fixture(scope="session")
def dev_server(kagi_bin, tmp_path_factory) -> KagiServer:
    server = KagiServer(kagi_bin, log_dir=tmp_path_factory.mktemp("dev-server-logs"), dev=True,
                        account_id=ACCOUNT_ID)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_dev_server(dev_server: KagiServer) -> KagiServer:
    """Every test starts from an empty dev server (and a dead one fails loudly)."""
    if dev_server.proc is not None and dev_server.proc.poll() is not None:
        pytest.fail(f"the dev server died (exit {dev_server.proc.returncode})\n{dev_server.diagnostics()}")
    dev_server.dev_reset()
    return dev_server


@pytest.fixture(scope="session")
def creds() -> Credentials:
    return dev_credentials()


@pytest.fixture(scope="session")
def account_id() -> str:
    return ACCOUNT_ID


@pytest.fixture(scope="session")
def region() -> str:
    return REGION


@pytest.fixture(scope="session")
def other_region() -> str:
    return OTHER_REGION


@pytest.fixture(scope="session")
def kms_for(dev_server, creds):
    """`kms_for(region, validate=True)`: a cached boto3 client for the dev server."""
    cache = {}

    def make(region: str = REGION, validate: bool = True):
        key = (region, validate)
        if key not in cache:
            cache[key] = kms_client(dev_server.endpoint, region, creds, validate=validate)
        return cache[key]

    return make


@pytest.fixture
def kms(kms_for):
    return kms_for(REGION)


@pytest.fixture
def kms_other_region(kms_for):
    return kms_for(OTHER_REGION)


@pytest.fixture
def kms_unvalidated(kms_for):
    """No client-side parameter validation: out-of-range values reach the server."""
    return kms_for(REGION, validate=False)


@pytest.fixture
def raw(dev_server, creds) -> RawKms:
    return RawKms(dev_server.endpoint, REGION, creds)


@pytest.fixture
def aws_cli(dev_server, creds, tmp_path) -> AwsCli:
    return AwsCli(home=tmp_path / "cli-home", region=REGION, creds=creds, endpoint=dev_server.endpoint)


@pytest.fixture
def new_key(kms):
    """`new_key(**create_key_args) -> KeyMetadata` in us-east-1 of the dev server."""

    def make(**kwargs):
        return kms.create_key(**kwargs)["KeyMetadata"]

    return make


# -- extra servers --------------------------------------------------------------------


@pytest.fixture
def start_kagi(kagi_bin, tmp_path, request):
    """`start_kagi(data_dir=..., dev=False, stop_signal=SIGTERM, extra_args=()) -> KagiServer`.

    Servers still running at the end of the test are stopped (and must stop cleanly).
    """
    started: list[KagiServer] = []
    request.node.stash[_STARTED] = []

    def start(*, data_dir: Path | None = None, dev: bool = False,
              stop_signal: int = signal.SIGTERM, extra_args: tuple[str, ...] = ()) -> KagiServer:
        server = KagiServer(kagi_bin, log_dir=tmp_path / "logs", dev=dev, data_dir=data_dir,
                            account_id=ACCOUNT_ID, signal_on_stop=stop_signal,
                            extra_args=extra_args)
        started.append(server)
        request.node.stash[_STARTED].append((f"server {len(started) - 1}", server))
        return server.start()

    yield start
    errors = []
    for server in started:
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 -- stop every server before failing
            errors.append(exc)
    if errors:
        raise errors[0]


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
