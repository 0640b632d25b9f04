"""Document pages and originals, type-ahead, 热点问题, related documents, offline /docs, and
Gradio's side door (/gradio_api/*), over HTTP against the real app on a real index."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from assistant.answer.conversation import Conversation
from assistant.api.app import create_app
from assistant.catalog import document_id, related_documents
from assistant.review.auth import Principal, Role
from assistant.review.schemas import VerdictRequest
from assistant.service import AnswerEvent, Assistant
from assistant.settings import Settings
from tests.conftest import SYNTHETIC
from tests.serving import serve_in_thread
from ui.app import CONCURRENCY
from ui.guard import OPEN

SEED = "tianjin-pilot-platform-reply-2024-04-25.txt"
LAW = "tech-transfer-law.txt"
QUESTION = "天津布局建设了多少家概念验证平台？"


@pytest.fixture(scope="module")
def library(library_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the shared library index (these tests change corpus files and the log)."""
    root = tmp_path_factory.mktemp("documents-api")
    shutil.copytree(library_index.corpus_dir, root / "corpus")
    shutil.copytree(library_index.index_dir, root / "index")
    return library_index.model_copy(update={"corpus_dir": root / "corpus", "index_dir": root / "index",
                                            "data_dir": root / "data", "ui_queue_size": 2})


@pytest.fixture(scope="module")
def assistant(library: Settings) -> Iterator[Assistant]:
    found = Assistant(library)
    yield found
    found.review.close()


@pytest.fixture(scope="module")
def client(library: Settings, assistant: Assistant) -> Iterator[TestClient]:
    with TestClient(create_app(library, assistant=assistant)) as test_client:
        yield test_client


def test_document_json_has_the_whole_text_metadata_and_the_original(client: TestClient, assistant: Assistant
                                                                     ) -> None:
    answer = assistant.ask(QUESTION)
    cited = answer.citations[0]
    doc_id = document_id(cited.document.source)
    body = client.get(f"/api/documents/{doc_id}").json()
    assert body["document"]["title"] == cited.document.title and body["document"]["issuer"] == "天津市人民政府"
    texts = [p["text"] for p in body["passages"]]
    assert cited.text in texts  # the cited passage, whole, in reading order with the rest
    whole = "".join(texts)
    source = (assistant.settings.corpus_dir / SEED).read_text(encoding="utf-8")
    body_text = source[source.index("陈峥委员"):source.index("83606658")]  # without the web page's chrome
    for line in (ln.strip() for ln in body_text.splitlines()):
        if len(line) > 12 and not line.startswith(("一、", "二、", "三、")):
            assert line[:12] in whole, line  # nothing of the body is missing
    original = client.get(body["original_url"])
    assert original.status_code == 200 and original.content == (assistant.settings.corpus_dir / SEED).read_bytes()
    assert original.headers["content-disposition"].startswith("attachment")
    assert original.headers["x-content-type-options"] == "nosniff"

    missing = client.get("/api/documents/000000000000")
    assert missing.status_code == 404 and "没有找到这份文件" in missing.json()["detail"]


def test_document_page_marks_the_cited_passage_and_escapes_every_field(client: TestClient) -> None:
    doc_id = document_id(SEED)
    passages = client.get(f"/api/documents/{doc_id}").json()["passages"]
    target = next(p for p in passages if "25家" in p["text"])
    start = target["text"].index("布局建设")
    page = client.get(f"/documents/{doc_id}", params={"p": target["chunk_id"], "hl": f"{start}-{start + 4}"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f'<p class="passage cited" id="p-{target["chunk_id"]}">' in html
    assert "<mark>布局建设</mark>" in html and html.count("<mark>") == 1
    assert "发布机关" in html and "天津市人民政府" in html and "下载原文件" in html
    assert 'lang="zh-CN"' in html and "viewport" in html

    synthetic = client.get(f"/documents/{document_id(SYNTHETIC)}", params={"hl": "x-<b>"}).text
    assert "<script>" not in synthetic and "<b>" not in synthetic and "<img" not in synthetic and "<i>" not in synthetic
    assert "&lt;b&gt;合成测试文件&lt;/b&gt;" in synthetic and "&lt;script&gt;alert(1)&lt;/script&gt;" in synthetic

    gone = client.get("/documents/ffffffffffff")
    assert gone.status_code == 404 and "没有找到这份文件" in gone.text and "返回政策咨询" in gone.text
    assert client.get("/documents/assets/style.css").headers["content-type"].startswith("text/css")


def test_original_is_refused_once_the_corpus_file_changed(client: TestClient, assistant: Assistant) -> None:
    path = assistant.settings.corpus_dir / SYNTHETIC
    url = f"/documents/{document_id(SYNTHETIC)}/original"
    assert client.get(url).status_code == 200
    kept = path.read_bytes()
    path.write_bytes(kept + "（改动）".encode())
    try:
        changed = client.get(url)
        assert changed.status_code == 404 and "原件已更新或移除" in changed.text
        assert client.get(f"/api/documents/{document_id(SYNTHETIC)}").json()["original_url"] is None
    finally:
        path.write_bytes(kept)


def test_related_documents_are_other_documents_close_to_the_question(assistant: Assistant) -> None:
    answer = assistant.ask("中试平台建设有哪些支持措施？")
    cited = {c.document.source for c in answer.citations}
    assert cited == {SEED}, cited
    related = related_documents(assistant, answer.query, cited)
    assert [r.info.source for r in related] == [LAW]  # not the cited one, not the synthetic file
    assert related[0].evidence >= assistant.settings.related_documents_floor and related[0].id == document_id(LAW)
    assert related_documents(assistant, answer.query, {SEED, LAW}) == []


def test_suggestions_come_from_titles_headings_and_reviewed_questions(client: TestClient, assistant: Assistant
                                                                       ) -> None:
    found = client.get("/api/suggestions", params={"q": "概念验证"}).json()["suggestions"]
    assert "加强概念验证平台布局建设" in found and all("概念验证" in s for s in found), found
    titles = client.get("/api/suggestions", params={"q": "成果转化"}).json()["suggestions"]
    assert "中华人民共和国促进科技成果转化法" in titles, titles
    assert client.get("/api/suggestions", params={"q": "概"}).json()["suggestions"] == []
    assert client.get("/api/suggestions", params={"q": "x" * 201}).status_code == 422


def test_popular_questions_are_the_most_asked_with_a_reviewed_answer(client: TestClient, assistant: Assistant
                                                                      ) -> None:
    liaison = Principal("测试专员", Role.LIAISON)
    once = assistant.ask("天津设置了多少名服务专员？")
    often = assistant.ask(QUESTION)
    unreviewed = assistant.ask("中试平台建设有哪些支持措施？")
    for answer in (once, often):
        assert answer.answer_id is not None and not answer.refused
        assistant.review.verdict(answer.answer_id, liaison, VerdictRequest(verdict="correct"))
    for _ in range(2):
        assert assistant.ask(QUESTION).reviewed  # served from the reviewed answer: asked again
    body = client.get("/api/popular-questions").json()["questions"]
    assert [q["question"] for q in body] == [QUESTION, "天津设置了多少名服务专员？"], body
    assert body[0]["asked"] == 3 and body[1]["asked"] == 1
    assert unreviewed.answer_id and "中试平台建设有哪些支持措施？" not in [q["question"] for q in body]
    reviewed = client.get("/api/suggestions", params={"q": "概念验证平台"}).json()["suggestions"]
    assert reviewed[0] == QUESTION, reviewed  # reviewed questions first


def test_docs_and_redoc_need_no_internet(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assert "cdn" not in html.lower() and "googleapis" not in html
        for asset in re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html):
            assert asset.startswith("/"), asset
            assert client.get(asset).status_code == 200, asset


# --- Gradio's side door ---------------------------------------------------------------------------

def _fn_index(client: TestClient, page: str, api_name: str) -> int:
    config = client.get(f"{page}config").json()
    return next(int(d["id"]) for d in config["dependencies"] if d["api_name"] == api_name)


@pytest.mark.parametrize("page", ["/", "/review/"])
def test_gradio_handlers_cannot_be_called_by_name_and_take_no_uploads(client: TestClient, page: str) -> None:
    for path in ("gradio_api/call/respond", "gradio_api/call/v2/respond", "gradio_api/run/respond",
                 "gradio_api/api/respond", "gradio_api/call/false", "gradio_api/mcp/sse"):
        answer = client.post(f"{page}{path}", json={"data": [QUESTION, [], None]})
        assert answer.status_code == 404, (path, answer.text)
    assert client.get(f"{page}gradio_api/info").status_code == 404
    upload = client.post(f"{page}gradio_api/upload", files={"files": ("a.txt", b"x" * (200 << 10), "text/plain")})
    assert upload.status_code == 404 and "未开放" in upload.json()["detail"]
    # Over the body limit (max_body_bytes, every path: assistant/api/limits.py) it is refused before that.
    big = client.post(f"{page}gradio_api/upload", files={"files": ("a.txt", b"x" * (2 << 20), "text/plain")})
    assert big.status_code == 413
    config = client.get(f"{page}config").json()
    assert config["footer_links"] == [] and all(d["api_visibility"] == "private" for d in config["dependencies"])


UNUSED = [("GET", "gradio_api/openapi.json"), ("GET", "gradio_api/runs"), ("GET", "gradio_api/runs/"),
          ("POST", "gradio_api/component_server"), ("POST", "gradio_api/component_server/"),
          ("POST", "gradio_api/process_recording"), ("GET", "gradio_api/info/"), ("GET", "gradio_api/token"),
          ("GET", "gradio_api/user"), ("GET", "gradio_api/app_id"), ("GET", "gradio_api/login_check"),
          ("GET", "gradio_api/startup-events"), ("GET", "gradio_api/queue/status"), ("POST", "gradio_api/cancel"),
          ("POST", "gradio_api/reset"), ("GET", "gradio_api/file=/etc/passwd"), ("GET", "gradio_api/proxy=x"),
          ("GET", "gradio_api/vibe-code"), ("POST", "gradio_api/vibe-edit"), ("GET", "gradio_api/dev/reload"),
          ("GET", "gradio_api/run-history/buckets"), ("GET", "gradio_api/theme.css"), ("GET", "monitoring"), ("POST", "login"), ("GET", "logout"), ("GET", "manifest.json"),
          ("GET", "svelte/x.js"), ("GET", "gradio_api/heartbeat/../info")]


@pytest.mark.parametrize("page", ["/", "/review/"])
def test_gradio_routes_the_pages_do_not_use_answer_404(client: TestClient, page: str) -> None:
    for method, path in UNUSED:
        answer = client.request(method, f"{page}{path}", data={"audio": "x" * (200 << 10)} if "recording" in path
                                else None)
        assert answer.status_code == 404 and "未开放" in answer.json()["detail"], (method, path, answer.status_code)
    too_big = client.post(f"{page}gradio_api/process_recording", data={"audio": "x" * (1 << 20)})
    assert too_big.status_code == 413  # over max_body_bytes: refused before the route is even looked up
    api_schema = page == "/"  # /openapi.json is the API's own schema (FastAPI's), not Gradio's
    assert client.get(f"{page}openapi.json").status_code == (200 if api_schema else 404)
    # Every route Gradio mounts, whatever it adds in a later version: only the queue, the heartbeat and
    # the page's own files answer; the rest is 404.
    mounted = next(r.app.app for r in client.app.router.routes  # type: ignore[attr-defined]
                   if isinstance(r, Mount) and r.path == page.rstrip("/"))
    checked = 0
    for method, template in _gradio_routes(mounted.router.routes):
        path = re.sub(r"\{[^}]+\}", "x", template).lstrip("/")
        if (api_schema and path == "openapi.json") or OPEN.fullmatch("/" + path):
            continue  # the open ones (queue, heartbeat: long polls) are what the page tests use
        answer = client.request(method, f"{page}{path}")
        assert answer.status_code == 404, (method, path, answer.status_code)
        checked += 1
    assert checked > 50, checked  # Gradio 6 mounts about 80 routes; the walk found them


def _gradio_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through FastAPI's included routers."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's include_router wrapper
            context = getattr(route, "include_context", None)
            yield from _gradio_routes(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif hasattr(route, "path"):
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    yield method, prefix + route.path


def test_the_page_still_answers_through_its_queue(client: TestClient) -> None:
    fn = _fn_index(client, "/", "respond")
    session = "page-session-1"
    join = client.post("/gradio_api/queue/join", json={"data": [QUESTION, [], None], "fn_index": fn,
                                                        "session_hash": session, "event_data": None,
                                                        "trigger_id": None})
    assert join.status_code == 200, join.text
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        text = ""
        for line in stream.iter_lines():
            text += line
            if "process_completed" in line:
                break
    assert "25" in text and "process_completed" in text


class GatedAssistant(Assistant):
    """The real assistant, each answer held until the gate opens: the flood meets a queue that cannot
    drain, so what it accepts is the bound itself and not whatever finished in the meantime."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.gate = threading.Event()
        self.started = 0

    def answer_stream(self, question: str, conversation: Conversation, top_k: int | None = None
                      ) -> Iterator[AnswerEvent]:
        self.started += 1
        assert self.gate.wait(60), "the gate was never opened"
        yield from super().answer_stream(question, conversation, top_k)


def test_the_gradio_queue_is_bounded(library: Settings) -> None:
    """With answers held, exactly CONCURRENCY run and `ui_queue_size` (2) wait; then every join is refused
    at once with "Queue is full" (a flood of 30 at once included), and the API keeps answering."""
    gated = GatedAssistant(library)
    app = create_app(library, assistant=gated)
    bound = CONCURRENCY + library.ui_queue_size
    with serve_in_thread(app) as url:
        config = httpx.get(f"{url}config").json()
        fn = next(int(d["id"]) for d in config["dependencies"] if d["api_name"] == "respond")

        def body(i: int) -> dict[str, Any]:
            return {"data": [f"{QUESTION}（{i}）", [], None], "fn_index": fn, "session_hash": f"flood-{i}",
                    "event_data": None, "trigger_id": None}

        async def flood(first: int, n: int) -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(*(client.post(f"{url}gradio_api/queue/join", json=body(i))
                                              for i in range(first, first + n)))

        try:
            for i in range(bound):  # one at a time: each running one has started before the next joins
                joined = httpx.post(f"{url}gradio_api/queue/join", json=body(i), timeout=30)
                assert joined.status_code == 200, (i, joined.text)
                deadline = time.monotonic() + 20
                while gated.started < min(i + 1, CONCURRENCY):
                    assert time.monotonic() < deadline, (i, gated.started)
                    time.sleep(0.02)
            assert gated.started == CONCURRENCY  # the other two wait in the queue
            over = httpx.post(f"{url}gradio_api/queue/join", json=body(bound), timeout=30)
            assert over.status_code == 503 and "Queue is full" in over.text, over.text
            refused = asyncio.run(flood(bound + 1, 30))
            assert all(r.status_code == 503 and "Queue is full" in r.text for r in refused), \
                [r.status_code for r in refused]
            assert gated.started == CONCURRENCY
            assert httpx.get(f"{url}api/health", timeout=10).status_code == 200
        finally:
            gated.gate.set()
    gated.review.close()


def test_pages_are_separate_and_review_says_how_to_set_it_up(client: TestClient) -> None:
    enquiry = client.get("/config").json()
    review = client.get("/review/config").json()
    labels = {c.get("props", {}).get("label") for c in enquiry["components"]}
    assert "令牌" not in labels and not any(c.get("props", {}).get("elem_id") == "review-token"
                                          for c in enquiry["components"])
    assert review["title"].startswith("审核工作台")
    markdown = " ".join(str(c.get("props", {}).get("value")) for c in review["components"])
    assert "审核功能尚未启用" in markdown and "ASSISTANT_LIAISON_TOKENS" in markdown
    kinds = {c["type"] for c in review["components"]}
    assert not kinds & {"textbox", "button", "radio"} and review["dependencies"] == []


def test_api_routes_are_not_taken_by_the_pages(client: TestClient) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    moved = client.get("/review", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/review/"
