"""Real PostgreSQL and Redis servers on loopback for tests, from Debian's packages (postgresql,
redis-server; scripts/install.sh --dev installs them). Each runs from a fresh folder on a free port
and is stopped afterwards; `restart` and `stop`/`start` are there for the fault tests."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.helpers import free_port

PG_BIN = Path("/usr/lib/postgresql")


def _pg_bin(name: str) -> str:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return str(found[-1])


def _wait_port(port: int, alive: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(alive) and not alive():
            raise RuntimeError(f"{what} exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout:g} s")


class Postgres:
    """One cluster (initdb) with trust authentication on 127.0.0.1 only. initdb refuses to run as
    root, so under root the cluster belongs to Debian's `postgres` user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.user = "assistant"
        self._as: list[str] = []
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self._as, _pg_bin("initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self._as, _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
                        "-w", "-t", "60", *args], check=True, capture_output=True)

    def start(self) -> None:
        # fsync off: a test cluster, gone after the test; commits still survive a server restart.
        self._ctl("-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c max_connections=200", "start")
        _wait_port(self.port, None, "postgres")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    # Not under pytest's tmp folder: that is private to root, and the server may run as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    try:
        server = Postgres(folder)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
                server.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Redis:
    """redis-server with an append-only file synced on every write, so a restart keeps every
    conversation turn it acknowledged."""

    def __init__(self, folder: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.exe = exe
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the server's stdout while it runs
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        proc = self.proc
        _wait_port(self.port, lambda: proc.poll() is None, "redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def redis_server(folder: Path) -> Iterator[Redis]:
    server = Redis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
