"""Start and stop real `kagi serve` processes for the test suite.

A `KagiServer` owns one child process: it starts it, waits (bounded) for the
`kagi listening on http://HOST:PORT` line, drains stdout on a thread so the
server can never block on a full pipe, and stops it with SIGTERM (then SIGKILL
after a timeout). Every server ever started is also recorded in `_LIVE` so the
session can kill stragglers if a test crashes before its own teardown.

It deliberately knows nothing about KMS operations: clients live in
`aws_clients.py`.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

_LISTENING = re.compile(r"kagi listening on (http://(\S+):(\d+))")
_EXPORT = re.compile(r"^\s*export\s+([A-Z0-9_]+)=(.*)$")

_LIVE: set["KagiServer"] = set()


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


def dev_credentials() -> Credentials:
    """Well-formed credentials; a `--dev` server does not check the secret."""
    return Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


class KagiServer:
    """One `kagi serve` child process."""

    def __init__(
        self,
        binary: str,
        *,
        log_dir: Path,
        dev: bool,
        data_dir: Path | None = None,
        account_id: str = "111122223333",
        signal_on_stop: int = signal.SIGTERM,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        self.log_dir = log_dir
        self.dev = dev
        self.data_dir = data_dir
        self.account_id = account_id
        self.signal_on_stop = signal_on_stop
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint: str | None = None
        self.port: int | None = None
        self.exit_code: int | None = None
        self.stdout_lines: list[str] = []
        self._lines_lock = threading.Lock()
        self._ready = threading.Event()
        self._stderr_path: Path | None = None
        self._reader: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT_S) -> "KagiServer":
        assert self.proc is None, "a KagiServer is started once"
        args = [self.binary, "serve", "--listen", "127.0.0.1:0", "--account-id", self.account_id]
        if self.dev:
            args.append("--dev")
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        args += list(self.extra_args)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        n = len(list(self.log_dir.glob("kagi-*.stderr")))
        self._stderr_path = self.log_dir / f"kagi-{n}.stderr"
        # The child gets a clean environment: nothing KAGI_* or AWS_* from the caller
        # may change what the flags above say.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KAGI_", "AWS_"))
        }
        env.setdefault("RUST_BACKTRACE", "1")
        env["NO_COLOR"] = "1"  # stderr goes to a file that ends up in failure reports
        with open(self._stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                text=True,
                bufsize=1,
            )
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self._reader.start()

        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                _LIVE.discard(self)
                raise RuntimeError(
                    f"kagi exited with code {self.proc.returncode} before it was ready\n"
                    f"command: {shlex.join(args)}\n{self.diagnostics()}"
                )
            if time.monotonic() > deadline:
                self.stop(expect_clean=False)
                raise RuntimeError(
                    f"kagi did not print 'kagi listening on http://...' within {timeout:.0f}s\n"
                    f"command: {shlex.join(args)}\n{self.diagnostics()}"
                )
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S, expect_clean: bool = True) -> int:
        """Send the stop signal, wait, SIGKILL after `timeout`; return the exit code.

        With `expect_clean`, a process that needed SIGKILL raises after being killed.
        """
        if self.proc is None:
            return 0
        if self.exit_code is not None:
            return self.exit_code
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(self.signal_on_stop)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        self.exit_code = self.proc.returncode
        _LIVE.discard(self)
        if killed and expect_clean:
            raise RuntimeError(
                f"kagi did not exit within {timeout:.0f}s of signal {self.signal_on_stop}; "
                f"it was killed\n{self.diagnostics()}"
            )
        return self.exit_code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        _LIVE.discard(self)

    def dev_reset(self) -> None:
        """`POST /_kagi/dev/reset` (dev servers only): wipe keys, aliases and tags."""
        assert self.endpoint is not None
        request = urllib.request.Request(self.endpoint + "/_kagi/dev/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as resp:
            body = resp.read()
        assert resp.status == 200, f"dev reset answered {resp.status}: {body!r}"
        assert json.loads(body or b"{}") == {}, f"dev reset answered {body!r}"

    # -- output ------------------------------------------------------------------

    def _drain_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._lines_lock:
                self.stdout_lines.append(line)
            m = _LISTENING.search(line)
            if m and not self._ready.is_set():
                self.endpoint = m.group(1)
                self.port = int(m.group(3))
                self._ready.set()

    def stdout_text(self) -> str:
        with self._lines_lock:
            return "\n".join(self.stdout_lines)

    def stderr_text(self) -> str:
        if self._stderr_path is None or not self._stderr_path.exists():
            return ""
        return self._stderr_path.read_text(errors="replace")

    def diagnostics(self, tail: int = 60) -> str:
        err = "\n".join(self.stderr_text().splitlines()[-tail:])
        out = "\n".join(self.stdout_text().splitlines()[-tail:])
        return f"--- kagi stdout (tail) ---\n{out}\n--- kagi stderr (tail) ---\n{err}"

    def exported_env(self, names: tuple[str, ...], timeout: float = 5.0) -> dict[str, str]:
        """The `export NAME=VALUE` lines printed so far, waiting (bounded) for `names`."""
        deadline = time.monotonic() + timeout
        while True:
            exports: dict[str, str] = {}
            with self._lines_lock:
                lines = list(self.stdout_lines)
            for line in lines:
                m = _EXPORT.match(line)
                if m:
                    value = shlex.split(m.group(2))
                    exports[m.group(1)] = value[0] if value else ""
            if all(n in exports for n in names) or time.monotonic() > deadline:
                return exports
            time.sleep(0.05)

    def credentials_file(self) -> Path:
        assert self.data_dir is not None, "only a server with a data dir writes credentials"
        return self.data_dir / "credentials"

    def file_credentials(self) -> Credentials:
        """The `[default]` profile of `<data-dir>/credentials`."""
        parser = configparser.ConfigParser()
        path = self.credentials_file()
        if not parser.read(path):
            raise AssertionError(f"{path} is missing or unreadable\n{self.diagnostics()}")
        section = parser["default"]
        return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])


def kill_all_live() -> None:
    """Last resort at session end: no server outlives the test run."""
    for server in list(_LIVE):
        try:
            server.stop(timeout=5, expect_clean=False)
        except Exception:  # noqa: BLE001 -- teardown must reach every server
            server.kill()
