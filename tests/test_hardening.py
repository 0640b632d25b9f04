"""Hardening round two (issue 13, items 1, 2, 3 and 8) on the real app, real SQLite and real uvicorn.

Slow clients hold no capacity; answers are acted on only from their own conversation; per-client
rate limits, collapsed duplicate hand-offs and log retention; path-free errors, uploads checked
before they are read and by name, security headers the chat page works under, a streamed export.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.api.limits import LimitsMiddleware
from assistant.review import repository
from assistant.review.auth import Principal, Role, hash_token
from assistant.review.log import CHINA
from assistant.review.queue import QueueFilter
from assistant.review.schemas import Verdict
from assistant.service import Assistant
from assistant.settings import Settings
from tests.lawdb import copy_seed
from tests.serving import serve_in_thread

QUESTION = "天津在中试平台建设方面开展了哪些工作？"
UNRELATED = "出国旅游怎么办理护照和签证？"
MAINTAINER = {"Authorization": "Bearer maintainer-secret"}
LIAISON = {"Authorization": "Bearer liaison-secret"}
SYNTHETIC = ("关于测试上传功能的通知（测试用合成文本，不是真实政策）\n"
             "第一条 为了验证上传，本合成文件说明：试点企业可以申请示范补助。\n").encode()


def local_settings(seed_index: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data",
                              "liaison_tokens": [f"wang:{hash_token('liaison-secret')}"],
                              "maintainer_tokens": [f"ops:{hash_token('maintainer-secret')}"]}
    values.update(overrides)
    return seed_index.model_copy(update=values)


@pytest.fixture
def assistant(seed_index: Settings, tmp_path: Path) -> Iterator[Assistant]:
    assistant = Assistant(local_settings(seed_index, tmp_path))
    yield assistant
    assistant.review.close()


def client_for(assistant: Assistant, **overrides: Any) -> TestClient:
    settings = assistant.settings.model_copy(update=overrides)
    return TestClient(create_app(settings, assistant=assistant, ui=False))


# --- 1. slow clients -------------------------------------------------------------------------------

def _half_body(base: str, path: str = "/api/ask") -> socket.socket:
    """A client that announces 1000 bytes of JSON and sends half of them, then waits."""
    host, port = base.rstrip("/").removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 1000\r\n\r\n").encode() + b'{"question": "' + b"x" * 486)
    return sock


def test_slow_bodies_hold_no_capacity(assistant: Assistant) -> None:
    # Every socket comes from 127.0.0.1, which the rate limit alone would stop: here capacity is tested.
    settings = assistant.settings.model_copy(update={"body_timeout_seconds": 8.0, "rate_limit_questions": ""})
    app = create_app(settings, assistant=assistant, ui=False)
    with serve_in_thread(app, settings=settings) as base:
        assert httpx.post(f"{base}api/ask", json={"question": QUESTION}, timeout=60).status_code == 200  # warm
        started = time.monotonic()
        slow = [_half_body(base) for _ in range(64)]  # 4 × max_concurrent_requests
        try:
            time.sleep(0.5)
            ask = httpx.post(f"{base}api/ask", json={"question": QUESTION}, timeout=30)
            health = httpx.get(f"{base}api/health", timeout=30)
            assert (ask.status_code, health.status_code) == (200, 200), (ask.text, health.text)
            assert ask.json()["citations"] and time.monotonic() - started < 8  # while all 64 still wait
            # A body that does not arrive in time is answered 408 and the connection closed.
            slow[0].settimeout(15)
            reply = slow[0].recv(4096).decode()
            assert reply.startswith("HTTP/1.1 408"), reply
            assert 7 < time.monotonic() - started < 14
        finally:
            for sock in slow:
                sock.close()


def test_request_deadline_and_chunked_bodies_over_the_limit(assistant: Assistant) -> None:
    import anyio

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await anyio.sleep(5)

    settings = assistant.settings.model_copy(update={"request_timeout_seconds": 0.5})
    started = time.monotonic()
    late = TestClient(LimitsMiddleware(slow_app, settings)).get("/api/documents")
    assert late.status_code == 503 and "too long" in late.json()["detail"] and time.monotonic() - started < 3

    client = client_for(assistant)
    too_big = json.dumps({"question": "问" * 200_000}).encode()  # > max_body_bytes, sent without a length

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(too_big), 16_384):
            yield too_big[i:i + 16_384]

    response = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text


# --- 2. other people's answers ---------------------------------------------------------------------

def test_answers_are_acted_on_only_from_their_conversation(assistant: Assistant) -> None:
    client = client_for(assistant)
    mine = client.post("/api/ask", json={"question": QUESTION}).json()
    theirs = client.post("/api/ask", json={"question": UNRELATED}).json()
    for conversation in (mine["conversation_id"], theirs["conversation_id"]):
        assert uuid.UUID(hex=conversation).version == 4 and len(conversation) == 32  # unguessable
    # A client cannot pick a conversation id of its own.
    assert client.post("/api/ask", json={"question": QUESTION, "conversation_id": "1"}).status_code == 404

    other, mine_id = theirs["answer_id"], mine["conversation_id"]
    attempts = [("/api/feedback", {"answer_id": other, "helpful": False, "conversation_id": mine_id}),
                ("/api/handoff", {"answer_id": other, "contact": "attacker@example.invalid",
                                  "conversation_id": mine_id})]
    for path, body in attempts:
        assert client.post(path, json=body).status_code == 404, path
        del body["conversation_id"]
        assert client.post(path, json=body).status_code == 422, path  # the conversation is required
    assert client.get(f"/api/conversations/{theirs['conversation_id']}/handoffs").json()["handoffs"] == []
    assert assistant.review.item(other).feedback == []
    assert client.get("/api/conversations/1/handoffs").status_code == 422  # not an id we hand out
    # A question handed off needs a conversation that exists.
    assert client.post("/api/handoff", json={"conversation_id": uuid.uuid4().hex, "question": "能否电话联系我？",
                                             "contact": "x"}).status_code == 404

    # The holder of the conversation may.
    assert client.post("/api/feedback", json={"answer_id": other, "helpful": False,
                                              "conversation_id": theirs["conversation_id"]}).status_code == 200
    created = client.post("/api/handoff", json={"answer_id": other, "contact": "test@example.invalid",
                                                "conversation_id": theirs["conversation_id"]})
    assert created.status_code == 200
    shown = client.get(f"/api/conversations/{theirs['conversation_id']}/handoffs").json()["handoffs"]
    assert [h["id"] for h in shown] == [created.json()["id"]]
    assert client.get(f"/api/conversations/{mine_id}/handoffs").json()["handoffs"] == []


# --- 3. floods and the log -------------------------------------------------------------------------

def test_per_client_rate_limits_answer_429_with_retry_after(assistant: Assistant) -> None:
    client = client_for(assistant, rate_limit_questions="3/minute", rate_limit_reports="2/minute")
    statuses = [client.get("/api/search", params={"q": QUESTION}).status_code for _ in range(2)]
    statuses.append(client.post("/api/ask", json={"question": QUESTION}).status_code)
    over = client.post("/api/chat/stream", json={"question": QUESTION})
    assert statuses == [200, 200, 200] and over.status_code == 429
    assert 0 < int(over.headers["retry-after"]) <= 60 and "retry" in over.json()["detail"]
    assert client.get("/api/health").status_code == 200  # never limited
    # Without trust_proxy a forwarded address is not believed: still the same client.
    spoofed = {"X-Forwarded-For": "203.0.113.7"}
    assert client.get("/api/search", params={"q": QUESTION}, headers=spoofed).status_code == 429
    # Reports have their own budget.
    asked = assistant.ask(QUESTION)
    body = {"answer_id": asked.answer_id, "helpful": True, "conversation_id": asked.conversation_id}
    assert [client.post("/api/feedback", json=body).status_code for _ in range(3)] == [200, 200, 429]

    # Behind a trusted proxy, each forwarded address has its own budget.
    proxied = client_for(assistant, rate_limit_questions="1/minute", trust_proxy=True, trusted_proxies=["testclient"])
    first = proxied.get("/api/search", params={"q": QUESTION}, headers={"X-Forwarded-For": "203.0.113.7"})
    second = proxied.get("/api/search", params={"q": QUESTION}, headers={"X-Forwarded-For": "203.0.113.8"})
    again = proxied.get("/api/search", params={"q": QUESTION}, headers={"X-Forwarded-For": "203.0.113.7"})
    assert (first.status_code, second.status_code, again.status_code) == (200, 200, 429)


def test_duplicate_handoffs_of_one_answer_collapse(assistant: Assistant) -> None:
    client = client_for(assistant)
    asked = client.post("/api/ask", json={"question": UNRELATED}).json()
    body = {"answer_id": asked["answer_id"], "contact": "test@example.invalid",
            "conversation_id": asked["conversation_id"]}
    ids = {client.post("/api/handoff", json=body).json()["id"] for _ in range(5)}
    question = {"question": "能否电话联系我？", "contact": "x", "conversation_id": asked["conversation_id"]}
    by_question = {client.post("/api/handoff", json=question).json()["answer_id"] for _ in range(3)}
    assert len(ids) == 1 and len(by_question) == 1
    items = assistant.review.queue(QueueFilter(status="handoff")).items
    assert len(items) == 2 and len(assistant.review.item(asked["answer_id"]).handoffs) == 1
    # Once answered, a new hand-off of the same answer is a new item.
    handoff_id = ids.pop()
    assistant.review.reply_handoff(handoff_id, Principal("wang", Role.LIAISON), "已联系。", [])
    assert client.post("/api/handoff", json=body).json()["id"] != handoff_id


def test_retention_prunes_old_unreviewed_answers_and_keeps_reviewed_ones(assistant: Assistant) -> None:
    review = assistant.review
    log = review.log
    old = (datetime.now(CHINA) - timedelta(days=200)).isoformat(timespec="microseconds")

    def logged(created_at: str, conversation: str = "") -> int:
        answer_id = log.insert("answers", {"created_at": created_at, "origin": "assistant",
                                           "conversation_id": conversation or uuid.uuid4().hex, "question": "q",
                                           "query": "q", "answer": "a", "refused": 0})
        log.insert("answer_documents", {"answer_id": answer_id, "source": "s.txt", "title": "t"})
        log.insert("feedback", {"answer_id": answer_id, "created_at": created_at, "helpful": 0})
        return answer_id

    logged(old, "early")
    recent = assistant.ask(QUESTION).answer_id  # logging an answer runs the first retention pass
    assert recent is not None and not repository.conversation_logged(log, "early")

    forgotten, judged, handed = logged(old), logged(old), logged(old)
    log.insert("verdicts", {"answer_id": judged, "created_at": old, "reviewer": "wang", "role": "liaison",
                            "verdict": "incorrect"})
    log.insert("handoffs", {"created_at": old, "answer_id": handed, "conversation_id": "c", "question": "q",
                            "contact": "x"})

    assert review.prune() == 0  # at most hourly unless forced
    assert review.prune(force=True) == 1
    assert repository.answer(log, forgotten) is None and repository.feedback_of(log, forgotten) == []
    for kept in (judged, handed, recent):
        assert repository.answer(log, kept) is not None
    assert len(repository.feedback_of(log, judged)) == 1
    # The database itself refuses to delete what a liaison acted on, and still refuses edits.
    with pytest.raises(sqlite3.DatabaseError, match="acted on"):
        log.execute("DELETE FROM answers WHERE id = ?", (judged,))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log.execute("UPDATE answers SET answer = 'x' WHERE id = ?", (recent,))
    # 0 keeps everything.
    keep_all = Assistant(assistant.settings.model_copy(update={"review_retention_days": 0}))
    assert keep_all.review.prune(force=True) == 0


def test_readme_says_what_the_log_keeps_how_long() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### What the log keeps"):]
    own = section.split("\n## ")[0]
    assert "review_retention_days" in own.lower() and "180" in own and "for good" in own


# --- 8. low items ----------------------------------------------------------------------------------

def test_error_texts_name_no_server_paths(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "secret-corpus", index_dir=tmp_path / "secret-index",
                        data_dir=tmp_path / "data")
    client = TestClient(create_app(settings, ui=False))
    response = client.get("/api/search", params={"q": QUESTION})
    assert response.status_code == 503
    stream = client.post("/api/chat/stream", json={"question": QUESTION})
    for text in (response.json()["detail"], stream.text):
        assert str(tmp_path) not in text and "secret-index" not in text, text
    assert "the index folder" in response.json()["detail"] and "event: error" in stream.text


@pytest.fixture
def upload_client(tmp_path: Path, seed_index: Settings) -> tuple[TestClient, Path]:
    corpus = copy_seed(tmp_path / "corpus")
    settings = local_settings(seed_index, tmp_path, corpus_dir=corpus, max_upload_bytes=64 * 1024)
    return TestClient(create_app(settings, ui=False)), corpus


def upload(client: TestClient, name: str, data: bytes = SYNTHETIC, **params: Any) -> httpx.Response:
    return client.post("/api/index/documents", files={"file": (name, data, "application/octet-stream")},
                       headers=MAINTAINER, params=params)


def test_upload_names_are_checked_against_indexing_and_the_corpus(upload_client: tuple[TestClient, Path]) -> None:
    client, corpus = upload_client
    before = sorted(p.name for p in corpus.iterdir())
    refused = {"README.md": (400, "not indexed"), "tool.exe": (400, "not accepted"),
               "report\u202etxt.md": (400, "U+202E"), "zero\u200bwidth.txt": (400, "U+200B")}
    for name, (status, reason) in refused.items():
        response = upload(client, name)
        assert (response.status_code, reason in response.json()["detail"]) == (status, True), (name, response.text)
    assert sorted(p.name for p in corpus.iterdir()) == before

    assert upload(client, "测试上传.txt").status_code == 201
    again = upload(client, "测试上传.txt", SYNTHETIC + "第二条 修订。\n".encode())
    assert again.status_code == 409 and "replace=true" in again.json()["detail"]
    assert (corpus / "测试上传.txt").read_bytes() == SYNTHETIC  # not overwritten
    replaced = upload(client, "测试上传.txt", SYNTHETIC + "第二条 修订。\n".encode(), replace="true")
    assert replaced.status_code == 201 and replaced.json()["replaced"] is True
    twin = upload(client, "Upload-Case.txt")
    assert twin.status_code == 201
    for name in ("upload-case.txt", "UPLOAD-CASE.TXT"):
        response = upload(client, name, replace="true")
        assert response.status_code == 409 and "only in case" in response.json()["detail"], name
    assert sorted(p.name for p in corpus.iterdir()) == sorted([*before, "测试上传.txt", "Upload-Case.txt"])


def test_upload_token_is_checked_before_the_body_is_read(assistant: Assistant) -> None:
    settings = assistant.settings
    with serve_in_thread(create_app(settings, assistant=assistant, ui=False), settings=settings) as base:
        host, port = base.rstrip("/").removeprefix("http://").split(":")
        for headers, status in (("", "401"), ("Authorization: Bearer liaison-secret\r\n", "403")):
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall((f"POST /api/index/documents HTTP/1.1\r\nHost: {host}\r\n{headers}"
                              "Content-Type: multipart/form-data; boundary=xyz\r\n"
                              "Content-Length: 10000000\r\n\r\n").encode())  # 10 MB announced, none sent
                reply = sock.recv(4096).decode()
            assert reply.startswith(f"HTTP/1.1 {status}"), reply


def test_security_headers_on_the_api_and_the_page(assistant: Assistant) -> None:
    client = TestClient(create_app(assistant.settings, assistant=assistant))
    for path in ("/", "/api/health"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "SAMEORIGIN" and headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'self'" in headers["content-security-policy"]
        assert "default-src 'self'" in headers["content-security-policy"]


@pytest.mark.browser
def test_chat_page_works_under_the_content_security_policy(assistant: Assistant, browser: Any) -> None:
    from playwright.sync_api import expect

    with serve_in_thread(create_app(assistant.settings, assistant=assistant), settings=assistant.settings) as url:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        response = page.goto(url)
        assert response is not None and "content-security-policy" in response.headers
        page.evaluate("() => { window.__csp = []; document.addEventListener('securitypolicyviolation', "
                      "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); }")
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#send").click()
        expect(page.locator('#citations .citations[data-state="done"]')).to_have_count(1)
        assert "[1]" in page.locator('#chat [data-testid="bot"]').last.inner_text()
        assert violations == [] and page.evaluate("window.__csp") == []
        page.close()


def test_export_is_streamed_in_batches(assistant: Assistant) -> None:
    asked = assistant.ask(QUESTION)
    assert asked.answer_id is not None
    for i in range(450):
        repository.insert_answer(assistant.review.log, origin="assistant", conversation_id=uuid.uuid4().hex,
                                 question=f"合成问题 {i}", query=f"合成问题 {i}", answer="a", refused=False)
    chunks = assistant.review.export("answers", "jsonl", QueueFilter(status="all"))
    first = next(chunks)  # rows are read and sent a batch at a time, never all at once
    assert first.count("\n") == 200 and sum(c.count("\n") for c in chunks) == 251
    assistant.review.verdict(asked.answer_id, Principal("wang", Role.LIAISON), Verdict(verdict="correct"))

    response = client_for(assistant).get("/api/review/export", headers=LIAISON, params={"format": "csv"})
    assert response.status_code == 200 and "content-length" not in response.headers  # streamed (chunked)
    assert response.text.startswith("\ufeffid,") and response.text.count("\r\n") == 452
    verdicts = client_for(assistant).get("/api/review/export", headers=LIAISON,
                                         params={"format": "jsonl", "table": "verdicts"}).text.splitlines()
    assert [json.loads(v)["verdict"] for v in verdicts] == ["correct"]
