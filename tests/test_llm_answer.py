"""The LLM answerer against a stand-in OpenAI-compatible endpoint (tests/openai_standin.py): only the
sentences their citations back are streamed; faults give the extractive answer within the timeout."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.service import Assistant
from assistant.settings import Settings
from bench.helpers import free_port
from tests.openai_standin import Script, standin
from tests.serving import serve_in_thread
from ui.review import item_html

QUESTION = "天津布局建设了多少家概念验证平台？"
BACKED = "天津依托北京科技创新资源，布局建设中关村硬创空间等25家行业概念验证平台。"
WRONG_FIGURE = "天津在各高校院所设置服务专员300名。"  # the passage says 249
NO_SUCH_PASSAGE = "天津还编制了《天津市科技成果转化对接服务操作指引》。"
OTHER_PASSAGE = "天津将对接沟通工信部积极争取国家支持。"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, Script]]:
    with standin() as served:
        yield served


def llm_settings(seed_index: Settings, tmp_path: Path, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"answerer": "llm", "llm_base_url": base_url, "llm_timeout": 10.0,
                              "data_dir": tmp_path / "data", **overrides}
    return seed_index.model_copy(update=values)


def events_of(raw: str) -> list[tuple[str, Any]]:
    return [(name, json.loads(data)) for name, data in re.findall(r"event: (\w+)\r?\ndata: (.*?)\r?\n\r?\n", raw, re.S)]


def numbered(assistant: Assistant, question: str, text: str) -> int:
    """The number the prompt gives the passage holding `text` (retrieval ranks them)."""
    return next(c.n for c in assistant.search(question) if text in c.text)


def test_only_backed_sentences_are_streamed_and_the_rest_counted(
        seed_index: Settings, tmp_path: Path, endpoint: tuple[str, Script]) -> None:
    base, script = endpoint
    settings = llm_settings(seed_index, tmp_path, base)
    assistant = Assistant(settings)
    first = numbered(assistant, QUESTION, "25家行业概念验证平台")
    other = numbered(assistant, QUESTION, "对接沟通工信部")
    assert first != other
    script.reply = [(0, BACKED[:12]), (0, f"{BACKED[12:]}[{first}]"), (0, f"{WRONG_FIGURE}[{first}]"),
                    (1.5, f"{NO_SUCH_PASSAGE}[9]"), (0, f"{OTHER_PASSAGE}[{other}]")]
    app = create_app(settings, assistant, ui=False)
    arrivals: list[tuple[float, str, Any]] = []
    with serve_in_thread(app) as url, httpx.stream("POST", f"{url}api/chat/stream", json={"question": QUESTION},
                                                   timeout=30) as response:
        assert response.status_code == 200
        raw = ""
        for text in response.iter_text():
            raw += text
            arrivals.extend((time.monotonic(), n, d) for n, d in events_of(raw)[len(arrivals):])
    deltas = [(at, d["text"]) for at, name, d in arrivals if name == "delta"]
    final = arrivals[-1][2]
    assert arrivals[-1][1] == "final"
    assert [t for _, t in deltas] == [f"{BACKED}[1]", f"{OTHER_PASSAGE}[2]"]  # renumbered by first use
    assert "".join(t for _, t in deltas) == final["answer"]
    # Streamed for real: the first verified sentence was on the wire before the endpoint had finished.
    assert deltas[0][0] < script.finished_at - 1.0
    assert final["answerer"] == "llm" and final["dropped_sentences"] == 2 and final["fallback"] is None
    assert "300" not in final["answer"] and "操作指引" not in final["answer"]
    one, two = final["citations"]
    assert "25家行业概念验证平台" in one["text"] and "对接沟通工信部" in two["text"]
    assert any("25家行业概念验证平台" in one["text"][s:e] for s, e in one["highlights"])

    prompt = script.requests[-1]
    assert prompt["stream"] is True
    user = prompt["messages"][-1]["content"]
    assert f"[{first}] 《关于以中试平台建设助推新型工业化建设提质增效的提案的答复》" in user
    assert "日期：2024-04-25" in user and "位置：一、工作开展情况" in user and "发布机关：天津市人民政府" in user
    assert QUESTION in user and len(user) < settings.llm_prompt_chars + 800  # bounded

    # The liaisons see which answerer wrote it and how many sentences it lost.
    detail = assistant.review.item(final["answer_id"])
    assert detail.item.answerer == "llm" and detail.item.dropped_sentences == 2
    assert "大模型撰写" in item_html(detail) and "删去未获支撑的句子 2 句" in item_html(detail)


def extractive_answer(seed_index: Settings, tmp_path: Path, question: str) -> str:
    plain = seed_index.model_copy(update={"data_dir": tmp_path / "plain", "review_log": False})
    return Assistant(plain).ask(question).answer


@pytest.mark.parametrize(("reply", "fallback"), [
    ([(0, "未找到相关内容。")], "not_found"),
    ([(0, f"{WRONG_FIGURE}[1]"), (0, "天津很重视概念验证。")], "all_dropped"),
    ("garbage", "bad_response"),
    ("error", "bad_response"),
])
def test_nothing_backed_gives_the_extractive_answer(seed_index: Settings, tmp_path: Path,
                                                     endpoint: tuple[str, Script], reply: Any, fallback: str) -> None:
    base, script = endpoint
    script.reply = reply
    client = TestClient(create_app(llm_settings(seed_index, tmp_path, base), ui=False))
    with client.stream("POST", "/api/chat/stream", json={"question": QUESTION}) as response:
        events = events_of("".join(response.iter_text()))
    final = events[-1][1]
    assert final["answerer"] == "extractive" and final["fallback"] == fallback and not final["refused"]
    assert final["answer"] == extractive_answer(seed_index, tmp_path, QUESTION)
    assert "".join(d["text"] for name, d in events if name == "delta") == final["answer"]
    assert final["dropped_sentences"] == (2 if fallback == "all_dropped" else 0)


def test_a_slow_endpoint_gives_the_extractive_answer_within_the_timeout(
        seed_index: Settings, tmp_path: Path, endpoint: tuple[str, Script]) -> None:
    base, script = endpoint
    script.reply, script.hang_seconds = "hang", 8.0
    assistant = Assistant(llm_settings(seed_index, tmp_path, base, llm_timeout=1.5))
    assistant.search(QUESTION)  # retrieval warmed, so the time below is the answerer's
    started = time.monotonic()
    answer = assistant.ask(QUESTION)
    assert time.monotonic() - started < 1.5 + 1.0
    assert answer.answerer == "extractive" and answer.fallback == "timeout"
    assert answer.answer == extractive_answer(seed_index, tmp_path, QUESTION)


def test_an_endpoint_that_is_down_is_reported_by_health_and_answers_fall_back(
        seed_index: Settings, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    client = TestClient(create_app(llm_settings(seed_index, tmp_path, down), ui=False))
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["answerer"] == "llm" and health.json()["llm"]["state"] == "unreachable"
    body = client.post("/api/ask", json={"question": QUESTION}).json()
    assert body["answerer"] == "extractive" and body["fallback"] == "unreachable" and "25" in body["answer"]


def test_health_and_follow_ups(seed_index: Settings, tmp_path: Path, endpoint: tuple[str, Script]) -> None:
    base, script = endpoint
    client = TestClient(create_app(llm_settings(seed_index, tmp_path, base), ui=False))
    assert client.get("/api/health").json()["llm"] == {"state": "ok", "model": "local", "detail": None}
    script.reply = [(0, "未找到相关内容。")]
    first = client.post("/api/ask", json={"question": "天津在中试平台建设方面开展了哪些工作？"}).json()
    client.post("/api/ask", json={"question": "那下一步有什么安排？", "conversation_id": first["conversation_id"]})
    messages = script.requests[-1]["messages"]
    # The resolved query, not the conversation: a system message and one user message, no history.
    assert [m["role"] for m in messages] == ["system", "user"]
    asked = messages[-1]["content"].split("问题：")[-1]
    assert asked.startswith("那下一步有什么安排？") and "中试平台" in asked and "下一步" in asked
