"""FerretDB for the tests: a real MongoDB-wire server on loopback.

FerretDB v1.24 with its SQLite handler keeps each database as an SQLite
file under a data directory, so no PostgreSQL is needed. scripts/install-ferretdb
builds it (scripts/bootstrap --test runs that); `find_binary` looks for it
where that script puts it.

Everything binds to 127.0.0.1: the wire listener on a free ephemeral port,
the debug/metrics HTTP listener switched off (``--debug-addr=-``), and
telemetry disabled. The state file goes to the data directory, never the
working directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

INSTALL_HINT = "FerretDB is not installed: run scripts/install-ferretdb (it needs Go)"

# Short enough that an outage makes store calls fail within seconds.
CLIENT_OPTIONS = "serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=3000"


def find_binary() -> str | None:
    """The ferretdb executable: $PUSHI_FERRETDB, then $(go env GOPATH)/bin,
    ~/go/bin and PATH. None when there is none."""
    candidates: list[str] = []
    if os.environ.get("PUSHI_FERRETDB"):
        candidates.append(os.environ["PUSHI_FERRETDB"])
    go = shutil.which("go") or next(
        (g for g in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(g, os.X_OK)),
        None)
    if go:
        try:
            gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True,
                                    timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            gopath = ""
        for part in gopath.split(os.pathsep):
            if part:
                candidates.append(os.path.join(part, "bin", "ferretdb"))
    candidates.append(os.path.expanduser("~/go/bin/ferretdb"))
    on_path = shutil.which("ferretdb")
    if on_path:
        candidates.append(on_path)
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(RuntimeError):
    """The port was in use when FerretDB tried to listen on it."""


class FerretDB:
    """One FerretDB process: start(), stop(), start() again on the same port
    and data directory (an outage and a recovery), pause()/resume() (a hung
    server)."""

    def __init__(self, binary: str, data_dir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.data_dir = Path(data_dir)
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "ferretdb.log"
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)

    def url(self, database: str | None = None) -> str:
        """A store URL for a database (a fresh, unique one when None)."""
        database = database or "t" + uuid.uuid4().hex[:16]
        return f"mongodb://127.0.0.1:{self.port}/{database}?{CLIENT_OPTIONS}"

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server and waits until it listens. A server that was
        started before comes back on the same port and data directory. The
        first start picks another free port if someone took the chosen one
        meanwhile."""
        for attempt in range(3):
            try:
                self._start_once(timeout)
                self.fixed_port = True  # restarts reuse this port
                return
            except PortTaken:
                if self.fixed_port or attempt == 2:
                    raise
                self.port = free_port()

    def _start_once(self, timeout: float) -> None:
        assert self.proc is None, "already running"
        args = [
            self.binary,
            "--handler=sqlite",
            f"--sqlite-url=file:{self.data_dir / 'data'}/",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--debug-addr=-",
            "--telemetry=disable",
            f"--state-dir={self.data_dir}",
            "--log-level=warn",
        ]
        env = dict(os.environ, FERRETDB_TELEMETRY="disable", DO_NOT_TRACK="1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                tail = self.log_tail()
                if "address already in use" in tail:
                    raise PortTaken(tail)
                raise RuntimeError(f"ferretdb exited with {code} at start:\n{tail}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
                continue
            # Something listens: make sure it is this process, not another
            # program that took the port first (ours then exits).
            time.sleep(0.2)
            if self.proc.poll() is None:
                return
        self.stop()
        raise RuntimeError(f"ferretdb did not listen within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL); a no-op when stopped."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # in case it is paused
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def pause(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
