"""Start a real `chroma run` server process on loopback for tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.helpers import free_port, stop


@contextmanager
def chroma_server(path: Path) -> Iterator[tuple[str, int]]:
    """Yield (host, port) of a running server persisting under `path`; stop it afterwards."""
    exe = shutil.which("chroma")
    if exe is None:
        raise RuntimeError("the `chroma` command (package chromadb) is not installed")
    port = free_port()
    log = open(path.parent / f"chroma-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma server exited: {(path.parent / f'chroma-{port}.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("chroma server did not start within 60 s")
        yield "127.0.0.1", port
    finally:
        stop(proc, timeout=10)
        log.close()
