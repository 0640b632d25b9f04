"""The LLM answerer against a real llama.cpp server on loopback (xllamacpp, Qwen2.5-Coder-0.5B-Instruct
GGUF from PyPI; bench/localllm.py), one server for the module, small answers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.settings import Settings
from bench import localllm
from bench.helpers import free_port


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    reason = localllm.missing()
    if reason:
        pytest.skip(reason)
    with localllm.serve(free_port(), ctx=2048) as base:
        yield base


def test_a_streamed_answer_from_a_real_llama_cpp_server(seed_index: Settings, tmp_path: Path,
                                                        llama_server: str) -> None:
    settings = seed_index.model_copy(update={
        "answerer": "llm", "llm_base_url": llama_server, "llm_timeout": 120.0, "llm_passages": 2,
        "llm_max_tokens": 48, "data_dir": tmp_path / "data"})
    client = TestClient(create_app(settings, ui=False))
    assert client.get("/api/health").json()["llm"]["state"] == "ok"
    with client.stream("POST", "/api/chat/stream", json={"question": "服务专员有多少名？"}) as response:
        assert response.status_code == 200
        raw = "".join(response.iter_text())
    events = [(n, json.loads(d)) for n, d in re.findall(r"event: (\w+)\r?\ndata: (.*?)\r?\n\r?\n", raw, re.S)]
    final = events[-1][1]
    deltas = [d["text"] for name, d in events if name == "delta"]
    assert events[0][0] == "retrieval" and events[-1][0] == "final" and deltas
    assert "".join(deltas) == final["answer"]
    # The model wrote it (greedy decoding), and what it wrote passed the citation check.
    assert final["answerer"] == "llm" and final["fallback"] is None, final
    assert "249" in final["answer"] and re.search(r"\[1\]", final["answer"])
    assert final["citations"][0]["highlights"]
